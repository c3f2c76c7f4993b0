import CellbaseSQL
import Foundation
import PostgresNIO

extension PostgresShard: MoveShard {
    static let moveLogTable = "_cellbase_move_log"
    static let moveCaptureFunction = "_cellbase_move_capture"
    static let moveTrigger = "_cellbase_move"

    /// The schema a project's retired copy is renamed to: no statement written for the project
    /// finds its tables there.
    static func retiredSchemaName(for ref: String) -> String { schemaName(for: ref) + "_moved" }

    private func qualified(_ ref: String, _ name: String) -> String { namespace(for: ref).qualified(name) }
    private static func quote(_ name: String) -> String { SQLNamespace.quote(name) }
    private static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    private func query(_ connection: PostgresConnection, _ sql: String, _ texts: [String] = []) async throws -> PostgresRowSequence {
        var binds = PostgresBindings()
        for text in texts { binds.append(text) }
        return try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    }

    func hasProject(ref: String) async throws -> Bool {
        try await withConnection(.read) { connection in
            for try await _ in try await query(connection, "SELECT 1 FROM pg_namespace WHERE nspname = $1", [Self.schemaName(for: ref)]).decode(Int.self) { return true }
            return false
        }
    }

    /// Runs `body`, which works in project `ref`'s schema. A failure because the schema is gone
    /// (a move renamed it away after this node last read the placements; nothing was done) is
    /// thrown as `ProjectMoved`, which the API layers answer with the project's new place or 503.
    func inProject<Value>(_ ref: String, _ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch where ["42P01", "3F000"].contains(DatabaseErrors.sqlState(of: error) ?? "") {
            if try await !hasProject(ref: ref) { throw ProjectMoved(ref: ref) }
            throw error
        }
    }

    func moveTables(ref: String) async throws -> [MoveTable] {
        try await withConnection(.read) { connection in
            let rows = try await query(connection, """
                SELECT c.relname::text, a.attname::text, t.typname::text, coalesce(array_position(i.indkey::int2[], a.attnum), -1)::int8
                FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                JOIN pg_type t ON t.oid = a.atttypid
                LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
                WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> $2
                ORDER BY c.relname, a.attnum
                """, [Self.schemaName(for: ref), Self.moveLogTable])
            var tables: [MoveTable] = []
            var keys: [String: [(Int, String)]] = [:]
            for try await (table, column, type, keyPosition) in rows.decode((String, String, String, Int).self) {
                if tables.last?.name != table { tables.append(MoveTable(name: table, columns: [], primaryKey: [])) }
                tables[tables.count - 1].columns.append(MoveColumn(name: column, type: type))
                if keyPosition >= 0 { keys[table, default: []].append((keyPosition, column)) }
            }
            for index in tables.indices {
                tables[index].primaryKey = (keys[tables[index].name] ?? []).sorted { $0.0 < $1.0 }.map(\.1)
            }
            return tables
        }
    }

    // MARK: The move log

    func startMoveLog(ref: String, tables: [MoveTable]) async throws {
        let log = qualified(ref, Self.moveLogTable)
        let function = qualified(ref, Self.moveCaptureFunction)
        var statements = [
            "CREATE TABLE IF NOT EXISTS \(log) (seq bigserial PRIMARY KEY, table_name text NOT NULL, key text NOT NULL)",
            """
            CREATE OR REPLACE FUNCTION \(function)() RETURNS trigger LANGUAGE plpgsql AS $cellbase$
            DECLARE
                k jsonb;
                r jsonb;
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    r := to_jsonb(OLD);
                    k := '{}'::jsonb;
                    FOR i IN 0..TG_NARGS - 1 LOOP k := k || jsonb_build_object(TG_ARGV[i], r -> TG_ARGV[i]); END LOOP;
                    INSERT INTO \(log) (table_name, key) VALUES (TG_TABLE_NAME, k::text);
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    r := to_jsonb(NEW);
                    k := '{}'::jsonb;
                    FOR i IN 0..TG_NARGS - 1 LOOP k := k || jsonb_build_object(TG_ARGV[i], r -> TG_ARGV[i]); END LOOP;
                    INSERT INTO \(log) (table_name, key) VALUES (TG_TABLE_NAME, k::text);
                END IF;
                RETURN NULL;
            END
            $cellbase$
            """,
        ]
        for table in Self.logsLast(tables) {
            let arguments = table.primaryKey.map(Self.literal).joined(separator: ", ")
            statements += [
                "DROP TRIGGER IF EXISTS \(Self.quote(Self.moveTrigger)) ON \(qualified(ref, table.name))",
                "CREATE TRIGGER \(Self.quote(Self.moveTrigger)) AFTER INSERT OR UPDATE OR DELETE ON \(qualified(ref, table.name)) FOR EACH ROW EXECUTE FUNCTION \(function)(\(arguments))",
            ]
        }
        try await runGivingWay(statements)
    }

    /// Tables in the order a transaction that takes all of them locks them: the logs that
    /// triggers write to come last, so a writer holding a table finishes before its table is
    /// taken and its triggers find theirs free.
    private static func logsLast(_ tables: [MoveTable]) -> [MoveTable] {
        tables.filter { $0.name != ChangeCaptureDDL.logTable } + tables.filter { $0.name == ChangeCaptureDDL.logTable }
    }

    /// Runs statements that lock the project's tables in one transaction, waiting for a lock
    /// less than the deadlock timeout: when a writer holding one table wants another this
    /// transaction holds, this transaction gives way and starts again, never the writer.
    private func runGivingWay<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await transaction { connection in
                    _ = try await query(connection, "SET LOCAL lock_timeout = '200ms'")
                    return try await body(connection)
                }
            } catch let error as PSQLError where ["55P03", "40P01"].contains(error.serverInfo?[.sqlState] ?? "") && attempt < 50 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(5 * min(attempt, 10)))
            }
        }
    }

    private func runGivingWay(_ statements: [String]) async throws {
        try await runGivingWay { connection in
            for statement in statements { _ = try await query(connection, statement) }
        }
    }

    func stopMoveLog(ref: String, tables: [MoveTable]) async throws {
        var statements = Self.logsLast(tables).map { "DROP TRIGGER IF EXISTS \(Self.quote(Self.moveTrigger)) ON \(qualified(ref, $0.name))" }
        statements += [
            "DROP FUNCTION IF EXISTS \(qualified(ref, Self.moveCaptureFunction))()",
            "DROP TABLE IF EXISTS \(qualified(ref, Self.moveLogTable))",
        ]
        try await runGivingWay(statements)
    }

    func moveLog(ref: String, limit: Int) async throws -> [MoveLogEntry] {
        try await withConnection(.read) { connection in try await moveLog(ref, limit: limit, on: connection) }
    }

    private func moveLog(_ ref: String, limit: Int?, on connection: PostgresConnection) async throws -> [MoveLogEntry] {
        let rows = try await query(
            connection, "SELECT seq, table_name, key FROM \(qualified(ref, Self.moveLogTable)) ORDER BY seq" + (limit.map { " LIMIT \($0)" } ?? "")
        )
        var entries: [MoveLogEntry] = []
        for try await (sequence, table, key) in rows.decode((Int64, String, String).self) {
            entries.append(MoveLogEntry(sequence: sequence, table: table, key: key))
        }
        return entries
    }

    func forgetMoveLog(ref: String, sequences: [Int64]) async throws {
        guard !sequences.isEmpty else { return }
        let list = "{" + sequences.map(String.init).joined(separator: ",") + "}"
        try await withConnection(.write) { connection in
            _ = try await query(connection, "DELETE FROM \(qualified(ref, Self.moveLogTable)) WHERE seq = ANY($1::bigint[])", [list])
        }
    }

    // MARK: Reading

    private static func keyObject(_ table: MoveTable) -> String {
        "json_build_object(" + table.primaryKey.map { "\(literal($0)), t.\(quote($0))" }.joined(separator: ", ") + ")::text"
    }

    private static func keyColumns(_ table: MoveTable, _ correlation: String) -> String {
        "(" + table.primaryKey.map { "\(correlation).\(quote($0))" }.joined(separator: ", ") + ")"
    }

    func readPage(ref: String, table: MoveTable, after key: String?, limit: Int, target: MoveTable) async throws -> [MoveRow] {
        let name = qualified(ref, table.name)
        var sql = "SELECT \(Self.keyObject(table)), row_to_json(t)::text FROM \(name) t"
        var texts: [String] = []
        if let key {
            sql += " WHERE \(Self.keyColumns(table, "t")) > (SELECT \(table.primaryKey.map { "k.\(Self.quote($0))" }.joined(separator: ", ")) FROM json_populate_record(NULL::\(name), $1::json) k)"
            texts.append(key)
        }
        sql += " ORDER BY \(table.primaryKey.map { "t.\(Self.quote($0))" }.joined(separator: ", ")) LIMIT \(limit)"
        return try await withConnection(.read) { connection in try await rows(connection, sql, texts) }
    }

    private func rows(_ connection: PostgresConnection, _ sql: String, _ texts: [String]) async throws -> [MoveRow] {
        var rows: [MoveRow] = []
        for try await (key, row) in try await query(connection, sql, texts).decode((String, String).self) {
            rows.append(MoveRow(key: key, row: row))
        }
        return rows
    }

    private func byKeys(_ ref: String, _ table: MoveTable) -> String {
        let name = qualified(ref, table.name)
        return "SELECT \(Self.keyObject(table)), row_to_json(t)::text FROM \(name) t WHERE \(Self.keyColumns(table, "t")) IN " +
            "(SELECT \(table.primaryKey.map { "k.\(Self.quote($0))" }.joined(separator: ", ")) FROM json_populate_recordset(NULL::\(name), $1::json) k)"
    }

    func readRows(ref: String, table: MoveTable, keys: [String], target: MoveTable) async throws -> [MoveRow] {
        guard !keys.isEmpty else { return [] }
        let sql = byKeys(ref, table)
        return try await withConnection(.read) { connection in try await rows(connection, sql, ["[" + keys.joined(separator: ",") + "]"]) }
    }

    func summary(ref: String, table: MoveTable) async throws -> MoveSummary {
        try await withConnection(.read) { connection in try await summary(ref, table, on: connection) }
    }

    private func summary(_ ref: String, _ table: MoveTable, on connection: PostgresConnection) async throws -> MoveSummary {
        let key = "concat_ws(chr(31), " + table.primaryKey.map { "to_json(t.\(Self.quote($0))) #>> '{}'" }.joined(separator: ", ") + ")"
        let rows = try await query(
            connection, "SELECT count(*), coalesce(sum(('x' || substr(md5(\(key)), 1, 8))::bit(32)::bigint), 0)::text FROM \(qualified(ref, table.name)) t"
        )
        for try await (count, checksum) in rows.decode((Int64, String).self) { return MoveSummary(rows: count, checksum: checksum) }
        return MoveSummary(rows: 0, checksum: "0")
    }

    // MARK: Writing

    func runStatements(ref: String, _ statements: [String]) async throws {
        try await transaction { connection in
            for statement in statements { _ = try await query(connection, statement) }
        }
    }

    /// Foreign keys and triggers are PostgreSQL triggers, which the `replica` replication role
    /// does not fire: the shard's role must be allowed to set it (a superuser, or `GRANT SET ON
    /// PARAMETER session_replication_role`).
    func writeRows(ref: String, table: MoveTable, deleting keys: [String], rows: [MoveRow], source: MoveTable) async throws {
        guard !keys.isEmpty || !rows.isEmpty else { return }
        let name = qualified(ref, table.name)
        try await transaction { connection in
            _ = try await query(connection, "SET LOCAL session_replication_role = replica")
            if !keys.isEmpty {
                _ = try await query(
                    connection,
                    "DELETE FROM \(name) t USING json_populate_recordset(NULL::\(name), $1::json) k WHERE \(Self.keyColumns(table, "t")) = \(Self.keyColumns(table, "k"))",
                    ["[" + keys.joined(separator: ",") + "]"]
                )
            }
            if !rows.isEmpty {
                _ = try await query(
                    connection, "INSERT INTO \(name) OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::\(name), $1::json)",
                    ["[" + rows.map(\.row).joined(separator: ",") + "]"]
                )
            }
        }
    }

    func finishCopy(ref: String, tables: [MoveTable]) async throws {
        try await transaction { connection in
            let rows = try await query(connection, """
                SELECT c.relname::text, a.attname::text, pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname)
                FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                WHERE n.nspname = $1 AND c.relkind = 'r'
                """, [Self.schemaName(for: ref)])
            var sequences: [(String, String, String)] = []
            for try await (table, column, sequence) in rows.decode((String, String, String?).self) {
                if let sequence { sequences.append((table, column, sequence)) }
            }
            for (table, column, sequence) in sequences {
                _ = try await query(
                    connection,
                    "SELECT setval($1::regclass, coalesce((SELECT max(\(Self.quote(column))) FROM \(qualified(ref, table))), 0) + 1, false)",
                    [sequence]
                )
            }
        }
    }

    // MARK: Handing over

    /// Locks every table of the project against writes (the writes under way finish first), reads
    /// what they changed, and renames the schema in the same transaction: writers waiting on the
    /// locks, on any node, then find no table and are told the project is moving.
    func retire(ref: String, tables: [MoveTable], targets: [String: MoveTable]) async throws -> MoveRetirement {
        try await runGivingWay { connection in try await retire(ref: ref, tables: tables, on: connection) }
    }

    private func retire(ref: String, tables: [MoveTable], on connection: PostgresConnection) async throws -> MoveRetirement {
        let schema = Self.quote(Self.schemaName(for: ref))
        let retired = Self.quote(Self.retiredSchemaName(for: ref))
        do {
            let ordered = Self.logsLast(tables).map(\.name) + [Self.moveLogTable]
            _ = try await query(connection, "LOCK TABLE \(ordered.map { qualified(ref, $0) }.joined(separator: ", ")) IN EXCLUSIVE MODE")
            let entries = try await moveLog(ref, limit: nil, on: connection)
            let byName = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, $0) })
            var changes: [(table: String, keys: [String], rows: [MoveRow])] = []
            for (name, keys) in MoveLogEntries.grouped(entries) {
                guard let table = byName[name] else { continue }
                changes.append((name, keys, try await rows(connection, byKeys(ref, table), ["[" + keys.joined(separator: ",") + "]"])))
            }
            var summaries: [String: MoveSummary] = [:]
            for table in tables { summaries[table.name] = try await summary(ref, table, on: connection) }
            _ = try await query(connection, "DROP SCHEMA IF EXISTS \(retired) CASCADE")
            _ = try await query(connection, "ALTER SCHEMA \(schema) RENAME TO \(retired)")
            // When: a node that finds the retired copy long after, with the project still placed
            // here, knows its mover died before the switch (`recoverRetiredProjects`).
            _ = try await query(connection, "COMMENT ON SCHEMA \(retired) IS 'cellbase retired \(Int(Date().timeIntervalSince1970))'")
            return MoveRetirement(changes: changes, summaries: summaries)
        }
    }

    /// Whether a retired copy of the project is here.
    func hasRetired(ref: String) async throws -> Bool {
        try await withConnection(.read) { connection in
            for try await _ in try await query(connection, "SELECT 1 FROM pg_namespace WHERE nspname = $1", [Self.retiredSchemaName(for: ref)]).decode(Int.self) { return true }
            return false
        }
    }

    func unretire(ref: String) async throws {
        try await runStatements(ref: ref, ["ALTER SCHEMA \(Self.quote(Self.retiredSchemaName(for: ref))) RENAME TO \(Self.quote(Self.schemaName(for: ref)))"])
    }

    func dropProject(ref: String) async throws {
        try await runStatements(ref: ref, ["DROP SCHEMA IF EXISTS \(Self.quote(Self.schemaName(for: ref))) CASCADE"])
    }

    func dropRetired(ref: String) async throws {
        try await runStatements(ref: ref, ["DROP SCHEMA IF EXISTS \(Self.quote(Self.retiredSchemaName(for: ref))) CASCADE"])
    }

    /// What a mover killed between retiring a project here and moving its placement leaves: the
    /// project's schema renamed away while the control plane still places it here, so nobody
    /// serves it. Retired copies older than `age` whose project is still placed on this shard (and
    /// has no schema here) are renamed back; those of projects placed elsewhere are dropped, and
    /// those of projects the control plane does not know are left alone.
    /// Answers the refs served again.
    @discardableResult
    func recoverRetiredProjects(placement: (String) -> String?, age: Double = 60, now: Date = Date()) async throws -> [String] {
        let retired = try await withConnection(.read) { connection -> [(String, String?)] in
            let rows = try await query(connection, """
                SELECT n.nspname::text, obj_description(n.oid, 'pg_namespace')
                FROM pg_namespace n WHERE n.nspname LIKE 'proj\\_%\\_moved'
                """)
            var found: [(String, String?)] = []
            for try await (name, comment) in rows.decode((String, String?).self) { found.append((name, comment)) }
            return found
        }
        var recovered: [String] = []
        for (name, comment) in retired {
            let ref = String(name.dropFirst(Self.schemaPrefix.count).dropLast("_moved".count))
            guard Project.isValidRef(ref) else { continue }
            let stamp = comment.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
            guard now.timeIntervalSince1970 - stamp >= age else { continue }
            // A project the control plane does not know is not this node's to judge.
            guard let placed = placement(ref) else { continue }
            if placed == self.name {
                guard try await !hasProject(ref: ref) else { continue }
                try await unretire(ref: ref)
                recovered.append(ref)
                logger.warning("a move of this project died before its switch; it is served from this shard again", metadata: ["project": .string(ref), "shard": .string(self.name)])
            } else {
                try await dropRetired(ref: ref)
            }
        }
        return recovered
    }
}

extension PostgresShard {
    /// Whether `other` is the same database under another name (two shard names with one URL, or
    /// two URLs of one server): a schema made through this shard is looked for through the other.
    /// A move between the two would drop the project's own schema as it prepares the "new" copy.
    func sharesDatabase(with other: PostgresShard) async throws -> Bool {
        let probe = "cellbase_probe_" + String((0..<16).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        try await withConnection(.write) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(Self.quote(probe))"), logger: logger)
        }
        do {
            let found = try await other.withConnection(.read) { connection in
                let rows = try await connection.query("SELECT to_regnamespace(\(probe)) IS NOT NULL", logger: logger)
                for try await found in rows.decode(Bool.self) { return found }
                return false
            }
            try await dropProbe(probe)
            return found
        } catch {
            try? await dropProbe(probe)
            throw error
        }
    }

    private func dropProbe(_ probe: String) async throws {
        try await withConnection(.write) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(Self.quote(probe))"), logger: logger)
        }
    }
}
