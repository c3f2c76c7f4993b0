import CellbaseSQL

/// What a shard provides for Storage's metadata: statements run in one project's database, every
/// result cell read as text.
protocol StorageDatabase: Sendable {
    func namespace(for ref: String) -> SQLNamespace
    /// Runs the statements in order in one transaction and returns the rows of each. A unique
    /// violation rolls it back and is thrown as `StorageDatabaseError.uniqueViolation`.
    func storageBatch(ref: String, _ statements: [SQLStatement]) async throws -> [[[String?]]]
}

enum StorageDatabaseError: Error {
    case uniqueViolation
}
