/// Why a body is not JSON: the byte offset where parsing stopped and what was wrong there.
public struct JSONParseError: Error, Sendable, Hashable {
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
}

/// A strict RFC 8259 parser for request bodies and JSON filter values.
///
/// It reads the bytes once, without recursion: nesting is tracked on an explicit stack, so a body
/// of 100,000 `[` costs `maxDepth` frames and an error, never the thread's stack. Strings without
/// escapes are decoded straight from the buffer; UTF-8 is validated while scanning.
public enum JSONParser {
    /// Parses one JSON value, optionally surrounded by whitespace. Arrays and objects nested more
    /// than `maxDepth` deep are rejected (a scalar has depth 0, `[1]` depth 1).
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int) throws(JSONParseError) -> JSONValue {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            var parser = Parser(bytes: buffer, maxDepth: maxDepth)
            return Result { () throws(JSONParseError) in try parser.parseDocument() }
        } ?? Array(bytes).withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, maxDepth: maxDepth)
            return Result { () throws(JSONParseError) in try parser.parseDocument() }
        }
        return try result.get()
    }
}

private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// An array or object still being read.
    private struct Frame {
        var isObject: Bool
        var elements: [JSONValue] = []
        var members: [JSONMember] = []
        /// The key whose value is being read, in an object.
        var key = ""
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        var stack: [Frame] = []
        while true {
            skipWhitespace()
            var value: JSONValue
            // Either a complete value, or a container was opened and its first element comes next.
            switch try peek() {
            case UInt8(ascii: "["):
                try open(depth: stack.count + 1)
                skipWhitespace()
                if consume(UInt8(ascii: "]")) {
                    value = .array([])
                } else {
                    stack.append(Frame(isObject: false))
                    continue
                }
            case UInt8(ascii: "{"):
                try open(depth: stack.count + 1)
                skipWhitespace()
                if consume(UInt8(ascii: "}")) {
                    value = .object([])
                } else {
                    var frame = Frame(isObject: true)
                    frame.key = try parseKey()
                    stack.append(frame)
                    continue
                }
            default:
                value = try parseScalar()
            }

            // Hand the value to its container; closing a container completes another value.
            while let top = stack.indices.last {
                skipWhitespace()
                if stack[top].isObject {
                    stack[top].members.append(JSONMember(key: stack[top].key, value: value))
                    if consume(UInt8(ascii: ",")) {
                        skipWhitespace()
                        stack[top].key = try parseKey()
                        break
                    }
                    guard consume(UInt8(ascii: "}")) else { throw failure(expecting: "',' or '}'") }
                    value = .object(stack.removeLast().members)
                } else {
                    stack[top].elements.append(value)
                    if consume(UInt8(ascii: ",")) { break }
                    guard consume(UInt8(ascii: "]")) else { throw failure(expecting: "',' or ']'") }
                    value = .array(stack.removeLast().elements)
                }
            }
            if stack.isEmpty {
                skipWhitespace()
                guard position == bytes.count else { throw JSONParseError(offset: position, message: "unexpected data after the JSON value") }
                return value
            }
        }
    }

    private mutating func open(depth: Int) throws(JSONParseError) {
        guard depth <= maxDepth else {
            throw JSONParseError(offset: position, message: "JSON nested deeper than \(maxDepth) levels")
        }
        position += 1
    }

    /// `"key"` and the `:` after it.
    private mutating func parseKey() throws(JSONParseError) -> String {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure(expecting: "a string key") }
        let key = try parseString()
        skipWhitespace()
        guard consume(UInt8(ascii: ":")) else { throw failure(expecting: "':'") }
        return key
    }

    private mutating func parseScalar() throws(JSONParseError) -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: throw failure(expecting: "a JSON value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count,
              UnsafeBufferPointer(start: word.utf8Start, count: count).elementsEqual(bytes[position..<position + count])
        else { throw failure(expecting: "a JSON value") }
        position += count
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = position
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            if position < bytes.count, isDigit(bytes[position]) {
                throw JSONParseError(offset: position - 1, message: "leading zeros are not allowed in numbers")
            }
        } else if try !digits() {
            throw failure(expecting: "a digit")
        }
        if consume(UInt8(ascii: ".")), try !digits() { throw failure(expecting: "a digit after '.'") }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            if try !digits() { throw failure(expecting: "a digit in the exponent") }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func digits() throws(JSONParseError) -> Bool {
        let start = position
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        return position > start
    }

    /// A string starting at the opening quote.
    private mutating func parseString() throws(JSONParseError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes, so the text is the bytes between the quotes.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: bytes[start..<position], as: UTF8.self)
                position += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            try scanCharacter(byte)
        }
        var decoded = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return String(decoding: decoded, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                try parseEscape(into: &decoded)
            } else {
                let characterStart = position
                try scanCharacter(byte)
                decoded.append(contentsOf: bytes[characterStart..<position])
            }
        }
        throw JSONParseError(offset: start - 1, message: "unterminated string")
    }

    /// Steps over one unescaped character of a string, validating it: no control characters, and
    /// well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
    private mutating func scanCharacter(_ lead: UInt8) throws(JSONParseError) {
        if lead < 0x20 { throw JSONParseError(offset: position, message: "control character in string") }
        if lead < 0x80 {
            position += 1
            return
        }
        let length: Int
        var range: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; range = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; range = 0x80...0x9F
        case 0xF0: length = 4; range = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; range = 0x80...0x8F
        default: throw JSONParseError(offset: position, message: "invalid UTF-8")
        }
        guard bytes.count - position >= length, range.contains(bytes[position + 1]) else {
            throw JSONParseError(offset: position, message: "invalid UTF-8")
        }
        for index in position + 2..<position + length where !(0x80...0xBF).contains(bytes[index]) {
            throw JSONParseError(offset: position, message: "invalid UTF-8")
        }
        position += length
    }

    /// A backslash escape; `\u` surrogate pairs are combined, lone surrogates rejected.
    private mutating func parseEscape(into decoded: inout [UInt8]) throws(JSONParseError) {
        let escapeStart = position
        position += 1
        guard position < bytes.count else { throw JSONParseError(offset: escapeStart, message: "unterminated string") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var value = try hexQuad(escapeStart: escapeStart)
            if (0xDC00...0xDFFF).contains(value) {
                throw JSONParseError(offset: escapeStart, message: "lone surrogate in \\u escape")
            }
            if (0xD800...0xDBFF).contains(value) {
                guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                    throw JSONParseError(offset: escapeStart, message: "lone surrogate in \\u escape")
                }
                position += 2
                let low = try hexQuad(escapeStart: position - 2)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw JSONParseError(offset: escapeStart, message: "lone surrogate in \\u escape")
                }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            }
            decoded.append(contentsOf: String(Unicode.Scalar(value)!).utf8)
        default:
            throw JSONParseError(offset: escapeStart, message: "invalid escape sequence")
        }
    }

    private mutating func hexQuad(escapeStart: Int) throws(JSONParseError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw JSONParseError(offset: escapeStart, message: "invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONParseError(offset: escapeStart, message: "invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func peek() throws(JSONParseError) -> UInt8 {
        guard position < bytes.count else { throw JSONParseError(offset: position, message: "unexpected end of input") }
        return bytes[position]
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private func failure(expecting what: String) -> JSONParseError {
        guard position < bytes.count else { return JSONParseError(offset: position, message: "unexpected end of input") }
        return JSONParseError(offset: position, message: "expected \(what)")
    }
}
