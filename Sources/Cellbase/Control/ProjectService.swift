import HTTPTypes
import CellbaseSQL
import Logging
import Synchronization

/// A project's schema as its migrations left it, with its policies compiled for its shard.
struct Catalog: Sendable {
    var schema: Schema
    var policies: CompiledPolicies

    init(_ schema: Schema, namespace: SQLNamespace) {
        self.schema = schema
        self.policies = CompiledPolicies(schema: schema, namespace: namespace)
    }
}

/// Creates projects, applies their migrations and keeps each project's catalog in memory.
final class ProjectService: Sendable {
    let directory: ProjectDirectory
    let shards: [String: any Shard]
    let defaultShard: String
    let catalogs = Mutex<[String: Catalog]>([:])
    private let logger: Logger

    init(directory: ProjectDirectory, shards: [String: any Shard], defaultShard: String, logger: Logger) {
        self.directory = directory
        self.shards = shards
        self.defaultShard = defaultShard
        self.logger = logger
    }

    func shard(for project: Project) throws -> any Shard {
        guard let shard = shards[project.shard] else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' of project \(project.ref) is not configured on this node")
        }
        return shard
    }

    func createProject(name: String, shard shardName: String?) async throws -> Project {
        let shardName = shardName ?? defaultShard
        guard let shard = shards[shardName] else {
            throw APIError.badRequest("unknown_shard", "No shard named '\(shardName)'. Configured shards: \(shards.keys.sorted().joined(separator: ", "))")
        }
        guard Self.isValidName(name) else {
            throw APIError.badRequest("invalid_name", "A project name is 1 to 64 characters of letters, digits, '-' and '_'")
        }
        if directory.project(named: name) != nil {
            throw APIError(.conflict, code: "project_exists", message: "A project named '\(name)' already exists")
        }
        let ref = ProjectKeys.randomRef()
        let secret = ProjectKeys.randomSecret()
        let keys = await ProjectKeys(secret: secret)
        let project = Project(
            ref: ref,
            name: name,
            shard: shardName,
            jwtSecret: secret,
            anonKey: try await keys.apiKey(ref: ref, role: .anon),
            serviceRoleKey: try await keys.apiKey(ref: ref, role: .serviceRole),
            createdAt: Timestamp.now()
        )
        try await shard.createProject(ref: ref)
        do {
            try await directory.store.insert(project)
        } catch ControlStoreError.duplicateName {
            throw APIError(.conflict, code: "project_exists", message: "A project named '\(name)' already exists")
        }
        directory.add(project)
        catalogs.withLock { $0[ref] = Catalog(Schema(), namespace: shard.namespace(for: ref)) }
        logger.info("project created", metadata: ["project": .string(ref), "name": .string(name), "shard": .string(shardName)])
        return project
    }

    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    /// The project's schema as its applied migrations built it.
    func catalog(for project: Project) async throws -> Catalog {
        if let catalog = catalogs.withLock({ $0[project.ref] }) { return catalog }
        let shard = try shard(for: project)
        let namespace = shard.namespace(for: project.ref)
        let catalog = Catalog(try Self.replay(try await shard.appliedMigrations(ref: project.ref), namespace: namespace), namespace: namespace)
        catalogs.withLock { $0[project.ref] = catalog }
        return catalog
    }

    static func replay(_ migrations: [AppliedMigration], namespace: SQLNamespace) throws -> Schema {
        var schema = Schema()
        for migration in migrations {
            schema = try MigrationPlanner.plan(migration.sql, on: schema, namespace: namespace).schema
        }
        return schema
    }

    struct MigrationResult: Sendable {
        var applied: Bool
        var warnings: [String]
    }

    func migrate(_ project: Project, name: String, sql: String) async throws -> MigrationResult {
        let shard = try shard(for: project)
        let namespace = shard.namespace(for: project.ref)
        let outcome: MigrationOutcome
        do {
            outcome = try await shard.applyMigration(ref: project.ref, name: name, sql: sql) { applied in
                let current = try Self.replay(applied, namespace: namespace)
                return try MigrationPlanner.plan(sql, on: current, namespace: namespace)
            }
        } catch let error as MigrationError {
            throw APIError(.badRequest, code: "migration_invalid", message: "\(name): line \(error.line), column \(error.column): \(error.message)")
        } catch ShardError.migrationConflict(let name) {
            throw APIError(.conflict, code: "migration_conflict", message: "A different migration named '\(name)' was already applied")
        } catch let error where DatabaseErrors.message(of: error) != nil {
            throw APIError.badRequest("migration_failed", "\(name): the database refused it: \(DatabaseErrors.message(of: error)!)")
        }
        switch outcome {
        case .alreadyApplied:
            return MigrationResult(applied: false, warnings: [])
        case .applied(let plan):
            let catalog = Catalog(plan.schema, namespace: namespace)
            catalogs.withLock { $0[project.ref] = catalog }
            logger.info("migration applied", metadata: ["project": .string(project.ref), "migration": .string(name)])
            return MigrationResult(applied: true, warnings: plan.warnings)
        }
    }
}
