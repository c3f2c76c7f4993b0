import CellbaseSQL
import NIOPosix

/// The control plane in `control.db` under the data directory.
final class SQLiteControlStore: ControlStore {
    private let file: SQLiteFile
    private static let columns = "ref, name, shard, jwt_secret, anon_key, service_role_key, created_at"

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
                )
                """)
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

    func insert(_ project: Project) async throws {
        do {
            try await file.write { handle in
                try handle.query(
                    "INSERT INTO projects (\(Self.columns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    [.text(project.ref), .text(project.name), .text(project.shard), .text(project.jwtSecret),
                     .text(project.anonKey), .text(project.serviceRoleKey), .text(project.createdAt)]
                )
            }
        } catch let error as SQLiteFailure where error.message.contains("UNIQUE constraint failed: projects.name") {
            throw ControlStoreError.duplicateName(project.name)
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
            projects.append(Project(ref: text(0), name: text(1), shard: text(2), jwtSecret: text(3), anonKey: text(4), serviceRoleKey: text(5), createdAt: text(6)))
        }
        return projects
    }
}
