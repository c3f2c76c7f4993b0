/// PostgreSQL's one-dimensional array literal, `{a,"b c",NULL}`: parsed as `array_in` does, and
/// rendered for binding to a `$n::type[]` placeholder.
enum ValueArrayLiteral {
    /// The elements of `text`, `nil` for an unquoted `NULL`. The error is the `details` line of
    /// PostgreSQL's `malformed array literal` error.
    static func parse(_ text: String) -> Result<[String?], Malformed> {
        var parser = Parser(bytes: Array(text.utf8))
        return Result { () throws(Malformed) in try parser.parse() }
    }

    struct Malformed: Error, Equatable {
        var details: String
    }

    /// Renders elements for PostgreSQL; every non-NULL element is quoted, so no element text
    /// needs to be inspected for characters that are special in array literals.
    static func render(_ elements: [String?]) -> String {
        var output = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { output.append(",") }
            guard let element else {
                output.append("NULL")
                continue
            }
            output.append("\"")
            var pending = element.startIndex
            for index in element.utf8.indices where element.utf8[index] == UInt8(ascii: "\"") || element.utf8[index] == UInt8(ascii: "\\") {
                output.append(contentsOf: element[pending..<index])
                output.append("\\")
                pending = index
            }
            output.append(contentsOf: element[pending...])
            output.append("\"")
        }
        output.append("}")
        return output
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        mutating func parse() throws(Malformed) -> [String?] {
            skipWhitespace()
            guard consume(UInt8(ascii: "{")) else {
                throw Malformed(details: "Array value must start with \"{\" or dimension information.")
            }
            var elements: [String?] = []
            skipWhitespace()
            if !consume(UInt8(ascii: "}")) {
                while true {
                    elements.append(try element())
                    skipWhitespace()
                    if consume(UInt8(ascii: "}")) { break }
                    guard consume(UInt8(ascii: ",")) else { throw unexpected() }
                }
            }
            skipWhitespace()
            guard position == bytes.count else { throw Malformed(details: "Junk after closing right brace.") }
            return elements
        }

        private mutating func element() throws(Malformed) -> String? {
            skipWhitespace()
            guard position < bytes.count else { throw unexpected() }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                throw Malformed(details: "Nested arrays are not supported.")
            case UInt8(ascii: "\""):
                position += 1
                var value: [UInt8] = []
                while true {
                    guard position < bytes.count else { throw unexpected() }
                    let byte = bytes[position]
                    position += 1
                    if byte == UInt8(ascii: "\"") { return String(decoding: value, as: UTF8.self) }
                    if byte == UInt8(ascii: "\\") {
                        guard position < bytes.count else { throw unexpected() }
                        value.append(bytes[position])
                        position += 1
                    } else {
                        value.append(byte)
                    }
                }
            case UInt8(ascii: ","), UInt8(ascii: "}"):
                throw unexpected()
            default:
                return try unquotedElement()
            }
        }

        /// Runs to the next unescaped `,` or `}`; unescaped trailing whitespace is not part of it.
        private mutating func unquotedElement() throws(Malformed) -> String? {
            var value: [UInt8] = []
            var keptLength = 0
            var wasEscaped = false
            while true {
                guard position < bytes.count else { throw unexpected() }
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: ","), UInt8(ascii: "}"):
                    value.removeLast(value.count - keptLength)
                    let text = String(decoding: value, as: UTF8.self)
                    if !wasEscaped, text.lowercased() == "null" { return nil }
                    return text
                case UInt8(ascii: "\""), UInt8(ascii: "{"):
                    throw unexpected()
                case UInt8(ascii: "\\"):
                    position += 1
                    guard position < bytes.count else { throw unexpected() }
                    value.append(bytes[position])
                    keptLength = value.count
                    wasEscaped = true
                default:
                    value.append(byte)
                    if !ValueDecimal.isWhitespace(byte) { keptLength = value.count }
                }
                position += 1
            }
        }

        private func unexpected() -> Malformed {
            guard position < bytes.count else { return Malformed(details: "Unexpected end of input.") }
            let character = String(decoding: [bytes[position]], as: UTF8.self)
            return Malformed(details: "Unexpected \"\(character)\" character.")
        }

        private mutating func skipWhitespace() {
            while position < bytes.count, ValueDecimal.isWhitespace(bytes[position]) { position += 1 }
        }

        private mutating func consume(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }
    }
}
