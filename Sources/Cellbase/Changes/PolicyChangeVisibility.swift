import CellbaseSQL
import Logging

/// Whether a subscriber may see a change: row-level security applied to realtime, as Supabase
/// applies it.
///
/// - Tables with RLS off, and the service role, see every change.
/// - A deleted row can no longer be read, so deletes are not filtered; their old record is cut to
///   the primary key for subscribers held to policies (as Supabase does).
/// - Otherwise the SELECT policies decide on the new row: in memory when `RowPolicyEvaluator`
///   can, else by reading the row by its primary key as the subscriber, through the Data API's
///   planner, so the answer is exactly what a select would return (for the row as it is now).
struct PolicyChangeVisibility: ChangeVisibility {
    let projects: ProjectService
    let logger: Logger

    func isVisible(_ change: RowChange, in table: Table, to access: RESTAccess, project: Project) async -> Bool {
        guard table.rowLevelSecurity, access.policyRole != nil else { return true }
        guard change.operation != .delete, let record = change.record else { return true }
        switch RowPolicyEvaluator.canSelect(record, in: table, access: access) {
        case .visible: return true
        case .hidden: return false
        case .undecided: return await readable(record, in: table, to: access, project: project)
        }
    }

    /// The change as a subscriber held to policies receives it: a delete keeps only the key.
    static func redacted(_ change: RowChange, in table: Table) -> RowChange {
        guard change.operation == .delete, table.rowLevelSecurity, case .object(let members)? = change.oldRecord else { return change }
        var redacted = change
        redacted.oldRecord = .object(members.filter { table.primaryKey.contains($0.key) })
        return redacted
    }

    private func readable(_ record: JSONValue, in table: Table, to access: RESTAccess, project: Project) async -> Bool {
        guard !table.primaryKey.isEmpty else { return false }
        var query: [(name: String, value: String)] = [("select", table.primaryKey.joined(separator: ",")), ("limit", "1")]
        for key in table.primaryKey {
            guard let value = record[key], let text = Self.filterText(value) else { return false }
            query.append((key, "eq." + text))
        }
        do {
            let shard = try projects.shard(for: project)
            let catalog = try await projects.catalog(for: project)
            let planner = RESTPlanner(schema: catalog.schema, namespace: shard.namespace(for: project.ref), access: access, policies: catalog.policies)
            let answer = try await shard.execute(ref: project.ref, plan: try planner.plan(RESTRequest(method: .get, table: table.name, query: query)))
            return answer.status == 200 && answer.body.map { $0 != "[]" } == true
        } catch {
            logger.warning("checking a change against row-level security failed; not delivered", metadata: [
                "project": .string(project.ref), "table": .string(table.name), "error": "\(String(reflecting: error))",
            ])
            return false
        }
    }

    private static func filterText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .null, .array, .object: nil
        }
    }
}
