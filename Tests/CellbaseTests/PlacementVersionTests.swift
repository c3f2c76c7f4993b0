import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import Cellbase

/// Nodes and gateways keep the placements in memory and ask the control plane only for those with
/// a version above the highest they have seen; this holds only if no smaller version can commit
/// after a larger one was read.
@Suite("Placement versions")
struct PlacementVersionTests {
    /// Writers create projects and change their placements all at once while a reader follows the
    /// changes as nodes do (`placed after` the highest version seen). Once the writers are done,
    /// one more read must leave the reader with every project's current version: a version that
    /// committed after a larger one had been read would be missing for good.
    @Test func aReaderFollowingTheVersionsMissesNoConcurrentWrite() async throws {
        let client = PostgresClient(configuration: try PostgresURL.configuration(try TestEnvironment.postgresURL()), backgroundLogger: Logger(label: "test"))
        let store = PostgresControlStore(client: client, logger: Logger(label: "test"))
        // Real refs, on a shard of their own that no node serves: the control plane is shared
        // with the nodes of every other test, which take in every placement they read.
        let shard = ControlPlaneTests.unique("pvshard")
        let refs = (0..<12).map { _ in String((0..<20).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement()! }) }
        let writers = refs.count
        let writesEach = 40
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await client.run() }
            defer { tasks.cancelAll() }
            try await store.prepare()
            let since = try await store.projects(placedAfter: 0).map(\.placementVersion).max() ?? 0

            let follower = Follower(store: store, refs: Set(refs), since: since, writers: writers)
            let reader = Task { while follower.writing { try await follower.follow() } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        defer { follower.writerDone() }
                        let ref = refs[writer]
                        _ = try await store.insert(Project(
                            ref: ref, name: ref, shard: shard, jwtSecret: "s", anonKey: "a", serviceRoleKey: "r", createdAt: Timestamp.now()
                        ))
                        for write in 0..<writesEach {
                            if write.isMultiple(of: 2) {
                                try await store.touch(ref: ref)
                            } else {
                                _ = try await store.setPlan(write.isMultiple(of: 3) ? nil : "p\(write)", ofProject: ref)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await reader.value
            try await follower.follow()

            let current = try await store.projects(placedAfter: since).filter { refs.contains($0.ref) }
            #expect(current.count == writers)
            let followed = follower.versions
            for project in current {
                #expect(followed[project.ref] == project.placementVersion, "\(project.ref)")
            }
        }
    }

    /// Reads the placements as a node does, keeping the highest version seen of each of the test's projects.
    final class Follower: Sendable {
        private let store: PostgresControlStore
        private let refs: Set<String>
        private let state: Mutex<(since: Int64, versions: [String: Int64], writers: Int)>

        init(store: PostgresControlStore, refs: Set<String>, since: Int64, writers: Int) {
            self.store = store
            self.refs = refs
            self.state = Mutex((since, [:], writers))
        }

        var writing: Bool { state.withLock { $0.writers > 0 } }
        var versions: [String: Int64] { state.withLock { $0.versions } }
        func writerDone() { state.withLock { $0.writers -= 1 } }

        func follow() async throws {
            let after = state.withLock { $0.since }
            let changed = try await store.projects(placedAfter: after)
            state.withLock { state in
                for project in changed where refs.contains(project.ref) {
                    state.versions[project.ref] = max(state.versions[project.ref] ?? 0, project.placementVersion)
                }
                state.since = max(state.since, changed.map(\.placementVersion).max() ?? state.since)
            }
        }
    }
}
