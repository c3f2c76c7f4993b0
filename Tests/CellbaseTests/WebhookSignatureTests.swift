import Cellbase
import Testing

/// The expected signatures were computed apart from this code, with Python's `hmac`, `hashlib` and
/// `base64` modules over the inputs written here.
@Suite struct WebhookSignatureTests {
    /// The key bytes 0, 1, ..., 31.
    static let secret = WebhookSecret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")!
    /// 24 bytes of 0xA5.
    static let otherSecret = WebhookSecret("whsec_paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWl")!
    static let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    static let timestamp: Int64 = 1_700_000_000
    static let body = Array(#"{"type":"INSERT","table":"orders","record":{"id":1,"total":"9.90"}}"#.utf8)
    static let signature = "v1,TkVkbcbf3Vk6tu5QcQ2HHHY55Jq157z8+oaee4iHe7U="
    static let otherSignature = "v1,k1nJaP1PFFon1at0tzLSoinIKrxZ2me+xJivcWY/FFE="

    @Test func signsKnownVectors() {
        #expect(WebhookSignature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secrets: [Self.secret]) == Self.signature)
        #expect(WebhookSignature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secrets: [Self.otherSecret]) == Self.otherSignature)
        #expect(
            WebhookSignature.sign(id: "evt-1:a", timestamp: 0, body: [], secrets: [Self.secret])
                == "v1,CtPi4vhr0+M6mf7HTPij7dw1JMNtJ/FWCp7ArCyxq6Y="
        )
    }

    /// The example of the Standard Webhooks specification, so its receiver libraries accept what Cellbase sends.
    @Test func signsTheSpecificationExample() throws {
        let secret = try #require(WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let signature = WebhookSignature.sign(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8), secrets: [secret]
        )
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func signsWithEverySecretDuringRotation() {
        let header = WebhookSignature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secrets: [Self.secret, Self.otherSecret])
        #expect(header == "\(Self.signature) \(Self.otherSignature)")
    }

    @Test func verifiesAGenuineDelivery() throws {
        try verify()
        try verify(signature: "\(Self.otherSignature) \(Self.signature)")
        try verify(signature: "v2,abc \(Self.signature)")
        try verify(signature: "  \(Self.signature)  ")
        try verify(signature: Self.otherSignature, secrets: [Self.secret, Self.otherSecret])
    }

    @Test func refusesTamperedDeliveries() {
        var body = Self.body
        body[body.count - 2] = UInt8(ascii: "1")
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(body: body) }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(body: Self.body + [UInt8(ascii: " ")]) }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(body: []) }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(id: Self.id + "x") }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(id: "") }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(timestamp: "1700000001", now: Self.timestamp) }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(secrets: [Self.otherSecret]) }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(secrets: []) }
        // The signature of another secret, a truncated one, one bit flipped.
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(signature: Self.otherSignature) }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(signature: "v1,TkVkbcbf3Vk6tu5QcQ2HHHY55Jq157z8+oaee4iH") }
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(signature: "v1,TkVkbcbf3Vk6tu5QcQ2HHHY55Jq157z8+oaee4iHe7Q=") }
    }

    @Test func refusesHeadersWithoutAV1Signature() {
        for header in ["", " ", "v1,", "v1,%%%", "v2,TkVkbcbf3Vk6tu5QcQ2HHHY55Jq157z8+oaee4iHe7U=", "TkVkbcbf3Vk6tu5QcQ2HHHY55Jq157z8+oaee4iHe7U=", "v1 TkVk"] {
            #expect(throws: WebhookSignatureError(.noSignature), "\(header)") { try verify(signature: header) }
        }
    }

    @Test func looksAtAFewSignaturesOnly() {
        let padding = Array(repeating: Self.otherSignature, count: 16).joined(separator: " ")
        #expect(throws: WebhookSignatureError(.signatureMismatch)) { try verify(signature: "\(padding) \(Self.signature)") }
    }

    /// Five minutes either way are accepted; one second more is a replay or a clock far off.
    @Test func enforcesTheTolerance() throws {
        try verify(now: Self.timestamp + 300)
        try verify(now: Self.timestamp - 300)
        #expect(throws: WebhookSignatureError(.timestampTooOld)) { try verify(now: Self.timestamp + 301) }
        #expect(throws: WebhookSignatureError(.timestampTooNew)) { try verify(now: Self.timestamp - 301) }
        try verify(now: Self.timestamp + 10, tolerance: .seconds(10))
        #expect(throws: WebhookSignatureError(.timestampTooOld)) { try verify(now: Self.timestamp + 11, tolerance: .seconds(10)) }
        #expect(throws: WebhookSignatureError(.timestampTooOld)) { try verify(now: Self.timestamp + 86_400) }
    }

    @Test func refusesMalformedTimestamps() {
        for timestamp in ["", "-1700000000", "+1700000000", "1700000000.0", "1.7e9", " 1700000000", "0x6553F100", "99999999999999999999"] {
            #expect(throws: WebhookSignatureError(.invalidTimestamp), "\(timestamp)") { try verify(timestamp: timestamp) }
        }
    }

    @Test func secretsRoundTripAndAreChecked() throws {
        let generated = WebhookSecret.generate()
        #expect(generated.bytes.count == 32)
        #expect(generated.text.hasPrefix("whsec_"))
        #expect(WebhookSecret(generated.text) == generated)
        #expect(WebhookSecret.generate() != generated)
        #expect(!"\(generated)".contains(String(generated.text.dropFirst(6))), "a secret interpolated into a log line stays hidden")
        #expect(WebhookSecret("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") == nil, "the prefix is required")
        #expect(WebhookSecret("whsec_not base64") == nil)
        #expect(WebhookSecret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX") != nil, "24 bytes")
        #expect(WebhookSecret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRY=") == nil, "23 bytes")
        #expect(WebhookSecret(bytes: Array(repeating: 1, count: 64)) != nil)
        #expect(WebhookSecret(bytes: Array(repeating: 1, count: 65)) == nil)
    }

    private func verify(
        id: String = Self.id,
        timestamp: String = String(Self.timestamp),
        signature: String = Self.signature,
        body: [UInt8] = Self.body,
        secrets: [WebhookSecret] = [Self.secret],
        now: Int64 = Self.timestamp,
        tolerance: Duration = WebhookSignature.defaultTolerance
    ) throws(WebhookSignatureError) {
        try WebhookSignature.verify(id: id, timestamp: timestamp, signature: signature, body: body, secrets: secrets, now: now, tolerance: tolerance)
    }
}
