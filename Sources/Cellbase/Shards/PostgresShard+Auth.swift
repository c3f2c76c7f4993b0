import CellbaseSQL
import PostgresNIO

extension PostgresShard: AuthDatabase {
    func authRows(ref: String, _ statement: SQLStatement) async throws -> [[String?]] {
        try await inProject(ref) {
            try await withConnection(.read) { connection in try await Self.rows(of: statement, on: connection) }
        }
    }

    func authTransaction(ref: String, _ first: SQLStatement, then next: @escaping @Sendable ([[String?]]) throws -> [SQLStatement]) async throws -> [[String?]] {
        do {
            return try await inProject(ref) {
                try await transaction { connection in
                    let rows = try await Self.rows(of: first, on: connection)
                    for statement in try next(rows) { _ = try await Self.rows(of: statement, on: connection) }
                    return rows
                }
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw AuthDatabaseError.uniqueViolation
        }
    }

    private static func rows(of statement: SQLStatement, on connection: PostgresConnection) async throws -> [[String?]] {
        let result = try await connection.query(PostgresQuery(unsafeSQL: statement.sql, binds: statement.binds.postgresBindings), logger: connection.logger).get()
        return result.rows.map { row in row.makeRandomAccess().map(\.binaryText) }
    }
}
