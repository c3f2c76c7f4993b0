import CellbaseRedis
import NIOCore
import Testing

/// The shared token bucket, against a real redis-server.
@Suite struct RedisTokenBucketTests {
    @Test func burstIsGrantedThenRefusedWithARetryAfter() async throws {
        try await withClient(try TestRedis.client()) { client in
            let bucket = RedisTokenBucket(client: client)
            let key = TestRedis.key("bucket")
            // A token every 100 s: the refusal holds however slow the machine is between two commands.
            let full = try await bucket.take(key: key, rate: 0.01, burst: 5, tokens: 5)
            #expect(full == RedisTokenBucket.Grant(granted: 5, remaining: 0, retryAfter: .zero))
            let refused = try await bucket.take(key: key, rate: 0.01, burst: 5, tokens: 1)
            #expect(refused.granted == 0)
            #expect(refused.remaining == 0)
            #expect(refused.retryAfter > .seconds(50))
            #expect(refused.retryAfter <= .seconds(100))
        }
    }

    @Test func grantsWhatIsLeftWhenAskedForMore() async throws {
        try await withClient(try TestRedis.client()) { client in
            let bucket = RedisTokenBucket(client: client)
            let key = TestRedis.key("partial")
            #expect(try await bucket.take(key: key, rate: 0.01, burst: 5, tokens: 3).granted == 3)
            let rest = try await bucket.take(key: key, rate: 0.01, burst: 5, tokens: 3)
            #expect(rest.granted == 2)
            #expect(rest.remaining == 0)
            #expect(rest.retryAfter == .zero)
        }
    }

    @Test func refillsAfterWaiting() async throws {
        try await withClient(try TestRedis.client()) { client in
            let bucket = RedisTokenBucket(client: client)
            // A token every 100 s: the refusal holds however slow the machine is between two
            // commands, and says when the next token comes.
            let slow = TestRedis.key("refill-slow")
            #expect(try await bucket.take(key: slow, rate: 0.01, burst: 2, tokens: 2).granted == 2)
            let refused = try await bucket.take(key: slow, rate: 0.01, burst: 2, tokens: 1)
            #expect(refused.granted == 0)
            #expect(refused.retryAfter > .seconds(50))
            #expect(refused.retryAfter <= .seconds(100))
            // 20 tokens a second: after 200 ms (or longer, on a slow machine) one is back.
            let key = TestRedis.key("refill")
            #expect(try await bucket.take(key: key, rate: 20, burst: 2, tokens: 2).granted == 2)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await bucket.take(key: key, rate: 20, burst: 2, tokens: 1).granted == 1)
            // Refilling stops at the burst however long the wait (1,000 tokens a second, 100 ms).
            let fast = TestRedis.key("refill-fast")
            #expect(try await bucket.take(key: fast, rate: 1000, burst: 2, tokens: 2).granted == 2)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await bucket.take(key: fast, rate: 1000, burst: 2, tokens: 10).granted == 2)
        }
    }

    @Test func twoClientsShareOneBudget() async throws {
        let first = try TestRedis.client()
        let second = try TestRedis.client()
        try await withClients(first, second) {
            let key = TestRedis.key("shared")
            let a = RedisTokenBucket(client: first)
            let b = RedisTokenBucket(client: second)
            #expect(try await a.take(key: key, rate: 0.01, burst: 10, tokens: 4).granted == 4)
            #expect(try await b.take(key: key, rate: 0.01, burst: 10, tokens: 4).granted == 4)
            let last = try await a.take(key: key, rate: 0.01, burst: 10, tokens: 4)
            #expect(last.granted == 2)
            #expect(try await b.take(key: key, rate: 0.01, burst: 10, tokens: 1).granted == 0)
        }
    }

    @Test func concurrentTakesNeverOvergrant() async throws {
        try await withClient(try TestRedis.client()) { client in
            let bucket = RedisTokenBucket(client: client)
            let key = TestRedis.key("concurrent")
            let granted = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await bucket.take(key: key, rate: 0.001, burst: 50, tokens: 1).granted }
                }
                return try await group.reduce(0, +)
            }
            #expect(granted == 50)
        }
    }

    @Test func keyExpiresOnceTheBucketWouldBeFull() async throws {
        try await withClient(try TestRedis.client()) { client in
            let bucket = RedisTokenBucket(client: client)
            let key = TestRedis.key("expiry")
            // Full again in 400 s: the key lives that long, however slow the machine.
            _ = try await bucket.take(key: key, rate: 0.01, burst: 10, tokens: 4)
            let ttl = try #require(try await client.send("PTTL", key).int)
            #expect(ttl > 0)
            #expect(ttl <= 400_000)

            // Once the bucket would be full again the key is gone: absent means full.
            let fast = TestRedis.key("vanishes")
            _ = try await bucket.take(key: fast, rate: 4, burst: 1, tokens: 1)
            // At most 250 ms left (-2 when it is gone already: the machine was slower than that).
            let fastTTL = try #require(try await client.send("PTTL", fast).int)
            #expect(fastTTL == -2 || (fastTTL > 0 && fastTTL <= 250))
            var exists = true
            for _ in 0..<100 where exists {
                try await Task.sleep(for: .milliseconds(50))
                exists = try await client.send("EXISTS", fast) == .integer(1)
            }
            #expect(!exists)
        }
    }

    @Test func fractionalRates() async throws {
        try await withClient(try TestRedis.client()) { client in
            let bucket = RedisTokenBucket(client: client)
            let key = TestRedis.key("slow")
            // A token every 80 s.
            #expect(try await bucket.take(key: key, rate: 0.0125, burst: 1, tokens: 1).granted == 1)
            let refused = try await bucket.take(key: key, rate: 0.0125, burst: 1, tokens: 1)
            #expect(refused.granted == 0)
            #expect(refused.retryAfter > .seconds(40))
            #expect(refused.retryAfter <= .seconds(80))
            let ttl = try #require(try await client.send("PTTL", key).int)
            #expect(ttl > 40_000)
            #expect(ttl <= 80_000)
        }
    }

    @Test(arguments: [(0.0, 1, 1), (-1.0, 1, 1), (Double.nan, 1, 1), (Double.infinity, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
    func invalidArgumentsThrowBeforeAnyRoundTrip(rate: Double, burst: Int, tokens: Int) async throws {
        let port = try await unusedPort()
        // Nothing listens on this port: an argument error must come first.
        try await withClient(RedisClient(configuration: RedisConfiguration(port: port))) { client in
            let error = await #expect(throws: RedisError.self) {
                try await RedisTokenBucket(client: client).take(key: "k", rate: rate, burst: burst, tokens: tokens)
            }
            #expect(error?.code == .invalidArgument)
        }
    }
}
