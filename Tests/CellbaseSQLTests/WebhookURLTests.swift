import CellbaseSQL
import Testing

@Suite struct WebhookURLTests {
    @Test(arguments: [
        ("https://hooks.example.com/orders", "https://hooks.example.com:443/orders"),
        ("HTTPS://Hooks.Example.COM/Orders?A=B", "https://hooks.example.com:443/Orders?A=B"),
        ("http://example.com", "http://example.com:80/"),
        ("http://example.com?x=1", "http://example.com:80/?x=1"),
        ("http://example.com/a#fragment", "http://example.com:80/a"),
        ("http://example.com:8080/a/b?c=%20d", "http://example.com:8080/a/b?c=%20d"),
        ("http://xn--bcher-kva.example/", "http://xn--bcher-kva.example:80/"),
        ("http://1.2.3.4.example.com/", "http://1.2.3.4.example.com:80/"),
        ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),
        ("http://[::1]:9000/hook", "http://[::1]:9000/hook"),
        ("https://[2001:DB8::0:1]/", "https://[2001:db8::1]:443/"),
        ("http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]:80/"),
        ("http://a-b.c/", "http://a-b.c:80/"),
    ])
    func normalises(text: String, normalised: String) throws {
        #expect(try WebhookURL(text).description == normalised)
    }

    @Test func parts() throws {
        let named = try WebhookURL("https://Hooks.Example.com:8443/in?x=1")
        #expect(named.scheme == .https)
        #expect(named.host == .name("hooks.example.com"))
        #expect(named.port == 8443)
        #expect(named.target == "/in?x=1")
        let literal = try WebhookURL("http://10.0.0.1/")
        #expect(literal.host == .address(.v4(0x0A00_0001)))
        #expect(literal.port == 80)
        let bracketed = try WebhookURL("http://[fe80::1]:81")
        #expect(bracketed.host == .address(.v6(0xfe80 << 112 | 1)))
        #expect(bracketed.target == "/")
    }

    /// Hosts a lenient resolver would read as an address, in forms a filter might not recognise.
    @Test(arguments: [
        "http://127.1/", "http://127.0.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://0x7f000001/",
        "http://0177.0.0.1/", "http://127.0.0.01/", "http://256.0.0.1/", "http://1.2.3.4.5/", "http://0/",
        "http://example.0x1/", "http://example.123/", "http://1.2.3.04/",
    ])
    func refusesNumericHostsThatAreNotDottedDecimal(text: String) {
        #expect(throws: WebhookURLError.self) { try WebhookURL(text) }
    }

    @Test(arguments: [
        ("ftp://example.com/", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://example.com/", "scheme must be http or https"),
        ("example.com/hook", "has no scheme (http:// or https://)"),
        ("http://", "has no host"),
        ("http:///path", "has no host"),
        ("http://:80/", "has no host"),
        ("http://user:secret@example.com/", "must not carry user information (user:password@); send credentials in headers"),
        ("http://example.com@127.0.0.1/", "must not carry user information (user:password@); send credentials in headers"),
        ("http://example.com:0/", "port must be 1 to 65535"),
        ("http://example.com:65536/", "port must be 1 to 65535"),
        ("http://example.com:/", "port must be 1 to 65535"),
        ("http://example.com:+80/", "port must be 1 to 65535"),
        ("http://example.com:080080/", "port must be 1 to 65535"),
        ("http://example.com:80:80/", "has more than one ':' in its host and port (bracket IPv6 addresses)"),
        ("http://::1/", "has more than one ':' in its host and port (bracket IPv6 addresses)"),
        ("http://[::1/", "has an unclosed [ in its host"),
        ("http://[::1]x/", "has characters after its IPv6 address"),
        ("http://[::1%25eth0]/", "host [::1%25eth0] is not an IPv6 address"),
        ("http://[127.0.0.1]/", "host [127.0.0.1] is not an IPv6 address"),
        ("http://exa_mple.com/", "host exa_mple.com is not a valid DNS name (letters, digits and inner hyphens, dot-separated)"),
        ("http://-example.com/", "host -example.com is not a valid DNS name (letters, digits and inner hyphens, dot-separated)"),
        ("http://example-.com/", "host example-.com is not a valid DNS name (letters, digits and inner hyphens, dot-separated)"),
        ("http://example..com/", "host example..com is not a valid DNS name (letters, digits and inner hyphens, dot-separated)"),
        ("http://example.com./", "host example.com. is not a valid DNS name (letters, digits and inner hyphens, dot-separated)"),
        ("http://ex%61mple.com/", "host ex%61mple.com is not a valid DNS name (letters, digits and inner hyphens, dot-separated)"),
        ("http://exa mple.com/", "must be ASCII without spaces or control characters (percent-encode the rest, IDNs as xn--)"),
        ("http://bücher.example/", "must be ASCII without spaces or control characters (percent-encode the rest, IDNs as xn--)"),
        ("http://example.com/\na", "must be ASCII without spaces or control characters (percent-encode the rest, IDNs as xn--)"),
        ("http://127.1/", "host 127.1 is not a dotted-decimal IPv4 address (four parts 0-255, no leading zeros)"),
    ])
    func refuses(text: String, reason: String) {
        #expect(throws: WebhookURLError(reason)) { try WebhookURL(text) }
    }

    @Test func refusesOverlongURLsAndLabels() {
        #expect(throws: WebhookURLError("is longer than 2048 bytes")) {
            try WebhookURL("http://example.com/" + String(repeating: "a", count: 2048))
        }
        let longLabel = String(repeating: "a", count: 64)
        #expect(throws: WebhookURLError.self) { try WebhookURL("http://\(longLabel).com/") }
        #expect(throws: Never.self) { try WebhookURL("http://\(longLabel.dropFirst()).com/") }
        let longName = Array(repeating: "abcdefghi", count: 26).joined(separator: ".")
        #expect(throws: WebhookURLError("host is longer than 253 characters")) { try WebhookURL("http://\(longName)/") }
    }
}
