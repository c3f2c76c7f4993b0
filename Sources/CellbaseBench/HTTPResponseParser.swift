import NIOCore

/// One complete HTTP/1.1 response, as much of it as a load generator needs.
public struct ParsedResponse: Sendable, Equatable {
    public var status: Int
    /// The body, when the parser was asked to keep bodies; otherwise skipped unread.
    public var body: ByteBuffer?
    /// The server said `Connection: close`: no further request may go on this connection.
    public var closesConnection: Bool
}

public struct HTTPResponseParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// An incremental parser of HTTP/1.1 responses: bytes in as they arrive, complete responses out.
///
/// It reads only what framing needs — the status code, `Content-Length`, `Transfer-Encoding` and
/// `Connection` — so a response costs a scan of its head and no allocation unless the body is
/// kept. Heads and kept bodies are bounded, so a misbehaving server cannot make it grow without
/// limit.
public struct HTTPResponseParser: Sendable {
    public static let maxHeadBytes = 64 * 1024
    public static let maxKeptBodyBytes = 1024 * 1024

    private enum State: Sendable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
    }

    private let keepsBodies: Bool
    private var state = State.head
    private var status = 0
    private var closesConnection = false
    private var body: ByteBuffer?

    public init(keepsBodies: Bool) {
        self.keepsBodies = keepsBodies
    }

    /// Consumes bytes from `buffer` up to the end of the next complete response and returns it;
    /// `nil` when `buffer` ends first (what it left unread must be given again with more bytes).
    public mutating func next(from buffer: inout ByteBuffer) throws(HTTPResponseParseError) -> ParsedResponse? {
        while true {
            switch state {
            case .head:
                guard let headLength = Self.headLength(in: buffer) else {
                    if buffer.readableBytes > Self.maxHeadBytes { throw HTTPResponseParseError("response head larger than \(Self.maxHeadBytes) bytes") }
                    return nil
                }
                let framing = try Self.parseHead(buffer, length: headLength)
                buffer.moveReaderIndex(forwardBy: headLength)
                // 100 Continue and its kind come before the real answer.
                if (100..<200).contains(framing.status) { continue }
                status = framing.status
                closesConnection = framing.closesConnection
                body = keepsBodies ? ByteBuffer() : nil
                if framing.status == 204 || framing.status == 304 {
                    return finish()
                } else if framing.chunked {
                    state = .chunkSize
                } else if let length = framing.contentLength {
                    if keepsBodies && length > Self.maxKeptBodyBytes { throw HTTPResponseParseError("response body larger than \(Self.maxKeptBodyBytes) bytes") }
                    state = .body(remaining: length)
                } else {
                    throw HTTPResponseParseError("response with neither Content-Length nor chunked encoding")
                }
            case .body(let remaining):
                let taken = take(remaining, from: &buffer)
                if taken < remaining {
                    state = .body(remaining: remaining - taken)
                    return nil
                }
                state = .head
                return finish()
            case .chunkSize:
                guard let line = Self.line(in: buffer) else { return try needMore(buffer, limit: 1024, what: "chunk size line") }
                let size = try Self.chunkSize(buffer.readableBytesView.prefix(line.content))
                buffer.moveReaderIndex(forwardBy: line.total)
                if size == 0 {
                    state = .trailers
                } else {
                    if keepsBodies, let body, body.readableBytes + size > Self.maxKeptBodyBytes {
                        throw HTTPResponseParseError("response body larger than \(Self.maxKeptBodyBytes) bytes")
                    }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let taken = take(remaining, from: &buffer)
                if taken < remaining {
                    state = .chunkData(remaining: remaining - taken)
                    return nil
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readableBytesView.starts(with: [13, 10]) else { throw HTTPResponseParseError("chunk not followed by CRLF") }
                buffer.moveReaderIndex(forwardBy: 2)
                state = .chunkSize
            case .trailers:
                guard let line = Self.line(in: buffer) else { return try needMore(buffer, limit: Self.maxHeadBytes, what: "trailer") }
                buffer.moveReaderIndex(forwardBy: line.total)
                if line.content == 0 {
                    state = .head
                    return finish()
                }
            }
        }
    }

    private mutating func finish() -> ParsedResponse {
        defer { body = nil }
        return ParsedResponse(status: status, body: body, closesConnection: closesConnection)
    }

    /// Moves up to `count` body bytes out of `buffer`, into the kept body or nowhere.
    private mutating func take(_ count: Int, from buffer: inout ByteBuffer) -> Int {
        let taken = min(count, buffer.readableBytes)
        if keepsBodies, var slice = buffer.readSlice(length: taken) {
            body?.writeBuffer(&slice)
        } else {
            buffer.moveReaderIndex(forwardBy: taken)
        }
        return taken
    }

    private func needMore(_ buffer: ByteBuffer, limit: Int, what: String) throws(HTTPResponseParseError) -> ParsedResponse? {
        if buffer.readableBytes > limit { throw HTTPResponseParseError("\(what) longer than \(limit) bytes") }
        return nil
    }

    struct Framing {
        var status: Int
        var contentLength: Int?
        var chunked = false
        var closesConnection = false
    }

    /// The length of the head up to and including its blank line, once it has all arrived.
    static func headLength(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count >= 4 else { return nil }
            for index in 0...(bytes.count - 4)
            where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                return index + 4
            }
            return nil
        }
    }

    /// A line ending in CRLF at the start of `buffer`: its length without and with the CRLF.
    static func line(in buffer: ByteBuffer) -> (content: Int, total: Int)? {
        let bytes = buffer.readableBytesView
        guard let carriageReturn = bytes.firstIndex(of: 13), carriageReturn + 1 < bytes.endIndex else { return nil }
        let content = carriageReturn - bytes.startIndex
        return (content, content + 2)
    }

    /// The framing of the head at the start of `buffer`, read in place.
    static func parseHead(_ buffer: ByteBuffer, length: Int) throws(HTTPResponseParseError) -> Framing {
        let parsed = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(HTTPResponseParseError) in try parseHead(Slice(base: bytes, bounds: 0..<length)) }
        }
        return try parsed.get()
    }

    private static func parseHead(_ bytes: Slice<UnsafeRawBufferPointer>) throws(HTTPResponseParseError) -> Framing {
        let start = bytes.startIndex
        // "HTTP/1.1 200 ..." — the version, a space, three digits.
        guard bytes.count >= 13, bytes.starts(with: "HTTP/1.".utf8), bytes[start + 8] == UInt8(ascii: " "),
              let status = decimal(bytes[(start + 9)..<(start + 12)]),
              bytes[start + 12] == UInt8(ascii: " ") || bytes[start + 12] == 13
        else { throw HTTPResponseParseError("not an HTTP/1.x status line") }
        var framing = Framing(status: status)
        framing.closesConnection = bytes[start + 7] == UInt8(ascii: "0")  // HTTP/1.0 closes unless told otherwise
        var lineStart = (bytes.firstIndex(of: 10) ?? bytes.endIndex) + 1
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: 13) ?? bytes.endIndex
            defer { lineStart = lineEnd + 2 }
            guard lineEnd > lineStart else { break }
            guard let colon = bytes[lineStart..<lineEnd].firstIndex(of: UInt8(ascii: ":")) else {
                throw HTTPResponseParseError("header line without a colon")
            }
            let name = bytes[lineStart..<colon]
            let value = trimmed(bytes[(colon + 1)..<lineEnd])
            if equalsIgnoringCase(name, "content-length") {
                guard let length = decimal(value) else { throw HTTPResponseParseError("invalid Content-Length") }
                framing.contentLength = length
            } else if equalsIgnoringCase(name, "transfer-encoding") {
                framing.chunked = containsIgnoringCase(value, "chunked")
            } else if equalsIgnoringCase(name, "connection") {
                if containsIgnoringCase(value, "close") { framing.closesConnection = true }
                if containsIgnoringCase(value, "keep-alive") { framing.closesConnection = false }
            }
        }
        return framing
    }

    static func chunkSize(_ line: ByteBufferView) throws(HTTPResponseParseError) -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                guard digits > 0 else { throw HTTPResponseParseError("invalid chunk size") }
                return size
            default: throw HTTPResponseParseError("invalid chunk size")
            }
            digits += 1
            guard digits <= 15 else { throw HTTPResponseParseError("chunk size too large") }
            size = size * 16 + digit
        }
        guard digits > 0 else { throw HTTPResponseParseError("invalid chunk size") }
        return size
    }

    private static func decimal(_ bytes: some Collection<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var slice = bytes
        while let first = slice.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { slice.removeFirst() }
        while let last = slice.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { slice.removeLast() }
        return slice
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    private static func equalsIgnoringCase(_ bytes: Slice<UnsafeRawBufferPointer>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { lowercased($0) == $1 }
        }
    }

    private static func containsIgnoringCase(_ bytes: Slice<UnsafeRawBufferPointer>, _ lowercase: StaticString) -> Bool {
        lowercase.withUTF8Buffer { expected in
            guard bytes.count >= expected.count else { return false }
            var start = bytes.startIndex
            while start + expected.count <= bytes.endIndex {
                if zip(bytes[start..<(start + expected.count)], expected).allSatisfy({ lowercased($0) == $1 }) { return true }
                start += 1
            }
            return false
        }
    }
}
