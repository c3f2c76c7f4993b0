import Synchronization

/// Counts of one fixed one-second window: at most `limit` admissions per window.
struct RateWindow: Sendable, Hashable {
    let limit: Int
    private(set) var start: ContinuousClock.Instant?
    private(set) var count = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// Admits one more event at `now`, or refuses it when the window is full.
    mutating func admit(at now: ContinuousClock.Instant) -> Bool {
        if let start, now - start < .seconds(1) {
            guard count < limit else { return false }
            count += 1
            return true
        }
        start = now
        count = 1
        return limit > 0
    }
}

/// The node's realtime quotas per project: concurrent connections, joins and events per second.
final class RealtimeLimiter: Sendable {
    private struct Usage {
        var connections = 0
        var joins: RateWindow
        var events: RateWindow
    }

    private let configuration: RealtimeConfiguration
    private let usage = Mutex<[String: Usage]>([:])

    init(configuration: RealtimeConfiguration) {
        self.configuration = configuration
    }

    private func withUsage<T>(_ ref: String, _ body: (inout Usage) -> T) -> T {
        usage.withLock { usage in
            var entry = usage[ref] ?? Usage(
                joins: RateWindow(limit: configuration.maxJoinsPerSecond),
                events: RateWindow(limit: configuration.maxEventsPerSecond)
            )
            let result = body(&entry)
            usage[ref] = entry
            return result
        }
    }

    /// Takes one of the project's connection slots; `false` when all are taken.
    func acquireConnection(_ ref: String) -> Bool {
        withUsage(ref) { usage in
            guard usage.connections < configuration.maxConnections else { return false }
            usage.connections += 1
            return true
        }
    }

    func releaseConnection(_ ref: String) {
        withUsage(ref) { $0.connections -= 1 }
    }

    func admitJoin(_ ref: String, at now: ContinuousClock.Instant = .now) -> Bool {
        withUsage(ref) { $0.joins.admit(at: now) }
    }

    func admitEvent(_ ref: String, at now: ContinuousClock.Instant = .now) -> Bool {
        withUsage(ref) { $0.events.admit(at: now) }
    }

    func connections(of ref: String) -> Int {
        usage.withLock { $0[ref]?.connections ?? 0 }
    }
}

/// The reasons Supabase Realtime gives when a quota is reached; the clients back off for 30 s
/// on the first three.
enum RealtimeLimitReason {
    static let connections = "ConnectionRateLimitReached: Too many connected users"
    static let joins = "ClientJoinRateLimitReached: Too many joins per second"
    static let events = "MessagePerSecondRateLimitReached: Too many messages per second"
    static func channels(_ limit: Int) -> String { "ChannelRateLimitReached: Too many channels (at most \(limit) per connection)" }
    static func payload(_ limit: Int) -> String { "PayloadTooLarge: a payload is at most \(limit) bytes" }
}
