/// Why a message was not sent, precise enough for a queue to decide between trying again and
/// giving up: `isPermanent` is true when sending the same message through the same server
/// configuration would fail the same way.
public struct SMTPError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case rejected, deferred, connectionFailed, connectionClosed, timedOut, tls, malformedReply, unsupported, invalidMessage
        }

        fileprivate let base: Base

        /// The server answered 5yz: it refuses the command for good.
        public static let rejected = Code(base: .rejected)
        /// The server answered 4yz: it may accept the command later.
        public static let deferred = Code(base: .deferred)
        /// No connection could be made (refused, unreachable, no such host, connect timeout).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection ended before the conversation did.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The server did not answer a command in time.
        public static let timedOut = Code(base: .timedOut)
        /// The TLS handshake failed, the server's certificate among other things.
        public static let tls = Code(base: .tls)
        /// The server's bytes are not SMTP replies, or not the reply the command calls for.
        public static let malformedReply = Code(base: .malformedReply)
        /// The server lacks what the configuration requires: STARTTLS, or an AUTH mechanism this
        /// client speaks, or a secure channel to send credentials over.
        public static let unsupported = Code(base: .unsupported)
        /// The message cannot be sent as it is: a header with a line break, an invalid address.
        public static let invalidMessage = Code(base: .invalidMessage)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong, for logs. Never holds credentials.
    public var detail: String
    /// The command that failed (`MAIL FROM`, `RCPT TO`, …), when it was one.
    public var command: String?
    /// The server's reply, when there was one.
    public var reply: SMTPReply?

    public init(_ code: Code, _ detail: String, command: String? = nil, reply: SMTPReply? = nil) {
        self.code = code
        self.detail = detail
        self.command = command
        self.reply = reply
    }

    public var isPermanent: Bool {
        switch code.base {
        case .rejected, .unsupported, .invalidMessage: true
        case .deferred, .connectionFailed, .connectionClosed, .timedOut, .tls, .malformedReply: false
        }
    }

    public var description: String {
        var text = "SMTP \(code): \(detail)"
        if let command { text += " (after \(command))" }
        if let reply { text += ": \(reply.code) \(reply.text)" }
        return text
    }

    /// The error for a reply that is not the one `command` needed: a refusal, permanent or not.
    static func unexpected(_ reply: SMTPReply, after command: String) -> SMTPError {
        switch reply.code {
        case 500..<600: SMTPError(.rejected, "the server refused", command: command, reply: reply)
        case 400..<500: SMTPError(.deferred, "the server deferred", command: command, reply: reply)
        default: SMTPError(.malformedReply, "unexpected reply", command: command, reply: reply)
        }
    }

    static func malformedReply(_ detail: String) -> SMTPError { SMTPError(.malformedReply, detail) }
    static func invalidMessage(_ detail: String) -> SMTPError { SMTPError(.invalidMessage, detail) }
}
