import FoundationEssentials

extension MailMessage {
    /// The message as RFC 5322 text with MIME headers: CRLF line ends, ASCII only, lines of at
    /// most 78 characters but for an over-long Message-ID, ready to be dot-stuffed after DATA.
    ///
    /// The text goes as quoted-printable UTF-8; a subject or display name outside printable ASCII
    /// becomes RFC 2047 encoded words. A line break (or NUL) in any header value is refused rather
    /// than cleaned: it is how headers are injected, and it is never meant.
    public func encoded() throws(SMTPError) -> [UInt8] {
        guard !to.isEmpty else { throw .invalidMessage("a message needs a recipient") }
        if subject.unicodeScalars.contains(where: MailAddress.isLineBreakOrNUL) { throw .invalidMessage("the subject contains a line break") }
        guard !messageID.isEmpty, messageID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }) else {
            throw .invalidMessage("the Message-ID must be printable ASCII without spaces or angle brackets")
        }
        var lines = [
            "Date: " + MIMEEncoding.date(date),
            "Message-ID: <\(messageID)>",
            MIMEEncoding.addressHeader("From", [from]),
            MIMEEncoding.addressHeader("To", to),
            MIMEEncoding.unstructuredHeader("Subject", subject),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
        ]
        lines.append(MIMEEncoding.quotedPrintable(text))
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }
}

/// The encodings `MailMessage.encoded()` is made of.
enum MIMEEncoding {
    /// RFC 5322 §3.3 in UTC: `Tue, 24 Nov 2026 09:19:04 +0000`.
    static func date(_ unixSeconds: Int) -> String {
        let days = unixSeconds.floorDivided(by: 86_400)
        let seconds = unixSeconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(fromDays: days)
        let weekday = CivilCalendar.weekday(days: days)

        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekdays[weekday]), \(two(day)) \(months[month - 1]) \(year) \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)) +0000"
    }

    /// `From:` or `To:` with mailboxes separated by commas, one per folded line after the first.
    static func addressHeader(_ name: String, _ addresses: [MailAddress]) -> String {
        let mailboxes = addresses.map { address in
            guard let displayName = address.name else { return address.address }
            return "\(phrase(displayName)) <\(address.address)>"
        }
        return "\(name): " + mailboxes.joined(separator: ",\r\n ")
    }

    /// A header of free text: as it is when it is short printable ASCII, else encoded words.
    static func unstructuredHeader(_ name: String, _ value: String) -> String {
        if isPrintableASCII(value), !value.contains("=?"), name.utf8.count + 2 + value.utf8.count <= 78 {
            return "\(name): \(value)"
        }
        return "\(name): " + encodedWords(value)
    }

    /// A display name: bare when it is only atoms and spaces, quoted when it is other printable
    /// ASCII, encoded words otherwise.
    static func phrase(_ name: String) -> String {
        guard !name.contains("=?") else { return encodedWords(name) }
        if name.utf8.allSatisfy({ isAtomText($0) || $0 == UInt8(ascii: " ") }), !name.hasPrefix(" "), !name.hasSuffix(" ") { return name }
        if isPrintableASCII(name) {
            return "\"" + name.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        }
        return encodedWords(name)
    }

    /// RFC 2047 `=?utf-8?B?…?=` words of at most 75 characters, separated by folding white space
    /// (which decoders drop between encoded words). Words end on character boundaries, as the
    /// RFC requires.
    static func encodedWords(_ text: String) -> String {
        // 42 bytes make 56 base64 characters: with `=?utf-8?B?` and `?=` a word is 68, which
        // leaves room for `Subject: ` on the first line within 78.
        let maxBytes = 42
        var words: [[UInt8]] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(character.utf8)
            if !chunk.isEmpty, chunk.count + bytes.count > maxBytes {
                words.append(chunk)
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append(chunk) }
        return words.map { "=?utf-8?B?" + Data($0).base64EncodedString() + "?=" }.joined(separator: "\r\n ")
    }

    /// RFC 2045 §6.7 quoted-printable of `text` as UTF-8, with every line break (CRLF, LF or CR)
    /// a CRLF and lines of at most 76 characters joined by soft breaks.
    static func quotedPrintable(_ text: String) -> String {
        var output = ""
        let lines = text.replacing("\r\n", with: "\n").replacing("\r", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            if index > 0 { output += "\r\n" }
            var length = 0
            let bytes = Array(line.utf8)
            for (position, byte) in bytes.enumerated() {
                let isLast = position == bytes.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || ((byte == 0x20 || byte == 0x09) && !isLast)
                let token = literal ? String(UnicodeScalar(byte)) : "=" + hex(byte)
                // Room for the token and, unless this is the line's end, a soft break after it.
                if length + token.utf8.count > (isLast ? 76 : 75) {
                    output += "=\r\n"
                    length = 0
                }
                output += token
                length += token.utf8.count
            }
        }
        return output
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    private static func isPrintableASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// RFC 5322 `atext`.
    private static func isAtomText(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(byte)
    }
}

