/// Realtime's per-project limits and timeouts. The defaults follow Supabase's free-plan tenant
/// quotas; each limit counts what one node serves (a project spread over several nodes gets
/// the limit on each).
public struct RealtimeConfiguration: Sendable {
    /// Sockets of one project with at least one joined channel; further joins get
    /// `ConnectionRateLimitReached`.
    public var maxConnections: Int
    /// Channel joins per second per project; further joins get `ClientJoinRateLimitReached`.
    public var maxJoinsPerSecond: Int
    /// Client broadcasts, presence updates and REST broadcasts per second per project; further
    /// ones get `MessagePerSecondRateLimitReached` (REST: 429).
    public var maxEventsPerSecond: Int
    /// Channels one socket may hold; further joins get `ChannelRateLimitReached`.
    public var maxChannelsPerConnection: Int
    /// Largest broadcast or presence payload, in bytes of JSON; larger ones get `PayloadTooLarge`.
    public var maxPayloadBytes: Int
    /// A socket that sends nothing (heartbeats included) for this long is closed.
    public var heartbeatTimeout: Duration
    /// Bytes queued for one client before it counts as not reading and is disconnected.
    public var maxPendingBytes: Int
    /// How often a Server-Sent Events stream sends a comment to keep proxies from closing it.
    public var sseKeepAlive: Duration

    /// Largest WebSocket frame or message read. The Supabase clients refuse messages over 1 MiB
    /// themselves; larger frames close the connection with 1009.
    public static let maxFrameBytes = 1 << 20

    public init(
        maxConnections: Int = 200,
        maxJoinsPerSecond: Int = 100,
        maxEventsPerSecond: Int = 100,
        maxChannelsPerConnection: Int = 100,
        maxPayloadBytes: Int = 256 * 1024,
        heartbeatTimeout: Duration = .seconds(60),
        maxPendingBytes: Int = 4 << 20,
        sseKeepAlive: Duration = .seconds(15)
    ) {
        self.maxConnections = maxConnections
        self.maxJoinsPerSecond = maxJoinsPerSecond
        self.maxEventsPerSecond = maxEventsPerSecond
        self.maxChannelsPerConnection = maxChannelsPerConnection
        self.maxPayloadBytes = maxPayloadBytes
        self.heartbeatTimeout = heartbeatTimeout
        self.maxPendingBytes = maxPendingBytes
        self.sseKeepAlive = sseKeepAlive
    }
}
