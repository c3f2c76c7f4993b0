import Logging
import PostgresNIO

/// The control plane in a PostgreSQL database shared by several nodes (`--control URL`).
final class PostgresControlStore: ControlStore {
    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Nodes starting together on a new control database would collide on the catalog with
    /// IF NOT EXISTS alone, so the creation is serialised.
    func prepare() async throws {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('cellbase:control'))", logger: logger)
                try await createTables(on: connection)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    private func createTables(on connection: PostgresConnection) async throws {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS cellbase_projects (
                ref text PRIMARY KEY,
                name text NOT NULL UNIQUE,
                shard text NOT NULL,
                jwt_secret text NOT NULL,
                anon_key text NOT NULL,
                service_role_key text NOT NULL,
                created_at text NOT NULL
            )
            """, logger: logger)
    }

    func allProjects() async throws -> [Project] {
        let rows = try await client.query("SELECT ref, name, shard, jwt_secret, anon_key, service_role_key, created_at FROM cellbase_projects ORDER BY created_at, ref", logger: logger)
        var projects: [Project] = []
        for try await (ref, name, shard, secret, anon, service, created) in rows.decode((String, String, String, String, String, String, String).self) {
            projects.append(Project(ref: ref, name: name, shard: shard, jwtSecret: secret, anonKey: anon, serviceRoleKey: service, createdAt: created))
        }
        return projects
    }

    func project(ref: String) async throws -> Project? {
        let rows = try await client.query("SELECT ref, name, shard, jwt_secret, anon_key, service_role_key, created_at FROM cellbase_projects WHERE ref = \(ref)", logger: logger)
        for try await (ref, name, shard, secret, anon, service, created) in rows.decode((String, String, String, String, String, String, String).self) {
            return Project(ref: ref, name: name, shard: shard, jwtSecret: secret, anonKey: anon, serviceRoleKey: service, createdAt: created)
        }
        return nil
    }

    func insert(_ project: Project) async throws {
        do {
            try await client.query("""
                INSERT INTO cellbase_projects (ref, name, shard, jwt_secret, anon_key, service_role_key, created_at)
                VALUES (\(project.ref), \(project.name), \(project.shard), \(project.jwtSecret), \(project.anonKey), \(project.serviceRoleKey), \(project.createdAt))
                """, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ControlStoreError.duplicateName(project.name)
        }
    }

    func checkReachable() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    func shutdown() async throws {}
}
