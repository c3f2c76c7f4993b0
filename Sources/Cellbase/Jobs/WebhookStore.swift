import CellbaseSQL
import FoundationEssentials

extension JobStore {
    func webhooks(enabledOnly: Bool = false) async throws -> [Webhook] {
        try await database.authRows(ref: ref, SQLStatement(enabledOnly ? sql.enabledWebhooks : sql.listWebhooks)).map(Webhook.init(columns:))
    }

    func webhook(named name: String) async throws -> Webhook? {
        try await database.authRows(ref: ref, SQLStatement(sql.webhookByName, binds: [.text(name)])).first.map(Webhook.init(columns:))
    }

    /// Stores a new webhook; it fires for changes committed after `logHead`. Throws
    /// `AuthDatabaseError.uniqueViolation` when the name is taken.
    func insert(_ webhook: Webhook, logHead: Int64) async throws {
        let row = SQLStatement(sql.insertWebhook, binds: [
            .text(webhook.id), .text(webhook.name), .text(webhook.table),
            .text(RowChange.Operation.allCases.filter(webhook.events.contains).map(\.rawValue).joined(separator: ",")),
            webhook.filter.map(SQLValue.text) ?? .null, .text(webhook.url), .text(webhook.secret),
            .integer(webhook.timeoutMilliseconds), .integer(Int64(webhook.maxAttempts)), .integer(webhook.enabled ? 1 : 0), .null, .integer(logHead),
        ])
        _ = try await database.authTransaction(ref: ref, SQLStatement(sql.createCursor, binds: [.integer(logHead)])) { _ in [row] }
    }

    func deleteWebhook(named name: String) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.deleteWebhook, binds: [.text(name)])) { _ in [] }.isEmpty
    }

    func setWebhook(named name: String, enabled: Bool, reason: String?) async throws -> Bool {
        try await !database.authTransaction(
            ref: ref, SQLStatement(sql.setWebhookEnabled, binds: [.text(name), .integer(enabled ? 1 : 0), reason.map(SQLValue.text) ?? .null])
        ) { _ in [] }.isEmpty
    }

    /// Where the webhooks' reading of the change log stands; `nil` before the first webhook.
    func webhookCursor() async throws -> Int64? {
        try await database.authRows(ref: ref, SQLStatement(sql.cursor)).first?.first.flatMap { $0.flatMap { Int64($0) } }
    }

    /// Moves the cursor from `old` to `new` and enqueues `jobs` in one transaction: each change
    /// becomes its jobs exactly once. `false` when another node moved the cursor first; nothing
    /// was written then.
    func advanceWebhookCursor(from old: Int64, to new: Int64, enqueuing jobs: [NewJob]) async throws -> Bool {
        let sql = self.sql
        let inserts = jobs.map { job in
            JobStore.insert(job, id: UUID().uuidString.lowercased(), sql: sql)
        }
        return try await !database.authTransaction(ref: ref, SQLStatement(sql.advanceCursor, binds: [.integer(new), .integer(old)])) { rows in
            rows.isEmpty ? [] : inserts
        }.isEmpty
    }
}
