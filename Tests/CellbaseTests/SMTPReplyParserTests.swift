import NIOCore
import Testing

@testable import Cellbase

@Suite("SMTP replies")
struct SMTPReplyParserTests {
    /// Feeds `text` and collects every complete reply.
    private func replies(_ text: String, parser: SMTPReplyParser = SMTPReplyParser()) throws(SMTPError) -> (replies: [SMTPReply], rest: Int) {
        var parser = parser
        var buffer = ByteBuffer(string: text)
        var replies: [SMTPReply] = []
        while let reply = try parser.next(&buffer) { replies.append(reply) }
        return (replies, buffer.readableBytes)
    }

    @Test func singleLine() throws {
        let (replies, rest) = try replies("220 mail.example.com ESMTP ready\r\n")
        #expect(replies == [SMTPReply(code: 220, lines: ["mail.example.com ESMTP ready"])])
        #expect(rest == 0)
    }

    @Test func multiLineEHLO() throws {
        let (replies, _) = try replies("250-mail.example.com\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n")
        #expect(replies == [SMTPReply(code: 250, lines: ["mail.example.com", "PIPELINING", "AUTH PLAIN LOGIN", "STARTTLS"])])
        let capabilities = SMTPCapabilities(ehlo: replies[0])
        #expect(capabilities.startTLS)
        #expect(capabilities.authMechanisms == ["PLAIN", "LOGIN"])
    }

    @Test func bareCodeAndBareLineFeed() throws {
        #expect(try replies("250\n").replies == [SMTPReply(code: 250, lines: [""])])
        #expect(try replies("354 go ahead\n").replies == [SMTPReply(code: 354, lines: ["go ahead"])])
    }

    @Test func incompleteInputWaits() throws {
        var parser = SMTPReplyParser()
        var buffer = ByteBuffer(string: "250-first\r\n250 sec")
        #expect(try parser.next(&buffer) == nil)
        #expect(buffer.readableBytes == 7, "the unfinished line stays in the buffer")
        buffer.writeString("ond\r\n")
        #expect(try parser.next(&buffer) == SMTPReply(code: 250, lines: ["first", "second"]))
    }

    @Test func dripFedByteByByte() throws {
        let text = "250-a\r\n250-b\r\n250 c\r\n221 bye\r\n"
        var parser = SMTPReplyParser()
        var buffer = ByteBuffer()
        var replies: [SMTPReply] = []
        for byte in text.utf8 {
            buffer.writeInteger(byte)
            while let reply = try parser.next(&buffer) { replies.append(reply) }
        }
        #expect(replies == [SMTPReply(code: 250, lines: ["a", "b", "c"]), SMTPReply(code: 221, lines: ["bye"])])
    }

    @Test(arguments: [
        "hello\r\n", "25\r\n", "2x0 ok\r\n", "600 no\r\n", "199 no\r\n", "260 no\r\n", "250_ok\r\n",
        "250-one\r\n251 two\r\n", "\r\n", "HTTP/1.1 200 OK\r\n",
    ])
    func garbageIsRefused(_ text: String) {
        #expect(throws: SMTPError.self) { try replies(text) }
        do {
            _ = try replies(text)
        } catch {
            #expect(error.code == .malformedReply)
            #expect(!error.isPermanent)
        }
    }

    @Test func overlongLineIsRefusedBeforeItEnds() throws {
        let parser = SMTPReplyParser(maxLineLength: 64)
        #expect(throws: SMTPError.self) { try replies("250 " + String(repeating: "x", count: 100), parser: parser) }
        #expect(throws: SMTPError.self) { try replies("250 " + String(repeating: "x", count: 100) + "\r\n", parser: parser) }
        // Exactly at the bound, CRLF included, is fine.
        #expect(try replies("250 " + String(repeating: "x", count: 58) + "\r\n", parser: parser).replies.count == 1)
    }

    @Test func endlessReplyIsRefused() throws {
        let parser = SMTPReplyParser(maxLines: 3)
        #expect(throws: SMTPError.self) { try replies("250-a\r\n250-b\r\n250-c\r\n250-d\r\n", parser: parser) }
        #expect(try replies("250-a\r\n250-b\r\n250 c\r\n", parser: parser).replies.count == 1)
    }

    /// What keeps a command injected after the reply to STARTTLS from being read after the
    /// handshake as if it had come through TLS.
    @Test func dataAfterAReplyIsRefused() throws {
        var parser = SMTPReplyParser()
        var injected = ByteBuffer(string: "220 go ahead\r\n250 injected\r\n")
        #expect(throws: SMTPError.self) { _ = try parser.soleReply(&injected) }
        var partial = ByteBuffer(string: "220 go ahead\r\n2")
        #expect(throws: SMTPError.self) {
            var fresh = SMTPReplyParser()
            _ = try fresh.soleReply(&partial)
        }
        var alone = ByteBuffer(string: "250-a\r\n250 b\r\n")
        #expect(try parser.soleReply(&alone) == SMTPReply(code: 250, lines: ["a", "b"]))
    }

    @Test func replyClasses() {
        #expect(SMTPError.unexpected(SMTPReply(code: 550, lines: ["no such user"]), after: "RCPT TO").code == .rejected)
        #expect(SMTPError.unexpected(SMTPReply(code: 550, lines: []), after: "RCPT TO").isPermanent)
        #expect(SMTPError.unexpected(SMTPReply(code: 451, lines: []), after: "DATA").code == .deferred)
        #expect(!SMTPError.unexpected(SMTPReply(code: 421, lines: []), after: "MAIL FROM").isPermanent)
        #expect(SMTPError.unexpected(SMTPReply(code: 250, lines: []), after: "DATA").code == .malformedReply)
        let error = SMTPError.unexpected(SMTPReply(code: 535, lines: ["5.7.8 bad credentials"]), after: "AUTH PLAIN")
        #expect(error.description == "SMTP rejected: the server refused (after AUTH PLAIN): 535 5.7.8 bad credentials")
    }
}
