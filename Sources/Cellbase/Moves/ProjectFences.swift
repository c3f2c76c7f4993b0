import Synchronization

/// The projects whose requests this node holds back while a move switches them to another shard.
///
/// A request for a fenced project waits (at most `bound`) until the fence opens, then goes on
/// with the project's placement as it is then: the new shard after a switch, the old one after a
/// failed one. Requests for other projects pay one atomic load.
final class ProjectFences: Sendable {
    private let closedCount = Atomic<Int>(0)
    private let closed = Mutex<Set<String>>([])

    func close(_ ref: String) {
        if closed.withLock({ $0.insert(ref).inserted }) { closedCount.add(1, ordering: .sequentiallyConsistent) }
    }

    func open(_ ref: String) {
        if closed.withLock({ $0.remove(ref) != nil }) { closedCount.subtract(1, ordering: .sequentiallyConsistent) }
    }

    func isClosed(_ ref: String) -> Bool {
        guard closedCount.load(ordering: .sequentiallyConsistent) > 0 else { return false }
        return closed.withLock { $0.contains(ref) }
    }

    /// Waits until the project's fence is open; `false` when it is still closed after `bound`.
    func waitUntilOpen(_ ref: String, bound: Duration) async -> Bool {
        let deadline = ContinuousClock.now + bound
        while isClosed(ref) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return true
    }
}
