import NIOCore

/// One SMTP reply (RFC 5321 §4.2): a three-digit code and its text, one entry per line.
public struct SMTPReply: Sendable, Hashable, Codable {
    public var code: Int
    public var lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    /// 2yz: the command succeeded.
    public var isPositiveCompletion: Bool { (200..<300).contains(code) }
    /// 3yz: the server waits for more (the message after DATA, the next AUTH step).
    public var isPositiveIntermediate: Bool { (300..<400).contains(code) }
    /// 4yz: the same command may succeed later.
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    /// 5yz: repeating the command will not help.
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// The text of all lines, for logs and errors.
    public var text: String { lines.joined(separator: " ") }
}

/// Reads replies out of the bytes a server sent, one complete (possibly multi-line) reply at a time.
///
/// Lines end in CRLF; a bare LF is accepted as well, as many servers' replies are read leniently.
/// Every line of a reply carries the same code, `-` after the code continues the reply and a space
/// (or nothing) ends it. Lines and replies are bounded, so a server that sends an endless line or an
/// endless reply is refused instead of growing memory.
public struct SMTPReplyParser: Sendable {
    /// Longest reply line accepted, CRLF included. RFC 5321 allows 512; servers send longer
    /// EHLO and error lines, so the bound is twice that.
    public static let defaultMaxLineLength = 1024
    /// Most lines in one reply: an EHLO reply lists a few dozen extensions at most.
    public static let defaultMaxLines = 128

    public let maxLineLength: Int
    public let maxLines: Int
    private var code: Int?
    private var lines: [String] = []

    public init(maxLineLength: Int = Self.defaultMaxLineLength, maxLines: Int = Self.defaultMaxLines) {
        self.maxLineLength = maxLineLength
        self.maxLines = maxLines
    }

    /// Consumes complete lines from `buffer` and returns the reply they finish, or `nil` when the
    /// reply is not complete yet (the unconsumed bytes stay in `buffer`).
    public mutating func next(_ buffer: inout ByteBuffer) throws(SMTPError) -> SMTPReply? {
        while true {
            guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                if buffer.readableBytes >= maxLineLength { throw .malformedReply("a reply line is longer than \(maxLineLength) bytes") }
                return nil
            }
            let length = newline - buffer.readerIndex + 1
            guard length <= maxLineLength else { throw .malformedReply("a reply line is longer than \(maxLineLength) bytes") }
            var line = buffer.readBytes(length: length)!
            line.removeLast()
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if let reply = try accept(line) { return reply }
        }
    }

    /// The next reply of a server the client does not pipeline commands to: bytes left over after
    /// a reply were not asked for, and are refused rather than kept for the next command.
    public mutating func soleReply(_ buffer: inout ByteBuffer) throws(SMTPError) -> SMTPReply? {
        guard let reply = try next(&buffer) else { return nil }
        guard buffer.readableBytes == 0 else { throw .malformedReply("the server sent data after its reply without being asked") }
        return reply
    }

    private mutating func accept(_ line: [UInt8]) throws(SMTPError) -> SMTPReply? {
        guard line.count >= 3, let code = Self.code(line[0], line[1], line[2]) else {
            throw .malformedReply("a reply line does not start with a reply code")
        }
        if let expected = self.code, expected != code {
            throw .malformedReply("a multi-line reply changes its code from \(expected) to \(code)")
        }
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw .malformedReply("a reply code is followed by neither a space nor '-'")
        }
        guard lines.count < maxLines else { throw .malformedReply("a reply has more than \(maxLines) lines") }
        lines.append(String(decoding: line.dropFirst(4), as: UTF8.self))
        if separator == UInt8(ascii: "-") {
            self.code = code
            return nil
        }
        defer {
            self.code = nil
            lines = []
        }
        return SMTPReply(code: code, lines: lines)
    }

    /// A reply code is 2-5, then 0-5, then 0-9 (RFC 5321 §4.2).
    private static func code(_ first: UInt8, _ second: UInt8, _ third: UInt8) -> Int? {
        guard (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(first),
              (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(second),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(third)
        else { return nil }
        return Int(first - UInt8(ascii: "0")) * 100 + Int(second - UInt8(ascii: "0")) * 10 + Int(third - UInt8(ascii: "0"))
    }
}

/// The channel's shell around `SMTPReplyParser.soleReply(_:)`.
///
/// The client never pipelines, so a server has nothing to say between a reply and the next
/// command: bytes left over after a reply are refused. This is what keeps plaintext injected
/// after the reply to STARTTLS from being read as if it had come through TLS.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply

    private var parser = SMTPReplyParser()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let reply = try parser.soleReply(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(reply))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
