import CellbaseSQL
import VaporCSQLite

extension SQLiteShard: AuthDatabase {
    func authRows(ref: String, _ statement: SQLStatement) async throws -> [[String?]] {
        try await withFile(ref) { file in
            try await file.read { handle in try Self.rows(of: statement, on: handle) }
        }
    }

    func authTransaction(ref: String, _ first: SQLStatement, then next: @escaping @Sendable ([[String?]]) throws -> [SQLStatement]) async throws -> [[String?]] {
        try await withFile(ref) { file in
            try await file.write { handle in
                do {
                    let rows = try Self.rows(of: first, on: handle)
                    for statement in try next(rows) { try handle.query(statement.sql, statement.binds) }
                    return rows
                } catch let failure as SQLiteFailure where failure.code == Self.uniqueViolation || failure.code == Self.primaryKeyViolation {
                    throw AuthDatabaseError.uniqueViolation
                }
            }
        }
    }

    /// `SQLITE_CONSTRAINT_UNIQUE`, an extended result code the C module does not export to Swift.
    private static let uniqueViolation = SQLITE_CONSTRAINT | (8 << 8)
    /// `SQLITE_CONSTRAINT_PRIMARYKEY`: a duplicate primary key, which PostgreSQL reports as a unique violation too.
    private static let primaryKeyViolation = SQLITE_CONSTRAINT | (6 << 8)

    private static func rows(of statement: SQLStatement, on handle: SQLiteHandle) throws -> [[String?]] {
        var rows: [[String?]] = []
        try handle.query(statement.sql, statement.binds) { row in
            rows.append((0..<row.columnCount).map(row.text))
        }
        return rows
    }
}
