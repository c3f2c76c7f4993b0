import Testing
@testable import CellbaseSQL

/// Every accepted column type, constraint and default, with the exact DDL on both dialects.
struct MigrationCreateTableTests {
    static let uuidSQL = "(" + MigrationDDL.sqliteRandomUUID + ")"
    static let nowSQL = "(rtrim(rtrim(strftime('%Y-%m-%dT%H:%M:%f','now'),'0'),'.'))"
    static let nowTZSQL = "(rtrim(rtrim(strftime('%Y-%m-%dT%H:%M:%f','now'),'0'),'.') || '+00:00')"

    /// `create table t (<column>)` → the column's definition on SQLite and on PostgreSQL.
    static let columns: [(column: String, sqlite: String, postgres: String)] = [
        ("a text", #""a" TEXT"#, #""a" text"#),
        ("a varchar", #""a" TEXT"#, #""a" character varying"#),
        ("a varchar(20)", #""a" TEXT CHECK (length("a") <= 20)"#, #""a" character varying(20)"#),
        ("a character varying(5)", #""a" TEXT CHECK (length("a") <= 5)"#, #""a" character varying(5)"#),
        ("a int2", #""a" INTEGER"#, #""a" smallint"#),
        ("a smallint", #""a" INTEGER"#, #""a" smallint"#),
        ("a int", #""a" INTEGER"#, #""a" integer"#),
        ("a int4", #""a" INTEGER"#, #""a" integer"#),
        ("a integer", #""a" INTEGER"#, #""a" integer"#),
        ("a int8", #""a" INTEGER"#, #""a" bigint"#),
        ("a bigint", #""a" INTEGER"#, #""a" bigint"#),
        ("a float4", #""a" REAL"#, #""a" real"#),
        ("a real", #""a" REAL"#, #""a" real"#),
        ("a float8", #""a" REAL"#, #""a" double precision"#),
        ("a double precision", #""a" REAL"#, #""a" double precision"#),
        ("a numeric", #""a" NUMERIC"#, #""a" numeric"#),
        ("a decimal(10)", #""a" NUMERIC"#, #""a" numeric(10)"#),
        ("a numeric(10, 2)", #""a" NUMERIC"#, #""a" numeric(10,2)"#),
        ("a boolean", #""a" INTEGER CHECK ("a" IN (0,1))"#, #""a" boolean"#),
        ("a bool", #""a" INTEGER CHECK ("a" IN (0,1))"#, #""a" boolean"#),
        ("a date", #""a" TEXT"#, #""a" date"#),
        ("a timestamp", #""a" TEXT"#, #""a" timestamp without time zone"#),
        ("a timestamp without time zone", #""a" TEXT"#, #""a" timestamp without time zone"#),
        ("a timestamptz", #""a" TEXT"#, #""a" timestamp with time zone"#),
        ("a timestamp with time zone", #""a" TEXT"#, #""a" timestamp with time zone"#),
        ("a uuid", #""a" TEXT"#, #""a" uuid"#),
        ("a json", #""a" TEXT"#, #""a" json"#),
        ("a jsonb", #""a" TEXT"#, #""a" jsonb"#),
        ("a bytea", #""a" BLOB"#, #""a" bytea"#),
        ("a text[]", #""a" TEXT"#, #""a" text[]"#),
        ("a int[]", #""a" TEXT"#, #""a" integer[]"#),
        ("a integer array", #""a" TEXT"#, #""a" integer[]"#),
        ("a uuid[] not null default '{ }'", #""a" TEXT NOT NULL DEFAULT '[]'"#, #""a" uuid[] NOT NULL DEFAULT '{}'"#),
        ("\"Mixed \"\"Case\"\"\" text", #""Mixed ""Case""" TEXT"#, #""Mixed ""Case""" text"#),
        ("MixedCase TEXT", #""mixedcase" TEXT"#, #""mixedcase" text"#),
        ("a text not null", #""a" TEXT NOT NULL"#, #""a" text NOT NULL"#),
        ("a text null", #""a" TEXT"#, #""a" text"#),
        ("a text default 'it''s'", #""a" TEXT DEFAULT 'it''s'"#, #""a" text DEFAULT 'it''s'"#),
        ("a text default null", #""a" TEXT DEFAULT NULL"#, #""a" text DEFAULT NULL"#),
        ("a text default ('x')", #""a" TEXT DEFAULT 'x'"#, #""a" text DEFAULT 'x'"#),
        ("a varchar(3) default 'abc'::varchar", #""a" TEXT DEFAULT 'abc' CHECK (length("a") <= 3)"#, #""a" character varying(3) DEFAULT 'abc'"#),
        ("a int default -1", #""a" INTEGER DEFAULT -1"#, #""a" integer DEFAULT -1"#),
        ("a int default 007", #""a" INTEGER DEFAULT 7"#, #""a" integer DEFAULT 7"#),
        ("a smallint default -32768", #""a" INTEGER DEFAULT -32768"#, #""a" smallint DEFAULT -32768"#),
        ("a bigint default 9223372036854775807", #""a" INTEGER DEFAULT 9223372036854775807"#, #""a" bigint DEFAULT 9223372036854775807"#),
        ("a real default 1.5e3", #""a" REAL DEFAULT 1.5e3"#, #""a" real DEFAULT 1.5e3"#),
        ("a numeric default .5", #""a" NUMERIC DEFAULT .5"#, #""a" numeric DEFAULT .5"#),
        ("a boolean default true", #""a" INTEGER DEFAULT 1 CHECK ("a" IN (0,1))"#, #""a" boolean DEFAULT true"#),
        ("a boolean not null default false", #""a" INTEGER NOT NULL DEFAULT 0 CHECK ("a" IN (0,1))"#, #""a" boolean NOT NULL DEFAULT false"#),
        ("a timestamptz default now()", #""a" TEXT DEFAULT \#(nowTZSQL)"#, #""a" timestamp with time zone DEFAULT now()"#),
        ("a timestamptz default current_timestamp", #""a" TEXT DEFAULT \#(nowTZSQL)"#, #""a" timestamp with time zone DEFAULT now()"#),
        ("a timestamp default now()", #""a" TEXT DEFAULT \#(nowSQL)"#, #""a" timestamp without time zone DEFAULT now()"#),
        ("a date default current_date", #""a" TEXT DEFAULT (date('now'))"#, #""a" date DEFAULT CURRENT_DATE"#),
        ("a uuid default gen_random_uuid()", #""a" TEXT DEFAULT \#(uuidSQL)"#, #""a" uuid DEFAULT gen_random_uuid()"#),
        ("a timestamptz default '2024-01-01 12:00:00.500000+02'", #""a" TEXT DEFAULT '2024-01-01T10:00:00.5+00:00'"#, #""a" timestamp with time zone DEFAULT '2024-01-01T10:00:00.5+00:00'"#),
        ("a timestamp default '2024-01-01 12:00'", #""a" TEXT DEFAULT '2024-01-01T12:00:00'"#, #""a" timestamp without time zone DEFAULT '2024-01-01T12:00:00'"#),
        ("a date default '2024-1-2'", #""a" TEXT DEFAULT '2024-01-02'"#, #""a" date DEFAULT '2024-01-02'"#),
        ("a uuid default 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", #""a" TEXT DEFAULT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"#, #""a" uuid DEFAULT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"#),
        ("a jsonb default '{ \"k\" : [1, true, null, \"v w\"] }'::jsonb", #""a" TEXT DEFAULT '{"k":[1,true,null,"v w"]}'"#, #""a" jsonb DEFAULT '{"k":[1,true,null,"v w"]}'"#),
        ("a json default '[]'::json", #""a" TEXT DEFAULT '[]'"#, #""a" json DEFAULT '[]'"#),
        ("a jsonb default '\"it''s\"'", #""a" TEXT DEFAULT '"it''s"'"#, #""a" jsonb DEFAULT '"it''s"'"#),
        ("a bytea default '\\xDEADbeef'", #""a" BLOB DEFAULT X'deadbeef'"#, #""a" bytea DEFAULT '\xdeadbeef'"#),
        ("a int check (a > 0)", #""a" INTEGER, CHECK ("a" > 0)"#, #""a" integer, CHECK ("a" > 0)"#),
        ("a int constraint positive check (a >= -1)", #""a" INTEGER, CONSTRAINT "positive" CHECK ("a" >= -1)"#, #""a" integer, CONSTRAINT "positive" CHECK ("a" >= -1)"#),
        ("a boolean check (a = true or a is null)", #""a" INTEGER CHECK ("a" IN (0,1)), CHECK (("a" = 1) OR ("a" IS NULL))"#, #""a" boolean, CHECK (("a" = true) OR ("a" IS NULL))"#),
        ("a text check (char_length(a) <= 2 and not (a not in ('x', 'y')))", #""a" TEXT, CHECK ((length("a") <= 2) AND (NOT ("a" NOT IN ('x', 'y'))))"#, #""a" text, CHECK ((char_length("a") <= 2) AND (NOT ("a" NOT IN ('x', 'y'))))"#),
    ]

    @Test(arguments: columns)
    func column(column: String, sqlite: String, postgres: String) throws {
        let ddl = try MigrationFixture.ddl("create table t (\(column))")
        #expect(ddl.sqlite == ["CREATE TABLE \"t\" (\(sqlite))"])
        #expect(ddl.postgres == ["CREATE TABLE \"p\".\"t\" (\(postgres))"])
    }

    /// Whole statements with keys, identities and references, on top of the fixture tables.
    static let tables: [(sql: String, sqlite: String, postgres: String)] = [
        (
            "create table t (id serial primary key)",
            #"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL)"#,
            #"CREATE TABLE "p"."t" ("id" integer GENERATED BY DEFAULT AS IDENTITY NOT NULL, PRIMARY KEY ("id"))"#
        ),
        (
            "create table t (id bigserial, name text, primary key (id))",
            #"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "name" TEXT)"#,
            #"CREATE TABLE "p"."t" ("id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL, "name" text, PRIMARY KEY ("id"))"#
        ),
        (
            "create table t (id smallint generated always as identity primary key)",
            #"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL)"#,
            #"CREATE TABLE "p"."t" ("id" smallint GENERATED ALWAYS AS IDENTITY NOT NULL, PRIMARY KEY ("id"))"#
        ),
        (
            "create table t (id bigint generated by default as identity not null primary key)",
            #"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL)"#,
            #"CREATE TABLE "p"."t" ("id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL, PRIMARY KEY ("id"))"#
        ),
        (
            "CREATE TABLE IF NOT EXISTS public.T (A uuid PRIMARY KEY, B text UNIQUE)",
            #"CREATE TABLE "t" ("a" TEXT NOT NULL, "b" TEXT, PRIMARY KEY ("a"), UNIQUE ("b"))"#,
            #"CREATE TABLE "p"."t" ("a" uuid NOT NULL, "b" text, PRIMARY KEY ("a"), UNIQUE ("b"))"#
        ),
        (
            "create table t (a int, b text, constraint t_pk primary key (a, b), constraint ab unique (b, a))",
            #"CREATE TABLE "t" ("a" INTEGER NOT NULL, "b" TEXT NOT NULL, PRIMARY KEY ("a", "b"), UNIQUE ("b", "a"))"#,
            #"CREATE TABLE "p"."t" ("a" integer NOT NULL, "b" text NOT NULL, PRIMARY KEY ("a", "b"), UNIQUE ("b", "a"))"#
        ),
        (
            "create table t (u int references users, o uuid references public.orgs (id) on delete cascade)",
            #"CREATE TABLE "t" ("u" INTEGER, "o" TEXT, FOREIGN KEY ("u") REFERENCES "users" ("id"), FOREIGN KEY ("o") REFERENCES "orgs" ("id") ON DELETE CASCADE)"#,
            #"CREATE TABLE "p"."t" ("u" integer, "o" uuid, FOREIGN KEY ("u") REFERENCES "p"."users" ("id"), FOREIGN KEY ("o") REFERENCES "p"."orgs" ("id") ON DELETE CASCADE)"#
        ),
        (
            "create table t (e varchar(50) constraint fk references users (email) on delete set null, u bigint references users on delete restrict)",
            #"CREATE TABLE "t" ("e" TEXT CHECK (length("e") <= 50), "u" INTEGER, FOREIGN KEY ("e") REFERENCES "users" ("email") ON DELETE SET NULL, FOREIGN KEY ("u") REFERENCES "users" ("id") ON DELETE RESTRICT)"#,
            #"CREATE TABLE "p"."t" ("e" character varying(50), "u" bigint, FOREIGN KEY ("e") REFERENCES "p"."users" ("email") ON DELETE SET NULL, FOREIGN KEY ("u") REFERENCES "p"."users" ("id") ON DELETE RESTRICT)"#
        ),
        (
            "create table t (u bigint default 1 references users on delete set default)",
            #"CREATE TABLE "t" ("u" INTEGER DEFAULT 1, FOREIGN KEY ("u") REFERENCES "users" ("id") ON DELETE SET DEFAULT)"#,
            #"CREATE TABLE "p"."t" ("u" bigint DEFAULT 1, FOREIGN KEY ("u") REFERENCES "p"."users" ("id") ON DELETE SET DEFAULT)"#
        ),
        (
            "create table t (id int primary key, parent smallint, foreign key (parent) references t (id) on delete cascade)",
            #"CREATE TABLE "t" ("id" INTEGER NOT NULL, "parent" INTEGER, PRIMARY KEY ("id"), FOREIGN KEY ("parent") REFERENCES "t" ("id") ON DELETE CASCADE)"#,
            #"CREATE TABLE "p"."t" ("id" integer NOT NULL, "parent" smallint, PRIMARY KEY ("id"), FOREIGN KEY ("parent") REFERENCES "p"."t" ("id") ON DELETE CASCADE)"#
        ),
        (
            "create table t (a int, b int, unique (a, b), check (a < b), foreign key (b, a) references t (b, a))",
            #"CREATE TABLE "t" ("a" INTEGER, "b" INTEGER, UNIQUE ("a", "b"), FOREIGN KEY ("b", "a") REFERENCES "t" ("b", "a"), CHECK ("a" < "b"))"#,
            #"CREATE TABLE "p"."t" ("a" integer, "b" integer, UNIQUE ("a", "b"), FOREIGN KEY ("b", "a") REFERENCES "p"."t" ("b", "a"), CHECK ("a" < "b"))"#
        ),
        (
            "create table \"we\"\"ird\" (\"select\" text, \"ü\" int check (\"ü\" <> 0))",
            #"CREATE TABLE "we""ird" ("select" TEXT, "ü" INTEGER, CHECK ("ü" <> 0))"#,
            #"CREATE TABLE "p"."we""ird" ("select" text, "ü" integer, CHECK ("ü" <> 0))"#
        ),
    ]

    @Test(arguments: tables)
    func table(sql: String, sqlite: String, postgres: String) throws {
        let ddl = try MigrationFixture.ddl(sql, on: MigrationFixture.base)
        #expect(ddl.sqlite == [sqlite])
        #expect(ddl.postgres == [postgres])
    }

    @Test func modelOfATable() throws {
        let schema = try MigrationFixture.schema(
            MigrationFixture.baseSQL,
            "create table t (id bigserial primary key, name varchar(9) not null default 'x' unique, o uuid references orgs on delete cascade, at timestamptz default now(), constraint c check (name <> ''))"
        )
        #expect(schema.table(named: "t") == Table(
            name: "t",
            columns: [
                Column(name: "id", type: .bigint, isNullable: false, identity: .byDefault),
                Column(name: "name", type: .varchar(length: 9), isNullable: false, defaultValue: .string("x")),
                Column(name: "o", type: .uuid),
                Column(name: "at", type: .timestamptz, defaultValue: .now),
            ],
            primaryKey: ["id"],
            uniqueConstraints: [["name"]],
            foreignKeys: [ForeignKey(columns: ["o"], referencedTable: "orgs", referencedColumns: ["id"], onDelete: .cascade)],
            checks: [CheckConstraint(name: "c", expression: .binary("<>", .column(qualifier: nil, name: "name"), .literal(.string(""))))]
        ))
    }
}
