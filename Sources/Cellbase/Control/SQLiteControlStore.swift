import CellbaseSQL
import NIOPosix

/// The control plane in `control.db` under the data directory.
final class SQLiteControlStore: ControlStore {
    private let file: SQLiteFile
    private static let columns = "ref, name, shard, jwt_secret, anon_key, service_role_key, created_at, cell, node, placement_version, plan"

    private init(file: SQLiteFile) {
        self.file = file
    }

    static func open(path: String, threadPool: NIOThreadPool) async throws -> SQLiteControlStore {
        SQLiteControlStore(file: try await SQLiteFile.open(path: path, synchronous: "full", threadPool: threadPool))
    }

    func prepare() async throws {
        try await file.write { handle in
            try handle.execute("""
                CREATE TABLE IF NOT EXISTS projects (
                    ref TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    shard TEXT NOT NULL,
                    jwt_secret TEXT NOT NULL,
                    anon_key TEXT NOT NULL,
                    service_role_key TEXT NOT NULL,
                    created_at TEXT NOT NULL
                );
                CREATE TABLE IF NOT EXISTS cells (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS shards (name TEXT PRIMARY KEY, cell TEXT NOT NULL REFERENCES cells (name));
                CREATE TABLE IF NOT EXISTS nodes (
                    id TEXT PRIMARY KEY,
                    cell TEXT NOT NULL,
                    url TEXT NOT NULL,
                    shards TEXT NOT NULL,
                    started_at TEXT NOT NULL,
                    beat_at TEXT NOT NULL,
                    beat_ms INTEGER NOT NULL
                );
                CREATE TABLE IF NOT EXISTS plans (name TEXT PRIMARY KEY, requests_per_second REAL NOT NULL, burst INTEGER NOT NULL)
                """)
            // Control databases of earlier releases have projects without placements: they are in
            // the cell `default`, at version 0.
            var columns: Set<String> = []
            try handle.query("PRAGMA table_info(projects)", []) { row in columns.insert(row.text(1) ?? "") }
            for (column, definition) in [
                ("cell", "TEXT NOT NULL DEFAULT 'default'"), ("node", "TEXT"),
                ("placement_version", "INTEGER NOT NULL DEFAULT 0"), ("plan", "TEXT"),
            ] where !columns.contains(column) {
                try handle.execute("ALTER TABLE projects ADD COLUMN \(column) \(definition)")
            }
            try handle.execute("CREATE INDEX IF NOT EXISTS projects_placement_version ON projects (placement_version)")
            try handle.query("INSERT OR IGNORE INTO cells (name, created_at) VALUES (?1, ?2)", [.text(Cell.defaultName), .text(Timestamp.now())])
        }
    }

    func allProjects() async throws -> [Project] {
        try await file.read { handle in
            try Self.projects(handle, "SELECT \(Self.columns) FROM projects ORDER BY created_at, ref", [])
        }
    }

    func project(ref: String) async throws -> Project? {
        try await file.read { handle in
            try Self.projects(handle, "SELECT \(Self.columns) FROM projects WHERE ref = ?1", [.text(ref)]).first
        }
    }

    func projects(placedAfter version: Int64) async throws -> [Project] {
        try await file.read { handle in
            try Self.projects(handle, "SELECT \(Self.columns) FROM projects WHERE placement_version > ?1 ORDER BY placement_version", [.integer(version)])
        }
    }

    func insert(_ project: Project) async throws -> Project {
        do {
            return try await file.write { handle in
                var stored = project
                try handle.query("SELECT coalesce(max(placement_version), 0) + 1 FROM projects", []) { row in
                    stored.placementVersion = Int64(row.integer(0) ?? 1)
                }
                try handle.query(
                    "INSERT INTO projects (\(Self.columns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    [.text(stored.ref), .text(stored.name), .text(stored.shard), .text(stored.jwtSecret),
                     .text(stored.anonKey), .text(stored.serviceRoleKey), .text(stored.createdAt), .text(stored.cell),
                     stored.node.map(SQLValue.text) ?? .null, .integer(stored.placementVersion), stored.plan.map(SQLValue.text) ?? .null]
                )
                return stored
            }
        } catch let error as SQLiteFailure where error.message.contains("UNIQUE constraint failed: projects.name") {
            throw ControlStoreError.duplicateName(project.name)
        }
    }

    func setPlan(_ plan: String?, ofProject ref: String) async throws -> Bool {
        try await file.write { handle in
            var changed = false
            try handle.query(
                "UPDATE projects SET plan = ?1, placement_version = (SELECT max(placement_version) + 1 FROM projects) WHERE ref = ?2 RETURNING ref",
                [plan.map(SQLValue.text) ?? .null, .text(ref)]
            ) { _ in changed = true }
            return changed
        }
    }

    func movePlacement(ref: String, from: String, to: String, node: String?, cell: String) async throws -> Project? {
        let moved = try await file.write { handle in
            var moved = false
            try handle.query(
                "UPDATE projects SET shard = ?1, node = ?2, cell = ?5, placement_version = (SELECT max(placement_version) + 1 FROM projects) WHERE ref = ?3 AND shard = ?4 RETURNING ref",
                [.text(to), node.map(SQLValue.text) ?? .null, .text(ref), .text(from), .text(cell)]
            ) { _ in moved = true }
            return moved
        }
        return moved ? try await project(ref: ref) : nil
    }

    func touch(ref: String) async throws {
        try await file.write { handle in
            try handle.query("UPDATE projects SET placement_version = (SELECT max(placement_version) + 1 FROM projects) WHERE ref = ?1", [.text(ref)])
        }
    }

    func cells() async throws -> [Cell] {
        try await file.read { handle in
            var cells: [Cell] = []
            try handle.query("SELECT name, created_at FROM cells ORDER BY name", []) { row in
                cells.append(Cell(name: row.text(0) ?? "", createdAt: row.text(1) ?? ""))
            }
            return cells
        }
    }

    func insert(_ cell: Cell) async throws {
        do {
            try await file.write { handle in
                try handle.query("INSERT INTO cells (name, created_at) VALUES (?1, ?2)", [.text(cell.name), .text(cell.createdAt)])
            }
        } catch let error as SQLiteFailure where error.message.contains("UNIQUE constraint failed: cells.name") {
            throw ControlStoreError.duplicateCell(cell.name)
        }
    }

    func shardCells() async throws -> [String: String] {
        try await file.read { handle in
            var cells: [String: String] = [:]
            try handle.query("SELECT name, cell FROM shards", []) { row in cells[row.text(0) ?? ""] = row.text(1) ?? "" }
            return cells
        }
    }

    func shardLocation(_ shard: String) async throws -> ShardLocation? {
        try await file.read { handle in
            var location: ShardLocation?
            try handle.query("SELECT cell FROM shards WHERE name = ?1", [.text(shard)]) { row in location = ShardLocation(cell: row.text(0) ?? "", url: nil) }
            return location
        }
    }

    /// A single node's control plane: nothing else could use a shard's URL, so none is kept.
    func claimShard(_ shard: String, cell: String, url: String?) async throws -> String {
        try await file.write { handle in
            try handle.query("INSERT OR IGNORE INTO shards (name, cell) VALUES (?1, ?2)", [.text(shard), .text(cell)])
            var owner = cell
            try handle.query("SELECT cell FROM shards WHERE name = ?1", [.text(shard)]) { row in owner = row.text(0) ?? cell }
            return owner
        }
    }

    func register(_ node: NodeRecord) async throws {
        try await file.write { handle in
            try handle.query(
                "INSERT OR REPLACE INTO nodes (id, cell, url, shards, started_at, beat_at, beat_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                [.text(node.id), .text(node.cell), .text(node.url), .text(node.shards.joined(separator: ",")),
                 .text(node.startedAt), .text(Timestamp.now()), .integer(Timestamp.nowMilliseconds())]
            )
        }
    }

    func heartbeat(node id: String) async throws -> Bool {
        try await file.write { handle in
            var found = false
            try handle.query(
                "UPDATE nodes SET beat_at = ?1, beat_ms = ?2 WHERE id = ?3 RETURNING id",
                [.text(Timestamp.now()), .integer(Timestamp.nowMilliseconds()), .text(id)]
            ) { _ in found = true }
            return found
        }
    }

    func removeNode(id: String) async throws {
        try await file.write { handle in try handle.query("DELETE FROM nodes WHERE id = ?1", [.text(id)]) }
    }

    func nodes() async throws -> [NodeRecord] {
        let now = Timestamp.nowMilliseconds()
        return try await file.read { handle in
            var nodes: [NodeRecord] = []
            try handle.query("SELECT id, cell, url, shards, started_at, beat_at, beat_ms FROM nodes ORDER BY cell, id", []) { row in
                let shards = row.text(3) ?? ""
                nodes.append(NodeRecord(
                    id: row.text(0) ?? "", cell: row.text(1) ?? "", url: row.text(2) ?? "",
                    shards: shards.isEmpty ? [] : shards.split(separator: ",").map(String.init),
                    startedAt: row.text(4) ?? "", beatAt: row.text(5) ?? "",
                    secondsSinceBeat: Double(now - Int64(row.integer(6) ?? 0)) / 1000
                ))
            }
            return nodes
        }
    }

    func plans() async throws -> [RatePlan] {
        try await file.read { handle in
            var plans: [RatePlan] = []
            try handle.query("SELECT name, requests_per_second, burst FROM plans ORDER BY name", []) { row in
                let rate: Double = switch row.value(1) {
                case .double(let rate): rate
                case .integer(let rate): Double(rate)
                default: 0
                }
                plans.append(RatePlan(name: row.text(0) ?? "", requestsPerSecond: rate, burst: row.integer(2) ?? 0))
            }
            return plans
        }
    }

    func save(_ plan: RatePlan) async throws {
        try await file.write { handle in
            try handle.query(
                "INSERT OR REPLACE INTO plans (name, requests_per_second, burst) VALUES (?1, ?2, ?3)",
                [.text(plan.name), .double(plan.requestsPerSecond), .integer(Int64(plan.burst))]
            )
        }
    }

    func checkReachable() async throws {
        try await file.read { handle in try handle.query("SELECT 1", []) }
    }

    func shutdown() async throws {
        await file.close()
    }

    private static func projects(_ handle: SQLiteHandle, _ sql: String, _ binds: [CellbaseSQL.SQLValue]) throws -> [Project] {
        var projects: [Project] = []
        try handle.query(sql, binds) { row in
            let text = { (index: Int) in row.text(index) ?? "" }
            projects.append(Project(
                ref: text(0), name: text(1), shard: text(2), jwtSecret: text(3), anonKey: text(4), serviceRoleKey: text(5), createdAt: text(6),
                cell: text(7), node: row.text(8), placementVersion: Int64(row.integer(9) ?? 0), plan: row.text(10)
            ))
        }
        return projects
    }
}
