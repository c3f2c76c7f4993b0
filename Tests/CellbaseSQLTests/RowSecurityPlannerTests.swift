import Testing
@testable import CellbaseSQL

private typealias F = RLSFixture

/// Row-level security in the statements the planner writes, and the 42501 answers.
@Suite struct RowSecurityPlannerTests {
    static let owner = """
        create policy "own docs" on docs for all to authenticated using (owner = auth.uid());
        """

    static let uid = SQLValue.text(F.userID)

    // MARK: reads

    @Test func readsSeeOnlyAdmittedRows() throws {
        let sqlite = try F.plan(.get, [("select", "id"), ("title", "eq.a")], prefer: "count=exact", policies: Self.owner, dialect: .sqlite)
        let filter = #" WHERE "title" = ?1 AND ("docs"."owner" = ?2)"#
        #expect(sqlite.statements == [SQLStatement(
            #"SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), (SELECT count(*) FROM "docs"\#(filter)) FROM (SELECT json_object('id', "id") AS j FROM "docs"\#(filter) ORDER BY "id" ASC NULLS LAST LIMIT ?3) _r"#,
            binds: [.text("a"), Self.uid, .integer(1000)]
        )])

        let postgres = try F.plan(.get, [("select", "id")], policies: Self.owner, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL FROM (SELECT "id" AS "id" FROM "p_1"."docs" WHERE ("docs"."owner" = $1::text::uuid) ORDER BY "id" ASC NULLS LAST LIMIT $2::int8) _r"#,
            binds: [Self.uid, .integer(1000)]
        )])
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func headAndSingleObjectReadsAreFilteredAlike(_ dialect: SQLDialect) throws {
        let get = try F.plan(.get, [("id", "eq.1")], policies: Self.owner, dialect: dialect)
        let head = try F.plan(.head, [("id", "eq.1")], policies: Self.owner, dialect: dialect)
        let single = try F.plan(.get, [("id", "eq.1")], accept: "application/vnd.pgrst.object+json", policies: Self.owner, dialect: dialect)
        #expect(get.statements[0].sql.contains(#"AND ("docs"."owner" = "#))
        #expect(head.statements == get.statements)
        #expect(single.statements == get.statements)
        // A row the policies hide is no row: PostgREST's 406 for a single object.
        #expect(throws: RESTError.self) { try single.respond(RESTResult(json: "[]", rowCount: 0, total: nil)) }
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func noApplicablePolicyReadsNothing(_ dialect: SQLDialect) throws {
        let plan = try F.plan(.get, policies: Self.owner, access: .anon, dialect: dialect)
        #expect(plan.statements[0].sql.contains(dialect == .sqlite ? #"FROM "docs" WHERE (0) ORDER BY"# : #"FROM "p_1"."docs" WHERE (false) ORDER BY"#))
        #expect(plan.statements[0].binds == [.integer(1000)])
    }

    /// The service role and tables without row-level security plan exactly as before.
    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func serviceRoleAndOpenTablesAreNotFiltered(_ dialect: SQLDialect) throws {
        var open = try F.schema(Self.owner)
        open.tables[open.tables.firstIndex { $0.name == "docs" }!].rowLevelSecurity = false
        let requests: [(RESTMethod, [(String, String)], String?, String?)] = [
            (.get, [("id", "eq.1")], "count=exact", nil),
            (.post, [], "return=representation", #"{"title":"t"}"#),
            (.post, [], "resolution=merge-duplicates", #"{"id":1,"title":"t"}"#),
            (.patch, [("id", "eq.1")], nil, #"{"title":"t"}"#),
            (.delete, [("id", "eq.1")], nil, nil),
        ]
        for (method, query, prefer, body) in requests {
            let request = RESTRequest(method: method, table: "docs", query: query.map { (name: $0.0, value: $0.1) }, prefer: prefer, body: body.map { Array($0.utf8) })
            let bypassing = try RESTPlanner(schema: F.schema(Self.owner), namespace: F.namespace(dialect), access: .serviceRole).plan(request)
            let unprotected = try RESTPlanner(schema: open, namespace: F.namespace(dialect), access: F.user).plan(request)
            let baseline = try RESTPlanner(schema: open, namespace: F.namespace(dialect)).plan(request)
            #expect(bypassing.statements == baseline.statements)
            #expect(unprotected.statements == baseline.statements)
            #expect(!bypassing.statements.contains { $0.binds.contains(Self.uid) })
        }
    }

    // MARK: writes

    @Test func insertsCheckEveryRow() throws {
        let sqlite = try F.plan(.post, body: #"[{"title":"a"},{"title":"b"}]"#, policies: Self.owner, dialect: .sqlite)
        #expect(sqlite.form == .objectPerRow)
        #expect(sqlite.statements == [SQLStatement(
            #"INSERT INTO "docs" ("title") VALUES (?1), (?2) RETURNING NULL, CASE WHEN "docs"."owner" = ?3 THEN 1 ELSE 0 END"#,
            binds: [.text("a"), .text("b"), Self.uid]
        )])

        let postgres = try F.plan(.post, body: #"{"title":"a"}"#, policies: Self.owner, dialect: .postgres)
        #expect(postgres.form == .aggregated)
        #expect(postgres.statements == [SQLStatement(
            #"WITH _m AS (INSERT INTO "p_1"."docs" ("title") VALUES ($1::text) RETURNING *) SELECT '[]'::text, count(*), NULL, (SELECT count(*) FROM _m WHERE ("_m"."owner" = $2::text::uuid) IS NOT TRUE) FROM _m"#,
            binds: [.text("a"), Self.uid]
        )])
    }

    /// Returned rows must be visible: the SELECT policies join the check.
    @Test func returnedRowsMustBeReadable() throws {
        let policies = """
            create policy "add own" on docs for insert with check (owner = auth.uid());
            create policy "read published" on docs for select using (published);
            """
        let sqlite = try F.plan(.post, prefer: "return=representation", body: #"{"title":"a"}"#, policies: policies, dialect: .sqlite)
        #expect(sqlite.statements[0].sql.hasSuffix(#" RETURNING json_object('id', "id", 'owner', "owner", 'org_id', "org_id", 'title', "title", 'published', CASE WHEN "published" IS NULL THEN NULL WHEN "published" THEN json('true') ELSE json('false') END, 'meta', json("meta")), CASE WHEN ("docs"."owner" = ?2) AND ("docs"."published") THEN 1 ELSE 0 END"#))

        let minimal = try F.plan(.post, body: #"{"title":"a"}"#, policies: policies, dialect: .sqlite)
        #expect(minimal.statements[0].sql.hasSuffix(#" RETURNING NULL, CASE WHEN "docs"."owner" = ?2 THEN 1 ELSE 0 END"#))
    }

    @Test func updatesFilterExistingRowsAndCheckNewOnes() throws {
        let policies = """
            create policy "read" on docs for select using (published or owner = auth.uid());
            create policy "edit" on docs for update using (owner = auth.uid()) with check (title <> '');
            """
        let sqlite = try F.plan(.patch, [("id", "eq.1")], body: #"{"title":"x"}"#, policies: policies, dialect: .sqlite)
        #expect(sqlite.form == .objectPerRow)
        #expect(sqlite.statements == [SQLStatement(
            #"UPDATE "docs" SET "title" = ?1 WHERE "id" = ?2 AND (("docs"."published" OR ("docs"."owner" = ?3)) AND ("docs"."owner" = ?3)) RETURNING NULL, CASE WHEN ("docs"."title" <> '') AND ("docs"."published" OR ("docs"."owner" = ?3)) THEN 1 ELSE 0 END"#,
            binds: [.text("x"), .integer(1), Self.uid]
        )])

        let postgres = try F.plan(.patch, [("id", "eq.1")], prefer: "return=representation", body: #"{"title":"x"}"#, policies: policies, dialect: .postgres)
        #expect(postgres.statements == [SQLStatement(
            #"WITH _m AS (UPDATE "p_1"."docs" SET "title" = $1::text WHERE "id" = $2::int8 AND (("docs"."published" OR ("docs"."owner" = $3::text::uuid)) AND ("docs"."owner" = $3::text::uuid)) RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*), NULL, (SELECT count(*) FROM _m WHERE (("_m"."title" <> '') AND ("_m"."published" OR ("_m"."owner" = $3::text::uuid))) IS NOT TRUE) FROM (SELECT "id" AS "id", "owner" AS "owner", "org_id" AS "org_id", "title" AS "title", "published" AS "published", "meta" AS "meta" FROM _m) _r"#,
            binds: [.text("x"), .integer(1), Self.uid]
        )])
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func deletesFilterExistingRows(_ dialect: SQLDialect) throws {
        let policies = """
            create policy "read" on docs for select using (true);
            create policy "remove own" on docs for delete using (owner = auth.uid());
            """
        let plan = try F.plan(.delete, [("id", "eq.1")], policies: policies, dialect: dialect)
        #expect(plan.form == .changes)
        let expected = dialect == .sqlite
            ? #"DELETE FROM "docs" WHERE "id" = ?1 AND ((1) AND ("docs"."owner" = ?2))"#
            : #"DELETE FROM "p_1"."docs" WHERE "id" = $1::int8 AND ((true) AND ("docs"."owner" = $2::text::uuid))"#
        #expect(plan.statements == [SQLStatement(expected, binds: [.integer(1), Self.uid])])
    }

    @Test func upsertsUpdateOnlyWhatThePoliciesAdmit() throws {
        let plan = try F.plan(.post, prefer: "resolution=merge-duplicates", body: #"{"id":1,"title":"x"}"#, policies: Self.owner, dialect: .sqlite)
        #expect(plan.statements == [SQLStatement(
            #"INSERT INTO "docs" ("id", "title") VALUES (?1, ?2) ON CONFLICT ("id") DO UPDATE SET "title" = excluded."title" WHERE (("docs"."owner" = ?3) AND ("docs"."owner" = ?3)) AND (("docs"."owner" = ?3) AND ("docs"."owner" = ?3)) RETURNING NULL, CASE WHEN "docs"."owner" = ?3 THEN 1 ELSE 0 END"#,
            binds: [.integer(1), .text("x"), Self.uid]
        )])
    }

    /// The row an upsert would become is checked with `excluded` for the columns it sets.
    @Test func upsertsCheckTheRowTheyWouldWrite() throws {
        let policies = """
            create policy "read" on docs for select using (true);
            create policy "add" on docs for insert with check (true);
            create policy "edit" on docs for update using (org_id is not null) with check (owner = auth.uid() and title <> org_id::text);
            """
        let plan = try F.plan(.post, prefer: "resolution=merge-duplicates", body: #"{"id":1,"owner":null}"#, policies: policies, dialect: .postgres)
        #expect(plan.statements[0].sql.contains(
            #" DO UPDATE SET "owner" = excluded."owner" WHERE ((true) AND ("docs"."org_id" IS NOT NULL)) AND (((excluded."owner" = $3::text::uuid) AND ("docs"."title" <> "docs"."org_id"::text)) AND (true)) RETURNING *)"#
        ))
    }

    /// Under row-level security every conflicting row is updated, so each one comes back.
    @Test func upsertsOfTheTargetAloneStillUpdate() throws {
        let plan = try F.plan(.post, prefer: "resolution=merge-duplicates", body: #"{"id":1}"#, policies: Self.owner, dialect: .postgres)
        #expect(plan.statements[0].sql.contains(#" ON CONFLICT ("id") DO UPDATE SET "id" = excluded."id" WHERE "#))
        let ignoring = try F.plan(.post, prefer: "resolution=ignore-duplicates", body: #"{"id":1,"title":"x"}"#, policies: Self.owner, dialect: .postgres)
        #expect(ignoring.statements[0].sql.contains(#" ON CONFLICT ("id") DO NOTHING RETURNING *)"#))
        #expect(try ignoring.respond(RESTResult(json: "[]", rowCount: 0, total: nil)).status == 201)
    }

    // MARK: claims

    static let hostile = "' OR 1=1 --"

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func claimsAreBoundNeverSpliced(_ dialect: SQLDialect) throws {
        let policies = """
            create policy p on docs for all using (
              owner = auth.uid() or auth.role() = 'authenticated' or auth.email() = title
              or auth.jwt() ->> 'team' = title or auth.jwt() -> 'app_metadata' ->> 'tier' = 'gold');
            """
        let claims = JSONValue.object([
            JSONMember(key: "sub", value: .string(Self.hostile)),
            JSONMember(key: "email", value: .string(Self.hostile)),
            JSONMember(key: "team", value: .string(Self.hostile)),
            JSONMember(key: "app_metadata", value: .object([JSONMember(key: "tier", value: .string(Self.hostile))])),
        ])
        let access = RESTAccess.role(Self.hostile, claims: claims)
        let requests: [(RESTMethod, [(String, String)], String?, String?)] = [
            (.get, [("id", "eq.1")], "count=exact", nil),
            (.post, [], "return=representation,resolution=merge-duplicates", #"{"id":1,"title":"t"}"#),
            (.patch, [("id", "eq.1")], nil, #"{"title":"t"}"#),
            (.delete, [("id", "eq.1")], nil, nil),
        ]
        for (method, query, prefer, body) in requests {
            // The hostile role matches no policy but `public` ones, which this one is.
            let plan = try F.plan(method, query, prefer: prefer, body: body, policies: policies, access: access, dialect: dialect)
            let statement = plan.statements[0]
            #expect(!statement.sql.contains(Self.hostile))
            #expect(!statement.sql.contains("1=1"))
            // Not a uuid: auth.uid() is NULL rather than a failing cast.
            #expect(statement.binds.contains(.null))
            #expect(statement.binds.contains(.text(Self.hostile)), "auth.role() and auth.email()")
            #expect(statement.binds.contains(.text(claims.serialized)), "auth.jwt()")
            #expect(statement.binds.filter { $0 == .text(Self.hostile) }.count == 2, "each claim is bound once however often it is read")
        }
    }

    @Test func uidIsTheCanonicalSubject() {
        #expect(F.user.value(of: .uid) == (.text(F.userID), .uuid))
        #expect(RESTAccess.anon.value(of: .uid) == (.null, .uuid))
        #expect(RESTAccess.anon.value(of: .role) == (.text("anon"), .text))
        #expect(RESTAccess.anon.value(of: .email) == (.null, .text))
        #expect(RESTAccess.anon.value(of: .jwt) == (.text(#"{"role":"anon"}"#), .jsonb))
        #expect(F.user.value(of: .email) == (.text("ada@example.com"), .text))
    }

    /// PostgreSQL statements fix every parameter's type in their text, RLS binds included.
    @Test func everyPlaceholderStillNamesItsWireType() throws {
        let policies = Self.owner + """
            create policy "by claim" on docs for select to anon using (auth.jwt() ->> 'role' = 'anon' and auth.email() is null and auth.uid() is null and auth.role() = 'anon');
            """
        let requests: [(RESTMethod, [(String, String)], String?, String?, RESTAccess)] = [
            (.get, [("id", "eq.1")], "count=exact", nil, F.user),
            (.get, [("title", "like.*a*")], nil, nil, .anon),
            (.post, [], "return=representation", #"[{"title":"a","owner":null},{"title":"b","owner":null}]"#, F.user),
            (.post, [], "resolution=merge-duplicates,return=headers-only", #"{"id":1,"title":"a"}"#, F.user),
            (.patch, [("id", "eq.1")], "return=representation", #"{"title":"x","meta":{"a":1}}"#, F.user),
            (.delete, [("id", "eq.1")], nil, nil, .anon),
        ]
        for (method, query, prefer, body, access) in requests {
            let plan = try F.plan(method, query, prefer: prefer, body: body, policies: policies, access: access, dialect: .postgres)
            for statement in plan.statements {
                let uses = PostgresParameterTypeTests.placeholders(in: statement.sql)
                #expect(Set(uses.map(\.index)) == Set(1..<(statement.binds.count + 1)))
                for use in uses {
                    if let wire = statement.binds[use.index - 1].postgresWireType {
                        #expect(use.firstCast == wire, "$\(use.index) is sent as \(wire): \(statement.sql)")
                    } else {
                        #expect(use.firstCast != nil, "$\(use.index) is NULL and untyped: \(statement.sql)")
                    }
                }
            }
        }
    }

    // MARK: answers

    static let refused = RESTError(status: 403, code: "42501", message: #"new row violates row-level security policy for table "docs""#)

    @Test(arguments: [SQLDialect.sqlite, .postgres], [
        (RESTMethod.post, [(String, String)](), "return=minimal"),
        (.post, [], "return=representation"),
        (.post, [], "resolution=merge-duplicates"),
        (.patch, [("id", "eq.1")], "return=minimal"),
        (.patch, [("id", "eq.1")], "return=representation"),
    ])
    func writesWithAFailedRowAreRefused(_ dialect: SQLDialect, _ request: (RESTMethod, [(String, String)], String)) throws {
        let (method, query, prefer) = request
        let plan = try F.plan(method, query, prefer: prefer, body: #"{"id":1,"title":"x"}"#, policies: Self.owner, dialect: dialect)
        let rows = #"[{"id":1}]"#
        #expect(throws: Self.refused) { try plan.respond(RESTResult(json: rows, rowCount: 1, total: nil, policyViolations: 1)) }
        #expect(try plan.respond(RESTResult(json: rows, rowCount: 1, total: nil)).status == (method == .post ? 201 : prefer == "return=minimal" ? 204 : 200))
    }

    @Test func anUpsertThatCouldNotUpdateIsRefused() throws {
        let plan = try F.plan(.post, prefer: "resolution=merge-duplicates", body: #"[{"id":1,"title":"x"},{"id":2,"title":"y"}]"#, policies: Self.owner, dialect: .sqlite)
        #expect(throws: RESTError(status: 403, code: "42501", message: #"new row violates row-level security policy (USING expression) for table "docs""#)) {
            try plan.respond(RESTResult(json: "[null]", rowCount: 1, total: nil))
        }
        #expect(try plan.respond(RESTResult(json: "[null,null]", rowCount: 2, total: nil)).status == 201)
    }

    /// The refusal comes before `max-affected` and the representation: nothing of the rows leaks.
    @Test func theRefusalIsPostgRESTsErrorShape() throws {
        let plan = try F.plan(.patch, [("id", "eq.1")], prefer: "return=representation,handling=strict,max-affected=0", body: #"{"title":"x"}"#, policies: Self.owner, dialect: .postgres)
        do {
            _ = try plan.respond(RESTResult(json: #"[{"id":1}]"#, rowCount: 1, total: nil, policyViolations: 1))
            Issue.record("expected a refusal")
        } catch {
            #expect(error == Self.refused)
            #expect(error.details == nil && error.hint == nil)
        }
    }

    @Test func deletesAndReadsAreNeverRefused() throws {
        let delete = try F.plan(.delete, [("id", "eq.1")], policies: Self.owner, dialect: .sqlite)
        #expect(try delete.respond(RESTResult(json: nil, rowCount: 0, total: nil)).status == 204)
        let read = try F.plan(.get, policies: Self.owner, dialect: .postgres)
        #expect(try read.respond(RESTResult(json: "[]", rowCount: 0, total: nil)).status == 200)
    }
}
