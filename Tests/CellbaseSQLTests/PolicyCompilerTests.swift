import Testing
@testable import CellbaseSQL

private typealias F = RLSFixture

/// The predicates policies compile to, on both dialects. Claims show as `:name` and the row as
/// `"docs"`; `RowSecurityPlannerTests` covers how statements bind and place them.
@Suite struct PolicyCompilerTests {
    static func using(_ expression: String) -> String {
        "create policy p on docs for select using (\(expression));"
    }

    /// One policy expression per supported shape: (USING, SQLite, PostgreSQL).
    static let shapes: [(String, String, String)] = [
        ("auth.uid() = owner", #":uid = "docs"."owner""#, #":uid = "docs"."owner""#),
        ("published", #""docs"."published""#, #""docs"."published""#),
        ("published = true and not (title = 'x')", #"("docs"."published" = 1) AND (NOT ("docs"."title" = 'x'))"#, #"("docs"."published" = true) AND (NOT ("docs"."title" = 'x'))"#),
        ("owner is not null or org_id is null", #"("docs"."owner" IS NOT NULL) OR ("docs"."org_id" IS NULL)"#, #"("docs"."owner" IS NOT NULL) OR ("docs"."org_id" IS NULL)"#),
        ("title not in ('a', 'it''s')", #""docs"."title" NOT IN ('a', 'it''s')"#, #""docs"."title" NOT IN ('a', 'it''s')"#),
        ("auth.role() = 'authenticated'", ":role = 'authenticated'", ":role = 'authenticated'"),
        ("auth.email() like '%@example.com'", #":email GLOB '*@example.com'"#, ":email LIKE '%@example.com'"),
        ("title not ilike '%draft%'", #"NOT ("docs"."title" LIKE '%draft%' ESCAPE '\')"#, #"NOT ("docs"."title" ILIKE '%draft%')"#),
        ("title like auth.email()", #""docs"."title" LIKE :email ESCAPE '\'"#, #""docs"."title" LIKE :email"#),
        (
            "auth.jwt() ->> 'user_role' = 'admin'",
            "CASE json_type((:jwt -> 'user_role')) WHEN 'null' THEN NULL WHEN 'text' THEN :jwt ->> 'user_role' ELSE (:jwt -> 'user_role') END = 'admin'",
            "(:jwt ->> 'user_role') = 'admin'"
        ),
        (
            "auth.jwt() -> 'app_metadata' ->> 'tier' = 'gold'",
            "CASE json_type(((:jwt -> 'app_metadata') -> 'tier')) WHEN 'null' THEN NULL WHEN 'text' THEN (:jwt -> 'app_metadata') ->> 'tier' ELSE ((:jwt -> 'app_metadata') -> 'tier') END = 'gold'",
            "((:jwt -> 'app_metadata') ->> 'tier') = 'gold'"
        ),
        (
            "meta ->> 'status' <> 'hidden'",
            #"CASE json_type(("docs"."meta" -> 'status')) WHEN 'null' THEN NULL WHEN 'text' THEN "docs"."meta" ->> 'status' ELSE ("docs"."meta" -> 'status') END <> 'hidden'"#,
            #"("docs"."meta" ->> 'status') <> 'hidden'"#
        ),
        (
            "(auth.jwt() ->> 'sub')::uuid = owner",
            #"lower(CAST(CASE json_type((:jwt -> 'sub')) WHEN 'null' THEN NULL WHEN 'text' THEN :jwt ->> 'sub' ELSE (:jwt -> 'sub') END AS TEXT)) = "docs"."owner""#,
            #"(:jwt ->> 'sub')::uuid = "docs"."owner""#
        ),
        ("owner::text = 'x'", #"CAST("docs"."owner" AS TEXT) = 'x'"#, #""docs"."owner"::text = 'x'"#),
        (
            "lower(title) = upper(auth.email()) and char_length(title) > 3",
            #"(lower("docs"."title") = upper(:email)) AND (length("docs"."title") > 3)"#,
            #"(lower("docs"."title") = upper(:email)) AND (char_length("docs"."title") > 3)"#
        ),
        ("coalesce(published, false)", #"coalesce("docs"."published", 0)"#, #"coalesce("docs"."published", false)"#),
        (
            "now() is not null",
            "(rtrim(rtrim(strftime('%Y-%m-%dT%H:%M:%f','now'),'0'),'.') || '+00:00') IS NOT NULL",
            "now() IS NOT NULL"
        ),
    ]

    @Test(arguments: 0..<shapes.count, [SQLDialect.sqlite, .postgres])
    func shape(_ index: Int, dialect: SQLDialect) throws {
        let (expression, sqlite, postgres) = Self.shapes[index]
        #expect(try F.predicate(Self.using(expression), dialect: dialect) == (dialect == .sqlite ? sqlite : postgres))
    }
}

extension PolicyCompilerTests {
    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func membershipThroughExists(_ dialect: SQLDialect) throws {
        let members = dialect == .sqlite ? #""members""# : #""p_1"."members""#
        #expect(try F.predicate(F.membership, dialect: dialect)
            == #"EXISTS (SELECT 1 FROM \#(members) "m" WHERE ("m"."org_id" = "docs"."org_id") AND ("m"."user_id" = :uid))"#)
    }

    /// Unqualified names resolve in the innermost table that has them, then outwards.
    @Test func nestedExistsResolveNamesInward() throws {
        let policy = Self.using("exists (select 1 from orgs o where o.id = org_id and exists (select 1 from members where members.org_id = o.id and user_id = auth.uid()))")
        #expect(try F.predicate(policy, dialect: .sqlite)
            == #"EXISTS (SELECT 1 FROM "orgs" "o" WHERE ("o"."id" = "docs"."org_id") AND EXISTS (SELECT 1 FROM "members" WHERE ("members"."org_id" = "o"."id") AND ("members"."user_id" = :uid)))"#)
    }

    /// A table read inside a policy brings its own row-level security, as in PostgreSQL.
    @Test func existsAppliesTheReadTablesPolicies() throws {
        let policies = F.membership + """
            alter table members enable row level security;
            create policy "own memberships" on members for select using (user_id = auth.uid());
            """
        #expect(try F.predicate(policies, dialect: .postgres)
            == #"EXISTS (SELECT 1 FROM "p_1"."members" "m" WHERE (("m"."org_id" = "docs"."org_id") AND ("m"."user_id" = :uid)) AND ("m"."user_id" = :uid))"#)
    }

    @Test func existsOnATableWithoutPoliciesSeesNothing() throws {
        let policies = F.membership + "alter table members enable row level security;"
        #expect(try F.predicate(policies, dialect: .sqlite)
            == #"EXISTS (SELECT 1 FROM "members" "m" WHERE (("m"."org_id" = "docs"."org_id") AND ("m"."user_id" = :uid)) AND (0))"#)
    }

    @Test func policiesThatReadEachOtherAreRefused() throws {
        let policies = F.membership + """
            alter table members enable row level security;
            create policy "members of my docs" on members for select using (exists (select 1 from docs d where d.org_id = members.org_id));
            """
        #expect(throws: RESTError(status: 500, code: "42P17", message: #"infinite recursion detected in policy for relation "docs""#)) {
            try F.predicate(policies, dialect: .sqlite)
        }
    }

    // MARK: combining policies

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func permissivePoliciesOrAndRestrictiveOnesAnd(_ dialect: SQLDialect) throws {
        let policies = """
            create policy mine on docs for select using (owner = auth.uid());
            create policy published on docs for select using (published);
            create policy "not drafts" on docs as restrictive for select using (title <> 'draft');
            create policy "in an org" on docs as restrictive for all using (org_id is not null);
            """
        #expect(try F.predicate(policies, dialect: dialect)
            == #"(("docs"."owner" = :uid) OR ("docs"."published")) AND ("docs"."title" <> 'draft') AND ("docs"."org_id" IS NOT NULL)"#)
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func restrictivePoliciesAloneAdmitNothing(_ dialect: SQLDialect) throws {
        let policies = "create policy r on docs as restrictive for select using (published);"
        #expect(try F.predicate(policies, dialect: dialect) == (dialect == .sqlite ? "0" : "false"))
    }

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func noPolicyAdmitsNothing(_ dialect: SQLDialect) throws {
        #expect(try F.predicate("", dialect: dialect) == (dialect == .sqlite ? "0" : "false"))
    }

    // MARK: which policies apply

    static let roles = """
        create policy "anon only" on docs for select to anon using (published);
        create policy "users" on docs for select to authenticated using (owner = auth.uid());
        create policy "everyone" on docs for select using (title = 'welcome');
        create policy "both" on docs for select to anon, authenticated using (org_id is null);
        create policy "service" on docs for select to service_role using (true);
        """

    @Test func policiesApplyToTheirRolesAndPublic() throws {
        #expect(try F.predicate(Self.roles, role: "anon", dialect: .postgres)
            == #"("docs"."published") OR ("docs"."title" = 'welcome') OR ("docs"."org_id" IS NULL)"#)
        #expect(try F.predicate(Self.roles, role: "authenticated", dialect: .postgres)
            == #"("docs"."owner" = :uid) OR ("docs"."title" = 'welcome') OR ("docs"."org_id" IS NULL)"#)
    }

    static let commands = """
        create policy "read" on docs for select using (published);
        create policy "add" on docs for insert with check (owner = auth.uid());
        create policy "change" on docs for update using (owner = auth.uid());
        create policy "change checked" on docs for update using (org_id is not null) with check (title <> '');
        create policy "remove" on docs for delete using (title = 'trash');
        create policy "all" on docs for all using (auth.role() = 'authenticated') with check (owner is not null);
        """

    /// (command, clause, predicate): ALL joins every command; a policy without WITH CHECK checks
    /// with its USING; INSERT policies have no USING.
    static let commandCases: [(Policy.Command, PolicyCompiler.Clause, String)] = [
        (.select, .using, #"("docs"."published") OR (:role = 'authenticated')"#),
        (.insert, .check, #"("docs"."owner" = :uid) OR ("docs"."owner" IS NOT NULL)"#),
        (.insert, .using, ":role = 'authenticated'"),
        (.update, .using, #"("docs"."owner" = :uid) OR ("docs"."org_id" IS NOT NULL) OR (:role = 'authenticated')"#),
        (.update, .check, #"("docs"."owner" = :uid) OR ("docs"."title" <> '') OR ("docs"."owner" IS NOT NULL)"#),
        (.delete, .using, #"("docs"."title" = 'trash') OR (:role = 'authenticated')"#),
    ]

    @Test(arguments: 0..<commandCases.count)
    func policiesApplyToTheirCommands(_ index: Int) throws {
        let (command, clause, expected) = Self.commandCases[index]
        #expect(try F.predicate(Self.commands, command: command, clause: clause, dialect: .postgres) == expected)
    }

    @Test func aPermissivePolicyWithoutTheClauseAdmitsNothing() throws {
        let policies = "create policy p on docs for insert with check (published);"
        #expect(try F.predicate(policies, command: .insert, clause: .using, dialect: .postgres) == "false")
    }

    /// CHECK constraints render through the same renderer, unqualified as DDL wants them.
    @Test func checkConstraintsKeepTheirDDL() throws {
        let ddl = try MigrationFixture.ddl("create table t (n int check (n > 0 and n <> 7), s text check (char_length(s) < 9));")
        #expect(ddl.sqlite[0].contains(#"CHECK (("n" > 0) AND ("n" <> 7))"#))
        #expect(ddl.sqlite[0].contains(#"CHECK (length("s") < 9)"#))
        #expect(ddl.postgres[0].contains(#"CHECK (char_length("s") < 9)"#))
    }
}
