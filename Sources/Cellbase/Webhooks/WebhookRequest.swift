import HTTPTypes

/// One attempt at delivering a webhook event.
public struct WebhookRequest: Sendable {
    /// Where the event is posted; only `http` and `https` URLs whose addresses the policy allows.
    public var url: String
    /// The secrets the body is signed with: one, or more while a secret is being rotated.
    public var secrets: [WebhookSecret]
    /// The event's id, the same on every attempt so receivers can deduplicate: 1 to 128 letters,
    /// digits, `_`, `-` or `:` (no `.`, which separates the parts of the signed content).
    public var id: String
    /// Unix seconds of this attempt, signed with the body.
    public var timestamp: Int64
    /// The JSON body.
    public var body: [UInt8]
    /// Headers the webhook's owner configured, sent along; none of `reservedHeaderNames`.
    public var headers: HTTPFields
    /// How long the attempt may take: resolving, connecting, sending and the response's status
    /// must come within it, or the attempt is retried; the body is read only until then.
    public var timeout: Duration

    public init(url: String, secrets: [WebhookSecret], id: String, timestamp: Int64, body: [UInt8], headers: HTTPFields = [:], timeout: Duration) {
        self.url = url
        self.secrets = secrets
        self.id = id
        self.timestamp = timestamp
        self.body = body
        self.headers = headers
        self.timeout = timeout
    }

    /// Headers a webhook cannot set: those the delivery writes itself (the signature's, the
    /// content type, the user agent) and those that frame the message or the connection.
    public static let reservedHeaderNames: Set<HTTPField.Name> = [
        .contentLength, .contentType, .userAgent, .transferEncoding, .connection, .te, .upgrade, .expect,
        .webhookID, .webhookTimestamp, .webhookSignature,
        HTTPField.Name("host")!, HTTPField.Name("keep-alive")!, HTTPField.Name("proxy-connection")!, HTTPField.Name("trailer")!,
    ]

    /// Whether `id` can be a `webhook-id`.
    public static func isValidID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: ":"):
                true
            default:
                false
            }
        }
    }
}

extension HTTPField.Name {
    static var webhookID: Self { .init(WebhookSignature.idHeader)! }
    static var webhookTimestamp: Self { .init(WebhookSignature.timestampHeader)! }
    static var webhookSignature: Self { .init(WebhookSignature.signatureHeader)! }
}
