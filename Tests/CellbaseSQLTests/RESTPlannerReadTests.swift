import Testing
@testable import CellbaseSQL

@Suite struct RESTPlannerReadTests {
    typealias F = RESTFixture

    @Test func selectAllRendersEveryTypeOnBothDialects() throws {
        let postgres = try F.plan(.get, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "id", "title" AS "title", "done" AS "done", "created_at" AS "created_at", "data" AS "data", "tags" AS "tags", "owner" AS "owner", "price" AS "price", "file" AS "file" FROM "p_1"."todos" ORDER BY "id" ASC NULLS LAST LIMIT $1::int8) _r"#,
            binds: [.integer(1000)]
        )])
        #expect(postgres.form == .aggregated)
        #expect(!postgres.isWrite)

        let sqlite = try F.plan(.get, dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(
            #"SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), NULL FROM (SELECT json_object('id', "id", 'title', "title", 'done', CASE WHEN "done" IS NULL THEN NULL WHEN "done" THEN json('true') ELSE json('false') END, 'created_at', "created_at", 'data', json("data"), 'tags', json("tags"), 'owner', "owner", 'price', "price", 'file', CASE WHEN "file" IS NULL THEN NULL ELSE '\x' || lower(hex("file")) END) AS j FROM "todos" ORDER BY "id" ASC NULLS LAST LIMIT ?1) _r"#,
            binds: [.integer(1000)]
        )])
        #expect(sqlite.form == .aggregated)
    }

    @Test func tableWithoutPrimaryKeyHasNoDefaultOrder() throws {
        let plan = try F.plan(.get, table: "notes", dialect: .sqlite)
        #expect(plan.statements.map(\.sql) == [
            #"SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), NULL FROM (SELECT json_object('body', "body") AS j FROM "notes" LIMIT ?1) _r"#,
        ])
    }

    @Test func aliasesCastsAndJSONPaths() throws {
        let query = [("select", "id::text,v:data->a->>b,data->c,n:price::float,flag:done::text")]
        let postgres = try F.plan(.get, query, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            F.postgresRead(
                #"("id")::text AS "id", "data"->$1::text->>$2::text AS "v", "data"->$3::text AS "c", ("price")::float AS "n", ("done")::text AS "flag""#,
                #" ORDER BY "id" ASC NULLS LAST LIMIT $4::int8"#
            ),
            binds: [.text("a"), .text("b"), .text("c"), .integer(1000)]
        )])
        let sqlite = try F.plan(.get, query, dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(
            F.sqliteRead(
                #"'id', CAST("id" AS TEXT), 'v', CASE json_type("data", ?1) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?1) AS TEXT) END, 'c', json(("data" -> ?2)), 'n', CAST("price" AS REAL), 'flag', CASE WHEN "done" IS NULL THEN NULL WHEN "done" THEN 'true' ELSE 'false' END"#,
                #" ORDER BY "id" ASC NULLS LAST LIMIT ?3"#
            ),
            binds: [.text(#"$."a"."b""#), .text(#"$."c""#), .integer(1000)]
        )])
    }

    @Test func textCastsMatchPostgresTextOutput() throws {
        let query = [("select", "c:created_at::text,f:file::text,d:data::json,b:data->>b::bool")]
        let sqlite = try F.plan(.get, query, dialect: .sqlite)
        #expect(sqlite.statements[0].sql.hasPrefix(
            #"SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), NULL FROM (SELECT json_object('c', replace(substr("created_at", 1, length("created_at") - 3), 'T', ' '), 'f', CASE WHEN "file" IS NULL THEN NULL ELSE '\x' || lower(hex("file")) END, 'd', json("data"), 'b', CASE WHEN CASE json_type("data", ?1) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?1) AS TEXT) END IS NULL THEN NULL WHEN lower(CASE json_type("data", ?1) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?1) AS TEXT) END) IN ('true', 't', 'yes', 'y', 'on', '1') THEN json('true') ELSE json('false') END) AS j"#
        ))
        let postgres = try F.plan(.get, query, dialect: .postgres)
        #expect(postgres.statements[0].sql.hasPrefix(
            #"SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT ("created_at")::text AS "c", ("file")::text AS "f", ("data")::json AS "d", ("data"->>$1::text)::bool AS "b" FROM"#
        ))
    }

    @Test func arrayIndexesInPaths() throws {
        let postgres = try F.plan(.get, [("select", "id"), ("data->items->0->>name", "eq.x")], dialect: .postgres)
        #expect(postgres.statements[0].sql.contains(#"WHERE "data"->$1::text->$2::int8::int4->>$3::text = $4::text ORDER"#))
        #expect(postgres.statements[0].binds == [.text("items"), .integer(0), .text("name"), .text("x"), .integer(1000)])
        let sqlite = try F.plan(.get, [("select", "id"), ("data->items->-1->>name", "eq.x")], dialect: .sqlite)
        #expect(sqlite.statements[0].binds == [.text(#"$."items"[#-1]."name""#), .text("x"), .integer(1000)])
    }

    /// (query, PostgreSQL WHERE, its binds, SQLite WHERE, its binds). The page limit follows the binds.
    static let filterCases: [([(String, String)], String, [SQLValue], String, [SQLValue])] = [
        ([("id", "eq.5")], #""id" = $1::int8"#, [.integer(5)], #""id" = ?1"#, [.integer(5)]),
        ([("id", "neq.5")], #""id" <> $1::int8"#, [.integer(5)], #""id" <> ?1"#, [.integer(5)]),
        ([("id", "gt.1"), ("id", "lte.9")], #""id" > $1::int8 AND "id" <= $2::int8"#, [.integer(1), .integer(9)], #""id" > ?1 AND "id" <= ?2"#, [.integer(1), .integer(9)]),
        ([("id", "not.lt.3")], #"NOT ("id" < $1::int8)"#, [.integer(3)], #"NOT ("id" < ?1)"#, [.integer(3)]),
        ([("id", "gte.3")], #""id" >= $1::int8"#, [.integer(3)], #""id" >= ?1"#, [.integer(3)]),
        ([("done", "eq.true")], #""done" = $1::bool"#, [.bool(true)], #""done" = ?1"#, [.integer(1)]),
        ([("done", "is.true")], #""done" IS TRUE"#, [], #""done" IS TRUE"#, []),
        ([("done", "is.FALSE")], #""done" IS FALSE"#, [], #""done" IS FALSE"#, []),
        ([("owner", "is.null")], #""owner" IS NULL"#, [], #""owner" IS NULL"#, []),
        ([("owner", "not.is.null")], #"NOT ("owner" IS NULL)"#, [], #"NOT ("owner" IS NULL)"#, []),
        ([("owner", "is.not_null")], #""owner" IS NOT NULL"#, [], #""owner" IS NOT NULL"#, []),
        ([("title", "eq.a,b(c)")], #""title" = $1::text"#, [.text("a,b(c)")], #""title" = ?1"#, [.text("a,b(c)")]),
        ([("title", "like.*a_b*")], #""title" LIKE $1::text"#, [.text("%a_b%")], #""title" GLOB ?1"#, [.text("*a?b*")]),
        ([("title", #"like.[x]\%*"#)], #""title" LIKE $1::text"#, [.text(#"[x]\%%"#)], #""title" GLOB ?1"#, [.text("[[]x]%*")]),
        ([("title", "ilike.*A*")], #""title" ILIKE $1::text"#, [.text("%A%")], #""title" LIKE ?1 ESCAPE '\'"#, [.text("%A%")]),
        ([("id", "like.1*")], #""id"::text LIKE $1::text"#, [.text("1%")], #""id" GLOB ?1"#, [.text("1*")]),
        ([("id", "in.(1,2,null)")], #""id" IN ($1::int8, $2::int8, $3::int8)"#, [.integer(1), .integer(2), .null], #""id" IN (?1, ?2, ?3)"#, [.integer(1), .integer(2), .null]),
        ([("title", #"in.("a,b",c)"#)], #""title" IN ($1::text, $2::text)"#, [.text("a,b"), .text("c")], #""title" IN (?1, ?2)"#, [.text("a,b"), .text("c")]),
        ([("id", "not.in.()")], "NOT (1 = 0)", [], "NOT (1 = 0)", []),
        ([("created_at", "gte.2024-01-01T10:00:00+02:00")], #""created_at" >= $1::text::timestamptz"#, [.text("2024-01-01T08:00:00+00:00")], #""created_at" >= ?1"#, [.text("2024-01-01T08:00:00+00:00")]),
        ([("owner", "eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")], #""owner" = $1::text::uuid"#, [.text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")], #""owner" = ?1"#, [.text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]),
        (
            [("data->>k", "eq.x")],
            #""data"->>$1::text = $2::text"#, [.text("k"), .text("x")],
            #"CASE json_type("data", ?1) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?1) AS TEXT) END = ?2"#, [.text(#"$."k""#), .text("x")]
        ),
        (
            [("data->a->b", "eq.1")],
            #""data"->$1::text->>$2::text = $3::text"#, [.text("a"), .text("b"), .text("1")],
            #"CASE json_type("data", ?1) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?1) AS TEXT) END = ?2"#, [.text(#"$."a"."b""#), .text("1")]
        ),
        (
            [("tags", #"cs.{a,"b c"}"#)],
            #""tags" @> $1::text::text[]"#, [.text(#"{"a","b c"}"#)],
            #"CASE WHEN "tags" IS NULL THEN NULL ELSE (json_type("tags") = 'array' AND NOT EXISTS (SELECT 1 FROM json_each(?1) AS f WHERE NOT EXISTS (SELECT 1 FROM json_each("tags") AS e WHERE e.atom IS f.atom AND (e.type = f.type OR (e.type IN ('integer', 'real') AND f.type IN ('integer', 'real')))))) END"#,
            [.text(#"["a","b c"]"#)]
        ),
        (
            [("tags", "cd.{a,b}")],
            #""tags" <@ $1::text::text[]"#, [.text(#"{"a","b"}"#)],
            #"CASE WHEN "tags" IS NULL THEN NULL ELSE (json_type("tags") = 'array' AND NOT EXISTS (SELECT 1 FROM json_each("tags") AS e WHERE NOT EXISTS (SELECT 1 FROM json_each(?1) AS f WHERE e.atom IS f.atom AND (e.type = f.type OR (e.type IN ('integer', 'real') AND f.type IN ('integer', 'real')))))) END"#,
            [.text(#"["a","b"]"#)]
        ),
        (
            [("tags", "ov.{x}")],
            #""tags" && $1::text::text[]"#, [.text(#"{"x"}"#)],
            #"CASE WHEN "tags" IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM json_each("tags") AS e, json_each(?1) AS f WHERE e.atom IS f.atom AND (e.type = f.type OR (e.type IN ('integer', 'real') AND f.type IN ('integer', 'real')))) END"#,
            [.text(#"["x"]"#)]
        ),
        (
            [("data", #"cs.{"a": 1, "b": true}"#)],
            #""data" @> $1::text::jsonb"#, [.text(#"{"a":1,"b":true}"#)],
            #"CASE WHEN "data" IS NULL THEN NULL ELSE (json_type("data") = 'object' AND NOT EXISTS (SELECT 1 FROM json_each(?1) AS f WHERE NOT EXISTS (SELECT 1 FROM json_each("data") AS e WHERE e.key = f.key AND e.atom IS f.atom AND (e.type = f.type OR (e.type IN ('integer', 'real') AND f.type IN ('integer', 'real')))))) END"#,
            [.text(#"{"a":1,"b":true}"#)]
        ),
        (
            [("data", #"cd.["x"]"#)],
            #""data" <@ $1::text::jsonb"#, [.text(#"["x"]"#)],
            #"CASE WHEN "data" IS NULL THEN NULL ELSE (json_type("data") = 'array' AND NOT EXISTS (SELECT 1 FROM json_each("data") AS e WHERE NOT EXISTS (SELECT 1 FROM json_each(?1) AS f WHERE e.atom IS f.atom AND (e.type = f.type OR (e.type IN ('integer', 'real') AND f.type IN ('integer', 'real')))))) END"#,
            [.text(#"["x"]"#)]
        ),
        (
            [("or", "(id.eq.1,and(done.is.true,title.neq.x))")],
            #"("id" = $1::int8 OR ("done" IS TRUE AND "title" <> $2::text))"#, [.integer(1), .text("x")],
            #"("id" = ?1 OR ("done" IS TRUE AND "title" <> ?2))"#, [.integer(1), .text("x")]
        ),
        (
            [("not.or", "(id.eq.1,id.not.eq.2)"), ("title", "eq.t")],
            #"NOT ("id" = $1::int8 OR NOT ("id" = $2::int8)) AND "title" = $3::text"#, [.integer(1), .integer(2), .text("t")],
            #"NOT ("id" = ?1 OR NOT ("id" = ?2)) AND "title" = ?3"#, [.integer(1), .integer(2), .text("t")]
        ),
        (
            [("title", "eq.1; DROP TABLE todos; --")],
            #""title" = $1::text"#, [.text("1; DROP TABLE todos; --")],
            #""title" = ?1"#, [.text("1; DROP TABLE todos; --")]
        ),
        (
            [("title", #"eq.' OR '1'='1 /* "x" */"#)],
            #""title" = $1::text"#, [.text(#"' OR '1'='1 /* "x" */"#)],
            #""title" = ?1"#, [.text(#"' OR '1'='1 /* "x" */"#)]
        ),
    ]

    @Test(arguments: filterCases)
    func filtersOnBothDialects(query: [(String, String)], postgres: String, postgresBinds: [SQLValue], sqlite: String, sqliteBinds: [SQLValue]) throws {
        let pgPlan = try F.plan(.get, [("select", "id")] + query, dialect: .postgres)
        #expect(pgPlan.statements == [SQLStatement(
            F.postgresRead(#""id" AS "id""#, " WHERE \(postgres) ORDER BY \"id\" ASC NULLS LAST LIMIT $\(postgresBinds.count + 1)::int8"),
            binds: postgresBinds + [.integer(1000)]
        )])
        let litePlan = try F.plan(.get, [("select", "id")] + query, dialect: .sqlite)
        #expect(litePlan.statements == [SQLStatement(
            F.sqliteRead(#"'id', "id""#, " WHERE \(sqlite) ORDER BY \"id\" ASC NULLS LAST LIMIT ?\(sqliteBinds.count + 1)"),
            binds: sqliteBinds + [.integer(1000)]
        )])
    }

    @Test func aliasesAreQuotedAsIdentifiersAndKeys() throws {
        let query = [("select", #"it's:id,"a\"b":title"#)]
        let postgres = try F.plan(.get, query, dialect: .postgres)
        #expect(postgres.statements[0].sql.hasPrefix(#"SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "it's", "title" AS "a""b" FROM"#))
        let sqlite = try F.plan(.get, query, dialect: .sqlite)
        #expect(sqlite.statements[0].sql.hasPrefix(#"SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), NULL FROM (SELECT json_object('it''s', "id", 'a"b', "title") AS j FROM"#))
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "select keys may not contain NUL characters")) {
            try F.plan(.get, [("select", "a\u{0}:id")], dialect: .sqlite)
        }
    }

    @Test func orderLimitOffsetAndExactCount() throws {
        let query = [("select", "id"), ("id", "gt.1"), ("order", "title.desc,data->>k.asc.nullsfirst,id"), ("limit", "10"), ("offset", "20")]
        let postgres = try F.plan(.get, query, prefer: "count=exact", dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"SELECT coalesce(json_agg(_r), '[]')::text, count(*), (SELECT count(*) FROM "p_1"."todos" WHERE "id" > $1::int8) FROM (SELECT "id" AS "id" FROM "p_1"."todos" WHERE "id" > $1::int8 ORDER BY "title" DESC NULLS FIRST, "data"->>$2::text ASC NULLS FIRST, "id" ASC NULLS LAST LIMIT $3::int8 OFFSET $4::int8) _r"#,
            binds: [.integer(1), .text("k"), .integer(10), .integer(20)]
        )])
        let sqlite = try F.plan(.get, query, prefer: "count=planned", dialect: .sqlite)
        #expect(sqlite.statements == [SQLStatement(
            #"SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), (SELECT count(*) FROM "todos" WHERE "id" > ?1) FROM (SELECT json_object('id', "id") AS j FROM "todos" WHERE "id" > ?1 ORDER BY "title" DESC NULLS FIRST, CASE json_type("data", ?2) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract("data", ?2) AS TEXT) END ASC NULLS FIRST, "id" ASC NULLS LAST LIMIT ?3 OFFSET ?4) _r"#,
            binds: [.integer(1), .text(#"$."k""#), .integer(10), .integer(20)]
        )])
    }

    @Test func orderByJSONValueKeepsJSON() throws {
        let sqlite = try F.plan(.get, [("select", "id"), ("order", "data->k.desc")], dialect: .sqlite)
        #expect(sqlite.statements[0].sql.contains(#"ORDER BY ("data" -> ?1) DESC NULLS FIRST LIMIT ?2"#))
        let postgres = try F.plan(.get, [("select", "id"), ("order", "data->k.desc")], dialect: .postgres)
        #expect(postgres.statements[0].sql.contains(#"ORDER BY "data"->$1::text DESC NULLS FIRST LIMIT $2::int8"#))
    }

    @Test(arguments: [("5000", 1000), ("10", 10), ("0", 0)])
    func limitNeverExceedsMaxRows(limit: String, bound: Int64) throws {
        let plan = try F.plan(.get, [("select", "id"), ("limit", limit)], dialect: .sqlite)
        #expect(plan.statements[0].binds == [.integer(bound)])
    }

    @Test func headPlansLikeGet() throws {
        let head = try F.plan(.head, [("select", "id")], dialect: .postgres)
        let get = try F.plan(.get, [("select", "id")], dialect: .postgres)
        #expect(head.statements == get.statements)
    }

    /// (method, table, query, expected error): identical on both dialects.
    static let errorCases: [(String, [(String, String)], RESTError)] = [
        ("nope", [], RESTError(status: 404, code: "PGRST205", message: "Could not find the table 'public.nope' in the schema cache")),
        ("todos;drop table todos", [], RESTError(status: 404, code: "PGRST205", message: "Could not find the table 'public.todos;drop table todos' in the schema cache")),
        ("todos", [("foo", "eq.1")], RESTError(status: 400, code: "42703", message: "column todos.foo does not exist")),
        ("todos", [("select", "id,foo")], RESTError(status: 400, code: "42703", message: "column todos.foo does not exist")),
        ("todos", [("order", "foo.desc")], RESTError(status: 400, code: "42703", message: "column todos.foo does not exist")),
        ("todos", [("select", "id;drop table todos")], RESTError(status: 400, code: "42703", message: "column todos.id;drop table todos does not exist")),
        ("todos", [("id;drop table todos--", "eq.1")], RESTError(status: 400, code: "42703", message: "column todos.id;drop table todos-- does not exist")),
        ("todos", [("order", "id;drop table todos")], RESTError(status: 400, code: "42703", message: "column todos.id;drop table todos does not exist")),
        ("todos", [("select", "\"id\"\"\"")], RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (\"id\"\"\")\" (line 1, column 5)", details: "unexpected \"\"\" expecting \",\"")),
        ("todos", [("select", "\"a\\\"b\"")], RESTError(status: 400, code: "42703", message: "column todos.a\"b does not exist")),
        ("todos", [("select", "/*x*/id")], RESTError(status: 400, code: "42703", message: "column todos./*x*/id does not exist")),
        ("todos", [("select", "id\u{0}")], RESTError(status: 400, code: "42703", message: "column todos.id\u{0} does not exist")),
        ("todos", [("limit", "")], RESTError(status: 400, code: "PGRST100", message: "\"failed to parse limit parameter ()\" (line 1, column 1)", details: "expecting a non-negative integer")),
        ("todos", [("offset", "-1")], RESTError(status: 400, code: "PGRST100", message: "\"failed to parse offset parameter (-1)\" (line 1, column 1)", details: "expecting a non-negative integer")),
        ("todos", [("id", "eq.abc")], RESTError(status: 400, code: "22P02", message: "invalid input syntax for type bigint: \"abc\"")),
        ("todos", [("id", "in.(1,x)")], RESTError(status: 400, code: "22P02", message: "invalid input syntax for type bigint: \"x\"")),
        ("todos", [("done", "eq.maybe")], RESTError(status: 400, code: "22P02", message: "invalid input syntax for type boolean: \"maybe\"")),
        ("todos", [("title", "eq.a\u{0}b")], RESTError(status: 400, code: "22021", message: "invalid byte sequence for encoding \"UTF8\": 0x00")),
        ("todos", [("title", "is.true")], RESTError(status: 400, code: "42804", message: "argument of IS TRUE must be type boolean, not type text")),
        ("todos", [("title", "cs.{a}")], RESTError(status: 400, code: "42883", message: "operator does not exist: text @> unknown", hint: "cs and cd apply to array and json/jsonb columns, ov to array columns.")),
        ("todos", [("data", "ov.[1]")], RESTError(status: 400, code: "42883", message: "operator does not exist: jsonb && unknown", hint: "cs and cd apply to array and json/jsonb columns, ov to array columns.")),
        ("todos", [("title->>a", "eq.1")], RESTError(status: 400, code: "42883", message: "operator does not exist: text ->> unknown", hint: "JSON paths apply to json and jsonb columns only.")),
        ("todos", [("title", "fts.cat")], RESTError(status: 400, code: "PGRST100", message: "operator \"fts\" is not supported", details: "Supported operators: eq, neq, gt, gte, lt, lte, like, ilike, is, in, cs, cd, ov, each optionally preceded by not.", hint: "Full-text search, regular expressions, range operators and like(any)/like(all) are not supported yet.")),
        ("todos", [("or", "(id.eq.1")], RESTError(status: 400, code: "PGRST100", message: "\"failed to parse logic tree ((id.eq.1)\" (line 1, column 9)", details: "unexpected end of input expecting \",\" or \")\"")),
        ("todos", [("or", "(nope.eq.1)")], RESTError(status: 400, code: "42703", message: "column todos.nope does not exist")),
        ("todos", [("select", "id,users(name)")], RESTError(
            status: 400, code: "PGRST200",
            message: "Could not find a relationship between 'todos' and 'users' in the schema cache",
            details: "Searched for a foreign key relationship between 'todos' and 'users' in the schema 'public', but no matches were found.",
            hint: "Embedding related resources is not supported yet; query 'users' in a separate request."
        )),
        ("todos", [("limit", "1"), ("t.limit", "eq.1")], RESTError(status: 400, code: "42703", message: "column todos.t.limit does not exist")),
        ("todos", [("t.limit", "1")], RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (1)\" (line 1, column 1)", details: "unexpected \"1\" expecting \"not\" or operator (eq, gt, ...)")),
    ]

    @Test(arguments: errorCases)
    func errorsOnBothDialects(table: String, query: [(String, String)], expected: RESTError) {
        for dialect in [SQLDialect.postgres, .sqlite] {
            #expect(throws: expected) { try F.plan(.get, query, table: table, dialect: dialect) }
        }
    }

    @Test func hugeValuesAreBoundNotSpliced() throws {
        let huge = String(repeating: "x'\"", count: 35_000)
        for dialect in [SQLDialect.postgres, .sqlite] {
            let plan = try F.plan(.get, [("select", "id"), ("title", "eq.\(huge)")], dialect: dialect)
            #expect(plan.statements[0].binds.first == .text(huge))
            #expect(plan.statements[0].sql.count < 300)
        }
    }

    @Test func containmentOnSQLiteRefusesNestedValues() {
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "nested objects and arrays in cs/cd/ov filters are not supported on this database", hint: "Filter on scalar values, or on a JSON path with eq.")) {
            try F.plan(.get, [("data", #"cs.{"a": {"b": 1}}"#)], dialect: .sqlite)
        }
    }

    @Test func acceptAndPreferAreCheckedWhilePlanning() {
        #expect(throws: RESTError(status: 406, code: "PGRST107", message: "None of these media types are available: text/xml")) {
            try F.plan(.get, accept: "text/xml", dialect: .sqlite)
        }
        #expect(throws: RESTError(status: 400, code: "PGRST122", message: "Invalid preferences given with handling=strict", details: "Invalid preferences: foo, count=lots")) {
            try F.plan(.get, prefer: "handling=strict, foo, count=lots", dialect: .sqlite)
        }
    }
}
