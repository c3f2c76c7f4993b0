import CellbaseSQL
import VaporCSQLite

extension SQLiteShard: StorageDatabase {
    func storageBatch(ref: String, _ statements: [SQLStatement]) async throws -> [[[String?]]] {
        try await withFile(ref) { file in
            try await file.write { handle in
                do {
                    return try statements.map { statement in
                        var rows: [[String?]] = []
                        try handle.query(statement.sql, statement.binds) { row in rows.append((0..<row.columnCount).map(row.text)) }
                        return rows
                    }
                } catch let failure as SQLiteFailure where Self.storageUniqueViolations.contains(failure.code) {
                    throw StorageDatabaseError.uniqueViolation
                }
            }
        }
    }

    /// `SQLITE_CONSTRAINT_UNIQUE` and `SQLITE_CONSTRAINT_PRIMARYKEY`, extended result codes the C
    /// module does not export to Swift.
    private static let storageUniqueViolations: Set<Int32> = [SQLITE_CONSTRAINT | (8 << 8), SQLITE_CONSTRAINT | (6 << 8)]
}
