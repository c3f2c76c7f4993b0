/// How one delivery attempt ended, which decides what the queue does next.
public enum WebhookOutcome: Hashable, Sendable {
    /// The receiver answered 2xx.
    case delivered(status: Int)
    /// Try again later: a status other than 2xx and 410 (a redirect included, since redirects
    /// are not followed), no answer within the timeout, or a connection or name resolution error.
    /// `reason` says which, with the start of the response body when there was one.
    case retry(reason: String, status: Int?)
    /// The receiver answered 410 Gone: it asks for no more deliveries.
    case gone
    /// Trying again cannot help: the URL is invalid or not http(s), its host resolves to an
    /// address the outbound policy denies, or the request itself is malformed.
    case refused(reason: String)
}
