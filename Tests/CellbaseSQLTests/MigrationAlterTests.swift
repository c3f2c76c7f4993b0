import Testing
@testable import CellbaseSQL

/// ALTER TABLE, indexes and drops: the DDL on both dialects, and the model kept in step.
struct MigrationAlterTests {
    static let prelude = """
        create table users (id bigint primary key, email text unique, code varchar(10), age int);
        create index users_code_age_idx on users (code, age);
        create index on users (age desc);
        create table posts (id serial primary key, author bigint references users on delete cascade, body text check (body <> ''));
        """

    static let cases: [(sql: String, sqlite: [String], postgres: [String])] = [
        (
            "alter table users add column bio text",
            [#"ALTER TABLE "users" ADD COLUMN "bio" TEXT"#],
            [#"ALTER TABLE "p"."users" ADD COLUMN "bio" text"#]
        ),
        (
            "alter table public.users add bio varchar(3) not null default 'abc' check (bio <> 'x')",
            [#"ALTER TABLE "users" ADD COLUMN "bio" TEXT NOT NULL DEFAULT 'abc' CHECK (length("bio") <= 3) CHECK ("bio" <> 'x')"#],
            [#"ALTER TABLE "p"."users" ADD COLUMN "bio" character varying(3) NOT NULL DEFAULT 'abc' CHECK ("bio" <> 'x')"#]
        ),
        (
            "alter table users add column handle text unique",
            [#"ALTER TABLE "users" ADD COLUMN "handle" TEXT"#, #"CREATE UNIQUE INDEX "users_handle_key" ON "users" ("handle")"#],
            [#"ALTER TABLE "p"."users" ADD COLUMN "handle" text UNIQUE"#]
        ),
        (
            "alter table posts add column editor int references users on delete set null",
            [#"ALTER TABLE "posts" ADD COLUMN "editor" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL"#],
            [#"ALTER TABLE "p"."posts" ADD COLUMN "editor" integer REFERENCES "p"."users" ("id") ON DELETE SET NULL"#]
        ),
        (
            "alter table users add column a boolean not null default true, add column b jsonb default '{}'",
            [#"ALTER TABLE "users" ADD COLUMN "a" INTEGER NOT NULL DEFAULT 1 CHECK ("a" IN (0,1))"#, #"ALTER TABLE "users" ADD COLUMN "b" TEXT DEFAULT '{}'"#],
            [#"ALTER TABLE "p"."users" ADD COLUMN "a" boolean NOT NULL DEFAULT true"#, #"ALTER TABLE "p"."users" ADD COLUMN "b" jsonb DEFAULT '{}'"#]
        ),
        (
            "alter table users add column if not exists email text, add column if not exists x int",
            [#"ALTER TABLE "users" ADD COLUMN "x" INTEGER"#],
            [#"ALTER TABLE "p"."users" ADD COLUMN "x" integer"#]
        ),
        (
            "alter table users drop column code",
            [#"DROP INDEX "users_code_age_idx""#, #"ALTER TABLE "users" DROP COLUMN "code""#],
            [#"ALTER TABLE "p"."users" DROP COLUMN "code""#]
        ),
        (
            "alter table users drop age, drop column if exists nope",
            [#"DROP INDEX "users_code_age_idx""#, #"DROP INDEX "users_age_idx""#, #"ALTER TABLE "users" DROP COLUMN "age""#],
            [#"ALTER TABLE "p"."users" DROP COLUMN "age""#]
        ),
        (
            #"alter table users rename column code to "Code""#,
            [#"ALTER TABLE "users" RENAME COLUMN "code" TO "Code""#],
            [#"ALTER TABLE "p"."users" RENAME COLUMN "code" TO "Code""#]
        ),
        (
            "alter table users rename to members",
            [#"ALTER TABLE "users" RENAME TO "members""#],
            [#"ALTER TABLE "p"."users" RENAME TO "members""#]
        ),
        (
            "alter table if exists nope add column x int",
            [],
            []
        ),
        (
            "alter table users enable row level security, force row level security, no force row level security, disable row level security",
            [],
            []
        ),
        (
            "create unique index if not exists users_email_lower on public.users using btree (email asc, id desc)",
            [#"CREATE UNIQUE INDEX "users_email_lower" ON "users" ("email", "id" DESC)"#],
            [#"CREATE UNIQUE INDEX "users_email_lower" ON "p"."users" ("email", "id" DESC)"#]
        ),
        (
            "create index if not exists users_age_idx on users (age); create index on users (age)",
            [#"CREATE INDEX "users_age_idx1" ON "users" ("age")"#],
            [#"CREATE INDEX "users_age_idx1" ON "p"."users" ("age")"#]
        ),
        (
            "drop index users_age_idx, public.users_code_age_idx; drop index if exists nope",
            [#"DROP INDEX "users_age_idx""#, #"DROP INDEX "users_code_age_idx""#],
            [#"DROP INDEX "p"."users_age_idx""#, #"DROP INDEX "p"."users_code_age_idx""#]
        ),
        (
            "drop table if exists users, posts, nope",
            [#"DROP TABLE "posts""#, #"DROP TABLE "users""#],
            [#"DROP TABLE "p"."posts", "p"."users""#]
        ),
        (
            "drop table posts restrict",
            [#"DROP TABLE "posts""#],
            [#"DROP TABLE "p"."posts""#]
        ),
    ]

    @Test(arguments: cases)
    func statement(sql: String, sqlite: [String], postgres: [String]) throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        let ddl = try MigrationFixture.ddl(sql, on: schema)
        #expect(ddl.sqlite == sqlite)
        #expect(ddl.postgres == postgres)
    }

    @Test func generatedIndexNamesStayWithinPostgresLimit() throws {
        let long = String(repeating: "c", count: 63)
        let schema = try MigrationFixture.schema("create table t (\(long) int)")
        let plan = try MigrationPlanner.plan("create index on t (\(long)); create index on t (\(long))", on: schema, namespace: .sqlite)
        let stem = "t_" + String(repeating: "c", count: 57)
        #expect(plan.schema.indexes.map(\.name) == [stem + "_idx", String(stem.dropLast()) + "_idx1"])
        #expect(plan.schema.indexes.allSatisfy { $0.name.utf8.count == 63 })
    }

    @Test func skippedStatementsWarn() throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        let plan = try MigrationPlanner.plan("""
            create table if not exists users (x int);
            alter table if exists nope drop column x;
            alter table users add column if not exists email text, drop column if exists nope;
            create index if not exists users_age_idx on users (id);
            drop index if exists nope;
            drop table if exists nope;
            alter table users force row level security;
            """, on: schema, namespace: .sqlite)
        #expect(plan.statements.isEmpty)
        #expect(plan.warnings == [
            #"table "users" already exists; CREATE TABLE IF NOT EXISTS skipped"#,
            #"table "nope" does not exist; ALTER TABLE IF EXISTS skipped"#,
            #"column "email" already exists in "users"; ADD COLUMN IF NOT EXISTS skipped"#,
            #"column "nope" does not exist in "users"; DROP COLUMN IF EXISTS skipped"#,
            #"index "users_age_idx" already exists; CREATE INDEX IF NOT EXISTS skipped"#,
            #"index "nope" does not exist; DROP INDEX IF EXISTS skipped"#,
            #"table "nope" does not exist; DROP TABLE IF EXISTS skipped"#,
            #"FORCE ROW LEVEL SECURITY on "users" is the same as ENABLE: policies apply to every role but service_role"#,
        ])
        #expect(plan.schema.table(named: "users")?.rowLevelSecurity == true)
        #expect(plan.schema.tables.count == 2)
    }

    @Test func rowLevelSecurityFollowsTheLastChange() throws {
        let enabled = try MigrationFixture.schema(Self.prelude, "alter table users enable row level security")
        #expect(enabled.table(named: "users")?.rowLevelSecurity == true)
        let disabled = try MigrationFixture.schema(Self.prelude, "alter table users enable row level security; alter table users disable row level security")
        #expect(disabled.table(named: "users")?.rowLevelSecurity == false)
    }

    @Test func addColumnExtendsTheModel() throws {
        let schema = try MigrationFixture.schema(
            Self.prelude,
            "alter table posts add column slug varchar(20) unique, add column editor bigint references users (id), add column n int check (n > 0)"
        )
        let posts = try #require(schema.table(named: "posts"))
        #expect(posts.columns.map(\.name) == ["id", "author", "body", "slug", "editor", "n"])
        #expect(posts.uniqueConstraints == [["slug"]])
        #expect(posts.foreignKeys.map(\.columns) == [["author"], ["editor"]])
        #expect(posts.checks.last == CheckConstraint(name: nil, expression: .binary(">", .column(qualifier: nil, name: "n"), .literal(.number("0")))))
    }

    @Test func renameColumnKeepsKeysIndexesChecksAndPoliciesInStep() throws {
        let schema = try MigrationFixture.schema(
            Self.prelude,
            """
            create table follows (a bigint references users (id), b text references users (email), primary key (a));
            create policy own on posts using (exists (select 1 from users u where u.id = author and u.email is not null));
            create policy mine on users using (id = 1 and users.id > 0);
            alter table users rename column id to user_id;
            alter table users rename column email to mail;
            alter table posts rename column body to text;
            """
        )
        let users = try #require(schema.table(named: "users"))
        #expect(users.columns.map(\.name) == ["user_id", "mail", "code", "age"])
        #expect(users.primaryKey == ["user_id"])
        #expect(users.uniqueConstraints == [["mail"]])
        #expect(users.policies.first?.using == .binary(
            "AND",
            .binary("=", .column(qualifier: nil, name: "user_id"), .literal(.number("1"))),
            .binary(">", .column(qualifier: "users", name: "user_id"), .literal(.number("0")))
        ))
        let posts = try #require(schema.table(named: "posts"))
        #expect(posts.foreignKeys == [ForeignKey(columns: ["author"], referencedTable: "users", referencedColumns: ["user_id"], onDelete: .cascade)])
        #expect(posts.checks == [CheckConstraint(name: nil, expression: .binary("<>", .column(qualifier: nil, name: "text"), .literal(.string(""))))])
        #expect(posts.policies.first?.using == .exists(Subquery(
            table: "users", alias: "u",
            condition: .binary(
                "AND",
                .binary("=", .column(qualifier: "u", name: "user_id"), .column(qualifier: nil, name: "author")),
                .isNull(.column(qualifier: "u", name: "mail"), negated: true)
            )
        )))
        #expect(schema.table(named: "follows")?.foreignKeys.map(\.referencedColumns) == [["user_id"], ["mail"]])
    }

    @Test func renameTableKeepsReferencesInStep() throws {
        let schema = try MigrationFixture.schema(
            Self.prelude,
            """
            create policy own on posts using (exists (select 1 from users where users.id = posts.author));
            create policy self on users using (users.id = 1);
            alter table users rename to members;
            alter table posts rename to articles;
            """
        )
        #expect(schema.tables.map(\.name) == ["members", "articles"])
        #expect(schema.indexes.map(\.table) == ["members", "members"])
        #expect(schema.table(named: "articles")?.foreignKeys.map(\.referencedTable) == ["members"])
        #expect(schema.table(named: "members")?.policies == [
            Policy(name: "self", table: "members", using: .binary("=", .column(qualifier: "members", name: "id"), .literal(.number("1"))), withCheck: nil),
        ])
        #expect(schema.table(named: "articles")?.policies == [
            Policy(
                name: "own", table: "articles",
                using: .exists(Subquery(
                    table: "members", alias: nil,
                    condition: .binary("=", .column(qualifier: "members", name: "id"), .column(qualifier: "articles", name: "author"))
                )),
                withCheck: nil
            ),
        ])
    }

    @Test func aSecondUniqueIndexFreesTheFirst() throws {
        let schema = try MigrationFixture.schema(
            Self.prelude,
            "create unique index u1 on users (code); create unique index u2 on users (code); create table t (c text references users (code))"
        )
        let plan = try MigrationPlanner.plan("drop index u1", on: schema, namespace: .sqlite)
        #expect(plan.statements == [#"DROP INDEX "u1""#])
        #expect(MigrationFixture.error("drop index u2", on: plan.schema) == MigrationError(line: 1, column: 12, message: #"index "u2" is what makes users (code) unique for a foreign key of table "t"; drop that table first"#))
    }

    @Test func dropColumnRemovesItsIndexes() throws {
        let schema = try MigrationFixture.schema(Self.prelude, "alter table users drop column age")
        #expect(schema.indexes.isEmpty)
        #expect(schema.table(named: "users")?.columns.map(\.name) == ["id", "email", "code"])
    }

    @Test func dropTableRemovesItsIndexesAndCascadesToPolicies() throws {
        let schema = try MigrationFixture.schema(Self.prelude, "create table tags (id int primary key); create policy p on tags using (exists (select 1 from posts where author = 1)); create policy q on tags using (id > 0)")
        let plan = try MigrationPlanner.plan("drop table users, posts cascade", on: schema, namespace: .sqlite)
        #expect(plan.schema.tables.map(\.name) == ["tags"])
        #expect(plan.schema.indexes.isEmpty)
        #expect(plan.schema.table(named: "tags")?.policies.map(\.name) == ["q"])
        #expect(plan.warnings == [#"DROP TABLE ... CASCADE dropped the policy "p" on "tags", which read table "posts""#])

        let error = MigrationFixture.error("drop table users, posts", on: schema)
        #expect(error == MigrationError(line: 1, column: 19, message: #"table "posts" is used by the policy "p" on "tags"; drop the policy first or use CASCADE"#))
    }

    static let refusals: [(sql: String, column: Int, message: String)] = [
        ("drop table users", 12, #"table "users" is referenced by a foreign key of table "posts"; drop "posts" first or in the same statement (SQLite cannot drop a foreign key, so CASCADE does not either)"#),
        ("drop table users cascade", 12, #"table "users" is referenced by a foreign key of table "posts"; drop "posts" first or in the same statement (SQLite cannot drop a foreign key, so CASCADE does not either)"#),
        ("alter table posts drop column author", 31, #"cannot drop column "author" of "posts": it has a foreign key, which SQLite cannot drop"#),
        ("alter table posts drop column body", 31, #"cannot drop column "body" of "posts": it is used by the CHECK constraint, which SQLite cannot drop"#),
        ("create table t (a int); alter table t drop column a", 51, #"cannot drop column "a" of "t": it is the table's only column"#),
        ("create table t (a int references users(id)); alter table users drop column id", 76, #"cannot drop column "id" of "users": it is part of the primary key"#),
        ("create table t (a text references users(email)); alter table users add column x int; alter table users drop column email", 116, #"cannot drop column "email" of "users": it is part of UNIQUE (email), which SQLite cannot drop"#),
        ("create unique index u on users (code); create table t (c varchar(10) references users (code)); alter table users drop column code", 126, #"cannot drop column "code" of "users": a foreign key of table "t" references it"#),
        ("create unique index u on users (code); create table t (c varchar(10) references users (code)); drop index u", 107, #"index "u" is what makes users (code) unique for a foreign key of table "t"; drop that table first"#),
        ("create policy p on posts using (exists (select 1 from users where age > 1)); alter table users drop column age", 108, #"cannot drop column "age" of "users": it is used by the policy "p" on "posts"; drop the policy first"#),
    ]

    @Test(arguments: refusals)
    func refused(sql: String, column: Int, message: String) throws {
        let schema = try MigrationFixture.schema(Self.prelude)
        #expect(MigrationFixture.error(sql, on: schema) == MigrationError(line: 1, column: column, message: message))
    }
}
