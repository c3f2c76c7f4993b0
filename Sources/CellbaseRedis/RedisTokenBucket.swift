/// A token bucket shared by every gateway that uses the same Redis: one key per bucket, one round
/// trip (a Lua script, so it is atomic) per decision.
///
/// Redis's own clock (`TIME`) drives the refill, so gateways with skewed clocks agree. A call asks
/// for up to `tokens` and is granted as many whole tokens as the bucket holds, possibly none; a
/// gateway can take a batch into a local bucket and spend it without asking again. An idle key
/// expires once it would have refilled completely: a missing key is a full bucket.
public struct RedisTokenBucket: Sendable {
    /// The outcome of `take`.
    public struct Grant: Sendable, Hashable {
        /// Tokens granted, 0...tokens.
        public var granted: Int
        /// Whole tokens left in the bucket after the grant.
        public var remaining: Int
        /// When nothing was granted, the wait until one token is available; otherwise zero.
        public var retryAfter: Duration

        public init(granted: Int, remaining: Int, retryAfter: Duration) {
            self.granted = granted
            self.remaining = remaining
            self.retryAfter = retryAfter
        }
    }

    public let client: RedisClient

    public init(client: RedisClient) {
        self.client = client
    }

    /// Takes up to `tokens` from the bucket at `key`, which refills at `rate` tokens a second up to `burst`.
    /// Throws when Redis cannot be reached, so that the caller can fall back to a local limit.
    public func take(key: String, rate: Double, burst: Int, tokens: Int) async throws -> Grant {
        guard rate.isFinite, rate > 0 else { throw RedisError(.invalidArgument, "rate \(rate) is not a positive number") }
        guard burst >= 1 else { throw RedisError(.invalidArgument, "burst \(burst) is less than 1") }
        guard tokens >= 1 else { throw RedisError(.invalidArgument, "tokens \(tokens) is less than 1") }
        // Doubles travel as text: Lua's tonumber reads Swift's shortest round-trip form exactly.
        let reply = try await self.client.evalSHA(
            script: Self.script,
            keys: [key],
            args: [String(rate), String(burst), String(tokens)]
        )
        guard let values = reply.array, values.count == 3,
              let granted = values[0].int, let remaining = values[1].int, let retryAfter = values[2].int
        else {
            throw RedisError(.unexpectedReply, "the token bucket script answered \(reply)")
        }
        return Grant(granted: granted, remaining: remaining, retryAfter: .milliseconds(retryAfter))
    }

    /// KEYS[1] the bucket, a hash {tokens, ts}: tokens as a float, ts in microseconds of Redis time.
    /// ARGV rate (tokens/s), burst, requested. Returns {granted, floor(tokens left), retry_after_ms}.
    /// Every returned number is made whole here, since Redis truncates Lua numbers to integers.
    /// Redis 5 or later: TIME before a write needs effect replication, the default since then.
    static let script = RedisScript(
        """
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local requested = tonumber(ARGV[3])
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local stored = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
        local tokens = tonumber(stored[1])
        local ts = tonumber(stored[2])
        if tokens == nil or ts == nil then
            tokens = burst
            ts = now
        end
        tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000000)
        local granted = math.min(requested, math.floor(tokens))
        tokens = tokens - granted
        local retry_after = 0
        if granted == 0 then
            retry_after = math.ceil((1 - tokens) * 1000 / rate)
        end
        local until_full = math.ceil((burst - tokens) * 1000 / rate)
        if until_full > 0 then
            redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
            redis.call('PEXPIRE', KEYS[1], until_full)
        else
            redis.call('DEL', KEYS[1])
        end
        return {granted, math.floor(tokens), retry_after}
        """
    )
}
