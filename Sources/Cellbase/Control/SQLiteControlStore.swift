import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// The control plane in `control.db` under the data directory.
final class SQLiteControlStore: ControlStore {
    private let file: SQLiteFile

    private init(file: SQLiteFile) {
        self.file = file
    }

    static func open(path: String, threadPool: NIOThreadPool, eventLoop: any EventLoop, logger: Logger) async throws -> SQLiteControlStore {
        let file = try await SQLiteFile.open(path: path, readers: 1, synchronous: "full", threadPool: threadPool, eventLoop: eventLoop, logger: logger)
        return SQLiteControlStore(file: file)
    }

    func prepare() async throws {
        try await file.write { connection in
            _ = try await connection.query("""
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
        try await file.read("SELECT ref, name, shard, jwt_secret, anon_key, service_role_key, created_at FROM projects ORDER BY created_at, ref")
            .map(Self.project(from:))
    }

    func project(ref: String) async throws -> Project? {
        try await file.read("SELECT ref, name, shard, jwt_secret, anon_key, service_role_key, created_at FROM projects WHERE ref = ?1", [.text(ref)])
            .first.map(Self.project(from:))
    }

    func insert(_ project: Project) async throws {
        do {
            try await file.write { connection in
                _ = try await connection.query(
                    "INSERT INTO projects (ref, name, shard, jwt_secret, anon_key, service_role_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    [.text(project.ref), .text(project.name), .text(project.shard), .text(project.jwtSecret),
                     .text(project.anonKey), .text(project.serviceRoleKey), .text(project.createdAt)]
                )
            }
        } catch let error as SQLiteError where error.message.contains("UNIQUE constraint failed: projects.name") {
            throw ControlStoreError.duplicateName(project.name)
        }
    }

    func checkReachable() async throws {
        _ = try await file.read("SELECT 1")
    }

    func shutdown() async throws {
        await file.close()
    }

    private static func project(from row: SQLiteRow) -> Project {
        let text = { (index: Int) in row.columns[index].data.string ?? "" }
        return Project(ref: text(0), name: text(1), shard: text(2), jwtSecret: text(3), anonKey: text(4), serviceRoleKey: text(5), createdAt: text(6))
    }
}
