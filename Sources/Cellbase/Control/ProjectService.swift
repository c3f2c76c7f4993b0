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

/// How a node places a project that names no shard.
public enum PlacementPolicy: String, Sendable, CaseIterable {
    /// On `--default-shard`.
    case defaultShard = "default-shard"
    /// On the shared shard of the node's cell that holds the fewest projects.
    case leastLoaded = "least-loaded"
}

/// Creates projects, applies their migrations and keeps each project's catalog in memory.
final class ProjectService: Sendable {
    let directory: ProjectDirectory
    let shards: [String: any Shard]
    let defaultShard: String
    private let catalogs = Mutex<[String: Catalog]>([:])
    private let logger: Logger

    /// How a project that names no shard is placed.
    let placement: PlacementPolicy

    init(directory: ProjectDirectory, shards: [String: any Shard], defaultShard: String, placement: PlacementPolicy = .defaultShard, logger: Logger) {
        self.directory = directory
        self.shards = shards
        self.defaultShard = defaultShard
        self.placement = placement
        self.logger = logger
    }

    func shard(for project: Project) throws -> any Shard {
        guard let shard = shards[project.shard] else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' of project \(project.ref) is not configured on this node")
        }
        return shard
    }

    func changeLog(for project: Project) throws -> any ChangeLog {
        guard let log = try shard(for: project) as? any ChangeLog else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' keeps no change log")
        }
        return log
    }

    /// Creates a project on `shardName`, or where the placement policy puts it; a project asked
    /// for in another `cell` is refused with the cell in a 421, since only that cell's nodes reach its shards.
    func createProject(name: String, shard shardName: String?, cell: String? = nil) async throws -> Project {
        if let cell, cell != directory.place.cell {
            throw Misplacement.cell(cell).error(ref: name, shape: .plain)
        }
        let shardName = if let shardName { shardName } else { try await placedShard() }
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
            createdAt: Timestamp.now(),
            cell: directory.place.cell,
            // The SQLite shard is this node's own: only this node can serve the project.
            node: shardName == "local" ? directory.place.node : nil
        )
        try await shard.createProject(ref: ref)
        let stored: Project
        do {
            stored = try await directory.store.insert(project)
        } catch ControlStoreError.duplicateName {
            throw APIError(.conflict, code: "project_exists", message: "A project named '\(name)' already exists")
        }
        directory.add(stored)
        catalogs.withLock { $0[ref] = Catalog(Schema(), namespace: shard.namespace(for: ref)) }
        logger.info("project created", metadata: ["project": .string(ref), "name": .string(name), "shard": .string(shardName), "cell": .string(stored.cell)])
        return stored
    }

    /// The shard a project that names none goes to: the default shard, or the shared shard of
    /// this node's cell with the fewest projects (the default shard when it has no shared one).
    private func placedShard() async throws -> String {
        guard placement == .leastLoaded else { return defaultShard }
        let candidates = shards.keys.filter { $0 != "local" }
        guard !candidates.isEmpty else { return defaultShard }
        var load = Dictionary(uniqueKeysWithValues: candidates.map { ($0, 0) })
        for project in try await directory.store.allProjects() where load[project.shard] != nil {
            load[project.shard, default: 0] += 1
        }
        return load.min { ($0.value, $0.key) < ($1.value, $1.key) }!.key
    }

    /// Forgets the catalogs of `refs`: their schemas changed elsewhere and are read again on next use.
    func forgetCatalogs(of refs: [String]) {
        catalogs.withLock { catalogs in for ref in refs { catalogs[ref] = nil } }
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
            // The other nodes of the cell read the schema again when they see the new version.
            do { try await directory.store.touch(ref: project.ref) } catch {
                logger.warning("the control plane could not be told of the migration; other nodes see it when they next read the catalog", metadata: ["project": .string(project.ref), "error": "\(error)"])
            }
            logger.info("migration applied", metadata: ["project": .string(project.ref), "migration": .string(name)])
            return MigrationResult(applied: true, warnings: plan.warnings)
        }
    }
}
