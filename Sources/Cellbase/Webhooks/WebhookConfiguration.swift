import CellbaseSQL

/// How the node delivers webhooks (`cellbase serve --webhook-*`).
public struct WebhookConfiguration: Sendable {
    /// Which addresses webhook receivers may have: public ones only unless allowed.
    public var addressPolicy: OutboundAddressPolicy
    /// Most bytes of a response body read before the connection is dropped. What was read is
    /// kept in the outcome's reason for a failed attempt; the rest is never read, so a receiver
    /// answering with an endless body costs no more than this.
    public var maxResponseBodyBytes: Int

    public init(addressPolicy: OutboundAddressPolicy = OutboundAddressPolicy(), maxResponseBodyBytes: Int = 64 * 1024) {
        self.addressPolicy = addressPolicy
        self.maxResponseBodyBytes = maxResponseBodyBytes
    }
}
