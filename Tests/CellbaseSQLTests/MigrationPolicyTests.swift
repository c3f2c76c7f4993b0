import Testing
@testable import CellbaseSQL

/// Policies are parsed, validated against the schema and stored; they produce no DDL.
struct MigrationPolicyTests {
    static let prelude = """
        create table orgs (id uuid primary key, name text);
        create table members (org_id uuid references orgs, user_id uuid, role text, primary key (org_id, user_id));
        create table todos (id bigserial primary key, user_id uuid, org_id uuid references orgs, done boolean, meta jsonb, email text, created_at timestamptz);
        """

    static func column(_ name: String, _ qualifier: String? = nil) -> Expression {
        .column(qualifier: qualifier, name: name)
    }

    static let uid = Expression.function(schema: "auth", name: "uid", arguments: [])

    static func text(_ value: String) -> Expression { .literal(.string(value)) }

    static let valid: [(sql: String, policy: Policy)] = [
        (
            #"create policy "Users see own" on todos for select to authenticated using (auth.uid() = user_id)"#,
            Policy(name: "Users see own", table: "todos", command: .select, roles: ["authenticated"], using: .binary("=", uid, column("user_id")), withCheck: nil)
        ),
        (
            "create policy p on public.todos using ((select auth.uid()) = user_id)",
            Policy(name: "p", table: "todos", using: .binary("=", uid, column("user_id")), withCheck: nil)
        ),
        (
            "create policy p on todos as restrictive for update to anon, authenticated, anon using (not done) with check (done is not null)",
            Policy(
                name: "p", table: "todos", isPermissive: false, command: .update, roles: ["anon", "authenticated"],
                using: .unary("NOT", column("done")), withCheck: .isNull(column("done"), negated: true)
            )
        ),
        (
            "create policy p on todos as permissive for insert to public with check (auth.role() = 'authenticated')",
            Policy(name: "p", table: "todos", command: .insert, using: nil, withCheck: .binary("=", .function(schema: "auth", name: "role", arguments: []), text("authenticated")))
        ),
        (
            "create policy p on todos for delete to service_role using (auth.jwt() ->> 'role' = 'admin' or auth.jwt() -> 'app' ->> 'x' != 'y')",
            Policy(
                name: "p", table: "todos", command: .delete, roles: ["service_role"],
                using: .binary(
                    "OR",
                    .binary("=", .binary("->>", .function(schema: "auth", name: "jwt", arguments: []), text("role")), text("admin")),
                    .binary("<>", .binary("->>", .binary("->", .function(schema: "auth", name: "jwt", arguments: []), text("app")), text("x")), text("y"))
                ),
                withCheck: nil
            )
        ),
        (
            "create policy p on todos using (exists (select 1 from members m where m.org_id = todos.org_id and m.user_id = auth.uid() and role in ('admin', 'owner')))",
            Policy(
                name: "p", table: "todos",
                using: .exists(Subquery(
                    table: "members", alias: "m",
                    condition: .binary(
                        "AND",
                        .binary("AND", .binary("=", column("org_id", "m"), column("org_id", "todos")), .binary("=", column("user_id", "m"), uid)),
                        .inList(column("role"), [text("admin"), text("owner")], negated: false)
                    )
                )),
                withCheck: nil
            )
        ),
        (
            "create policy p on todos using (exists (select * from orgs as o where o.id = org_id and exists (select 1 from members where members.org_id = o.id and user_id = todos.user_id)))",
            Policy(
                name: "p", table: "todos",
                using: .exists(Subquery(
                    table: "orgs", alias: "o",
                    condition: .binary(
                        "AND",
                        .binary("=", column("id", "o"), column("org_id")),
                        .exists(Subquery(
                            table: "members", alias: nil,
                            condition: .binary(
                                "AND",
                                .binary("=", column("org_id", "members"), column("id", "o")),
                                .binary("=", column("user_id"), column("user_id", "todos"))
                            )
                        ))
                    )
                )),
                withCheck: nil
            )
        ),
        (
            "create policy p on todos using (lower(email) like '%@x.com' and upper(email) not ilike 'A%' and length(email) > 3 and char_length(email) <= 99)",
            Policy(
                name: "p", table: "todos",
                using: .binary(
                    "AND",
                    .binary(
                        "AND",
                        .binary(
                            "AND",
                            .binary("LIKE", .function(schema: nil, name: "lower", arguments: [column("email")]), text("%@x.com")),
                            .unary("NOT", .binary("ILIKE", .function(schema: nil, name: "upper", arguments: [column("email")]), text("A%")))
                        ),
                        .binary(">", .function(schema: nil, name: "length", arguments: [column("email")]), .literal(.number("3")))
                    ),
                    .binary("<=", .function(schema: nil, name: "char_length", arguments: [column("email")]), .literal(.number("99")))
                ),
                withCheck: nil
            )
        ),
        (
            "create policy p on todos using (coalesce(done, false) = true and created_at < now() and created_at > current_timestamp and (meta -> 'a')::text not in ('1', '2') and user_id = auth.email()::uuid and id > -1 and email is null)",
            Policy(
                name: "p", table: "todos",
                using: .binary(
                    "AND",
                    .binary(
                        "AND",
                        .binary(
                            "AND",
                            .binary(
                                "AND",
                                .binary(
                                    "AND",
                                    .binary(
                                        "AND",
                                        .binary("=", .function(schema: nil, name: "coalesce", arguments: [column("done"), .literal(.bool(false))]), .literal(.bool(true))),
                                        .binary("<", column("created_at"), .function(schema: nil, name: "now", arguments: []))
                                    ),
                                    .binary(">", column("created_at"), .function(schema: nil, name: "now", arguments: []))
                                ),
                                .inList(.cast(.binary("->", column("meta"), text("a")), .text), [text("1"), text("2")], negated: true)
                            ),
                            .binary("=", column("user_id"), .cast(.function(schema: "auth", name: "email", arguments: []), .uuid))
                        ),
                        .binary(">", column("id"), .literal(.number("-1")))
                    ),
                    .isNull(column("email"), negated: false)
                ),
                withCheck: nil
            )
        ),
    ]

    @Test(arguments: valid)
    func stored(sql: String, policy: Policy) throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        for namespace in [SQLNamespace.sqlite, .postgres(schema: "p")] {
            let plan = try MigrationPlanner.plan(sql, on: schema, namespace: namespace)
            #expect(plan.statements.isEmpty)
            #expect(plan.schema.table(named: "todos")?.policies == [policy])
        }
    }

    @Test func policiesWithoutRowLevelSecurityWarn() throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        let plan = try MigrationPlanner.plan("""
            create policy a on todos using (done);
            create policy b on orgs using (name = 'x');
            create policy c on members using (role = 'x');
            alter table orgs enable row level security;
            alter table todos rename to tasks;
            drop policy c on members;
            """, on: schema, namespace: .sqlite)
        #expect(plan.warnings == [#"policy "a" on "tasks" has no effect until ALTER TABLE "tasks" ENABLE ROW LEVEL SECURITY"#])
    }

    @Test func tablesLeftWithRowLevelSecurityOffWarn() throws {
        func open(_ table: String) -> String {
            #"table "\#(table)" has row level security off: anon and signed-in users can read and change all of its rows (ALTER TABLE "\#(table)" ENABLE ROW LEVEL SECURITY holds them to policies)"#
        }
        let created = try MigrationPlanner.plan("""
            create table a (id int primary key);
            create table b (id int primary key);
            create table c (id int primary key);
            alter table b enable row level security;
            alter table c enable row level security;
            alter table c disable row level security;
            """, on: Schema(), namespace: .sqlite)
        #expect(created.warnings == [open("a"), open("c")])

        let later = try MigrationPlanner.plan("alter table b disable row level security; alter table a add column x text", on: created.schema, namespace: .sqlite)
        #expect(later.warnings == [open("b")])
        let dropped = try MigrationPlanner.plan("create table d (id int primary key); drop table d", on: Schema(), namespace: .sqlite)
        #expect(dropped.warnings.isEmpty)
    }

    @Test func dropPolicy() throws {
        let schema = try MigrationFixture.schema(Self.prelude, "create policy a on todos using (done); create policy b on todos using (done)")
        let plan = try MigrationPlanner.plan("drop policy a on todos; drop policy if exists a on todos; drop policy if exists x on nope", on: schema, namespace: .sqlite)
        #expect(plan.schema.table(named: "todos")?.policies.map(\.name) == ["b"])
        #expect(plan.statements.isEmpty)
        #expect(plan.warnings == [
            #"policy "a" does not exist on "todos"; DROP POLICY IF EXISTS skipped"#,
            #"table "nope" does not exist; DROP POLICY IF EXISTS skipped"#,
        ])
    }

    static let invalid: [(sql: String, column: Int, message: String)] = [
        ("create policy p on todos using (nope = 1)", 33, #"column "nope" does not exist in table "todos""#),
        ("create policy p on todos using (t.id = 1)", 33, #""t" is not a table here; visible: "todos""#),
        ("create policy p on todos using (todos.nope = 1)", 39, #"column "nope" does not exist in table "todos""#),
        ("create policy p on todos using (exists (select 1 from nope))", 55, #"table "nope" does not exist"#),
        ("create policy p on todos using (exists (select 1 from members m where members.role = 'x'))", 71, #""members" is not a table here; visible: "todos", "m""#),
        ("create policy p on todos using (exists (select 1 from members m where name = 'x'))", 71, #"column "name" does not exist in table "todos" or "members""#),
        ("create policy p on todos using (exists (select 1 from auth.users))", 55, "found auth.users; tables of the auth schema are not available to migrations: keep a user's id (auth.uid()) in a uuid column instead"),
        ("create policy p on todos using (exists (select 1 from members, orgs))", 62, "an EXISTS subquery reads one table; joins are not supported (nest another EXISTS)"),
        ("create policy p on todos using (exists (select role from members))", 48, #"expected 1 or * after SELECT in EXISTS, found "role""#),
        ("create policy p on todos using (pg_sleep(1) is null)", 33, "the function pg_sleep() is not supported in policies; supported: auth.uid(), auth.role(), auth.jwt(), auth.email(), (storage.foldername(name))[n], storage.filename(name), storage.extension(name), lower(), upper(), length(), char_length(), coalesce() and now()"),
        ("create policy p on todos using (auth.secret() = 'x')", 33, "the function auth.secret() is not supported in policies; supported: auth.uid(), auth.role(), auth.jwt(), auth.email(), (storage.foldername(name))[n], storage.filename(name), storage.extension(name), lower(), upper(), length(), char_length(), coalesce() and now()"),
        ("create policy p on todos using (lower() = 'x')", 33, "lower() takes 1 argument, found 0"),
        ("create policy p on todos using (auth.uid(1) = user_id)", 33, "auth.uid() takes no arguments, found 1"),
        ("create policy p on todos using (coalesce() = 1)", 33, "coalesce() needs at least one argument"),
        ("create policy p on todos using (id + 1 > 2)", 36, #""+" is not supported in policies; supported: = <> != < <= > >=, AND, OR, NOT, IS [NOT] NULL, IN (...), ->, ->>, ::type, LIKE, ILIKE and EXISTS (SELECT 1 FROM table WHERE ...)"#),
        ("create policy p on todos using (user_id in (select user_id from members))", 45, "IN (SELECT ...) is not supported; use EXISTS (SELECT 1 FROM table WHERE ...)"),
        ("create policy p on todos using ((select user_id from members) = user_id)", 49, "a subquery with FROM is supported only as EXISTS (SELECT 1 FROM table WHERE ...)"),
        ("create policy p on todos using (current_user = 'x')", 33, #"found "current_user" where an expression was expected in policies; supported: = <> != < <= > >=, AND, OR, NOT, IS [NOT] NULL, IN (...), ->, ->>, ::type, LIKE, ILIKE and EXISTS (SELECT 1 FROM table WHERE ...)"#),
        ("create policy p on todos to postgres using (true)", 29, #"found the role "postgres"; policies apply to anon, authenticated, service_role or public"#),
        ("create policy p on todos for insert using (true)", 30, "an INSERT policy takes only WITH CHECK, not USING"),
        ("create policy p on todos for select with check (true)", 30, "a SELECT policy takes only USING, not WITH CHECK"),
        ("create policy p on todos for delete using (true) with check (true)", 30, "a DELETE policy takes only USING, not WITH CHECK"),
        ("create policy p on todos for truncate using (true)", 30, #"expected ALL, SELECT, INSERT, UPDATE or DELETE after FOR, found "truncate""#),
        ("create policy p on todos using (true); create policy p on todos using (false)", 54, #"policy "p" for table "todos" already exists"#),
        ("create policy p on nope using (true)", 20, #"table "nope" does not exist"#),
        ("create policy p on todos using true", 32, #"expected "(" before the expression, found "true""#),
        ("create policy p on todos using (user_id is distinct from auth.uid())", 44, #"expected NULL after IS, found "distinct"; only IS [NOT] NULL is supported"#),
        ("create policy p on todos using (user_id)", 33, "expected a condition (an expression that is true or false), such as a comparison"),
        ("create policy p on todos using (done and not (email))", 47, "expected a condition (an expression that is true or false), such as a comparison"),
        ("create policy p on todos using (todos.done or 1)", 47, "expected a condition (an expression that is true or false), such as a comparison"),
        ("create policy p on todos with check (coalesce(email, 'x'))", 47, "expected a condition (an expression that is true or false), such as a comparison"),
        ("drop policy p on todos", 13, #"policy "p" for table "todos" does not exist"#),
        ("drop policy p on nope", 18, #"table "nope" does not exist"#),
    ]

    @Test(arguments: invalid)
    func rejected(sql: String, column: Int, message: String) throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        #expect(MigrationFixture.error(sql, on: schema) == MigrationError(line: 1, column: column, message: message))
    }

    @Test func positionsPointIntoMultiLinePolicies() throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        let sql = """
            create policy "members read" on todos
              for select
              using (
                exists (
                  select 1 from members m
                  where m.org_id = todos.org_id
                    and m.usr = auth.uid()
                )
              );
            """
        #expect(MigrationFixture.error(sql, on: schema) == MigrationError(line: 7, column: 15, message: #"column "usr" does not exist in table "members""#))
    }
}
