/// Email addresses as GoTrue accepts them: its ASCII pattern
/// `local@label(.label)*`, at most 255 bytes, compared and stored lowercased.
enum EmailAddress {
    static func normalized(_ raw: String) throws(AuthError) -> String {
        let email = raw.lowercased()
        let parts = email.utf8.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
        guard email.utf8.count <= 255, parts.count == 2,
              !parts[0].isEmpty, parts[0].allSatisfy(isLocalByte),
              isDomain(parts[1])
        else { throw .invalidEmail }
        return email
    }

    /// Letters, digits and ``.!#$%&'*+/=?^_`{|}~-``.
    private static func isLocalByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || Array(".!#$%&'*+/=?^_`{|}~-".utf8).contains(byte)
    }

    /// Dot-separated labels of 1 to 63 letters, digits and inner hyphens.
    private static func isDomain(_ domain: Substring.UTF8View.SubSequence) -> Bool {
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && label.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
                && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// What a new password must satisfy, checked before it goes anywhere near bcrypt.
struct PasswordPolicy: Sendable {
    /// bcrypt reads at most 72 bytes and silently ignores the rest: a longer password would be
    /// accepted by any string sharing its first 72 bytes, so it is refused instead.
    static let maxBytes = 72

    var minimumLength: Int

    func check(_ password: String) throws(AuthError) {
        // Bounded first, so an enormous password costs nothing more than this comparison.
        guard password.utf8.count <= Self.maxBytes else {
            throw .validation("Password cannot be longer than \(Self.maxBytes) bytes")
        }
        guard password.unicodeScalars.count >= minimumLength else { throw .weakPassword(minimumLength: minimumLength) }
    }
}
