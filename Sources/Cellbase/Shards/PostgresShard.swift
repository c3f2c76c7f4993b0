import CellbaseSQL
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import Tracing

/// A PostgreSQL shard: one database, one connection pool shared by its projects, and each project
/// one schema (`proj_<ref>`), the layout Citus's schema-based sharding distributes.
final class PostgresShard: Shard {
    let name: String
    let dialect = SQLDialect.postgres
    let client: PostgresClient
    let preparedStatements: PreparedStatements
    /// How long each use of a pooled connection takes, and how the pool is used.
    let metrics: PostgresShardMetrics
    /// `nil` when the node does not trace.
    private let spans: DatabaseSpans?
    let logger: Logger

    init(
        name: String, client: PostgresClient, metrics: PostgresShardMetrics, tracer: (any Tracer)? = nil,
        preparedStatementsPerConnection: Int = 256, logger: Logger
    ) {
        self.name = name
        self.client = client
        self.metrics = metrics
        self.spans = tracer.map { DatabaseSpans(tracer: $0, system: .postgresql, shard: name) }
        self.preparedStatements = PreparedStatements(capacity: preparedStatementsPerConnection)
        self.logger = logger
    }

    static let schemaPrefix = "proj_"

    static func schemaName(for ref: String) -> String {
        precondition(Project.isValidRef(ref), "project refs are validated before they reach a shard")
        return schemaPrefix + ref
    }

    func namespace(for ref: String) -> SQLNamespace {
        .postgres(schema: Self.schemaName(for: ref))
    }

    private func migrationsTable(_ ref: String) -> String {
        namespace(for: ref).qualified(Bookkeeping.migrationsTable)
    }

    func createProject(ref: String) async throws {
        let schema = SQLNamespace.quote(Self.schemaName(for: ref))
        try await transaction { connection in
            // Two CREATE SCHEMA IF NOT EXISTS of one name can still collide on the catalog; serialise
            // those of this project only. A lock over every project's creation would queue all of
            // them behind whichever holder is slowest to send its next statement.
            var lockBinds = PostgresBindings()
            lockBinds.append("cellbase:create-schema:" + ref)
            try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock(hashtext($1))", binds: lockBinds), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(migrationsTable(ref)) (
                    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    name text NOT NULL UNIQUE,
                    sql text NOT NULL,
                    applied_at text NOT NULL
                )
                """), logger: logger)
        }
    }

    func appliedMigrations(ref: String) async throws -> [AppliedMigration] {
        do {
            return try await withConnection(.read) { connection in
                try await readMigrations(ref, on: connection)
            }
        } catch where ["42P01", "3F000"].contains(DatabaseErrors.sqlState(of: error) ?? "") {
            // As for `execute`: the schema may have been renamed away by a move.
            if try await !hasProject(ref: ref) { throw ProjectMoved(ref: ref) }
            throw error
        }
    }

    private func readMigrations(_ ref: String, on connection: PostgresConnection) async throws -> [AppliedMigration] {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT name, sql, applied_at FROM \(migrationsTable(ref)) ORDER BY position"), logger: logger)
        var migrations: [AppliedMigration] = []
        for try await (name, sql, appliedAt) in rows.decode((String, String, String).self) {
            migrations.append(AppliedMigration(name: name, sql: sql, appliedAt: appliedAt))
        }
        return migrations
    }

    func applyMigration(ref: String, name: String, sql: String, plan: @escaping @Sendable ([AppliedMigration]) throws -> MigrationPlan) async throws -> MigrationOutcome {
        try await transaction { connection in
            var lockBinds = PostgresBindings()
            lockBinds.append("cellbase:migrate:" + ref)
            try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock(hashtext($1))", binds: lockBinds), logger: logger)
            let applied = try await readMigrations(ref, on: connection)
            if let existing = applied.first(where: { $0.name == name }) {
                guard existing.sql == sql else { throw ShardError.migrationConflict(name: name) }
                return .alreadyApplied
            }
            let migrationPlan = try plan(applied)
            for statement in migrationPlan.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            var binds = PostgresBindings()
            binds.append(name)
            binds.append(sql)
            binds.append(Timestamp.now())
            try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(migrationsTable(ref)) (name, sql, applied_at) VALUES ($1, $2, $3)", binds: binds), logger: logger)
            return .applied(migrationPlan)
        }
    }

    func execute(ref: String, plan: RESTPlan) async throws -> RESTResponse {
        do {
            return try await executeInSchema(ref: ref, plan: plan)
        } catch where ["42P01", "3F000"].contains(DatabaseErrors.sqlState(of: error) ?? "") {
            // The planner names only tables the project has: when the database finds none, the
            // project's schema may have been renamed away by a move that switched it to another shard.
            if try await !hasProject(ref: ref) { throw ProjectMoved(ref: ref) }
            throw error
        }
    }

    private func executeInSchema(ref: String, plan: RESTPlan) async throws -> RESTResponse {
        if plan.isWrite {
            return try await transaction { connection in
                try plan.respond(try await run(plan) { statement in
                    let result = try await connection.query(PostgresQuery(unsafeSQL: statement.sql, binds: statement.binds.postgresBindings), logger: logger).get()
                    return (result.rows, result.metadata.rows)
                })
            }
        }
        // Reads run as prepared statements: the same read again is only bound and executed.
        return try plan.respond(try await withConnection(.read) { connection in
            try await run(plan) { statement in (try await preparedStatements.rows(of: statement, on: connection), nil) }
        })
    }

    /// Runs the plan's statements through `rows` (a statement's rows and, for writes, how many rows
    /// it changed) and reads the result in the plan's form.
    private func run(_ plan: RESTPlan, rows: (SQLStatement) async throws -> (rows: [PostgresRow], changed: Int?)) async throws -> RESTResult {
        var json = "["
        var count = 0
        var total: Int?
        var aggregated: String?
        var violations = 0
        for statement in plan.statements {
            let result = try await rows(statement)
            switch plan.form {
            case .aggregated:
                guard let row = result.rows.first else { continue }
                let cells = row.makeRandomAccess()
                aggregated = cells[0].binaryText ?? "[]"
                count = cells.count > 1 ? try cells[1].binaryInteger() ?? 0 : 0
                total = cells.count > 2 ? try cells[2].binaryInteger() : nil
                violations += cells.count > 3 ? try cells[3].binaryInteger() ?? 0 : 0
            case .objectPerRow:
                for row in result.rows {
                    let cells = row.makeRandomAccess()
                    if count > 0 { json.append(",") }
                    json.append(cells[0].binaryText ?? "null")
                    if cells.count > 1, try cells[1].binaryInteger() == 0 { violations += 1 }
                    count += 1
                }
            case .changes:
                count += result.changed ?? 0
            }
        }
        switch plan.form {
        case .aggregated: return RESTResult(json: aggregated ?? "[]", rowCount: count, total: total, policyViolations: violations)
        case .objectPerRow: return RESTResult(json: json + "]", rowCount: count, total: nil, policyViolations: violations)
        case .changes: return RESTResult(json: nil, rowCount: count, total: nil)
        }
    }

    /// BEGIN ... COMMIT on one pooled connection, rolled back when `body` throws. The original
    /// error is rethrown as is, so callers can map its SQLSTATE.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection(.write) { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// A pooled connection for `body`. Data API, migration, Auth and change log queries all run
    /// through here, so they are timed, counted and traced in one place — the wait for a free
    /// connection included, as that is how a pool too small for its load shows.
    func withConnection<T: Sendable>(_ operation: DatabaseSpans.Operation, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await spans.withSpan(operation) {
            let start = ContinuousClock.now
            defer { metrics.queryDuration.record(ContinuousClock.now - start) }
            return try await metrics.withConnection(of: client, body)
        }
    }

    func checkReady() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    func shutdown() async {}
}

extension [SQLValue] {
    var postgresBindings: PostgresBindings {
        var bindings = PostgresBindings(capacity: count)
        for value in self { bindings.append(value.postgresData) }
        return bindings
    }
}

/// Result cells as PostgreSQL sends them: PostgresNIO asks for binary results on every extended
/// query, but labels the rows of a statement prepared with `prepare(query:)` with the text format
/// of the statement's description, so the cells are read by their bytes, not their label.
extension PostgresCell {
    /// A `text`/`json` cell: UTF-8 in binary and text format alike.
    var binaryText: String? {
        bytes.map { String(buffer: $0) }
    }

    /// An `int2`/`int4`/`int8` cell in binary format.
    func binaryInteger() throws -> Int? {
        guard var bytes else { return nil }
        switch (dataType, bytes.readableBytes) {
        case (.int8, 8): return bytes.readInteger(as: Int64.self).map(Int.init)
        case (.int4, 4): return bytes.readInteger(as: Int32.self).map(Int.init)
        case (.int2, 2): return bytes.readInteger(as: Int16.self).map(Int.init)
        default: throw PostgresShardError.unexpectedCell(column: columnName, type: dataType, byteCount: bytes.readableBytes)
        }
    }
}

enum PostgresShardError: Error {
    case unexpectedCell(column: String, type: PostgresDataType, byteCount: Int)
}
