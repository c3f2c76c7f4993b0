import CellbaseSQL
import NIOPosix
import Foundation

extension SQLiteShard: MoveShard {
    static let moveLogTable = "_cellbase_move_log"
    private static var moveLog: String { SQLNamespace.quote(moveLogTable) }

    private static func quote(_ name: String) -> String { SQLNamespace.quote(name) }
    private static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
    /// A JSON path naming one member, quoted so that any column name works.
    private static func path(_ column: String) -> String { literal("$.\"" + column.replacingOccurrences(of: "\"", with: "\\\"") + "\"") }

    func hasProject(ref: String) async throws -> Bool {
        FileManager.default.fileExists(atPath: path(for: ref))
    }

    func moveTables(ref: String) async throws -> [MoveTable] {
        try await withFile(ref) { file in
            try await file.read { handle in
                var names: [String] = []
                try handle.query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1 ORDER BY name",
                    [.text(Self.moveLogTable)]
                ) { row in names.append(row.text(0) ?? "") }
                return try names.map { name in
                    var columns: [MoveColumn] = []
                    var key: [(Int, String)] = []
                    try handle.query("SELECT name, lower(type), pk FROM pragma_table_info(?1) ORDER BY cid", [.text(name)]) { row in
                        let column = row.text(0) ?? ""
                        columns.append(MoveColumn(name: column, type: row.text(1) ?? ""))
                        if let position = row.integer(2), position > 0 { key.append((position, column)) }
                    }
                    return MoveTable(name: name, columns: columns, primaryKey: key.sorted { $0.0 < $1.0 }.map(\.1))
                }
            }
        }
    }

    // MARK: The move log

    private static func triggerName(_ table: String, _ operation: String) -> String {
        quote("_cellbase_move_" + operation + "_" + table)
    }

    private static func keyObject(_ table: MoveTable, _ correlation: String) -> String {
        "json_object(" + table.primaryKey.map { "\(literal($0)), \(correlation).\(quote($0))" }.joined(separator: ", ") + ")"
    }

    func startMoveLog(ref: String, tables: [MoveTable]) async throws {
        var statements = ["CREATE TABLE IF NOT EXISTS \(Self.moveLog) (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, key TEXT NOT NULL)"]
        for table in tables {
            let insert = "INSERT INTO \(Self.moveLog) (table_name, key) VALUES (\(Self.literal(table.name)), "
            let target = Self.quote(table.name)
            statements += [
                "CREATE TRIGGER IF NOT EXISTS \(Self.triggerName(table.name, "i")) AFTER INSERT ON \(target) BEGIN \(insert)\(Self.keyObject(table, "NEW"))); END",
                "CREATE TRIGGER IF NOT EXISTS \(Self.triggerName(table.name, "u")) AFTER UPDATE ON \(target) BEGIN \(insert)\(Self.keyObject(table, "OLD"))); \(insert)\(Self.keyObject(table, "NEW"))); END",
                "CREATE TRIGGER IF NOT EXISTS \(Self.triggerName(table.name, "d")) AFTER DELETE ON \(target) BEGIN \(insert)\(Self.keyObject(table, "OLD"))); END",
            ]
        }
        try await runStatements(ref: ref, statements)
    }

    func stopMoveLog(ref: String, tables: [MoveTable]) async throws {
        var statements: [String] = []
        for table in tables {
            statements += ["i", "u", "d"].map { "DROP TRIGGER IF EXISTS \(Self.triggerName(table.name, $0))" }
        }
        statements.append("DROP TABLE IF EXISTS \(Self.moveLog)")
        try await runStatements(ref: ref, statements)
    }

    func moveLog(ref: String, limit: Int) async throws -> [MoveLogEntry] {
        try await withFile(ref) { file in
            try await file.read { handle in try Self.moveLog(handle, limit: limit) }
        }
    }

    func forgetMoveLog(ref: String, sequences: [Int64]) async throws {
        guard !sequences.isEmpty else { return }
        let list = "[" + sequences.map(String.init).joined(separator: ",") + "]"
        try await withFile(ref) { file in
            try await file.write { handle in
                try handle.query("DELETE FROM \(Self.moveLog) WHERE seq IN (SELECT value FROM json_each(?1))", [.text(list)])
            }
        }
    }

    private static func moveLog(_ handle: SQLiteHandle, limit: Int) throws -> [MoveLogEntry] {
        var entries: [MoveLogEntry] = []
        try handle.query("SELECT seq, table_name, key FROM \(moveLog) ORDER BY seq LIMIT ?1", [.integer(Int64(limit))]) { row in
            entries.append(MoveLogEntry(sequence: Int64(row.integer(0) ?? 0), table: row.text(1) ?? "", key: row.text(2) ?? ""))
        }
        return entries
    }

    // MARK: Reading

    /// A row as a JSON object: columns the PostgreSQL target holds as JSON are embedded as JSON,
    /// blobs are written as `\x` hex, as PostgreSQL writes `bytea`.
    private static func rowObject(_ table: MoveTable, target: MoveTable) -> String {
        "json_object(" + table.columns.map { column in
            let name = quote(column.name)
            let value: String
            if target.column(column.name)?.isJSONOnPostgres == true {
                value = "json(\(name))"
            } else {
                value = "CASE WHEN typeof(\(name)) = 'blob' THEN '\\x' || lower(hex(\(name))) ELSE \(name) END"
            }
            return "\(literal(column.name)), \(value)"
        }.joined(separator: ", ") + ")"
    }

    private static func keyColumns(_ table: MoveTable) -> String {
        "(" + table.primaryKey.map(quote).joined(separator: ", ") + ")"
    }

    private static func keyValues(_ table: MoveTable, from json: String) -> String {
        "(" + table.primaryKey.map { "json_extract(\(json), \(path($0)))" }.joined(separator: ", ") + ")"
    }

    func readPage(ref: String, table: MoveTable, after key: String?, limit: Int, target: MoveTable) async throws -> [MoveRow] {
        let keyColumns = Self.keyColumns(table)
        var sql = "SELECT \(Self.keyObject(table, Self.quote(table.name))), \(Self.rowObject(table, target: target)) FROM \(Self.quote(table.name))"
        var binds: [SQLValue] = [.integer(Int64(limit))]
        if let key {
            sql += " WHERE \(keyColumns) > \(Self.keyValues(table, from: "?2"))"
            binds.append(.text(key))
        }
        sql += " ORDER BY \(table.primaryKey.map(Self.quote).joined(separator: ", ")) LIMIT ?1"
        return try await withFile(ref) { [sql, binds] file in
            try await file.read { handle in try Self.rows(handle, sql, binds) }
        }
    }

    private static func rows(_ handle: SQLiteHandle, _ sql: String, _ binds: [SQLValue]) throws -> [MoveRow] {
        var rows: [MoveRow] = []
        try handle.query(sql, binds) { row in rows.append(MoveRow(key: row.text(0) ?? "{}", row: row.text(1) ?? "{}")) }
        return rows
    }

    private static func byKeys(_ table: MoveTable, target: MoveTable) -> String {
        "SELECT \(keyObject(table, quote(table.name))), \(rowObject(table, target: target)) FROM \(quote(table.name)) " +
            "WHERE \(keyColumns(table)) IN (SELECT \(table.primaryKey.map { "json_extract(value, \(path($0)))" }.joined(separator: ", ")) FROM json_each(?1))"
    }

    func readRows(ref: String, table: MoveTable, keys: [String], target: MoveTable) async throws -> [MoveRow] {
        guard !keys.isEmpty else { return [] }
        let sql = Self.byKeys(table, target: target)
        let list = "[" + keys.joined(separator: ",") + "]"
        return try await withFile(ref) { file in
            try await file.read { handle in try Self.rows(handle, sql, [.text(list)]) }
        }
    }

    private static func keyText(_ table: MoveTable) -> String {
        table.primaryKey.map { "CAST(\(quote($0)) AS TEXT)" }.joined(separator: " || char(31) || ")
    }

    func summary(ref: String, table: MoveTable) async throws -> MoveSummary {
        try await withFile(ref) { file in
            try await file.read { handle in try Self.summary(handle, table) }
        }
    }

    private static func summary(_ handle: SQLiteHandle, _ table: MoveTable) throws -> MoveSummary {
        var summary = MoveSummary(rows: 0, checksum: "0")
        try handle.query("SELECT count(*), coalesce(sum(cellbase_key_hash(\(keyText(table)))), 0) FROM \(quote(table.name))", []) { row in
            summary = MoveSummary(rows: Int64(row.integer(0) ?? 0), checksum: row.text(1) ?? "0")
        }
        return summary
    }

    // MARK: Writing

    func runStatements(ref: String, _ statements: [String]) async throws {
        try await withFile(ref) { file in
            try await file.write { handle in
                for statement in statements { try handle.execute(statement) }
            }
        }
    }

    /// Writes on a connection of its own with foreign keys off: the project is not served from
    /// this shard while it is copied in, and its rows arrive table by table.
    func writeRows(ref: String, table: MoveTable, deleting keys: [String], rows: [MoveRow], source: MoveTable) async throws {
        guard !keys.isEmpty || !rows.isEmpty else { return }
        let path = path(for: ref)
        let columns = table.columns.map(\.name)
        let types = Dictionary(uniqueKeysWithValues: source.columns.map { ($0.name, $0.postgresColumnType) })
        let insert = "INSERT INTO \(Self.quote(table.name)) (\(columns.map(Self.quote).joined(separator: ", "))) VALUES (" +
            (1...max(columns.count, 1)).map { "?\($0)" }.joined(separator: ", ") + ")"
        let delete = "DELETE FROM \(Self.quote(table.name)) WHERE " +
            table.primaryKey.enumerated().map { "\(Self.quote($0.element)) = ?\($0.offset + 1)" }.joined(separator: " AND ")
        let primaryKey = table.primaryKey
        try await threadPool.runIfActive {
            let handle = try SQLiteHandle(path: path)
            try handle.execute("PRAGMA busy_timeout=5000; PRAGMA foreign_keys=OFF")
            try handle.execute("BEGIN IMMEDIATE")
            do {
                for key in keys {
                    let object = try JSONParser.parse(key.utf8, maxDepth: ChangeLogRows.maxDepth)
                    try handle.query(delete, try primaryKey.map { try Self.value(object[$0] ?? .null, column: $0, type: types[$0] ?? nil) })
                }
                for row in rows {
                    let object = try JSONParser.parse(row.row.utf8, maxDepth: ChangeLogRows.maxDepth)
                    try handle.query(insert, try columns.map { try Self.value(object[$0] ?? .null, column: $0, type: types[$0] ?? nil) })
                }
                try handle.execute("COMMIT")
            } catch {
                try? handle.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// A value read from PostgreSQL as the Data API would store it in SQLite.
    private static func value(_ value: JSONValue, column: String, type: ColumnType?) throws -> SQLValue {
        if let type { return try ValueCoercion.bind(value, to: type, column: column, dialect: .sqlite) }
        switch value {
        case .null: return .null
        case .bool(let flag): return .integer(flag ? 1 : 0)
        case .number(let text): return Int64(text).map(SQLValue.integer) ?? Double(text).map(SQLValue.double) ?? .text(text)
        case .string(let text): return .text(text)
        case .array, .object: return .text(value.serialized)
        }
    }

    /// SQLite's `AUTOINCREMENT` follows the largest key inserted: nothing to set.
    func finishCopy(ref: String, tables: [MoveTable]) async throws {}

    // MARK: Handing over

    func retire(ref: String, tables: [MoveTable], targets: [String: MoveTable]) async throws -> MoveRetirement {
        let moved = ProjectMoved(ref: ref)
        let byName = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, $0) })
        let queries = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, Self.byKeys($0, target: targets[$0.name] ?? $0)) })
        // One write: every write queued before it has committed, and every one queued after is refused.
        let retirement = try await withFile(ref) { file in
            try await file.write { handle in
                let entries = try Self.moveLog(handle, limit: Int.max)
                var changes: [(table: String, keys: [String], rows: [MoveRow])] = []
                for (name, keys) in MoveLogEntries.grouped(entries) {
                    guard let query = queries[name] else { continue }
                    let list = "[" + keys.joined(separator: ",") + "]"
                    changes.append((name, keys, try Self.rows(handle, query, [.text(list)])))
                }
                var summaries: [String: MoveSummary] = [:]
                for table in byName.values { summaries[table.name] = try Self.summary(handle, table) }
                file.retire(moved)
                return MoveRetirement(changes: changes, summaries: summaries)
            }
        }
        setRetired(true, ref: ref)
        return retirement
    }

    func unretire(ref: String) async throws {
        setRetired(false, ref: ref)
        try await withFile(ref) { file in file.unretire() }
    }

    func dropProject(ref: String) async throws {
        try await removeFiles(ref: ref)
        setRetired(false, ref: ref)
    }

    func dropRetired(ref: String) async throws {
        try await removeFiles(ref: ref)
    }

    /// Deletes the project's file; nothing opens it meanwhile.
    private func removeFiles(ref: String) async throws {
        setRetired(true, ref: ref)
        await closeFile(ref: ref)
        let path = path(for: ref)
        for suffix in ["", "-wal", "-shm", "-journal"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.removeItem(atPath: path + suffix)
        }
    }
}
