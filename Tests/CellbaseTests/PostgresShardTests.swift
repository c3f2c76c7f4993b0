import CellbaseSQL
import Logging
import PostgresNIO
import Prometheus
import Testing

@testable import Cellbase

/// Reads on a PostgreSQL shard run as prepared statements kept per connection. These tests hold
/// the shard to one pooled connection, so every read lands on the connection they inspect.
@Suite("PostgreSQL shard prepared statements")
struct PostgresShardTests {
    static let items = """
        CREATE TABLE items (id int4 PRIMARY KEY, title text NOT NULL, owner uuid, tags text[], data jsonb, at timestamptz);
        """

    /// A shard on one connection with room for `capacity` statements, and a fresh project with `items`.
    /// Its metrics go to `registry`, one of the test's own.
    static func withShard(
        capacity: Int, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        _ body: (PostgresShard, String, Schema) async throws -> Void
    ) async throws {
        var configuration = try PostgresURL.configuration(try TestEnvironment.postgresURL())
        configuration.options.maximumConnections = 1
        configuration.options.minimumConnections = 0
        var logger = Logger(label: "cellbase.test")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            let metrics = PostgresShardMetrics(registry: registry, shard: "pg", maxConnections: 1)
            let shard = PostgresShard(name: "pg", client: client, metrics: metrics, preparedStatementsPerConnection: capacity, logger: logger)
            let ref = String((0..<20).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement()! })
            try await shard.createProject(ref: ref)
            let outcome = try await shard.applyMigration(ref: ref, name: "items", sql: items) { _ in
                try MigrationPlanner.plan(items, on: Schema(), namespace: shard.namespace(for: ref))
            }
            guard case .applied(let plan) = outcome else {
                Issue.record("the migration was not applied")
                return
            }
            let write = try RESTPlanner(schema: plan.schema, namespace: shard.namespace(for: ref)).plan(RESTRequest(
                method: .post, table: "items",
                body: Array(#"[{"id":1,"title":"one","owner":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","tags":["x"],"data":null},{"id":2,"title":"two","owner":null,"tags":null,"data":{"k":2}},{"id":3,"title":"three","owner":null,"tags":null,"data":null}]"#.utf8)
            ))
            #expect(try await shard.execute(ref: ref, plan: write).status == 201)
            try await body(shard, ref, plan.schema)
            group.cancelAll()
        }
    }

    static func read(_ shard: PostgresShard, _ ref: String, _ schema: Schema, _ query: [(String, String)]) async throws -> RESTResponse {
        let plan = try RESTPlanner(schema: schema, namespace: shard.namespace(for: ref)).plan(RESTRequest(
            method: .get, table: "items", query: query.map { (name: $0.0, value: $0.1) }
        ))
        return try await shard.execute(ref: ref, plan: plan)
    }

    /// A response body as JSON, so PostgreSQL's spacing in `json_agg` does not matter.
    static func body(_ answer: RESTResponse) throws -> JSONValue {
        try json(answer.body ?? "")
    }

    /// Statements prepared on the shard's one connection, as PostgreSQL itself lists them.
    static func serverSideStatements(_ shard: PostgresShard) async throws -> Int {
        try await shard.client.withConnection { connection in
            let rows = try await connection.query("SELECT count(*)::int8 FROM pg_prepared_statements", logger: Logger(label: "test"))
            var count = 0
            for try await value in rows.decode(Int.self) { count = value }
            return count
        }
    }

    static func localStatements(_ shard: PostgresShard) async throws -> Int {
        try await shard.client.withConnection { connection in shard.preparedStatements.count(on: connection) }
    }

    @Test func aRepeatedReadIsPreparedOnceAndAnsweredWithEachValue() async throws {
        try await Self.withShard(capacity: 8) { shard, ref, schema in
            for id in 1...3 {
                let answer = try await Self.read(shard, ref, schema, [("select", "id,title"), ("id", "eq.\(id)")])
                #expect(try Self.body(answer) == json(#"[{"id":\#(id),"title":"\#(["one", "two", "three"][id - 1])"}]"#))
            }
            let missing = try await Self.read(shard, ref, schema, [("select", "id"), ("id", "eq.4")])
            #expect(missing.body == "[]")
            #expect(try await Self.localStatements(shard) == 2)
            #expect(try await Self.serverSideStatements(shard) == 2)

            // Values of every wire type through one prepared statement each, and a NULL through the same text.
            let typed = try await Self.read(shard, ref, schema, [
                ("select", "id"), ("owner", "eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), ("tags", "cs.{x}"), ("at", "is.null"),
            ])
            #expect(try Self.body(typed) == json(#"[{"id":1}]"#))
            let inList = try await Self.read(shard, ref, schema, [("select", "id"), ("id", "in.(2,null,3)"), ("order", "id.desc")])
            #expect(try Self.body(inList) == json(#"[{"id":3},{"id":2}]"#))
            let jsonPath = try await Self.read(shard, ref, schema, [("select", "id"), ("data->>k", "eq.2")])
            #expect(try Self.body(jsonPath) == json(#"[{"id":2}]"#))
        }
    }

    @Test func theLeastRecentlyUsedStatementIsDeallocated() async throws {
        try await Self.withShard(capacity: 2) { shard, ref, schema in
            for column in ["id", "title", "owner", "id"] {
                _ = try await Self.read(shard, ref, schema, [("select", column), ("id", "eq.1")])
                #expect(try await Self.localStatements(shard) <= 2)
            }
            #expect(try await Self.localStatements(shard) == 2)
            #expect(try await Self.serverSideStatements(shard) == 2)
            let answer = try await Self.read(shard, ref, schema, [("select", "title"), ("id", "eq.2")])
            #expect(try Self.body(answer) == json(#"[{"title":"two"}]"#))
        }
    }

    @Test func aStatementThatFailsIsDroppedAndTheErrorKeepsItsSQLState() async throws {
        try await Self.withShard(capacity: 8) { shard, ref, schema in
            let query = [("select", "id,title"), ("id", "eq.1")]
            _ = try await Self.read(shard, ref, schema, query)
            #expect(try await Self.localStatements(shard) == 1)

            // The table goes away under the prepared statement (the plan was made for the old schema).
            try await shard.client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(shard.namespace(for: ref).qualified("items"))"), logger: Logger(label: "test"))
            let error = await #expect(throws: (any Error).self) { try await Self.read(shard, ref, schema, query) }
            let mapped = error.flatMap(DatabaseErrors.restError(from:))
            #expect(mapped?.code == "42P01")
            #expect(mapped?.status == 400)
            #expect(try await Self.localStatements(shard) == 0)
            #expect(try await Self.serverSideStatements(shard) == 0)

            // Recreated with the same columns: the same statement text is prepared again and answers.
            try await shard.client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(shard.namespace(for: ref).qualified("items")) (id int4 PRIMARY KEY, title text NOT NULL, owner uuid, tags text[], data jsonb, at timestamptz)"), logger: Logger(label: "test"))
            try await shard.client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(shard.namespace(for: ref).qualified("items")) (id, title) VALUES (1, 'again')"), logger: Logger(label: "test"))
            #expect(try Self.body(try await Self.read(shard, ref, schema, query)) == json(#"[{"id":1,"title":"again"}]"#))
        }
    }

    @Test func aSchemaChangeUnderAPreparedStatementIsReplanned() async throws {
        try await Self.withShard(capacity: 8) { shard, ref, schema in
            let query = [("select", "id,title"), ("title", "eq.two")]
            #expect(try Self.body(try await Self.read(shard, ref, schema, query)) == json(#"[{"id":2,"title":"two"}]"#))
            let table = shard.namespace(for: ref).qualified("items")
            try await shard.client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) ADD COLUMN extra int8"), logger: Logger(label: "test"))
            try await shard.client.query(PostgresQuery(unsafeSQL: "CREATE INDEX ON \(table) (title)"), logger: Logger(label: "test"))
            #expect(try Self.body(try await Self.read(shard, ref, schema, query)) == json(#"[{"id":2,"title":"two"}]"#))
            #expect(try await Self.localStatements(shard) == 1)
        }
    }
}
