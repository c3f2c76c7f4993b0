import CellbaseSQL
import Logging

/// Turns a project's committed changes into webhook jobs: a duty of the project's worker.
///
/// The project keeps one cursor into its change log. Each pass reads the changes after it, makes
/// one job per change and matching webhook (idempotency key `webhook:<id>:<seq>`), and moves the
/// cursor and enqueues those jobs in a single transaction that only commits if the cursor still
/// stood where the pass read it. So every change becomes each of its jobs exactly once, however
/// many nodes run the duty, whatever path wrote the change, and across restarts.
struct WebhookDispatcher: ProjectDuty {
    let projects: ProjectService
    let changes: any ChangeSource
    let logger: Logger
    static let batchSize = 500
    static let queue = "webhooks"

    func perform(for project: Project, store: JobStore) async throws {
        let hooks = try await store.webhooks(enabledOnly: true)
        guard !hooks.isEmpty else { return }
        let schema = try await projects.catalog(for: project).schema
        let log = try projects.changeLog(for: project)
        let filters = Dictionary(uniqueKeysWithValues: hooks.map { hook in (hook.id, Self.filter(of: hook, in: schema)) })
        while true {
            guard let cursor = try await store.webhookCursor() else { return }
            let changes = try await log.changes(ref: project.ref, after: cursor, limit: Self.batchSize)
            guard let last = changes.last else { return }
            var jobs: [NewJob] = []
            for change in changes {
                for hook in hooks where Self.fires(hook, filter: filters[hook.id] ?? nil, for: change) {
                    jobs.append(NewJob(
                        queue: Self.queue, kind: .webhook,
                        payload: WebhookJobPayload(webhook: hook.name, body: Webhook.body(for: change)).json.serialized,
                        idempotencyKey: "webhook:\(hook.id):\(change.sequence)", maxAttempts: hook.maxAttempts, runAt: nil
                    ))
                }
            }
            guard try await store.advanceWebhookCursor(from: cursor, to: last.sequence, enqueuing: jobs) else { continue }
            if changes.count < Self.batchSize { return }
        }
    }

    /// While the project has webhooks, every batch of its changes wakes the worker at once, so a
    /// delivery follows its commit without waiting for the poll.
    func wakeUps(for project: Project, store: JobStore) async throws -> AsyncStream<Void>? {
        guard try await !store.webhooks(enabledOnly: true).isEmpty else { return nil }
        let subscription = try await changes.changes(of: project)
        return AsyncStream { continuation in
            let task = Task {
                for await _ in subscription { continuation.yield() }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The webhook's filter against the table as it is now; a filter the table no longer
    /// supports (its column was dropped) matches nothing rather than everything.
    static func filter(of hook: Webhook, in schema: Schema) -> ChangeFilter?? {
        guard let text = hook.filter else { return .some(nil) }
        guard let table = schema.table(named: hook.table), let filter = try? ChangeFilter(parsing: text, table: table) else { return nil }
        return .some(filter)
    }

    static func fires(_ hook: Webhook, filter: ChangeFilter??, for change: RowChange) -> Bool {
        guard change.sequence > hook.sinceSequence, change.table == hook.table, hook.events.contains(change.operation) else { return false }
        guard let filter else { return false }
        guard let filter else { return true }
        let row = change.operation == .delete ? change.oldRecord : change.record
        return row.map(filter.matches) ?? false
    }
}
