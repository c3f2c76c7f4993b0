@testable import CellbaseSQL

/// Helpers shared by the migration tests.
enum MigrationFixture {
    /// Two tables most rejection cases refer to.
    static let baseSQL = """
        create table users (id bigint primary key, email text unique, code varchar(10), j json);
        create table orgs (id uuid primary key);
        """

    static let base = try! MigrationPlanner.plan(baseSQL, on: Schema(), namespace: .sqlite).schema

    /// The DDL of `sql` applied to `schema`, for both dialects (PostgreSQL in schema `p`).
    static func ddl(_ sql: String, on schema: Schema = Schema()) throws -> (sqlite: [String], postgres: [String]) {
        let sqlite = try MigrationPlanner.plan(sql, on: schema, namespace: .sqlite)
        let postgres = try MigrationPlanner.plan(sql, on: schema, namespace: .postgres(schema: "p"))
        return (sqlite.statements, postgres.statements)
    }

    /// The error planning `sql` throws, or `nil` when it plans.
    static func error(_ sql: String, on schema: Schema = Schema(), namespace: SQLNamespace = .sqlite) -> MigrationError? {
        do {
            _ = try MigrationPlanner.plan(sql, on: schema, namespace: namespace)
            return nil
        } catch {
            return error
        }
    }

    /// The schema after applying the files in order, as the server rebuilds it.
    static func schema(_ files: String...) throws -> Schema {
        var schema = Schema()
        for file in files {
            schema = try MigrationPlanner.plan(file, on: schema, namespace: .sqlite).schema
        }
        return schema
    }
}
