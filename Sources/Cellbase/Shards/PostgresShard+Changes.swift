import CellbaseSQL
import PostgresNIO

extension PostgresShard: ChangeLog {
    private func log(_ ref: String) -> String {
        namespace(for: ref).qualified(ChangeCaptureDDL.logTable)
    }

    /// `to_regclass` answers NULL instead of failing while the log does not exist yet.
    private func hasLog(_ ref: String, on connection: PostgresConnection) async throws -> Bool {
        var binds = PostgresBindings()
        binds.append(log(ref))
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT to_regclass($1) IS NOT NULL", binds: binds), logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    func changeLogHead(ref: String) async throws -> Int64 {
        try await withConnection(.read) { connection in
            guard try await hasLog(ref, on: connection) else { return 0 }
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT coalesce(max(seq), 0)::int8 FROM \(log(ref))"), logger: logger)
            for try await head in rows.decode(Int64.self) { return head }
            return 0
        }
    }

    func changes(ref: String, after sequence: Int64, limit: Int) async throws -> [RowChange] {
        try await withConnection(.read) { connection in
            guard try await hasLog(ref, on: connection) else { return [] }
            var binds = PostgresBindings()
            binds.append(sequence)
            binds.append(Int64(limit))
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT seq, table_name, op, record::text, old_record::text,
                       to_char(committed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                FROM \(log(ref)) WHERE seq > $1 ORDER BY seq LIMIT $2
                """, binds: binds), logger: logger)
            var changes: [RowChange] = []
            for try await (seq, table, op, record, oldRecord, committedAt) in rows.decode((Int64, String, String, String?, String?, String).self) {
                changes.append(try ChangeLogRows.change(sequence: seq, table: table, operation: op, record: record, oldRecord: oldRecord, committedAt: committedAt))
            }
            return changes
        }
    }

    func changeLogRetention(ref: String) async throws -> ChangeLogRetention? {
        try await withConnection(.read) { connection in
            guard try await hasLog(ref, on: connection) else { return nil }
            let settings = namespace(for: ref).qualified(ChangeCaptureDDL.settingsTable)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT max_rows, max_age_seconds FROM \(settings) WHERE id = 1"), logger: logger)
            for try await (rows, age) in rows.decode((Int64, Int64).self) {
                return ChangeLogRetention(max_rows: Int(rows), max_age_seconds: Int(age))
            }
            return nil
        }
    }

    func setChangeLogRetention(_ retention: ChangeLogRetention, ref: String) async throws {
        try await transaction { connection in
            for statement in ChangeCaptureDDL(namespace: namespace(for: ref)).logDDL() {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            var binds = PostgresBindings()
            binds.append(Int64(retention.max_rows))
            binds.append(Int64(retention.max_age_seconds))
            let settings = namespace(for: ref).qualified(ChangeCaptureDDL.settingsTable)
            try await connection.query(PostgresQuery(unsafeSQL: "UPDATE \(settings) SET max_rows = $1, max_age_seconds = $2 WHERE id = 1", binds: binds), logger: logger)
        }
    }

    /// LISTENs on one pooled connection, held for as long as the caller watches (and counted among
    /// the shard's connections in use); the capture trigger notifies with the project's schema
    /// name. When the connection fails it is opened again after a pause: the readers' polling
    /// covers the gap.
    func watchCommits(_ onCommit: @escaping @Sendable (String) -> Void) async throws {
        let prefix = Self.schemaPrefix
        while true {
            do {
                try await metrics.withConnection(of: client) { connection in
                    try await connection.listen(on: ChangeCaptureDDL.notificationChannel) { notifications in
                        for try await notification in notifications where notification.payload.hasPrefix(prefix) {
                            let ref = String(notification.payload.dropFirst(prefix.count))
                            if Project.isValidRef(ref) { onCommit(ref) }
                        }
                    }
                }
            } catch where !(error is CancellationError) && !Task.isCancelled {
                logger.warning("listening for change notifications failed; retrying", metadata: ["shard": .string(name), "error": "\(String(reflecting: error))"])
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
