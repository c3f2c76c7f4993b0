import CellbaseSQL
import Synchronization

/// The node's door to its projects' queues: enqueuing (which wakes this node's worker for the
/// project), and what operators do to jobs and queues.
final class JobService: Sendable {
    let runner: JobRunner
    /// Projects whose tables this node has created or seen, so enqueuing checks only once.
    private let prepared = Mutex<Set<String>>([])

    init(runner: JobRunner) {
        self.runner = runner
    }

    var configuration: JobsConfiguration { runner.configuration }

    /// The project's queue, its tables created on first use.
    func store(for project: Project) async throws -> JobStore {
        let store = try runner.store(for: project)
        if !prepared.withLock({ $0.contains(project.ref) }) {
            try await store.prepare()
            prepared.withLock { _ = $0.insert(project.ref) }
        }
        return store
    }

    /// Adds a job (or finds the one with its idempotency key) and wakes the project's worker.
    func enqueue(_ job: NewJob, in project: Project) async throws -> (record: JobRecord, created: Bool) {
        let result = try await store(for: project).enqueue(job)
        if result.created { runner.poke(project) }
        return result
    }

    /// Wakes the project's worker: its webhooks or schedules changed.
    func poke(_ project: Project) {
        runner.poke(project)
    }
}
