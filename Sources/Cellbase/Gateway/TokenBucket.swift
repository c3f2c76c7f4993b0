/// A token bucket: `rate` tokens a second up to `burst`, one token a request. Pure: the caller
/// passes the time, in seconds on any monotonic clock.
public struct TokenBucket: Sendable, Equatable {
    public private(set) var rate: Double
    public private(set) var burst: Double
    public private(set) var tokens: Double
    private var updatedAt: Double

    /// Starts full.
    public init(rate: Double, burst: Int, now: Double) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
        self.updatedAt = now
    }

    /// What a decision tells the client: the limit, what is left, when the bucket is full again
    /// (the `RateLimit-*` headers), and when to retry if refused (`Retry-After`).
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// Seconds until a refused request would be allowed; 0 when allowed.
        public var retryAfter: Double
        /// Seconds until the bucket is full.
        public var reset: Double
    }

    public mutating func take(now: Double) -> Decision {
        refill(now: now)
        let allowed = tokens >= 1
        if allowed { tokens -= 1 }
        return Decision(
            allowed: allowed,
            limit: Int(burst),
            remaining: Int(tokens.rounded(.down)),
            retryAfter: allowed ? 0 : (1 - tokens) / rate,
            reset: (burst - tokens) / rate
        )
    }

    /// Adds tokens taken from elsewhere (a shared bucket), without going above the burst.
    public mutating func add(_ count: Double, now: Double) {
        refill(now: now)
        tokens = min(burst, tokens + count)
    }

    /// Changes the plan; what is in the bucket stays, within the new burst.
    public mutating func reconfigure(rate: Double, burst: Int, now: Double) {
        refill(now: now)
        self.rate = rate
        self.burst = Double(burst)
        tokens = min(tokens, self.burst)
    }

    mutating func refill(now: Double) {
        if now > updatedAt {
            tokens = min(burst, tokens + (now - updatedAt) * rate)
            updatedAt = now
        }
    }
}

/// Buckets by key (a project, a client address) with a bound on how many are kept: when full, the
/// buckets that have refilled completely — which carry no information, a new bucket starts full —
/// are dropped first, then the oldest-touched half. A flood of distinct keys costs memory up to the
/// bound and no more.
public struct KeyedBuckets: Sendable {
    private struct Entry: Sendable {
        var bucket: TokenBucket
        var touchedAt: Double
    }

    public let capacity: Int
    private var entries: [String: Entry] = [:]

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public var count: Int { entries.count }

    public mutating func take(_ key: String, rate: Double, burst: Int, now: Double) -> TokenBucket.Decision {
        if var entry = entries[key] {
            if entry.bucket.rate != rate || entry.bucket.burst != Double(burst) {
                entry.bucket.reconfigure(rate: rate, burst: burst, now: now)
            }
            let decision = entry.bucket.take(now: now)
            entry.touchedAt = now
            entries[key] = entry
            return decision
        }
        if entries.count >= capacity { evict(now: now) }
        var bucket = TokenBucket(rate: rate, burst: burst, now: now)
        let decision = bucket.take(now: now)
        entries[key] = Entry(bucket: bucket, touchedAt: now)
        return decision
    }

    /// Tokens taken for `key` from a shared bucket.
    public mutating func add(_ tokens: Double, to key: String, rate: Double, burst: Int, now: Double) {
        guard var entry = entries[key] else { return }
        entry.bucket.add(tokens, now: now)
        entries[key] = entry
    }

    public func tokens(_ key: String) -> Double? { entries[key]?.bucket.tokens }

    private mutating func evict(now: Double) {
        entries = entries.filter { _, entry in
            var bucket = entry.bucket
            bucket.refill(now: now)
            return bucket.tokens < bucket.burst
        }
        guard entries.count >= capacity else { return }
        let keep = entries.sorted { $0.value.touchedAt > $1.value.touchedAt }.prefix(capacity / 2)
        entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}
