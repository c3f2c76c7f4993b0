import Logging
import PostgresNIO

/// The control plane in a PostgreSQL database shared by several nodes and gateways (`--control URL`).
final class PostgresControlStore: ControlStore {
    private let client: PostgresClient
    private let logger: Logger
    private static let columns = "ref, name, shard, jwt_secret, anon_key, service_role_key, created_at, cell, node, placement_version, plan"
    private typealias ProjectRow = (String, String, String, String, String, String, String, String, String?, Int64, String?)

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Nodes starting together on a new control database would collide on the catalog with
    /// IF NOT EXISTS alone, so the creation is serialised.
    func prepare() async throws {
        // Every node runs this as it starts; the DDL below locks `cellbase_projects` against every
        // read of every node until it commits, so it runs only when something is missing.
        if try await isPrepared() { return }
        try await withTransaction(locking: "cellbase:control") { connection in try await self.createTables(on: connection) }
    }

    /// `body` in one transaction that first takes the advisory lock named `lock`, held until it ends.
    /// The original error is rethrown as is, so callers can map its SQLSTATE.
    private func withTransaction<Value: Sendable>(locking lock: String, _ body: (PostgresConnection) async throws -> Value) async throws -> Value {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(lock)))", logger: logger)
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Whether the tables, columns, index and sequence `createTables` makes, and the cell
    /// `default`, are all there.
    private func isPrepared() async throws -> Bool {
        // On a new database `cellbase_cells` is not there and the query fails: not prepared.
        guard let rows = try? await client.query(
            """
            SELECT (SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'cellbase_projects'
                        AND column_name IN ('cell', 'node', 'placement_version', 'plan')) = 4
                   AND to_regclass('cellbase_projects_placement_version') IS NOT NULL
                   AND to_regclass('cellbase_placement_versions') IS NOT NULL
                   AND to_regclass('cellbase_shards') IS NOT NULL
                   AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'cellbase_shards' AND column_name = 'url')
                   AND to_regclass('cellbase_nodes') IS NOT NULL
                   AND to_regclass('cellbase_plans') IS NOT NULL
                   AND to_regclass('cellbase_cells') IS NOT NULL
                   AND EXISTS (SELECT 1 FROM cellbase_cells WHERE name = 'default')
            """,
            logger: logger
        ) else { return false }
        for try await prepared in rows.decode(Bool.self) { return prepared }
        return false
    }

    private func createTables(on connection: PostgresConnection) async throws {
        for statement: PostgresQuery in [
            """
            CREATE TABLE IF NOT EXISTS cellbase_projects (
                ref text PRIMARY KEY,
                name text NOT NULL UNIQUE,
                shard text NOT NULL,
                jwt_secret text NOT NULL,
                anon_key text NOT NULL,
                service_role_key text NOT NULL,
                created_at text NOT NULL
            )
            """,
            // Control databases of earlier releases have projects without placements: they are in
            // the cell `default`, at version 0.
            "ALTER TABLE cellbase_projects ADD COLUMN IF NOT EXISTS cell text NOT NULL DEFAULT 'default'",
            "ALTER TABLE cellbase_projects ADD COLUMN IF NOT EXISTS node text",
            "ALTER TABLE cellbase_projects ADD COLUMN IF NOT EXISTS placement_version bigint NOT NULL DEFAULT 0",
            "ALTER TABLE cellbase_projects ADD COLUMN IF NOT EXISTS plan text",
            "CREATE INDEX IF NOT EXISTS cellbase_projects_placement_version ON cellbase_projects (placement_version)",
            "CREATE SEQUENCE IF NOT EXISTS cellbase_placement_versions",
            "CREATE TABLE IF NOT EXISTS cellbase_cells (name text PRIMARY KEY, created_at text NOT NULL)",
            "CREATE TABLE IF NOT EXISTS cellbase_shards (name text PRIMARY KEY, cell text NOT NULL REFERENCES cellbase_cells (name))",
            "ALTER TABLE cellbase_shards ADD COLUMN IF NOT EXISTS url text",
            """
            CREATE TABLE IF NOT EXISTS cellbase_nodes (
                id text PRIMARY KEY,
                cell text NOT NULL,
                url text NOT NULL,
                shards text NOT NULL,
                started_at text NOT NULL,
                beat_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE TABLE IF NOT EXISTS cellbase_plans (name text PRIMARY KEY, requests_per_second double precision NOT NULL, burst integer NOT NULL)",
        ] {
            try await connection.query(statement, logger: logger)
        }
        try await connection.query(
            "INSERT INTO cellbase_cells (name, created_at) VALUES (\(Cell.defaultName), \(Timestamp.now())) ON CONFLICT DO NOTHING", logger: logger
        )
    }

    func allProjects() async throws -> [Project] {
        try await projects(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM cellbase_projects ORDER BY created_at, ref"))
    }

    func project(ref: String) async throws -> Project? {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM cellbase_projects WHERE ref = $1")
        query.binds.append(ref)
        return try await projects(query).first
    }

    func projects(placedAfter version: Int64) async throws -> [Project] {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM cellbase_projects WHERE placement_version > $1 ORDER BY placement_version")
        query.binds.append(version)
        return try await projects(query)
    }

    private func projects(_ query: PostgresQuery) async throws -> [Project] {
        let rows = try await client.query(query, logger: logger)
        var projects: [Project] = []
        for try await row in rows.decode(ProjectRow.self) {
            projects.append(Project(
                ref: row.0, name: row.1, shard: row.2, jwtSecret: row.3, anonKey: row.4, serviceRoleKey: row.5, createdAt: row.6,
                cell: row.7, node: row.8, placementVersion: row.9, plan: row.10
            ))
        }
        return projects
    }

    /// The head of every write that draws a placement version: it takes a lock held until the
    /// write commits. Versions come from a sequence, and two writes racing could otherwise commit
    /// out of order: a reader that saw version 11 committed before 10 would read `placed after
    /// 11` from then on and never see 10. With the lock, a version is drawn only after every
    /// smaller one has committed (or rolled back), so `projects(placedAfter:)` misses nothing.
    /// Each write is one statement, its own transaction, whose CTE takes the lock before the
    /// version is drawn: the lock is held for the statement's run on the server alone, never
    /// across a round trip to a node, so a node slow to send its next statement (a busy machine)
    /// holds no other node's placement writes. Placement writes are rare: project creation, plan
    /// changes, moves.
    private static let placementVersionLock = "WITH placement_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtext('cellbase:placement-versions')))"

    func insert(_ project: Project) async throws -> Project {
        do {
            let rows = try await client.query("""
                \(unescaped: Self.placementVersionLock)
                INSERT INTO cellbase_projects (ref, name, shard, jwt_secret, anon_key, service_role_key, created_at, cell, node, placement_version, plan)
                SELECT \(project.ref), \(project.name), \(project.shard), \(project.jwtSecret), \(project.anonKey), \(project.serviceRoleKey),
                       \(project.createdAt), \(project.cell), \(project.node), nextval('cellbase_placement_versions'), \(project.plan)
                FROM placement_lock
                RETURNING placement_version
                """, logger: logger)
            var stored = project
            for try await version in rows.decode(Int64.self) { stored.placementVersion = version }
            return stored
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ControlStoreError.duplicateName(project.name)
        }
    }

    func setPlan(_ plan: String?, ofProject ref: String) async throws -> Bool {
        let rows = try await client.query("""
            \(unescaped: Self.placementVersionLock)
            UPDATE cellbase_projects SET plan = \(plan), placement_version = nextval('cellbase_placement_versions')
            FROM placement_lock WHERE ref = \(ref) RETURNING ref
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    func touch(ref: String) async throws {
        try await client.query("""
            \(unescaped: Self.placementVersionLock)
            UPDATE cellbase_projects SET placement_version = nextval('cellbase_placement_versions') FROM placement_lock WHERE ref = \(ref)
            """, logger: logger)
    }

    func movePlacement(ref: String, from: String, to: String, node: String?, cell: String) async throws -> Project? {
        let rows = try await client.query("""
            \(unescaped: Self.placementVersionLock)
            UPDATE cellbase_projects SET shard = \(to), node = \(node), cell = \(cell), placement_version = nextval('cellbase_placement_versions')
            FROM placement_lock WHERE ref = \(ref) AND shard = \(from) RETURNING ref
            """, logger: logger)
        var moved = false
        for try await _ in rows.decode(String.self) { moved = true }
        return moved ? try await project(ref: ref) : nil
    }

    func cells() async throws -> [Cell] {
        let rows = try await client.query("SELECT name, created_at FROM cellbase_cells ORDER BY name", logger: logger)
        var cells: [Cell] = []
        for try await (name, created) in rows.decode((String, String).self) { cells.append(Cell(name: name, createdAt: created)) }
        return cells
    }

    func insert(_ cell: Cell) async throws {
        do {
            try await client.query("INSERT INTO cellbase_cells (name, created_at) VALUES (\(cell.name), \(cell.createdAt))", logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ControlStoreError.duplicateCell(cell.name)
        }
    }

    func shardCells() async throws -> [String: String] {
        let rows = try await client.query("SELECT name, cell FROM cellbase_shards", logger: logger)
        var cells: [String: String] = [:]
        for try await (name, cell) in rows.decode((String, String).self) { cells[name] = cell }
        return cells
    }

    func claimShard(_ shard: String, cell: String, url: String?) async throws -> String {
        // The URL is the latest a node of the owning cell started with; another cell's node changes nothing.
        try await client.query("""
            INSERT INTO cellbase_shards (name, cell, url) VALUES (\(shard), \(cell), \(url))
            ON CONFLICT (name) DO UPDATE SET url = coalesce(excluded.url, cellbase_shards.url) WHERE cellbase_shards.cell = excluded.cell
            """, logger: logger)
        let rows = try await client.query("SELECT cell FROM cellbase_shards WHERE name = \(shard)", logger: logger)
        for try await owner in rows.decode(String.self) { return owner }
        return cell
    }

    func shardLocation(_ shard: String) async throws -> ShardLocation? {
        let rows = try await client.query("SELECT cell, url FROM cellbase_shards WHERE name = \(shard)", logger: logger)
        for try await (cell, url) in rows.decode((String, String?).self) { return ShardLocation(cell: cell, url: url) }
        return nil
    }

    func register(_ node: NodeRecord) async throws {
        try await client.query("""
            INSERT INTO cellbase_nodes (id, cell, url, shards, started_at, beat_at)
            VALUES (\(node.id), \(node.cell), \(node.url), \(node.shards.joined(separator: ",")), \(node.startedAt), now())
            ON CONFLICT (id) DO UPDATE SET cell = excluded.cell, url = excluded.url, shards = excluded.shards,
                started_at = excluded.started_at, beat_at = now()
            """, logger: logger)
    }

    func heartbeat(node id: String) async throws -> Bool {
        let rows = try await client.query("UPDATE cellbase_nodes SET beat_at = now() WHERE id = \(id) RETURNING id", logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    func removeNode(id: String) async throws {
        try await client.query("DELETE FROM cellbase_nodes WHERE id = \(id)", logger: logger)
    }

    func nodes() async throws -> [NodeRecord] {
        let rows = try await client.query("""
            SELECT id, cell, url, shards, started_at,
                   to_char(beat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   extract(epoch FROM now() - beat_at)::double precision
            FROM cellbase_nodes ORDER BY cell, id
            """, logger: logger)
        var nodes: [NodeRecord] = []
        for try await (id, cell, url, shards, started, beat, age) in rows.decode((String, String, String, String, String, String, Double).self) {
            nodes.append(NodeRecord(
                id: id, cell: cell, url: url, shards: shards.isEmpty ? [] : shards.split(separator: ",").map(String.init),
                startedAt: started, beatAt: beat, secondsSinceBeat: age
            ))
        }
        return nodes
    }

    func plans() async throws -> [RatePlan] {
        let rows = try await client.query("SELECT name, requests_per_second, burst FROM cellbase_plans ORDER BY name", logger: logger)
        var plans: [RatePlan] = []
        for try await (name, rate, burst) in rows.decode((String, Double, Int32).self) {
            plans.append(RatePlan(name: name, requestsPerSecond: rate, burst: Int(burst)))
        }
        return plans
    }

    func save(_ plan: RatePlan) async throws {
        try await client.query("""
            INSERT INTO cellbase_plans (name, requests_per_second, burst) VALUES (\(plan.name), \(plan.requestsPerSecond), \(Int32(clamping: plan.burst)))
            ON CONFLICT (name) DO UPDATE SET requests_per_second = excluded.requests_per_second, burst = excluded.burst
            """, logger: logger)
    }

    func checkReachable() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    func shutdown() async throws {}
}
