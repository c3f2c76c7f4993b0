import Synchronization
import Testing

@testable import Cellbase

@Suite struct AsyncLockTests {
    /// Holders that suspend inside the lock never overlap, and every waiter gets its turn.
    final class Occupancy: Sendable {
        struct Counts { var inside = 0, maximum = 0, completed = 0 }
        let counts = Mutex(Counts())

        func enter() { counts.withLock { $0.inside += 1; $0.maximum = max($0.maximum, $0.inside) } }
        func leave() { counts.withLock { $0.inside -= 1; $0.completed += 1 } }
    }

    @Test func holdersNeverOverlap() async throws {
        let lock = AsyncLock()
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await lock.withLock {
                        occupancy.enter()
                        await Task.yield()
                        occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        let counts = occupancy.counts.withLock { $0 }
        #expect(counts.maximum == 1)
        #expect(counts.completed == 200)
    }

    @Test func aThrowingHolderReleasesTheLock() async throws {
        struct Failure: Error {}
        let lock = AsyncLock()
        await #expect(throws: Failure.self) { try await lock.withLock { throw Failure() } }
        let value = try await lock.withLock { 7 }
        #expect(value == 7)
    }
}
