import FoundationEssentials
import NIOCore
import Testing

@testable import Cellbase

@Suite("Mail messages")
struct MailMessageTests {
    private func message(subject: String = "Hello", text: String = "Hi.", from: MailAddress? = nil) throws -> MailMessage {
        MailMessage(
            from: try from ?? MailAddress(name: "Cellbase", address: "noreply@example.com"),
            to: [try MailAddress(address: "ann@example.org")], subject: subject, text: text,
            messageID: "id-1@example.com", date: 1_795_943_944
        )
    }

    private func encoded(_ message: MailMessage) throws -> String {
        String(decoding: try message.encoded(), as: UTF8.self)
    }

    @Test func headersAndBody() throws {
        let text = try encoded(try message())
        #expect(text == """
        Date: Sun, 29 Nov 2026 09:19:04 +0000\r
        Message-ID: <id-1@example.com>\r
        From: Cellbase <noreply@example.com>\r
        To: ann@example.org\r
        Subject: Hello\r
        MIME-Version: 1.0\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: quoted-printable\r
        \r
        Hi.\r

        """)
    }

    @Test(arguments: [
        (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 +0000"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 +0000"),
        (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
    ])
    func dates(_ seconds: Int, _ expected: String) {
        #expect(MIMEEncoding.date(seconds) == expected)
    }

    @Test func nonASCIISubjectBecomesEncodedWords() throws {
        let subject = "Bestätigen Sie Ihre Adresse — " + String(repeating: "ü", count: 40)
        let text = try encoded(try message(subject: subject))
        let header = text.components(separatedBy: "\r\nMIME-Version")[0].components(separatedBy: "Subject: ")[1]
        let words = header.components(separatedBy: "\r\n ")
        #expect(words.count > 1)
        var decoded: [UInt8] = []
        for word in words {
            #expect(word.hasPrefix("=?utf-8?B?") && word.hasSuffix("?="))
            #expect(word.utf8.count <= 75)
            let payload = String(word.dropFirst(10).dropLast(2))
            let bytes = try #require(Data(base64Encoded: payload))
            #expect(String(validating: bytes, as: UTF8.self) != nil, "each word holds whole characters")
            decoded += bytes
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    @Test func longASCIISubjectIsFolded() throws {
        let subject = String(repeating: "word ", count: 40)
        let lines = try encoded(try message(subject: subject)).components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
    }

    @Test(arguments: [
        ("Cellbase", "Cellbase <a@example.com>"),
        ("Ann O'Neil", "Ann O'Neil <a@example.com>"),
        ("Smith, John", "\"Smith, John\" <a@example.com>"),
        ("Say \"hi\"", "\"Say \\\"hi\\\"\" <a@example.com>"),
        ("Zoë", "=?utf-8?B?Wm/Dqw==?= <a@example.com>"),
        ("=?utf-8?B?x?=", "=?utf-8?B?PT91dGYtOD9CP3g/PQ==?= <a@example.com>"),
    ])
    func displayNames(_ name: String, _ expected: String) throws {
        #expect(MIMEEncoding.addressHeader("From", [try MailAddress(name: name, address: "a@example.com")]) == "From: " + expected)
    }

    @Test(arguments: ["Hi\r\nBcc: x@example.com", "Hi\nBcc: x@example.com", "Hi\rthere", "nul\0"])
    func lineBreaksInHeadersAreRefused(_ value: String) throws {
        #expect(throws: SMTPError.self) { try self.message(subject: value).encoded() }
        #expect(throws: SMTPError.self) { try MailAddress(name: value, address: "a@example.com") }
        #expect(throws: SMTPError.self) { try MailAddress(address: "a@example.com" + value) }
        var message = try self.message()
        message.messageID = "x\(value)@example.com"
        #expect(throws: SMTPError.self) { try message.encoded() }
    }

    @Test(arguments: ["", "plain", "a@", "@b", "a b@c", "<a@b>", "a@b,c@d", "ä@example.com", "a@b@c"])
    func invalidAddresses(_ address: String) {
        #expect(throws: SMTPError.self) { try MailAddress(address: address) }
    }

    @Test func refusedHeadersAreRefusedAfterDecodingToo() throws {
        let json = #"{"name":"Eve\r\nBcc: x@example.com","address":"eve@example.com"}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(MailAddress.self, from: Data(json.utf8)) }
        let message = try message()
        #expect(try JSONDecoder().decode(MailMessage.self, from: JSONEncoder().encode(message)) == message)
    }

    @Test(arguments: [
        ("noreply@example.com", nil, "noreply@example.com"),
        ("Cellbase <noreply@example.com>", "Cellbase", "noreply@example.com"),
        ("  \"Cell, base\"  <noreply@example.com> ", "Cell, base", "noreply@example.com"),
        ("<noreply@example.com>", nil, "noreply@example.com"),
    ] as [(String, String?, String)])
    func parsingAddresses(_ text: String, _ name: String?, _ address: String) throws {
        let parsed = try MailAddress(parsing: text)
        #expect(parsed.name == name)
        #expect(parsed.address == address)
    }

    @Test func quotedPrintable() {
        #expect(MIMEEncoding.quotedPrintable("a=b") == "a=3Db")
        #expect(MIMEEncoding.quotedPrintable("Grüße") == "Gr=C3=BC=C3=9Fe")
        #expect(MIMEEncoding.quotedPrintable("trailing space \nnext\r\nthird\rfourth") == "trailing space=20\r\nnext\r\nthird\r\nfourth")
        let long = MIMEEncoding.quotedPrintable(String(repeating: "é", count: 100))
        let lines = long.components(separatedBy: "\r\n")
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.utf8.count <= 76 })
        #expect(lines.dropLast().allSatisfy { $0.hasSuffix("=") })
        #expect(lines.joined().replacing("=", with: "") == String(repeating: "C3A9", count: 100), "soft breaks never split an escape")
    }

    @Test func dotStuffing() {
        func stuffed(_ text: String) -> String { String(buffer: DotStuffing.stuffed(Array(text.utf8))) }
        #expect(stuffed("a\r\n.\r\nb") == "a\r\n..\r\nb\r\n.\r\n")
        #expect(stuffed(".start\r\n..two\r\nmid.dle\r\n") == "..start\r\n...two\r\nmid.dle\r\n.\r\n")
        #expect(stuffed("bare\nlf\rcr\n.dot") == "bare\r\nlf\r\ncr\r\n..dot\r\n.\r\n")
        #expect(stuffed("") == ".\r\n")
        #expect(stuffed("x\r\n.\r\n") == "x\r\n..\r\n.\r\n", "a message's own end-of-data line cannot end it early")
    }

    @Test func commandsNeverLeakSecretsAndEndInCRLF() {
        let plain = SMTPCommand.authPlain(username: "user", password: "pass")
        #expect(plain.line == "AUTH PLAIN AHVzZXIAcGFzcw==\r\n")
        #expect(plain.verb == "AUTH PLAIN")
        #expect(SMTPCommand.authLoginResponse("user").line == "dXNlcg==\r\n")
        #expect(SMTPCommand.mailFrom("a@example.com").line == "MAIL FROM:<a@example.com>\r\n")
        #expect(SMTPCommand.rcptTo("b@example.com").line == "RCPT TO:<b@example.com>\r\n")
    }

    @Test func smtpURLs() throws {
        let submission = try SMTPConfiguration(url: "smtp://user%40example.com:p%3Ass@mail.example.com")
        #expect(submission.host == "mail.example.com")
        #expect(submission.port == 587)
        #expect(!submission.implicitTLS)
        #expect(submission.startTLS == .required)
        #expect(submission.username == "user@example.com")
        #expect(submission.password == "p:ss")
        let implicit = try SMTPConfiguration(url: "smtps://[::1]:2465", startTLS: .opportunistic)
        #expect(implicit.host == "::1")
        #expect(implicit.port == 2465)
        #expect(implicit.implicitTLS)
        #expect(implicit.startTLS == .off, "TLS from the start leaves nothing to upgrade")
        #expect(try SMTPConfiguration(url: "smtps://mail.example.com").port == 465)
        for invalid in ["http://mail.example.com", "smtp://", "smtp://host/path", "smtp://host?x=1", "smtp://u:a%00b@host", "mail.example.com"] {
            #expect(throws: SMTPConfiguration.InvalidURL.self) { try SMTPConfiguration(url: invalid) }
        }
    }
}
