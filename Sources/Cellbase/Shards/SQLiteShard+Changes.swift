import CellbaseSQL
import Synchronization

extension SQLiteShard: ChangeLog {
    private static let log = SQLNamespace.quote(ChangeCaptureDDL.logTable)

    /// Whether the project's file has a change log yet: it is created with the first published table.
    private static func hasLog(_ handle: SQLiteHandle) throws -> Bool {
        var exists = false
        try handle.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [.text(ChangeCaptureDDL.logTable)]) { _ in exists = true }
        return exists
    }

    func changeLogHead(ref: String) async throws -> Int64 {
        try await withFile(ref) { file in
            try await file.read { handle in
                guard try Self.hasLog(handle) else { return 0 }
                var head: Int64 = 0
                try handle.query("SELECT coalesce(max(seq), 0) FROM \(Self.log)", []) { row in head = Int64(row.integer(0) ?? 0) }
                return head
            }
        }
    }

    func changes(ref: String, after sequence: Int64, limit: Int) async throws -> [RowChange] {
        try await withFile(ref) { file in
            try await file.read { handle in
                guard try Self.hasLog(handle) else { return [] }
                var changes: [RowChange] = []
                try handle.query(
                    "SELECT seq, table_name, op, record, old_record, committed_at FROM \(Self.log) WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    [.integer(sequence), .integer(Int64(limit))]
                ) { row in
                    changes.append(try ChangeLogRows.change(
                        sequence: Int64(row.integer(0) ?? 0), table: row.text(1) ?? "", operation: row.text(2) ?? "",
                        record: row.text(3), oldRecord: row.text(4), committedAt: row.text(5) ?? ""
                    ))
                }
                return changes
            }
        }
    }

    func changeLogRetention(ref: String) async throws -> ChangeLogRetention? {
        try await withFile(ref) { file in
            try await file.read { handle in
                guard try Self.hasLog(handle) else { return nil }
                var retention: ChangeLogRetention?
                try handle.query("SELECT max_rows, max_age_seconds FROM \(SQLNamespace.quote(ChangeCaptureDDL.settingsTable)) WHERE id = 1", []) { row in
                    retention = ChangeLogRetention(max_rows: row.integer(0) ?? 0, max_age_seconds: row.integer(1) ?? 0)
                }
                return retention
            }
        }
    }

    func setChangeLogRetention(_ retention: ChangeLogRetention, ref: String) async throws {
        try await withFile(ref) { file in
            try await file.write { handle in
                for statement in ChangeCaptureDDL(namespace: .sqlite).logDDL() { try handle.execute(statement) }
                try handle.query(
                    "UPDATE \(SQLNamespace.quote(ChangeCaptureDDL.settingsTable)) SET max_rows = ?1, max_age_seconds = ?2 WHERE id = 1",
                    [.integer(Int64(retention.max_rows)), .integer(Int64(retention.max_age_seconds))]
                )
            }
        }
    }

    /// This node is the only writer of its project files through the API, so it hears its own
    /// commits; writes from other processes (the sqlite3 shell) are found by the readers' polling.
    func watchCommits(_ onCommit: @escaping @Sendable (String) -> Void) async throws {
        let id = commitObservers.add(onCommit)
        defer { commitObservers.remove(id) }
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}

/// Who wants to hear that a project's transaction committed.
final class CommitObservers: Sendable {
    private let observers = Mutex<(next: Int, byID: [Int: @Sendable (String) -> Void])>((0, [:]))

    func add(_ observer: @escaping @Sendable (String) -> Void) -> Int {
        observers.withLock { state in
            state.next += 1
            state.byID[state.next] = observer
            return state.next
        }
    }

    func remove(_ id: Int) {
        observers.withLock { _ = $0.byID.removeValue(forKey: id) }
    }

    func committed(_ ref: String) {
        for observer in observers.withLock({ Array($0.byID.values) }) { observer(ref) }
    }
}
