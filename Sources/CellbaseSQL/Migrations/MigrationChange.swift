/// One change to the database that a migration statement makes, in terms both DDL generators
/// understand. Changes that exist only in the model (policies, row-level security) have none.
enum MigrationChange: Sendable, Hashable {
    case createTable(Table)
    /// Tables ordered so that a table referencing another by foreign key is dropped first.
    case dropTables([Table])
    case addColumn(table: String, column: Column, isUnique: Bool, foreignKey: ForeignKey?, checks: [CheckConstraint])
    /// `indexes`: the indexes PostgreSQL drops with the column and SQLite needs dropped first.
    case dropColumn(table: String, column: String, indexes: [Index])
    case renameColumn(table: String, from: String, to: String)
    case renameTable(from: String, to: String)
    case createIndex(Index, descending: [Bool])
    case dropIndex(Index)
}
