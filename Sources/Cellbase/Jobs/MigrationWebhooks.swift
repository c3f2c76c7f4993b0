import CellbaseSQL
import FoundationEssentials
import HTTPTypes

/// Keeps the webhooks that migrations declare (`CREATE TRIGGER … supabase_functions.http_request`)
/// in step with the schema: a declared webhook is created when its migration is applied, and
/// deleted when a later one drops the trigger or the table. A declaration that changes (another
/// URL, other events) makes a new webhook with a new secret.
struct MigrationWebhooks {
    let jobs: JobService
    let projects: ProjectService

    /// Applies a migration and then its webhook changes. A declared name that a webhook made with
    /// the admin API already has is refused before the migration runs.
    func migrate(_ project: Project, name: String, sql: String) async throws -> ProjectService.MigrationResult {
        let before = try await projects.catalog(for: project)
        let namespace = try projects.shard(for: project).namespace(for: project.ref)
        if let planned = try? MigrationPlanner.plan(sql, on: before.schema, namespace: namespace) {
            let declared = Set(before.schema.declaredWebhooks.map(\.webhook.name))
            let store = try await jobs.store(for: project)
            for (_, hook) in planned.schema.declaredWebhooks where !declared.contains(hook.name) {
                if try await store.webhook(named: hook.name) != nil {
                    throw APIError(.conflict, code: "webhook_exists", message: "\(name): a webhook named '\(hook.name)' exists (made with the admin API)")
                }
            }
        }
        let result = try await projects.migrate(project, name: name, sql: sql)
        if result.applied {
            try await sync(from: before.schema, to: try await projects.catalog(for: project).schema, in: project)
        }
        return result
    }

    func sync(from old: Schema, to new: Schema, in project: Project) async throws {
        let wanted = Dictionary(new.declaredWebhooks.map { ($0.webhook.name, $0) }, uniquingKeysWith: { first, _ in first })
        let had = Dictionary(old.declaredWebhooks.map { ($0.webhook.name, $0) }, uniquingKeysWith: { first, _ in first })
        let store = try await jobs.store(for: project)
        for (name, declared) in had where wanted[name].map({ $0.table != declared.table || $0.webhook != declared.webhook }) ?? true {
            _ = try await store.deleteWebhook(named: name)
        }
        let head = try await projects.changeLog(for: project).changeLogHead(ref: project.ref)
        for (name, declared) in wanted.sorted(by: { $0.key < $1.key })
        where had[name].map({ $0.table != declared.table || $0.webhook != declared.webhook }) ?? true {
            let hook = Webhook(
                id: UUID().uuidString.lowercased(), name: name, table: declared.table,
                events: Set(declared.webhook.events.compactMap(RowChange.Operation.init(rawValue:))), filter: nil,
                url: declared.webhook.url, secret: Webhook.newSecret(), timeoutMilliseconds: Int64(declared.webhook.timeoutMilliseconds),
                maxAttempts: jobs.configuration.defaultMaxAttempts, enabled: true, disabledReason: nil, sinceSequence: head, createdAt: 0
            )
            do {
                try await store.insert(hook, logHead: head)
            } catch AuthDatabaseError.uniqueViolation {
                // Another node applying the same migration made it first.
            }
        }
        jobs.poke(project)
    }
}
