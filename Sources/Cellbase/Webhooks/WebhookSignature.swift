import Crypto
import FoundationEssentials

/// Signatures of webhook deliveries, in the Standard Webhooks scheme (standardwebhooks.com).
///
/// A delivery carries three headers: `webhook-id` (the same for every attempt of one event, so
/// receivers can deduplicate), `webhook-timestamp` (unix seconds of the attempt) and
/// `webhook-signature`: `v1,` followed by the base64 HMAC-SHA256, keyed with the secret, of
/// `<id>.<timestamp>.<body>`. While a secret is being rotated a delivery is signed with each
/// secret and the header lists the signatures separated by spaces; a receiver accepts the
/// delivery when any of them matches a secret it knows. The timestamp is inside the signature,
/// so a receiver that refuses old timestamps refuses replays of captured deliveries.
public enum WebhookSignature {
    public static let idHeader = "webhook-id"
    public static let timestampHeader = "webhook-timestamp"
    public static let signatureHeader = "webhook-signature"
    /// How far a timestamp may be from the receiver's clock, either way: the specification's five minutes.
    public static let defaultTolerance: Duration = .seconds(300)
    /// Most signatures of a header that are checked: a rotation needs two or three, and a header
    /// with thousands must not cost thousands of comparisons.
    static let maxSignatures = 16

    /// The `webhook-signature` header value: one `v1,<base64>` per secret, separated by spaces.
    public static func sign(id: String, timestamp: Int64, body: [UInt8], secrets: [WebhookSecret]) -> String {
        let content = signedContent(id: id, timestamp: String(timestamp), body: body)
        return secrets.map { "v1," + Data(mac(content, $0)).base64EncodedString() }.joined(separator: " ")
    }

    /// Checks a received delivery against the secrets the receiver knows: the timestamp must be
    /// within `tolerance` of `now` (unix seconds) and one of the header's `v1` signatures must be
    /// the HMAC of the id, the timestamp and the body under one of the secrets.
    public static func verify(
        id: String,
        timestamp: String,
        signature: String,
        body: [UInt8],
        secrets: [WebhookSecret],
        now: Int64,
        tolerance: Duration = defaultTolerance
    ) throws(WebhookSignatureError) {
        guard !timestamp.isEmpty, timestamp.utf8.count <= 18, timestamp.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let sent = Int64(timestamp)
        else { throw WebhookSignatureError(.invalidTimestamp) }
        let allowed = tolerance.components.seconds
        let age = now - sent
        guard age <= allowed else { throw WebhookSignatureError(.timestampTooOld) }
        guard -age <= allowed else { throw WebhookSignatureError(.timestampTooNew) }

        let candidates = signature.split(separator: " ").prefix(maxSignatures).compactMap { entry -> [UInt8]? in
            guard entry.hasPrefix("v1,"), let decoded = Data(base64Encoded: String(entry.dropFirst(3))), !decoded.isEmpty else { return nil }
            return Array(decoded)
        }
        guard !candidates.isEmpty else { throw WebhookSignatureError(.noSignature) }
        let content = signedContent(id: id, timestamp: timestamp, body: body)
        for secret in secrets {
            let expected = mac(content, secret)
            for candidate in candidates where ConstantTime.equals(candidate, expected) {
                return
            }
        }
        throw WebhookSignatureError(.signatureMismatch)
    }

    private static func signedContent(id: String, timestamp: String, body: [UInt8]) -> [UInt8] {
        Array(id.utf8) + [UInt8(ascii: ".")] + Array(timestamp.utf8) + [UInt8(ascii: ".")] + body
    }

    private static func mac(_ content: [UInt8], _ secret: WebhookSecret) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret.bytes)))
    }
}

/// Why a delivery's signature was not accepted.
public struct WebhookSignatureError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        fileprivate let name: String

        /// `webhook-timestamp` is not a number of seconds.
        public static let invalidTimestamp = Code(name: "invalid_timestamp")
        /// The timestamp is older than the tolerance: a late delivery or a replay.
        public static let timestampTooOld = Code(name: "timestamp_too_old")
        /// The timestamp is further in the future than the tolerance.
        public static let timestampTooNew = Code(name: "timestamp_too_new")
        /// `webhook-signature` holds no `v1` signature.
        public static let noSignature = Code(name: "no_signature")
        /// No signature matches: the body, id or timestamp was altered, or the secret is another.
        public static let signatureMismatch = Code(name: "signature_mismatch")
    }

    public var code: Code

    public init(_ code: Code) { self.code = code }

    public var description: String { code.name }
}
