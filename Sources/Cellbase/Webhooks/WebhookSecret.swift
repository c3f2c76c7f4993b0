import FoundationEssentials

/// The key a webhook's deliveries are signed with, written `whsec_` followed by the base64 of the
/// key bytes, as in the Standard Webhooks specification, so its receiver libraries take it as is.
///
/// Cellbase makes them itself (`generate()`): 32 bytes from the system's secure random source,
/// the length of the HMAC-SHA256 output, so the key is never the weak part of the signature.
public struct WebhookSecret: Hashable, Sendable {
    public static let prefix = "whsec_"
    /// Key lengths accepted when a secret is read back: the specification's 24 to 64 bytes.
    public static let acceptedByteCounts = 24...64

    /// The HMAC key.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard Self.acceptedByteCounts.contains(bytes.count) else { return nil }
        self.bytes = bytes
    }

    /// Reads `whsec_<base64>`.
    public init?(_ text: String) {
        guard text.hasPrefix(Self.prefix), let key = Data(base64Encoded: String(text.dropFirst(Self.prefix.count))) else { return nil }
        self.init(bytes: Array(key))
    }

    /// A new secret of 32 random bytes.
    public static func generate() -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return WebhookSecret(unchecked: bytes)
    }

    private init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The secret as it is stored and shown to the webhook's owner: `whsec_<base64>`.
    public var text: String { Self.prefix + Data(bytes).base64EncodedString() }
}

extension WebhookSecret: CustomStringConvertible {
    /// Redacted, so that a secret interpolated into a log line does not leak.
    public var description: String { "whsec_<redacted>" }
}
