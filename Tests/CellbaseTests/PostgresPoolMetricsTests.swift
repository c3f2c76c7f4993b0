import Prometheus
import Testing

@testable import Cellbase

/// The pool figures a PostgreSQL shard counts around its uses of the pool, on a shard held to
/// one connection.
@Suite("PostgreSQL pool metrics")
struct PostgresPoolMetricsTests {
    struct Pool: Equatable {
        var inUse: Double?
        var waiters: Double?
        var max: Double?
    }

    static func pool(_ registry: PrometheusCollectorRegistry) throws -> Pool {
        let exposition = try Exposition(String(decoding: registry.emitToBuffer(), as: UTF8.self))
        let shard = ["shard": "pg"]
        return Pool(
            inUse: exposition.value("cellbase_postgres_connections_in_use", shard),
            waiters: exposition.value("cellbase_postgres_connection_waiters", shard),
            max: exposition.value("cellbase_postgres_connections_max", shard)
        )
    }

    /// Waits (a bounded number of times) for the pool to show `expected`, which another task brings about.
    static func waitFor(_ expected: Pool, in registry: PrometheusCollectorRegistry) async throws -> Pool {
        for _ in 0..<1000 {
            let pool = try pool(registry)
            if pool == expected { return pool }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try pool(registry)
    }

    /// Runs `body` while another task holds the shard's one pooled connection.
    static func whileHeld<T: Sendable>(_ shard: PostgresShard, _ body: () async throws -> T) async throws -> T {
        let (entered, enter) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        return try await withThrowingTaskGroup { group in
            group.addTask {
                try await shard.withConnection(.read) { _ in
                    enter.yield()
                    for await _ in released {}
                }
            }
            _ = await entered.first { _ in true }
            let result = try await body()
            release.finish()
            try await group.waitForAll()
            return result
        }
    }

    @Test func aHeldConnectionIsInUseAndTheNextCallerWaits() async throws {
        let registry = PrometheusCollectorRegistry()
        try await PostgresShardTests.withShard(capacity: 8, registry: registry) { shard, _, _ in
            #expect(try Self.pool(registry) == Pool(inUse: 0, waiters: 0, max: 1))
            let waiter = try await Self.whileHeld(shard) { () async throws -> Task<Void, any Error> in
                #expect(try Self.pool(registry) == Pool(inUse: 1, waiters: 0, max: 1))
                // The pool's one connection is held: the next use waits for it.
                let waiter = Task { try await shard.withConnection(.read) { _ in } }
                #expect(try await Self.waitFor(Pool(inUse: 1, waiters: 1, max: 1), in: registry) == Pool(inUse: 1, waiters: 1, max: 1))
                return waiter
            }
            // Served once the connection is free again.
            try await waiter.value
            #expect(try Self.pool(registry) == Pool(inUse: 0, waiters: 0, max: 1))
        }
    }

    /// A use that fails before it gets a connection stops waiting all the same.
    @Test func aCancelledWaiterStopsWaiting() async throws {
        let registry = PrometheusCollectorRegistry()
        try await PostgresShardTests.withShard(capacity: 8, registry: registry) { shard, _, _ in
            try await Self.whileHeld(shard) { () async throws -> Void in
                let waiter = Task { try await shard.withConnection(.read) { _ in } }
                #expect(try await Self.waitFor(Pool(inUse: 1, waiters: 1, max: 1), in: registry) == Pool(inUse: 1, waiters: 1, max: 1))
                waiter.cancel()
                await #expect(throws: (any Error).self) { try await waiter.value }
                #expect(try Self.pool(registry) == Pool(inUse: 1, waiters: 0, max: 1))
            }
            #expect(try Self.pool(registry) == Pool(inUse: 0, waiters: 0, max: 1))
        }
    }
}
