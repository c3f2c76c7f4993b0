/// Where a token starts in a migration file (1-based line and column).
struct MigrationPosition: Sendable, Hashable {
    var line: Int
    var column: Int
}
