import CellbaseRedis
import Logging
import Synchronization

/// Rate limits shared by every gateway through Redis, with a local lease in front.
///
/// Each key (a project, a client address) has one bucket in Redis (`RedisTokenBucket`: one round
/// trip, atomic). A gateway does not ask Redis for every request: it leases a few tokens at a
/// time and spends them locally, asking for more — off the request's path — when half the lease
/// is spent. A key seen for the first time, or whose lease ran out while more was on its way, is
/// allowed on credit: the next lease pays the debt first. Once Redis refuses, the key is refused
/// locally until Redis's `retryAfter`. What the gateways admit together is the shared budget plus
/// at most the requests that arrive at one gateway during one round trip to Redis.
///
/// Redis unreachable: decisions fall back to the gateway's own in-memory buckets (the same
/// limits, per gateway) and `cellbase_gateway_rate_limit_redis_up` drops to 0; a lease is tried
/// again after a second.
final class SharedRateLimits: Sendable {
    struct Lease: Sendable {
        /// Tokens leased and not yet spent; negative when requests were allowed on credit.
        var tokens = 0
        var refilling = false
        /// Refused locally until then (seconds on the gateway's clock), as Redis said.
        var exhaustedUntil = 0.0
        /// What Redis had left at the last lease, for the `RateLimit-Remaining` header.
        var sharedRemaining: Int?
        var touchedAt = 0.0
    }

    private struct State {
        var leases: [String: Lease] = [:]
        var redisDownUntil = 0.0
    }

    private let bucket: RedisTokenBucket
    private let state = Mutex(State())
    private let fallback = Mutex(KeyedBuckets(capacity: 100_000))
    private let clock: @Sendable () -> Double
    private let onRedisState: @Sendable (Bool) -> Void
    private let logger: Logger
    let capacity: Int

    init(
        client: RedisClient, clock: @escaping @Sendable () -> Double, capacity: Int = 100_000, logger: Logger,
        onRedisState: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.bucket = RedisTokenBucket(client: client)
        self.clock = clock
        self.capacity = capacity
        self.logger = logger
        self.onRedisState = onRedisState
    }

    /// Tokens a lease asks for: a twentieth of a second's worth, at least 1, at most the burst.
    static func leaseSize(rate: Double, burst: Int) -> Int {
        max(1, min(burst, Int((rate / 20).rounded(.down))))
    }

    var isRedisUp: Bool { state.withLock { clock() >= $0.redisDownUntil } }

    /// Takes a token for `key` at `limit`. Never waits for Redis.
    func take(_ key: String, limit: RateLimit, now: Double) -> TokenBucket.Decision {
        let rate = limit.requestsPerSecond
        let size = Self.leaseSize(rate: rate, burst: limit.burst)
        enum Outcome {
            case decided(TokenBucket.Decision, refill: Int?)
            case local
        }
        let outcome = state.withLock { state -> Outcome in
            if now < state.redisDownUntil { return .local }
            if state.leases[key] == nil, state.leases.count >= capacity { Self.evict(&state.leases, now: now) }
            var lease = state.leases[key] ?? Lease()
            lease.touchedAt = now
            defer { state.leases[key] = lease }
            if lease.tokens <= 0, now < lease.exhaustedUntil {
                return .decided(
                    TokenBucket.Decision(allowed: false, limit: limit.burst, remaining: 0, retryAfter: lease.exhaustedUntil - now, reset: Double(limit.burst) / rate),
                    refill: nil
                )
            }
            lease.tokens -= 1
            let remaining = max(0, (lease.sharedRemaining ?? limit.burst) + max(0, lease.tokens))
            var refill: Int?
            if lease.tokens < (size + 1) / 2, !lease.refilling {
                lease.refilling = true
                refill = size - lease.tokens
            }
            return .decided(
                TokenBucket.Decision(allowed: true, limit: limit.burst, remaining: min(remaining, limit.burst), retryAfter: 0, reset: Double(limit.burst - min(remaining, limit.burst)) / rate),
                refill: refill
            )
        }
        switch outcome {
        case .local:
            return fallback.withLock { $0.take(key, rate: rate, burst: limit.burst, now: now) }
        case .decided(let decision, let refill):
            if let refill { lease(key, tokens: refill, limit: limit) }
            return decision
        }
    }

    /// Asks Redis for `tokens` (the lease and any debt) off the request's path.
    private func lease(_ key: String, tokens: Int, limit: RateLimit) {
        Task {
            do {
                let grant = try await bucket.take(key: key, rate: limit.requestsPerSecond, burst: limit.burst, tokens: tokens)
                let wasDown = state.withLock { state -> Bool in
                    let now = clock()
                    var lease = state.leases[key] ?? Lease()
                    lease.tokens += grant.granted
                    lease.sharedRemaining = grant.remaining
                    lease.refilling = false
                    if grant.granted < tokens {
                        // The shared budget is spent: refuse here until Redis has a token again.
                        let wait = grant.granted == 0 ? grant.retryAfter.seconds : 1 / limit.requestsPerSecond
                        lease.exhaustedUntil = now + wait
                    }
                    state.leases[key] = lease
                    defer { state.redisDownUntil = 0 }
                    return state.redisDownUntil > 0
                }
                if wasDown {
                    logger.notice("Redis answers again: rate limits are shared between gateways")
                    onRedisState(true)
                }
            } catch {
                let wasUp = state.withLock { state -> Bool in
                    let wasUp = state.redisDownUntil == 0
                    state.redisDownUntil = clock() + 1
                    state.leases[key]?.refilling = false
                    return wasUp
                }
                if wasUp {
                    logger.warning("Redis is unreachable: rate limits fall back to this gateway's own buckets", metadata: ["error": "\(error)"])
                    onRedisState(false)
                }
            }
        }
    }

    /// Until no lease is on its way (tests).
    func settle() async {
        while state.withLock({ $0.leases.values.contains { $0.refilling } }) {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    var trackedKeys: Int { state.withLock { $0.leases.count } }

    /// Drops the leases untouched for the longest, half of them.
    private static func evict(_ leases: inout [String: Lease], now: Double) {
        let keep = leases.sorted { $0.value.touchedAt > $1.value.touchedAt }.prefix(leases.count / 2)
        leases = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
