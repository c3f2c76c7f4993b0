/// The SQL of telemetry storage for one project's namespace. Both dialects share the text except
/// where they differ in kind: identity columns, how a partition is made (a table of its own on
/// SQLite, a declarative range partition on PostgreSQL) and how many points one statement carries.
public struct TelemetrySQL: Sendable {
    public static let devicesTable = "_cellbase_devices"
    public static let seriesTable = "_cellbase_telemetry_series"
    public static let partitionsTable = "_cellbase_telemetry_partitions"
    public static let settingsTable = "_cellbase_telemetry_settings"
    public static let commandsTable = "_cellbase_device_commands"
    /// The partitioned parent on PostgreSQL, and the prefix of every partition's name.
    public static let pointsTable = "_cellbase_points"

    /// Rows per multi-row INSERT on SQLite: 3 parameters each, well under SQLite's 32,766, and
    /// few enough distinct statement shapes (`sqliteInsertSizes`) to stay prepared.
    public static let sqliteInsertSizes = [256, 16, 1]

    public let namespace: SQLNamespace
    public let devices: String
    public let series: String
    public let partitions: String
    public let settings: String
    public let commands: String
    public let points: String

    public init(namespace: SQLNamespace) {
        self.namespace = namespace
        devices = namespace.qualified(Self.devicesTable)
        series = namespace.qualified(Self.seriesTable)
        partitions = namespace.qualified(Self.partitionsTable)
        settings = namespace.qualified(Self.settingsTable)
        commands = namespace.qualified(Self.commandsTable)
        points = namespace.qualified(Self.pointsTable)
    }

    private var dialect: SQLDialect { namespace.dialect }
    private func p(_ index: Int) -> String { namespace.placeholder(index) }

    /// Taken first when the tables or partitions are created: two PostgreSQL sessions running
    /// CREATE TABLE IF NOT EXISTS at once can still collide on the catalog.
    public func serializeSchemaChanges(ref: String) -> SQLStatement {
        dialect == .postgres
            ? SQLStatement("SELECT pg_advisory_xact_lock(hashtext($1))", binds: [.text("cellbase:telemetry-tables:" + ref)])
            : SQLStatement("SELECT NULL")
    }

    public func createTables(layout: PartitionLayout, retentionDays: Int) -> [SQLStatement] {
        let identity = dialect == .postgres ? "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY"
        var statements: [SQLStatement] = [
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(devices) (
                    id text PRIMARY KEY,
                    name text NOT NULL,
                    metadata text NOT NULL,
                    token_hash text NOT NULL,
                    created_at text NOT NULL,
                    last_seen text,
                    state text NOT NULL
                )
                """),
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(series) (
                    id \(identity),
                    device text NOT NULL REFERENCES \(devices) (id) ON DELETE CASCADE,
                    metric text NOT NULL,
                    last_ts bigint NOT NULL,
                    last_value double precision NOT NULL,
                    UNIQUE (device, metric)
                )
                """),
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(partitions) (
                    start_us bigint PRIMARY KEY,
                    end_us bigint NOT NULL,
                    name text NOT NULL
                )
                """),
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(settings) (
                    id integer PRIMARY KEY CHECK (id = 1),
                    retention_days integer NOT NULL,
                    partition_hours integer NOT NULL
                )
                """),
            SQLStatement(
                "INSERT INTO \(settings) (id, retention_days, partition_hours) VALUES (1, \(p(1)), \(p(2))) ON CONFLICT (id) DO NOTHING",
                binds: [.integer(Int64(retentionDays)), .integer(Int64(layout.hours))]
            ),
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(commands) (
                    id text PRIMARY KEY,
                    device text NOT NULL REFERENCES \(devices) (id) ON DELETE CASCADE,
                    topic text NOT NULL,
                    payload text NOT NULL,
                    created_at bigint NOT NULL,
                    expires_at bigint NOT NULL,
                    delivered_at bigint
                )
                """),
            SQLStatement("CREATE INDEX IF NOT EXISTS \(SQLNamespace.quote(Self.commandsTable + "_device")) ON \(commands) (device, created_at)"),
        ]
        if dialect == .postgres {
            statements.append(SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(points) (
                    series bigint NOT NULL,
                    ts bigint NOT NULL,
                    value double precision NOT NULL,
                    PRIMARY KEY (series, ts)
                ) PARTITION BY RANGE (ts)
                """))
        }
        return statements
    }

    public var readSettings: SQLStatement {
        SQLStatement("SELECT retention_days, partition_hours FROM \(settings) WHERE id = 1")
    }

    public func updateRetention(days: Int) -> SQLStatement {
        SQLStatement("UPDATE \(settings) SET retention_days = \(p(1)) WHERE id = 1", binds: [.integer(Int64(days))])
    }

    // MARK: Partitions

    /// The partition table and its registry row, both idempotent.
    public func createPartition(start: Int64, layout: PartitionLayout) -> [SQLStatement] {
        let name = layout.tableName(start: start)
        let end = start + layout.widthMicros
        let table: String
        switch dialect {
        case .sqlite:
            table = """
                CREATE TABLE IF NOT EXISTS \(namespace.qualified(name)) (
                    series INTEGER NOT NULL,
                    ts INTEGER NOT NULL,
                    value REAL NOT NULL,
                    PRIMARY KEY (series, ts)
                ) WITHOUT ROWID
                """
        case .postgres:
            // Bounds are integers the node computed, not input: safe to write as literals, which
            // PARTITION OF requires (it takes no parameters).
            table = "CREATE TABLE IF NOT EXISTS \(namespace.qualified(name)) PARTITION OF \(points) FOR VALUES FROM (\(start)) TO (\(end))"
        }
        return [
            SQLStatement(table),
            SQLStatement(
                "INSERT INTO \(partitions) (start_us, end_us, name) VALUES (\(p(1)), \(p(2)), \(p(3))) ON CONFLICT (start_us) DO NOTHING",
                binds: [.integer(start), .integer(end), .text(name)]
            ),
        ]
    }

    /// Registered partitions that end at or before `cutoff`: wholly older than the retention.
    public func expiredPartitions(cutoff: Int64) -> SQLStatement {
        SQLStatement("SELECT start_us, name FROM \(partitions) WHERE end_us <= \(p(1)) ORDER BY start_us", binds: [.integer(cutoff)])
    }

    public func dropPartition(start: Int64, name: String) -> [SQLStatement] {
        [
            SQLStatement("DROP TABLE IF EXISTS \(namespace.qualified(name))"),
            SQLStatement("DELETE FROM \(partitions) WHERE start_us = \(p(1))", binds: [.integer(start)]),
        ]
    }

    public var listPartitions: SQLStatement {
        SQLStatement("SELECT start_us, end_us, name FROM \(partitions) ORDER BY start_us")
    }

    /// Registered partitions that overlap `[from, to)`.
    public func partitionsCovering(from: Int64, to: Int64) -> SQLStatement {
        SQLStatement("SELECT name FROM \(partitions) WHERE start_us < \(p(2)) AND end_us > \(p(1)) ORDER BY start_us", binds: [.integer(from), .integer(to)])
    }

    // MARK: Writes

    /// Records that the device sent something; returns its id, or no row when it does not exist.
    public func touchDevice(_ id: String, at time: String) -> SQLStatement {
        SQLStatement("UPDATE \(devices) SET last_seen = \(p(2)) WHERE id = \(p(1)) RETURNING id", binds: [.text(id), .text(time)])
    }

    public func deviceStateForUpdate(_ id: String) -> SQLStatement {
        SQLStatement("SELECT state FROM \(devices) WHERE id = \(p(1))" + (dialect == .postgres ? " FOR UPDATE" : ""), binds: [.text(id)])
    }

    public func setDeviceState(_ id: String, state: String) -> SQLStatement {
        SQLStatement("UPDATE \(devices) SET state = \(p(2)) WHERE id = \(p(1))", binds: [.text(id), .text(state)])
    }

    /// Creates the series or moves its last value forward (never back: a late point does not
    /// replace a newer one), returning its id.
    public func upsertSeries(_ entry: TelemetryWrite.Series) -> SQLStatement {
        let newer = "s.last_ts <= excluded.last_ts"
        return SQLStatement("""
            INSERT INTO \(series) AS s (device, metric, last_ts, last_value) VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4))) \
            ON CONFLICT (device, metric) DO UPDATE SET \
            last_value = CASE WHEN \(newer) THEN excluded.last_value ELSE s.last_value END, \
            last_ts = CASE WHEN \(newer) THEN excluded.last_ts ELSE s.last_ts END \
            RETURNING id
            """, binds: [.text(entry.device), .text(entry.metric), .integer(entry.lastTimestamp), .double(entry.lastValue)])
    }

    /// SQLite: `rows` points into one partition table, replacing a point of the same series and time.
    public func sqliteInsertPoints(table: String, rows: Int) -> String {
        var sql = "INSERT OR REPLACE INTO \(namespace.qualified(table)) (series, ts, value) VALUES "
        sql.reserveCapacity(sql.utf8.count + rows * 18)
        for row in 0..<rows {
            if row > 0 { sql += "," }
            sql += "(?\(row * 3 + 1),?\(row * 3 + 2),?\(row * 3 + 3))"
        }
        return sql
    }

    /// PostgreSQL: every point of a batch in one statement, as three arrays; rows reach their
    /// partitions through the parent.
    public var postgresInsertPoints: String {
        """
        INSERT INTO \(points) (series, ts, value) SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[]) \
        ON CONFLICT (series, ts) DO UPDATE SET value = excluded.value
        """
    }

    // MARK: Reads

    public func seriesID(device: String, metric: String) -> SQLStatement {
        SQLStatement("SELECT id FROM \(series) WHERE device = \(p(1)) AND metric = \(p(2))", binds: [.text(device), .text(metric)])
    }

    public func latest(device: String) -> SQLStatement {
        SQLStatement("SELECT metric, last_ts, last_value FROM \(series) WHERE device = \(p(1)) ORDER BY metric", binds: [.text(device)])
    }

    // MARK: Devices

    /// Selected by every device read, in this order.
    public static let deviceColumns = "id, name, metadata, token_hash, created_at, last_seen, state"

    /// Inserts the device unless its id is taken; returns its id only when it was inserted.
    public func insertDevice(id: String, name: String, metadata: String, tokenHash: String, createdAt: String) -> SQLStatement {
        SQLStatement("""
            INSERT INTO \(devices) (id, name, metadata, token_hash, created_at, state) \
            VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), '{}') ON CONFLICT (id) DO NOTHING RETURNING id
            """, binds: [.text(id), .text(name), .text(metadata), .text(tokenHash), .text(createdAt)])
    }

    public func deviceByID(_ id: String) -> SQLStatement {
        SQLStatement("SELECT \(Self.deviceColumns) FROM \(devices) WHERE id = \(p(1))", binds: [.text(id)])
    }

    public func listDevices(limit: Int, offset: Int) -> SQLStatement {
        SQLStatement("SELECT \(Self.deviceColumns) FROM \(devices) ORDER BY id LIMIT \(p(1)) OFFSET \(p(2))", binds: [.integer(Int64(limit)), .integer(Int64(offset))])
    }

    public func updateDevice(_ id: String, name: String, metadata: String) -> SQLStatement {
        SQLStatement("UPDATE \(devices) SET name = \(p(2)), metadata = \(p(3)) WHERE id = \(p(1)) RETURNING \(Self.deviceColumns)", binds: [.text(id), .text(name), .text(metadata)])
    }

    public func replaceToken(_ id: String, tokenHash: String) -> SQLStatement {
        SQLStatement("UPDATE \(devices) SET token_hash = \(p(2)) WHERE id = \(p(1)) RETURNING \(Self.deviceColumns)", binds: [.text(id), .text(tokenHash)])
    }

    /// Deletes the device, its series (so its points are no longer reachable; they go with their
    /// partitions) and its commands.
    public func deleteDevice(_ id: String) -> SQLStatement {
        SQLStatement("DELETE FROM \(devices) WHERE id = \(p(1)) RETURNING id", binds: [.text(id)])
    }

    // MARK: Commands

    /// Selected by every command read, in this order.
    public static let commandColumns = "id, device, topic, payload, created_at, expires_at, delivered_at"

    /// Queues a command for an existing device; returns it, or no row when the device does not exist.
    public func insertCommand(id: String, device: String, topic: String, payload: String, createdAt: Int64, expiresAt: Int64) -> SQLStatement {
        SQLStatement("""
            INSERT INTO \(commands) (id, device, topic, payload, created_at, expires_at) \
            SELECT \(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), \(p(6)) WHERE EXISTS (SELECT 1 FROM \(devices) WHERE id = \(p(2))) \
            RETURNING \(Self.commandColumns)
            """, binds: [.text(id), .text(device), .text(topic), .text(payload), .integer(createdAt), .integer(expiresAt)])
    }

    public func command(id: String, device: String) -> SQLStatement {
        SQLStatement("SELECT \(Self.commandColumns) FROM \(commands) WHERE id = \(p(1)) AND device = \(p(2))", binds: [.text(id), .text(device)])
    }

    /// Commands neither delivered nor expired at `now`, oldest first.
    public func pendingCommands(device: String, now: Int64, limit: Int) -> SQLStatement {
        SQLStatement("""
            SELECT \(Self.commandColumns) FROM \(commands) \
            WHERE device = \(p(1)) AND delivered_at IS NULL AND expires_at > \(p(2)) ORDER BY created_at, id LIMIT \(p(3))
            """, binds: [.text(device), .integer(now), .integer(Int64(limit))])
    }

    public func markDelivered(id: String, device: String, at time: Int64) -> SQLStatement {
        SQLStatement(
            "UPDATE \(commands) SET delivered_at = \(p(3)) WHERE id = \(p(1)) AND device = \(p(2)) AND delivered_at IS NULL",
            binds: [.text(id), .text(device), .integer(time)]
        )
    }
}
