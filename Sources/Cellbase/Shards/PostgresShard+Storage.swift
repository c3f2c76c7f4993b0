import CellbaseSQL
import PostgresNIO

extension PostgresShard: StorageDatabase {
    func storageBatch(ref: String, _ statements: [SQLStatement]) async throws -> [[[String?]]] {
        do {
            return try await inProject(ref) {
                try await transaction { connection in
                    var results: [[[String?]]] = []
                    for statement in statements {
                        let result = try await connection.query(PostgresQuery(unsafeSQL: statement.sql, binds: statement.binds.postgresBindings), logger: connection.logger).get()
                        results.append(result.rows.map { row in row.makeRandomAccess().map(\.binaryText) })
                    }
                    return results
                }
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw StorageDatabaseError.uniqueViolation
        }
    }
}
