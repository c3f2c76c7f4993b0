import CellbaseSQL

/// A migration recorded in a project's database.
public struct AppliedMigration: Sendable, Hashable {
    public var name: String
    public var sql: String
    public var appliedAt: String
}

public enum MigrationOutcome: Sendable {
    case applied(MigrationPlan)
    /// The same name and SQL were applied before: nothing ran.
    case alreadyApplied
}

/// Where projects' data lives: one SQLite file per project (`local`) or one schema per project in
/// a PostgreSQL database.
///
/// Every method takes the project ref; a shard never lets one project's statement run against
/// another project's file or schema.
public protocol Shard: Sendable {
    var name: String { get }
    var dialect: SQLDialect { get }
    func namespace(for ref: String) -> SQLNamespace
    /// Creates the project's file or schema with its bookkeeping tables. Idempotent.
    func createProject(ref: String) async throws
    func appliedMigrations(ref: String) async throws -> [AppliedMigration]
    /// Applies a migration once, atomically. `plan` receives the migrations applied so far (read
    /// inside the same transaction, so concurrent appliers cannot interleave) and returns the DDL.
    func applyMigration(ref: String, name: String, sql: String, plan: @escaping @Sendable ([AppliedMigration]) throws -> MigrationPlan) async throws -> MigrationOutcome
    /// Runs a Data API plan, reduces its rows as `plan.form` says and lets the plan answer. For
    /// writes the answer is made inside the transaction, so a refusal (PGRST116 on a write, a
    /// `max-affected` overrun) rolls the write back.
    func execute(ref: String, plan: RESTPlan) async throws -> RESTResponse
    func checkReady() async throws
    func shutdown() async
}

public enum ShardError: Error {
    case migrationConflict(name: String)
}

/// The migrations table every project has, on both dialects.
enum Bookkeeping {
    static let migrationsTable = "_cellbase_migrations"
}
