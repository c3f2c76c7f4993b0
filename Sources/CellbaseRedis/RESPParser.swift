import NIOCore

/// An incremental RESP2 parser: no I/O, no state between calls.
///
/// `parse(_:)` either consumes one complete value from the front of the buffer, returns nil
/// leaving the buffer untouched when the value is still incomplete, or throws a `RESPError` for
/// input that can never become valid. A value that arrives in pieces is re-scanned from its start
/// on each call; bulk payloads are only measured, not scanned, so that stays cheap.
public struct RESPParser: Sendable {
    /// Bounds on what one reply may make the parser hold or recurse into.
    public struct Limits: Sendable, Hashable {
        /// The longest bulk string accepted, in bytes (Redis itself allows at most 512 MiB).
        public var maxBulkLength: Int
        /// The most elements one array may declare.
        public var maxArrayElements: Int
        /// The deepest nesting of arrays; a top-level array is depth 1.
        public var maxDepth: Int
        /// The longest simple string, error or length line, in bytes without its `\r\n`.
        public var maxLineLength: Int

        public init(
            maxBulkLength: Int = 16 * 1024 * 1024,
            maxArrayElements: Int = 1024 * 1024,
            maxDepth: Int = 32,
            maxLineLength: Int = 64 * 1024
        ) {
            self.maxBulkLength = maxBulkLength
            self.maxArrayElements = maxArrayElements
            self.maxDepth = maxDepth
            self.maxLineLength = maxLineLength
        }
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Parses one value from the front of `buffer`, moving its reader index past the value only when it is complete.
    public func parse(_ buffer: inout ByteBuffer) throws(RESPError) -> RESPValue? {
        var index = buffer.readerIndex
        guard let value = try self.value(in: buffer, at: &index, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: index)
        return value
    }

    private func value(in buffer: ByteBuffer, at index: inout Int, depth: Int) throws(RESPError) -> RESPValue? {
        guard let type = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
        var cursor = index + 1
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"):
            guard let line = try self.line(in: buffer, at: &cursor) else { return nil }
            value = .simpleString(String(buffer: line))
        case UInt8(ascii: "-"):
            guard let line = try self.line(in: buffer, at: &cursor) else { return nil }
            value = .error(String(buffer: line))
        case UInt8(ascii: ":"):
            guard let line = try self.line(in: buffer, at: &cursor) else { return nil }
            guard let integer = Self.integer(line) else {
                throw RESPError(.invalidInteger, "integer reply '\(String(buffer: line))' is not a decimal Int")
            }
            value = .integer(integer)
        case UInt8(ascii: "$"):
            guard let length = try self.length(in: buffer, at: &cursor, of: "bulk string") else { return nil }
            guard let length else {
                value = .bulkString(nil)
                break
            }
            guard length <= self.limits.maxBulkLength else {
                throw RESPError(.bulkTooLong, "bulk string of \(length) bytes exceeds the limit of \(self.limits.maxBulkLength)")
            }
            guard buffer.writerIndex - cursor >= length + 2 else { return nil }
            guard buffer.getInteger(at: cursor + length, as: UInt16.self) == Self.crlf else {
                throw RESPError(.missingCRLF, "bulk string of \(length) bytes is not followed by CRLF")
            }
            value = .bulkString(buffer.getSlice(at: cursor, length: length))
            cursor += length + 2
        case UInt8(ascii: "*"):
            guard depth < self.limits.maxDepth else {
                throw RESPError(.nestingTooDeep, "arrays nested deeper than \(self.limits.maxDepth)")
            }
            guard let count = try self.length(in: buffer, at: &cursor, of: "array") else { return nil }
            guard let count else {
                value = .array(nil)
                break
            }
            guard count <= self.limits.maxArrayElements else {
                throw RESPError(.tooManyElements, "array of \(count) elements exceeds the limit of \(self.limits.maxArrayElements)")
            }
            // Every element takes at least 3 bytes ("+\r\n"): never reserve more than the input can hold.
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(count, (buffer.writerIndex - cursor) / 3))
            for _ in 0..<count {
                guard let element = try self.value(in: buffer, at: &cursor, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            value = .array(elements)
        default:
            throw RESPError(.unknownType, "unknown RESP type byte 0x\(String(type, radix: 16))")
        }
        index = cursor
        return value
    }

    /// The bytes up to the next CRLF, moving `index` past it; nil while no CR has arrived yet.
    private func line(in buffer: ByteBuffer, at index: inout Int) throws(RESPError) -> ByteBuffer? {
        let available = buffer.writerIndex - index
        let scanned = min(available, self.limits.maxLineLength + 1)
        guard let view = buffer.viewBytes(at: index, length: scanned) else { return nil }
        guard let end = view.firstIndex(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else {
            if available > self.limits.maxLineLength {
                throw RESPError(.lineTooLong, "line longer than \(self.limits.maxLineLength) bytes")
            }
            return nil
        }
        guard buffer.getInteger(at: end, as: UInt8.self) == UInt8(ascii: "\r") else {
            throw RESPError(.missingCRLF, "line feed without a preceding carriage return")
        }
        guard let next = buffer.getInteger(at: end + 1, as: UInt8.self) else { return nil }
        guard next == UInt8(ascii: "\n") else {
            throw RESPError(.missingCRLF, "carriage return not followed by a line feed")
        }
        let line = buffer.getSlice(at: index, length: end - index)
        index = end + 2
        return line
    }

    /// A bulk or array length: `.some(nil)` for -1 (null), nil while the line is incomplete.
    private func length(in buffer: ByteBuffer, at index: inout Int, of kind: String) throws(RESPError) -> Int?? {
        guard let line = try self.line(in: buffer, at: &index) else { return nil }
        guard let length = Self.integer(line) else {
            throw RESPError(.invalidLength, "\(kind) length '\(String(buffer: line))' is not a decimal number")
        }
        if length == -1 { return .some(nil) }
        guard length >= 0 else {
            throw RESPError(.invalidLength, "\(kind) length \(length) is negative")
        }
        return length
    }

    /// An optional `-` then one or more ASCII digits, within `Int`; nil for anything else.
    private static func integer(_ bytes: ByteBuffer) -> Int? {
        let view = bytes.readableBytesView
        guard let first = view.first else { return nil }
        let negative = first == UInt8(ascii: "-")
        let digits = negative ? view.dropFirst() : view[...]
        guard !digits.isEmpty else { return nil }
        // Accumulated with the sign applied digit by digit, so that Int.min parses too.
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int(byte - UInt8(ascii: "0"))
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowA, !overflowB else { return nil }
            value = next
        }
        return value
    }

    private static let crlf = UInt16(UInt8(ascii: "\r")) << 8 | UInt16(UInt8(ascii: "\n"))
}
