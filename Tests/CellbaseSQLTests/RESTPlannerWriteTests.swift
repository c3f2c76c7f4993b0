import Testing
@testable import CellbaseSQL

@Suite struct RESTPlannerWriteTests {
    typealias F = RESTFixture

    @Test func insertOneObjectWithRepresentation() throws {
        let body = #"{"title":"a","done":true,"tags":["x","y"],"data":{"k":1}}"#
        let postgres = try F.plan(.post, [("select", "id,title")], prefer: "return=representation", body: body, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"WITH _m AS (INSERT INTO "p_1"."todos" ("title", "done", "tags", "data") VALUES ($1::text, $2::bool, $3::text::text[], $4::text::jsonb) RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "id", "title" AS "title" FROM _m) _r"#,
            binds: [.text("a"), .bool(true), .text(#"{"x","y"}"#), .text(#"{"k":1}"#)]
        )])
        #expect(postgres.form == .aggregated)
        #expect(postgres.isWrite)

        let sqlite = try F.plan(.post, [("select", "id,title")], prefer: "return=representation", body: body, dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(
            #"INSERT INTO "todos" ("title", "done", "tags", "data") VALUES (?1, ?2, ?3, ?4) RETURNING json_object('id', "id", 'title', "title")"#,
            binds: [.text("a"), .integer(1), .text(#"["x","y"]"#), .text(#"{"k":1}"#)]
        )])
        #expect(sqlite.form == .objectPerRow)
        #expect(sqlite.isWrite)
    }

    @Test func insertWithoutPreferIsMinimal() throws {
        let postgres = try F.plan(.post, body: #"{"title":"a"}"#, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(#"INSERT INTO "p_1"."todos" ("title") VALUES ($1::text)"#, binds: [.text("a")])])
        #expect(postgres.form == .changes)
        let sqlite = try F.plan(.post, body: #"{"title":"a"}"#, dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(#"INSERT INTO "todos" ("title") VALUES (?1)"#, binds: [.text("a")])])
        #expect(sqlite.form == .changes)
    }

    @Test func repeatedKeysKeepTheLastValue() throws {
        let plan = try F.plan(.post, body: #"{"title":"a","done":false,"title":"b"}"#, dialect: .sqlite)
        #expect(plan.statements == [SQLStatement(#"INSERT INTO "todos" ("title", "done") VALUES (?1, ?2)"#, binds: [.text("b"), .integer(0)])])
    }

    @Test func bulkInsertWithColumnsFillsNull() throws {
        let body = #"[{"title":"a"},{"title":"b","done":true,"ignored":1}]"#
        let query = [("columns", #""title","done""#)]
        let postgres = try F.plan(.post, query, body: body, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"INSERT INTO "p_1"."todos" ("title", "done") VALUES ($1::text, $2::bool), ($3::text, $4::bool)"#,
            binds: [.text("a"), .null, .text("b"), .bool(true)]
        )])
        let sqlite = try F.plan(.post, query, body: body, dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(
            #"INSERT INTO "todos" ("title", "done") VALUES (?1, ?2), (?3, ?4)"#,
            binds: [.text("a"), .null, .text("b"), .integer(1)]
        )])
    }

    @Test func missingDefaultUsesDefaultOnPostgresAndGroupsOnSQLite() throws {
        let body = #"[{"title":"a"},{"title":"b"},{"title":"c","done":true},{"title":"d"}]"#
        let query = [("columns", #""title","done""#), ("select", "id")]
        let prefer = "return=representation,missing=default"
        let postgres = try F.plan(.post, query, prefer: prefer, body: body, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"WITH _m AS (INSERT INTO "p_1"."todos" ("title", "done") VALUES ($1::text, DEFAULT), ($2::text, DEFAULT), ($3::text, $4::bool), ($5::text, DEFAULT) RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "id" FROM _m) _r"#,
            binds: [.text("a"), .text("b"), .text("c"), .bool(true), .text("d")]
        )])
        let sqlite = try F.plan(.post, query, prefer: prefer, body: body, dialect: .sqlite)
        #expect(sqlite.statements == [
            SQLStatement(#"INSERT INTO "todos" ("title") VALUES (?1), (?2) RETURNING json_object('id', "id")"#, binds: [.text("a"), .text("b")]),
            SQLStatement(#"INSERT INTO "todos" ("title", "done") VALUES (?1, ?2) RETURNING json_object('id', "id")"#, binds: [.text("c"), .integer(1)]),
            SQLStatement(#"INSERT INTO "todos" ("title") VALUES (?1) RETURNING json_object('id', "id")"#, binds: [.text("d")]),
        ])
    }

    @Test func emptyObjectsTakeEveryDefault() throws {
        let postgres = try F.plan(.post, prefer: "return=representation", body: "[{},{}]", dialect: .postgres)
        #expect(postgres.statements.map(\.sql) == [
            #"WITH _m AS (INSERT INTO "p_1"."todos" ("id") VALUES (DEFAULT), (DEFAULT) RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "id", "title" AS "title", "done" AS "done", "created_at" AS "created_at", "data" AS "data", "tags" AS "tags", "owner" AS "owner", "price" AS "price", "file" AS "file" FROM _m) _r"#,
        ])
        let sqlite = try F.plan(.post, [("select", "id")], prefer: "return=representation", body: "[{},{}]", dialect: .sqlite)
        #expect(sqlite.statements == Array(repeating: SQLStatement(#"INSERT INTO "todos" DEFAULT VALUES RETURNING json_object('id', "id")"#), count: 2))
    }

    @Test func emptyArrayTouchesNothing() throws {
        for dialect in [SQLDialect.postgres, .sqlite] {
            let plan = try F.plan(.post, prefer: "return=representation", body: "[]", dialect: dialect)
            #expect(plan.statements.isEmpty)
            let response = try plan.respond(RESTResult(json: "[]", rowCount: 0, total: nil))
            #expect(response.status == 201)
            #expect(response.body == "[]")
        }
    }

    @Test func sqliteChunksUnderTheBindLimit() throws {
        let body = "[" + Array(repeating: #"{"title":"t","done":false}"#, count: 15_001).joined(separator: ",") + "]"
        let plan = try F.plan(.post, body: body, dialect: .sqlite)
        #expect(plan.statements.map(\.binds.count) == [29_998, 4])
        #expect(plan.statements[1].sql == #"INSERT INTO "todos" ("title", "done") VALUES (?1, ?2), (?3, ?4)"#)
        #expect(plan.statements[0].sql.hasSuffix("(?29997, ?29998)"))

        let withPaths = try F.plan(.post, [("select", "a:data->a,b:data->>b")], prefer: "return=representation", body: body, dialect: .sqlite)
        #expect(withPaths.statements.map(\.binds.count) == [29_998, 8])
        #expect(withPaths.statements[1].sql.hasSuffix(#"VALUES (?1, ?2), (?3, ?4), (?5, ?6) RETURNING json_object('a', json(("data" -> ?7)), 'b', CASE json_type("data", ?8) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?8) AS TEXT) END)"#))
    }

    @Test func postgresRefusesMoreParametersThanTheProtocolCarries() {
        let body = "[" + Array(repeating: #"{"title":"t","done":false}"#, count: 32_768).joined(separator: ",") + "]"
        #expect(throws: RESTError(status: 413, code: "54000", message: "too many values in one request", details: "65536 values given; at most 65535 fit in one statement", hint: "Insert the rows in smaller batches.")) {
            try F.plan(.post, body: body, dialect: .postgres)
        }
    }

    static let upsertCases: [(String, [(String, String)], String, String)] = [
        (
            "resolution=merge-duplicates", [],
            #"INSERT INTO "p_1"."todos" ("id", "title") VALUES ($1::int8, $2::text) ON CONFLICT ("id") DO UPDATE SET "title" = excluded."title""#,
            #"INSERT INTO "todos" ("id", "title") VALUES (?1, ?2) ON CONFLICT ("id") DO UPDATE SET "title" = excluded."title""#
        ),
        (
            "resolution=ignore-duplicates", [("on_conflict", "id")],
            #"INSERT INTO "p_1"."todos" ("id", "title") VALUES ($1::int8, $2::text) ON CONFLICT ("id") DO NOTHING"#,
            #"INSERT INTO "todos" ("id", "title") VALUES (?1, ?2) ON CONFLICT ("id") DO NOTHING"#
        ),
        (
            "resolution=merge-duplicates", [("on_conflict", "title,owner")],
            #"INSERT INTO "p_1"."todos" ("id", "title") VALUES ($1::int8, $2::text) ON CONFLICT ("title", "owner") DO UPDATE SET "id" = excluded."id""#,
            #"INSERT INTO "todos" ("id", "title") VALUES (?1, ?2) ON CONFLICT ("title", "owner") DO UPDATE SET "id" = excluded."id""#
        ),
        (
            "", [("on_conflict", "id")],
            #"INSERT INTO "p_1"."todos" ("id", "title") VALUES ($1::int8, $2::text)"#,
            #"INSERT INTO "todos" ("id", "title") VALUES (?1, ?2)"#
        ),
    ]

    @Test(arguments: upsertCases)
    func upserts(prefer: String, query: [(String, String)], postgres: String, sqlite: String) throws {
        let body = #"{"id":1,"title":"x"}"#
        #expect(try F.plan(.post, query, prefer: prefer, body: body, dialect: .postgres).statements == [SQLStatement(postgres, binds: [.integer(1), .text("x")])])
        #expect(try F.plan(.post, query, prefer: prefer, body: body, dialect: .sqlite).statements == [SQLStatement(sqlite, binds: [.integer(1), .text("x")])])
    }

    @Test func upsertOnUniqueIndexWithOnlyTargetColumnsDoesNothing() throws {
        let plan = try F.plan(.post, [("on_conflict", "slug")], table: "events", prefer: "resolution=merge-duplicates", body: #"{"slug":"a"}"#, dialect: .sqlite)
        #expect(plan.statements == [SQLStatement(#"INSERT INTO "events" ("slug") VALUES (?1) ON CONFLICT ("slug") DO NOTHING"#, binds: [.text("a")])])
    }

    /// (table, query, prefer, body, error) for POST, the same on both dialects.
    static let insertErrors: [(String, [(String, String)], String?, String?, RESTError)] = [
        ("todos", [], nil, nil, RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json")),
        ("todos", [], nil, "42", RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json")),
        ("todos", [], nil, #"[{"title":"a"},3]"#, RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json")),
        ("todos", [], nil, #"[{"title":"a"},{"title":"b","done":true}]"#, RESTError(status: 400, code: "PGRST102", message: "All object keys must match")),
        ("todos", [], nil, #"{"title":"a","foo":1}"#, RESTError(status: 400, code: "PGRST204", message: "Could not find the 'foo' column of 'todos' in the schema cache")),
        ("todos", [], nil, #"{"title;drop table todos":1}"#, RESTError(status: 400, code: "PGRST204", message: "Could not find the 'title;drop table todos' column of 'todos' in the schema cache")),
        ("todos", [("columns", #""title","nope""#)], nil, #"{"title":"a"}"#, RESTError(status: 400, code: "PGRST204", message: "Could not find the 'nope' column of 'todos' in the schema cache")),
        ("todos", [], nil, #"{"id":"one"}"#, RESTError(status: 400, code: "22P02", message: "invalid input syntax for type bigint: \"one\"")),
        ("todos", [], nil, #"{"done":"maybe"}"#, RESTError(status: 400, code: "22P02", message: "invalid input syntax for type boolean: \"maybe\"")),
        ("events", [], nil, #"{"id":5,"slug":"a"}"#, RESTError(status: 400, code: "428C9", message: "cannot insert a non-DEFAULT value into column \"id\"", details: "Column \"id\" is an identity column defined as GENERATED ALWAYS.", hint: "Use OVERRIDING SYSTEM VALUE to override.")),
        ("todos", [("on_conflict", "title")], "resolution=merge-duplicates", #"{"title":"a"}"#, RESTError(status: 400, code: "42P10", message: "there is no unique or exclusion constraint matching the ON CONFLICT specification")),
        ("todos", [("on_conflict", "nope")], "resolution=merge-duplicates", #"{"title":"a"}"#, RESTError(status: 400, code: "42703", message: "column todos.nope does not exist")),
        ("notes", [], "resolution=ignore-duplicates", #"{"body":"a"}"#, RESTError(status: 400, code: "42P10", message: "there is no unique or exclusion constraint matching the ON CONFLICT specification")),
    ]

    @Test(arguments: insertErrors)
    func insertErrorsOnBothDialects(table: String, query: [(String, String)], prefer: String?, body: String?, expected: RESTError) {
        for dialect in [SQLDialect.postgres, .sqlite] {
            #expect(throws: expected) { try F.plan(.post, query, table: table, prefer: prefer, body: body, dialect: dialect) }
        }
    }

    @Test(arguments: ["{", "nul", #"{"title":"a",}"#, "\u{0}", #"{"a":1} x"#])
    func malformedBodies(body: String) throws {
        let error = try #require(throws: RESTError.self) { try F.plan(.post, body: body, dialect: .sqlite) }
        #expect(error.status == 400)
        #expect(error.code == "PGRST102")
        #expect(error.message == "Empty or invalid json")
    }

    @Test func tooDeepBodiesAreRefused() throws {
        let body = #"{"data":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        let error = try #require(throws: RESTError.self) { try F.plan(.post, body: body, dialect: .postgres) }
        #expect(error.status == 400)
        #expect(error.code == "PGRST102")
    }

    @Test func updateSetsOnlyTheGivenKeys() throws {
        let query = [("id", "eq.1"), ("select", "id")]
        let body = #"{"title":"x","done":false}"#
        let postgres = try F.plan(.patch, query, prefer: "return=representation", body: body, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"WITH _m AS (UPDATE "p_1"."todos" SET "title" = $1::text, "done" = $2::bool WHERE "id" = $3::int8 RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "id" FROM _m) _r"#,
            binds: [.text("x"), .bool(false), .integer(1)]
        )])
        let sqlite = try F.plan(.patch, query, prefer: "return=representation", body: body, dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(
            #"UPDATE "todos" SET "title" = ?1, "done" = ?2 WHERE "id" = ?3 RETURNING json_object('id', "id")"#,
            binds: [.text("x"), .integer(0), .integer(1)]
        )])
        #expect(sqlite.form == .objectPerRow)

        let minimal = try F.plan(.patch, [("data->>k", "eq.v")], body: #"{"data":null}"#, dialect: .postgres)
        #expect(minimal.statements == [SQLStatement(
            #"UPDATE "p_1"."todos" SET "data" = $1::jsonb WHERE "data"->>$2::text = $3::text"#,
            binds: [.null, .text("k"), .text("v")]
        )])
        #expect(minimal.form == .changes)
    }

    @Test func updateWithEmptyObjectTouchesNothing() throws {
        let plan = try F.plan(.patch, [("id", "eq.1")], prefer: "return=representation", body: "{}", dialect: .sqlite)
        #expect(plan.statements.isEmpty)
        #expect(try plan.respond(RESTResult(json: "[]", rowCount: 0, total: nil)).body == "[]")
    }

    @Test func deleteOnBothDialects() throws {
        let postgres = try F.plan(.delete, [("id", "in.(1,2)")], body: "{}", dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(#"DELETE FROM "p_1"."todos" WHERE "id" IN ($1::int8, $2::int8)"#, binds: [.integer(1), .integer(2)])])
        #expect(postgres.form == .changes)
        let sqlite = try F.plan(.delete, [("id", "eq.1"), ("select", "title")], prefer: "return=representation", dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(#"DELETE FROM "todos" WHERE "id" = ?1 RETURNING json_object('title', "title")"#, binds: [.integer(1)])])
        let pgReturning = try F.plan(.delete, [("id", "eq.1"), ("select", "title")], prefer: "return=representation", dialect: .postgres)
        #expect(pgReturning.statements == [SQLStatement(
            #"WITH _m AS (DELETE FROM "p_1"."todos" WHERE "id" = $1::int8 RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "title" AS "title" FROM _m) _r"#,
            binds: [.integer(1)]
        )])
    }

    /// (method, table, query, body, error), the same on both dialects.
    static let writeErrors: [(RESTMethod, String, [(String, String)], String?, RESTError)] = [
        (.patch, "todos", [], #"{"title":"x"}"#, RESTError(status: 400, code: "21000", message: "UPDATE requires a WHERE clause", hint: "Add a filter such as ?id=eq.1 to the request.")),
        (.patch, "todos", [("select", "id")], #"{"title":"x"}"#, RESTError(status: 400, code: "21000", message: "UPDATE requires a WHERE clause", hint: "Add a filter such as ?id=eq.1 to the request.")),
        (.delete, "todos", [], "{}", RESTError(status: 400, code: "21000", message: "DELETE requires a WHERE clause", hint: "Add a filter such as ?id=eq.1 to the request.")),
        (.delete, "todos", [("id", "gt.1"), ("limit", "1")], nil, RESTError(status: 400, code: "PGRST100", message: "limit and offset are not supported on DELETE requests")),
        (.patch, "todos", [("id", "eq.1")], #"[{"title":"x"}]"#, RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json")),
        (.patch, "todos", [("id", "eq.1")], "", RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json")),
        (.patch, "todos", [("id", "eq.1")], #"{"nope":1}"#, RESTError(status: 400, code: "PGRST204", message: "Could not find the 'nope' column of 'todos' in the schema cache")),
        (.patch, "todos", [("id", "eq.1")], #"{"created_at":"yesterday"}"#, RESTError(status: 400, code: "22007", message: "invalid input syntax for type timestamp with time zone: \"yesterday\"")),
        (.patch, "events", [("id", "eq.1")], #"{"id":2}"#, RESTError(status: 400, code: "428C9", message: "column \"id\" can only be updated to DEFAULT", details: "Column \"id\" is an identity column defined as GENERATED ALWAYS.")),
        (.patch, "todos", [("nope", "eq.1")], #"{"title":"x"}"#, RESTError(status: 400, code: "42703", message: "column todos.nope does not exist")),
        (.delete, "nope", [("id", "eq.1")], nil, RESTError(status: 404, code: "PGRST205", message: "Could not find the table 'public.nope' in the schema cache")),
    ]

    @Test(arguments: writeErrors)
    func writeErrorsOnBothDialects(method: RESTMethod, table: String, query: [(String, String)], body: String?, expected: RESTError) {
        for dialect in [SQLDialect.postgres, .sqlite] {
            #expect(throws: expected) { try F.plan(method, query, table: table, body: body, dialect: dialect) }
        }
    }
}
