import FoundationEssentials

/// A plain-text mail, as a queue stores it (JSON) and `SMTPClient.send(_:)` sends it.
///
/// The Message-ID and Date are fixed when the message is made, so a message sent again after a
/// failure is the same message to the receiver, who can drop the copy.
public struct MailMessage: Sendable, Hashable, Codable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var subject: String
    public var text: String
    /// Without angle brackets: `<id>` in the header.
    public var messageID: String
    /// Unix seconds.
    public var date: Int

    public init(from: MailAddress, to: [MailAddress], subject: String, text: String, messageID: String? = nil, date: Int? = nil) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.messageID = messageID ?? "\(UUID().uuidString.lowercased())@\(from.domain)"
        self.date = date ?? Int(Date().timeIntervalSince1970)
    }
}

/// A mailbox: an address and an optional display name, `Name <local@domain>`.
///
/// Addresses are ASCII `local@domain` without spaces, angle brackets or control characters, so
/// that they can go into `MAIL FROM:<…>`, `RCPT TO:<…>` and headers as they are.
public struct MailAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var name: String?
    public var address: String

    public init(name: String? = nil, address: String) throws(SMTPError) {
        guard Self.isValid(address) else { throw .invalidMessage("'\(address)' is not an email address") }
        if let name, name.unicodeScalars.contains(where: Self.isLineBreakOrNUL) {
            throw .invalidMessage("a display name contains a line break")
        }
        self.name = name.flatMap { $0.isEmpty ? nil : $0 }
        self.address = address
    }

    /// `local@domain` or `Name <local@domain>` (the name may be in double quotes).
    public init(parsing text: String) throws(SMTPError) {
        let trimmed = text.trimmingSpaces
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else {
            try self.init(address: trimmed)
            return
        }
        var name = Substring(trimmed[..<open].trimmingSpaces)
        if name.count >= 2, name.first == "\"", name.last == "\"" { name = name.dropFirst().dropLast() }
        try self.init(name: String(name), address: String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]))
    }

    public var domain: String { String(address[address.index(after: address.lastIndex(of: "@")!)...]) }

    public var description: String { name.map { "\($0) <\(address)>" } ?? address }

    /// Checked again after decoding: a stored payload is input too.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(name: try container.decodeIfPresent(String.self, forKey: .name), address: try container.decode(String.self, forKey: .address))
    }

    private static func isValid(_ address: String) -> Bool {
        let parts = address.utf8.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
        return address.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && address.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: ",") }
    }

    static func isLineBreakOrNUL(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\r" || scalar == "\n" || scalar == "\0"
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
