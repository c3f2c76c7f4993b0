import Synchronization

/// The values the `project` label may take: the first `limit` projects seen keep their own ref,
/// later ones share `other`. A project keeps the value it was first given for the node's life, so
/// a series never changes its meaning.
final class ProjectLabels: Sendable {
    static let overflow = "other"

    let limit: Int
    private let admitted = Mutex<Set<String>>([])

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    func label(for ref: String) -> String {
        admitted.withLock { admitted in
            if admitted.contains(ref) { return ref }
            guard admitted.count < limit else { return Self.overflow }
            admitted.insert(ref)
            return ref
        }
    }
}
