import FoundationEssentials
import NIOCore

/// The commands the client sends, each one line ending in CRLF.
///
/// Arguments come from validated values only (`MailAddress`, the configured EHLO name, base64),
/// so no command can carry a line break into the next.
enum SMTPCommand: Sendable, Hashable {
    case ehlo(String)
    case startTLS
    case authPlain(username: String, password: String)
    case authLogin
    /// A step of AUTH LOGIN: the user name or the password, base64-encoded.
    case authLoginResponse(String)
    case mailFrom(String)
    case rcptTo(String)
    case data
    case quit

    /// How the command appears in errors and logs: its verb, never an argument that may be secret.
    var verb: String {
        switch self {
        case .ehlo: "EHLO"
        case .startTLS: "STARTTLS"
        case .authPlain: "AUTH PLAIN"
        case .authLogin, .authLoginResponse: "AUTH LOGIN"
        case .mailFrom: "MAIL FROM"
        case .rcptTo: "RCPT TO"
        case .data: "DATA"
        case .quit: "QUIT"
        }
    }

    var line: String {
        switch self {
        case .ehlo(let name): "EHLO \(name)\r\n"
        case .startTLS: "STARTTLS\r\n"
        // RFC 4616: authorization identity (empty: the same), NUL, user name, NUL, password.
        case .authPlain(let username, let password): "AUTH PLAIN \(Self.base64("\0\(username)\0\(password)"))\r\n"
        case .authLogin: "AUTH LOGIN\r\n"
        case .authLoginResponse(let value): "\(Self.base64(value))\r\n"
        case .mailFrom(let address): "MAIL FROM:<\(address)>\r\n"
        case .rcptTo(let address): "RCPT TO:<\(address)>\r\n"
        case .data: "DATA\r\n"
        case .quit: "QUIT\r\n"
        }
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
}

/// What a server's EHLO reply says it supports (RFC 5321 §4.1.1.1): one keyword per line after
/// the greeting line, parameters after a space.
struct SMTPCapabilities: Sendable, Hashable {
    var startTLS = false
    /// AUTH mechanisms, uppercased.
    var authMechanisms: Set<String> = []
    /// The SIZE limit in bytes, when the server declares one (0 means none).
    var maxMessageSize: Int?

    init(ehlo reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.uppercased().split(separator: " ")
            guard let keyword = words.first else { continue }
            switch keyword {
            case "STARTTLS": startTLS = true
            case "AUTH": authMechanisms.formUnion(words.dropFirst().map(String.init))
            case "SIZE": maxMessageSize = words.dropFirst().first.flatMap { Int($0) }
            default: break
            }
        }
    }

    init() {}
}

/// The message as it goes after DATA (RFC 5321 §4.5.2): every line break a CRLF, a `.` doubled
/// at the start of a line so no line of the message reads as the end, then the `.` line.
enum DotStuffing {
    static func stuffed(_ message: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.count + message.count / 64 + 5)
        var atLineStart = true
        var index = message.startIndex
        while index < message.endIndex {
            let byte = message[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\r"):
                // CRLF, bare CR and bare LF all end a line.
                if index < message.endIndex, message[index] == UInt8(ascii: "\n") { index += 1 }
                buffer.writeStaticString("\r\n")
                atLineStart = true
            case UInt8(ascii: "\n"):
                buffer.writeStaticString("\r\n")
                atLineStart = true
            default:
                if atLineStart, byte == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
                buffer.writeInteger(byte)
                atLineStart = false
            }
        }
        if !atLineStart { buffer.writeStaticString("\r\n") }
        buffer.writeStaticString(".\r\n")
        return buffer
    }
}
