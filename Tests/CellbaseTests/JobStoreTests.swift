import CellbaseSQL
import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Prometheus
import Testing

@testable import Cellbase

/// The queue's statements on each backend without a node around them: leases, their expiry,
/// attempts, and several claimers on one PostgreSQL shard.
@Suite struct JobStoreTests {
    /// A fresh project's queue on a shard of `backend`.
    static func withStore(_ backend: Backend, maxConnections: Int = 4, _ body: (JobStore) async throws -> Void) async throws {
        var logger = Logger(label: "cellbase.test")
        logger.logLevel = .warning
        let ref = String((0..<20).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement()! })
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cellbase-jobs-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let shard = try SQLiteShard(directory: directory, capacity: 8, synchronous: "normal", threadPool: .singleton, logger: logger)
            try await shard.createProject(ref: ref)
            let store = JobStore(database: shard, ref: ref)
            try await store.prepare()
            try await body(store)
            await shard.shutdown()
        case .postgres:
            var configuration = try PostgresURL.configuration(try TestEnvironment.postgresURL())
            configuration.options.maximumConnections = maxConnections
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let metrics = PostgresShardMetrics(registry: PrometheusCollectorRegistry(), shard: "pg", maxConnections: maxConnections)
                let shard = PostgresShard(name: "pg", client: client, metrics: metrics, logger: logger)
                try await shard.createProject(ref: ref)
                let store = JobStore(database: shard, ref: ref)
                try await store.prepare()
                try await body(store)
                group.cancelAll()
            }
        }
    }

    static func job(_ key: String, maxAttempts: Int = 3) -> NewJob {
        NewJob(queue: "default", kind: .noop, payload: "{}", idempotencyKey: key, maxAttempts: maxAttempts, runAt: nil)
    }

    @Test(arguments: Backend.allCases)
    func anExpiredLeaseHandsTheJobToTheNextClaimerAndTheFirstCannotFinishIt(backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            _ = try await store.enqueue(Self.job("a"))
            let first = try await store.claim(limit: 10, owner: "node-a", leaseMilliseconds: 1)
            #expect(first.count == 1)
            #expect(first.first?.attempt == 1)
            try await Task.sleep(for: .milliseconds(50))
            let second = try await store.claim(limit: 10, owner: "node-b", leaseMilliseconds: 60_000)
            #expect(second.map(\.id) == first.map(\.id))
            #expect(second.first?.attempt == 2)
            #expect(second.first?.leaseToken != first.first?.leaseToken)
            // The first worker woke up late: its lease is gone, whatever it did is not recorded.
            #expect(try await store.complete(first[0], result: nil) == false)
            #expect(try await store.renew(first[0], leaseMilliseconds: 60_000) == false)
            #expect(try await store.renew(second[0], leaseMilliseconds: 60_000) == true)
            #expect(try await store.complete(second[0], result: #"{"ok":true}"#) == true)
            let record = try #require(try await store.job(id: second[0].id))
            #expect(record.state == .completed)
            #expect(record.result == #"{"ok":true}"#)
            #expect(record.lastError == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func aLeaseLostOnTheLastAttemptLeavesTheJobDead(backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            _ = try await store.enqueue(Self.job("once", maxAttempts: 1))
            #expect(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 1).count == 1)
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await store.claim(limit: 1, owner: "b", leaseMilliseconds: 60_000).isEmpty)
            let dead = try await store.jobs(state: .dead, queue: nil, limit: 10, offset: 0)
            #expect(dead.count == 1)
            #expect(dead.first?.lastError?.contains("lease") == true)
        }
    }

    @Test(arguments: Backend.allCases)
    func failedAttemptsWaitForTheirRetryAndTheLastOneIsFinal(backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            _ = try await store.enqueue(Self.job("flaky", maxAttempts: 2))
            let attempt1 = try #require(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 60_000).first)
            #expect(try await store.fail(attempt1, error: "boom", retryAfterMilliseconds: 3_600_000, permanent: false) == .failed)
            // Not due for an hour.
            #expect(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 60_000).isEmpty)
            #expect(try await store.fail(attempt1, error: "again", retryAfterMilliseconds: 0, permanent: false) == nil)

            _ = try await store.enqueue(Self.job("flaky-now", maxAttempts: 2))
            let first = try #require(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 60_000).first)
            #expect(try await store.fail(first, error: "boom", retryAfterMilliseconds: 0, permanent: false) == .failed)
            let second = try #require(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 60_000).first)
            #expect(second.id == first.id)
            #expect(second.attempt == 2)
            #expect(try await store.fail(second, error: "boom twice", retryAfterMilliseconds: 0, permanent: false) == .dead)

            _ = try await store.enqueue(Self.job("hopeless", maxAttempts: 5))
            let hopeless = try #require(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 60_000).first)
            #expect(try await store.fail(hopeless, error: "410 Gone", retryAfterMilliseconds: 0, permanent: true) == .dead)

            let dead = try await store.jobs(state: .dead, queue: nil, limit: 10, offset: 0)
            #expect(Set(dead.map(\.idempotencyKey)) == ["flaky-now", "hopeless"])
            #expect(try await store.retry(id: second.id))
            let again = try #require(try await store.claim(limit: 1, owner: "a", leaseMilliseconds: 60_000).first)
            #expect(again.id == second.id)
            #expect(again.attempt == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func pausedQueuesAreNotClaimed(backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            var held = Self.job("held")
            held.queue = "held"
            _ = try await store.enqueue(held)
            try await store.setPaused(true, queue: "held")
            #expect(try await store.claim(limit: 10, owner: "a", leaseMilliseconds: 60_000).isEmpty)
            try await store.setPaused(false, queue: "held")
            #expect(try await store.claim(limit: 10, owner: "a", leaseMilliseconds: 60_000).count == 1)
        }
    }

    /// Four claimers on one PostgreSQL shard at once, as four nodes would: with `SKIP LOCKED`
    /// every job is leased exactly once and nobody waits for anybody's locks.
    @Test func concurrentClaimersOnPostgreSQLNeverShareAJob() async throws {
        try await Self.withStore(.postgres, maxConnections: 8) { store in
            for index in 0..<400 { _ = try await store.enqueue(Self.job("job-\(index)")) }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for claimer in 0..<4 {
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let batch = try await store.claim(limit: 7, owner: "node-\(claimer)", leaseMilliseconds: 60_000)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            let all = claimed.flatMap { $0 }
            #expect(all.count == 400)
            #expect(Set(all).count == 400)
            #expect(claimed.filter { !$0.isEmpty }.count > 1)
        }
    }
}

@Suite struct RetryPolicyTests {
    @Test func theNominalDelayDoublesUpToTheCap() {
        let policy = RetryPolicy(baseMilliseconds: 1000, capMilliseconds: 60_000)
        #expect((1...8).map(policy.nominalDelay(afterAttempt:)) == [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000])
        #expect(policy.nominalDelay(afterAttempt: 0) == 1000)
        #expect(policy.nominalDelay(afterAttempt: 100) == 60000)
        #expect(RetryPolicy(baseMilliseconds: Int64.max / 2, capMilliseconds: Int64.max).nominalDelay(afterAttempt: 10) == Int64.max)
    }

    @Test func jitterStaysBetweenHalfAndTheWholeDelay() {
        let policy = RetryPolicy(baseMilliseconds: 1000, capMilliseconds: 3_600_000)
        var generator = SeededGenerator(seed: 42)
        for attempt in 1...20 {
            let nominal = policy.nominalDelay(afterAttempt: attempt)
            let delays = (0..<200).map { _ in policy.delay(afterAttempt: attempt, using: &generator) }
            #expect(delays.allSatisfy { $0 >= nominal / 2 && $0 <= nominal })
            #expect(Set(delays).count > 1)
        }
    }
}

/// SplitMix64: reproducible randomness for tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
