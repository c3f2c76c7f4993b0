@testable import CellbaseSQL

/// A realistic project schema for the planner tests.
enum RESTFixture {
    static let todos = Table(
        name: "todos",
        columns: [
            Column(name: "id", type: .bigint, isNullable: false, identity: .byDefault),
            Column(name: "title", type: .text, isNullable: false),
            Column(name: "done", type: .boolean, isNullable: false, defaultValue: .bool(false)),
            Column(name: "created_at", type: .timestamptz, isNullable: false, defaultValue: .now),
            Column(name: "data", type: .jsonb),
            Column(name: "tags", type: .array(.text)),
            Column(name: "owner", type: .uuid),
            Column(name: "price", type: .numeric(precision: 10, scale: 2)),
            Column(name: "file", type: .bytea),
        ],
        primaryKey: ["id"],
        uniqueConstraints: [["owner", "title"]]
    )

    static let events = Table(
        name: "events",
        columns: [
            Column(name: "id", type: .integer, isNullable: false, identity: .always),
            Column(name: "slug", type: .varchar(length: 40), isNullable: false),
            Column(name: "payload", type: .json),
        ],
        primaryKey: ["id"]
    )

    static let notes = Table(name: "notes", columns: [Column(name: "body", type: .text)])

    static let schema = Schema(
        tables: [todos, events, notes],
        indexes: [Index(name: "events_slug_key", table: "events", columns: ["slug"], isUnique: true)]
    )

    static let postgres = SQLNamespace.postgres(schema: "p_1")

    static func plan(
        _ method: RESTMethod, _ query: [(String, String)] = [], table: String = "todos",
        prefer: String? = nil, accept: String? = nil, body: String? = nil,
        dialect: SQLDialect, maxRows: Int = 1000
    ) throws(RESTError) -> RESTPlan {
        let planner = RESTPlanner(schema: schema, namespace: dialect == .postgres ? postgres : .sqlite, limits: RESTLimits(maxRows: maxRows))
        let request = RESTRequest(
            method: method, table: table, query: query.map { (name: $0.0, value: $0.1) },
            prefer: prefer, accept: accept, body: body.map { Array($0.utf8) }
        )
        return try planner.plan(request)
    }

    /// The PostgreSQL read statement around a page's pieces.
    static func postgresRead(_ projection: String, _ rest: String, total: String = "NULL") -> String {
        "SELECT coalesce(json_agg(_r), '[]')::text, count(*), \(total) FROM (SELECT \(projection) FROM \"p_1\".\"todos\"\(rest)) _r"
    }

    static func sqliteRead(_ pairs: String, _ rest: String, total: String = "NULL") -> String {
        "SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), \(total) FROM (SELECT json_object(\(pairs)) AS j FROM \"todos\"\(rest)) _r"
    }
}
