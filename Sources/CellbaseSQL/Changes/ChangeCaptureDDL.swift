/// The DDL that records a published table's row changes in the project's change log, in the same
/// transaction as the change, so writes through the API, bulk updates and plain SQL are all seen.
///
/// - SQLite: one `AFTER` trigger per operation and table, rendering rows with `json_object`. A
///   database file has one writer at a time, so sequence order is commit order.
/// - PostgreSQL: one deferred constraint trigger per table calling a shared function at commit.
///   The function takes a per-project transaction lock before numbering the change, so sequence
///   order is commit order; because it runs at commit, after every row lock of the transaction is
///   held, the lock cannot take part in a deadlock. It then notifies `cellbase_changes` with the
///   schema name: notifications are sent on commit, once per transaction and payload.
///
/// Old rows hold the primary key, or the whole row with `REPLICA IDENTITY FULL` or without a key.
/// The log trims itself every 1024 changes to the limits in its settings row.
public struct ChangeCaptureDDL: Sendable {
    public static let logTable = "_cellbase_changes"
    public static let settingsTable = "_cellbase_change_settings"
    public static let notificationChannel = "cellbase_changes"
    static let triggerName = "_cellbase_capture"
    static let functionName = "_cellbase_capture"
    /// Defaults of the settings row: what a project keeps when nobody changed them.
    public static let defaultMaxRows = 100_000
    public static let defaultMaxAgeSeconds = 86_400

    public var namespace: SQLNamespace

    public init(namespace: SQLNamespace) {
        self.namespace = namespace
    }

    private var isSQLite: Bool { namespace.dialect == .sqlite }

    /// What a migration from `before` to `after` must run around its own DDL: `prefix` removes the
    /// capture of tables whose capture changes (before columns are dropped or renamed), `suffix`
    /// creates the log if needed and captures tables as they are after the migration.
    public func statements(from before: Schema, to after: Schema) -> (prefix: [String], suffix: [String]) {
        let old = Dictionary(before.tables.filter(\.isPublished).map { ($0.name, Capture($0)) }, uniquingKeysWith: { first, _ in first })
        let new = Dictionary(after.tables.filter(\.isPublished).map { ($0.name, Capture($0)) }, uniquingKeysWith: { first, _ in first })
        let prefix = before.tables.filter { $0.isPublished && new[$0.name] != old[$0.name] }.flatMap(dropCapture)
        let captured = after.tables.filter { $0.isPublished && old[$0.name] != new[$0.name] }
        guard !captured.isEmpty else { return (prefix, []) }
        return (prefix, logDDL() + captured.flatMap(createCapture))
    }

    /// What decides a table's capture DDL; a table is captured anew when any of it changes.
    private struct Capture: Hashable {
        var columns: [Column]
        var primaryKey: [String]
        var full: Bool

        init(_ table: Table) {
            columns = table.columns
            primaryKey = table.primaryKey
            full = table.replicaIdentityFull
        }
    }

    // MARK: The log

    private var log: String { namespace.qualified(Self.logTable) }
    private var settings: String { namespace.qualified(Self.settingsTable) }

    /// The log, its settings row and (on PostgreSQL) the capture function; safe to run again.
    public func logDDL() -> [String] {
        if isSQLite {
            return [
                "CREATE TABLE IF NOT EXISTS \(log) (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, op TEXT NOT NULL, record TEXT, old_record TEXT, committed_at TEXT NOT NULL)",
                "CREATE TABLE IF NOT EXISTS \(settings) (id INTEGER PRIMARY KEY CHECK (id = 1), max_rows INTEGER NOT NULL CHECK (max_rows > 0), max_age_seconds INTEGER NOT NULL CHECK (max_age_seconds > 0))",
                "INSERT OR IGNORE INTO \(settings) VALUES (1, \(Self.defaultMaxRows), \(Self.defaultMaxAgeSeconds))",
                """
                CREATE TRIGGER IF NOT EXISTS "_cellbase_changes_trim" AFTER INSERT ON \(log) WHEN NEW.seq % 1024 = 0 BEGIN \
                DELETE FROM \(log) WHERE seq <= NEW.seq - (SELECT max_rows FROM \(settings) WHERE id = 1) \
                OR committed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (SELECT max_age_seconds FROM \(settings) WHERE id = 1) || ' seconds'); END
                """,
            ]
        }
        let schema = namespace.schema ?? ""
        return [
            "CREATE TABLE IF NOT EXISTS \(log) (seq bigserial PRIMARY KEY, table_name text NOT NULL, op text NOT NULL, record json, old_record json, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())",
            "CREATE TABLE IF NOT EXISTS \(settings) (id int PRIMARY KEY CHECK (id = 1), max_rows bigint NOT NULL CHECK (max_rows > 0), max_age_seconds bigint NOT NULL CHECK (max_age_seconds > 0))",
            "INSERT INTO \(settings) VALUES (1, \(Self.defaultMaxRows), \(Self.defaultMaxAgeSeconds)) ON CONFLICT (id) DO NOTHING",
            """
            CREATE OR REPLACE FUNCTION \(namespace.qualified(Self.functionName))() RETURNS trigger LANGUAGE plpgsql AS $cellbase$
            DECLARE
                old_row json;
                position bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext(\(MigrationDDL.literal("cellbase_changes:" + schema))));
                IF TG_OP <> 'INSERT' THEN
                    IF TG_ARGV[0] = 'full' THEN
                        old_row := to_json(OLD);
                    ELSE
                        SELECT json_object_agg(field.key, field.value) INTO old_row
                        FROM json_each(to_json(OLD)) AS field WHERE field.key = ANY (TG_ARGV[1:]);
                    END IF;
                END IF;
                INSERT INTO \(log) (table_name, op, record, old_record)
                VALUES (TG_TABLE_NAME, TG_OP, CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_json(NEW) END, old_row)
                RETURNING seq INTO position;
                IF position % 1024 = 0 THEN
                    DELETE FROM \(log) WHERE seq <= position - (SELECT max_rows FROM \(settings) WHERE id = 1)
                        OR committed_at < clock_timestamp() - make_interval(secs => (SELECT max_age_seconds FROM \(settings) WHERE id = 1));
                END IF;
                PERFORM pg_notify(\(MigrationDDL.literal(Self.notificationChannel)), \(MigrationDDL.literal(schema)));
                RETURN NULL;
            END
            $cellbase$
            """,
        ]
    }

    // MARK: Triggers

    private static let operations = ["INSERT", "UPDATE", "DELETE"]

    private func sqliteTrigger(_ table: Table, _ operation: String) -> String {
        SQLNamespace.quote("\(Self.triggerName)_\(table.name)_\(operation.lowercased())")
    }

    func dropCapture(_ table: Table) -> [String] {
        if isSQLite {
            return Self.operations.map { "DROP TRIGGER IF EXISTS \(sqliteTrigger(table, $0))" }
        }
        return ["DROP TRIGGER IF EXISTS \(SQLNamespace.quote(Self.triggerName)) ON \(namespace.qualified(table.name))"]
    }

    func createCapture(_ table: Table) -> [String] {
        let keepsWholeRow = table.replicaIdentityFull || table.primaryKey.isEmpty
        guard isSQLite else {
            let arguments = [keepsWholeRow ? "full" : "key"] + (keepsWholeRow ? [] : table.primaryKey)
            return [
                """
                CREATE CONSTRAINT TRIGGER \(SQLNamespace.quote(Self.triggerName)) AFTER INSERT OR UPDATE OR DELETE ON \(namespace.qualified(table.name)) \
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \(namespace.qualified(Self.functionName))(\(arguments.map(MigrationDDL.literal).joined(separator: ", ")))
                """
            ]
        }
        let name = MigrationDDL.literal(table.name)
        let oldColumns = keepsWholeRow ? table.columns : table.primaryKey.compactMap(table.column(named:))
        func row(_ correlation: String, _ columns: [Column]) -> String {
            let members = columns.map { column in
                "\(RESTSQLBuilder.keyLiteral(column.name)), \(RESTSQLBuilder.sqliteJSONValue("\(correlation).\(SQLNamespace.quote(column.name))", type: column.type))"
            }
            return "json_object(\(members.joined(separator: ", ")))"
        }
        return Self.operations.map { operation in
            let record = operation == "DELETE" ? "NULL" : row("NEW", table.columns)
            let oldRecord = operation == "INSERT" ? "NULL" : row("OLD", oldColumns)
            return """
                CREATE TRIGGER \(sqliteTrigger(table, operation)) AFTER \(operation) ON \(namespace.qualified(table.name)) BEGIN \
                INSERT INTO \(log) (table_name, op, record, old_record, committed_at) \
                VALUES (\(name), '\(operation)', \(record), \(oldRecord), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')); END
                """
        }
    }
}
