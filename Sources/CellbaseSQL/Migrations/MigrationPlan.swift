/// What applying one migration file does: the resulting schema and the DDL that gets a database there.
public struct MigrationPlan: Sendable {
    /// The schema after the migration.
    public var schema: Schema
    /// DDL to run, in order, inside one transaction.
    public var statements: [String]
    /// Things that were accepted but are worth telling the author (skipped `IF NOT EXISTS`, ...).
    public var warnings: [String]

    public init(schema: Schema, statements: [String], warnings: [String]) {
        self.schema = schema
        self.statements = statements
        self.warnings = warnings
    }
}
