import CellbaseRedis
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Cellbase

/// Gateway rate limits shared through a real redis-server, and the fallback when it is gone.
@Suite("Shared rate limits")
struct SharedRateLimitsTests {
    static func client(url: String) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url)
        configuration.connectTimeout = .seconds(10)
        configuration.commandTimeout = .seconds(30)
        return RedisClient(configuration: configuration)
    }

    @Test func leasesAreATwentiethOfASecondWithinTheBurst() {
        #expect(SharedRateLimits.leaseSize(rate: 0.01, burst: 10) == 1)
        #expect(SharedRateLimits.leaseSize(rate: 100, burst: 200) == 5)
        #expect(SharedRateLimits.leaseSize(rate: 10_000, burst: 50) == 50)
        #expect(SharedRateLimits.leaseSize(rate: 1_000, burst: 1) == 1)
    }

    /// Two gateways (two limiters, two connections) spending one project's budget: a token every
    /// 100 s, so the budget is the burst however slow the machine; together they admit the burst
    /// and at most one request each on credit.
    @Test func twoGatewaysShareOneBudget() async throws {
        let url = try TestEnvironment.redisURL()
        let (first, second) = (try Self.client(url: url), try Self.client(url: url))
        let logger = Logger(label: "test")
        let a = SharedRateLimits(client: first, clock: { 0 }, logger: logger)
        let b = SharedRateLimits(client: second, clock: { 0 }, logger: logger)
        let key = "cellbase-test:shared:\(UUID().uuidString)"
        let limit = RateLimit(requestsPerSecond: 0.01, burst: 10)
        var allowed = 0
        var refusals: [TokenBucket.Decision] = []
        for round in 0..<40 {
            let limiter = round % 2 == 0 ? a : b
            let decision = limiter.take(key, limit: limit, now: 0)
            if decision.allowed { allowed += 1 } else { refusals.append(decision) }
            await limiter.settle()
        }
        #expect(allowed >= 10 && allowed <= 12, "\(allowed) allowed")
        #expect(refusals.count == 40 - allowed)
        #expect(refusals.allSatisfy { $0.retryAfter > 50 && $0.retryAfter <= 100 })
        #expect(a.isRedisUp && b.isRedisUp)
        await first.shutdown()
        await second.shutdown()
    }

    /// Redis gone: every decision is made by the gateway's own bucket (burst 3 here), and the
    /// gateway says so.
    @Test func anUnreachableRedisFallsBackToLocalBuckets() async throws {
        // Nothing listens on port 1 of the loopback: every connection is refused at once.
        let client = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: 1))
        let states = Mutex<[Bool]>([])
        let limits = SharedRateLimits(client: client, clock: { 0 }, logger: Logger(label: "test"), onRedisState: { up in states.withLock { $0.append(up) } })
        let limit = RateLimit(requestsPerSecond: 0.01, burst: 3)
        // The first request is allowed on credit while its lease is asked for.
        #expect(limits.take("k", limit: limit, now: 0).allowed)
        await limits.settle()
        #expect(!limits.isRedisUp)
        #expect(states.withLock { $0 } == [false])
        let decisions = (0..<5).map { _ in limits.take("k", limit: limit, now: 0).allowed }
        #expect(decisions == [true, true, true, false, false])
        await client.shutdown()
    }
}
