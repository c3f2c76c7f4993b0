import Testing
@testable import CellbaseSQL

/// `ALTER PUBLICATION supabase_realtime`, `REPLICA IDENTITY`, and the capture DDL a migration
/// wraps around its own statements on both dialects.
struct ChangeCaptureTests {
    static let prelude = """
        create table todos (id bigint primary key, title text, done boolean, tags text[], body jsonb, blob bytea);
        create table notes (a int, b text);
        create table pairs (x int, y int, label text, primary key (x, y));
        """
    static let base = try! MigrationFixture.schema(prelude)
    static let published = try! MigrationFixture.schema(prelude, "alter publication supabase_realtime add table todos")

    static func published(_ schema: Schema) -> [String] {
        schema.tables.filter(\.isPublished).map(\.name)
    }

    // MARK: Grammar and model

    @Test(arguments: [
        ("alter publication supabase_realtime add table todos", ["todos"]),
        ("ALTER PUBLICATION supabase_realtime ADD TABLE public.todos, notes", ["todos", "notes"]),
        (#"alter publication "supabase_realtime" add table only pairs"#, ["pairs"]),
        ("alter publication supabase_realtime set table notes, pairs", ["notes", "pairs"]),
        ("alter publication supabase_realtime add table todos, notes; alter publication supabase_realtime drop table todos", ["notes"]),
        ("alter publication supabase_realtime add table todos; alter publication supabase_realtime set table notes", ["notes"]),
    ])
    func publicationMembership(sql: String, expected: [String]) throws {
        let schema = try MigrationPlanner.plan(sql, on: Self.base, namespace: .sqlite).schema
        #expect(Self.published(schema) == expected.sorted { a, b in
            Self.base.tables.firstIndex { $0.name == a }! < Self.base.tables.firstIndex { $0.name == b }!
        })
    }

    @Test func publicationSurvivesReplayAndRename() throws {
        let schema = try MigrationFixture.schema(
            Self.prelude,
            "alter publication supabase_realtime add table todos; alter table todos replica identity full",
            "alter table todos rename to tasks"
        )
        let tasks = try #require(schema.table(named: "tasks"))
        #expect(tasks.isPublished)
        #expect(tasks.replicaIdentityFull)
        let reset = try MigrationPlanner.plan("alter table tasks replica identity default", on: schema, namespace: .sqlite).schema
        #expect(reset.table(named: "tasks")?.replicaIdentityFull == false)
    }

    @Test(arguments: [
        ("alter publication other add table todos", "the only publication is supabase_realtime"),
        ("alter publication supabase_realtime add table nope", "table \"nope\" does not exist"),
        ("alter publication supabase_realtime add table todos, todos", "is named twice"),
        ("alter publication supabase_realtime drop table todos", "is not part of the publication"),
        ("alter publication supabase_realtime add tables in schema public", "TABLES IN SCHEMA is not supported"),
        ("alter publication supabase_realtime add table todos (id)", "column lists in publications are not supported"),
        ("alter publication supabase_realtime add table todos where (done)", "row filters in publications are not supported"),
        ("alter publication supabase_realtime rename to x", "expected ADD TABLE, DROP TABLE or SET TABLE"),
        ("alter publication supabase_realtime add table auth.users", "tables of the auth schema"),
        ("alter table todos replica identity nothing", "supported: REPLICA IDENTITY FULL and REPLICA IDENTITY DEFAULT"),
        ("alter table todos replica identity using index todos_pkey", "supported: REPLICA IDENTITY FULL"),
    ])
    func rejected(sql: String, message: String) throws {
        let error = try #require(MigrationFixture.error(sql, on: Self.base))
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func addingAMemberTwiceIsRefused() throws {
        let error = try #require(MigrationFixture.error("alter publication supabase_realtime add table todos", on: Self.published))
        #expect(error.message.contains("already member of publication"))
    }

    // MARK: DDL

    @Test func publishingCreatesTheLogAndTriggersOnSQLite() throws {
        let statements = try MigrationFixture.ddl("alter publication supabase_realtime add table todos", on: Self.base).sqlite
        #expect(statements.count == 7)
        #expect(statements[0].hasPrefix(#"CREATE TABLE IF NOT EXISTS "_cellbase_changes" (seq INTEGER PRIMARY KEY AUTOINCREMENT"#))
        #expect(statements[1].hasPrefix(#"CREATE TABLE IF NOT EXISTS "_cellbase_change_settings""#))
        #expect(statements[2] == #"INSERT OR IGNORE INTO "_cellbase_change_settings" VALUES (1, 100000, 86400)"#)
        #expect(statements[3].contains("WHEN NEW.seq % 1024 = 0"))
        let insert = statements[4]
        #expect(insert.hasPrefix(#"CREATE TRIGGER "_cellbase_capture_todos_insert" AFTER INSERT ON "todos" BEGIN"#))
        #expect(insert.contains(#"VALUES ('todos', 'INSERT', json_object('id', NEW."id", 'title', NEW."title", 'done', CASE WHEN NEW."done" IS NULL THEN NULL WHEN NEW."done" THEN json('true') ELSE json('false') END, 'tags', json(NEW."tags"), 'body', json(NEW."body"), 'blob', CASE WHEN NEW."blob" IS NULL THEN NULL ELSE '\x' || lower(hex(NEW."blob")) END), NULL, "#))
        let update = statements[5]
        #expect(update.hasPrefix(#"CREATE TRIGGER "_cellbase_capture_todos_update" AFTER UPDATE ON "todos""#))
        #expect(update.contains(#"'UPDATE', json_object('id', NEW."id", "#))
        #expect(update.contains(#"json_object('id', OLD."id"), strftime("#), "the old row holds the key only")
        let delete = statements[6]
        #expect(delete.contains(#"'DELETE', NULL, json_object('id', OLD."id"), strftime("#))
    }

    @Test func publishingCreatesTheFunctionAndAConstraintTriggerOnPostgreSQL() throws {
        let statements = try MigrationFixture.ddl("alter publication supabase_realtime add table todos, pairs", on: Self.base).postgres
        #expect(statements.count == 6)
        #expect(statements[0].hasPrefix(#"CREATE TABLE IF NOT EXISTS "p"."_cellbase_changes" (seq bigserial PRIMARY KEY"#))
        #expect(statements[3].hasPrefix(#"CREATE OR REPLACE FUNCTION "p"."_cellbase_capture"() RETURNS trigger"#))
        #expect(statements[3].contains("pg_advisory_xact_lock(hashtext('cellbase_changes:p'))"))
        #expect(statements[3].contains("pg_notify('cellbase_changes', 'p')"))
        #expect(statements[4] == #"CREATE CONSTRAINT TRIGGER "_cellbase_capture" AFTER INSERT OR UPDATE OR DELETE ON "p"."todos" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "p"."_cellbase_capture"('key', 'id')"#)
        #expect(statements[5].hasSuffix(#"ON "p"."pairs" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "p"."_cellbase_capture"('key', 'x', 'y')"#))
    }

    @Test func fullReplicaIdentityAndKeylessTablesRecordTheWholeOldRow() throws {
        let full = try MigrationFixture.ddl("alter table todos replica identity full", on: Self.published)
        #expect(full.postgres.first == #"DROP TRIGGER IF EXISTS "_cellbase_capture" ON "p"."todos""#)
        #expect(full.postgres.last?.hasSuffix(#"EXECUTE FUNCTION "p"."_cellbase_capture"('full')"#) == true)
        #expect(full.sqlite.last?.contains(#"'DELETE', NULL, json_object('id', OLD."id", 'title', OLD."title", "#) == true)
        let keyless = try MigrationFixture.ddl("alter publication supabase_realtime add table notes", on: Self.base)
        #expect(keyless.postgres.last?.hasSuffix(#"('full')"#) == true)
        #expect(keyless.sqlite.last?.contains(#"'DELETE', NULL, json_object('a', OLD."a", 'b', OLD."b"), "#) == true)
    }

    @Test func columnChangesRecreateTheCaptureAroundTheAlter() throws {
        let added = try MigrationFixture.ddl("alter table todos add column due date", on: Self.published).sqlite
        #expect(Array(added.prefix(3)) == ["insert", "update", "delete"].map { #"DROP TRIGGER IF EXISTS "_cellbase_capture_todos_\#($0)""# })
        #expect(added[3] == #"ALTER TABLE "todos" ADD COLUMN "due" TEXT"#)
        #expect(added.last?.contains(#"'due', OLD."due""#) == false)
        #expect(added[added.count - 3].contains(#"'due', NEW."due""#))
        let dropped = try MigrationFixture.ddl("alter table todos drop column title", on: Self.published).sqlite
        #expect(dropped[3] == #"ALTER TABLE "todos" DROP COLUMN "title""#, "triggers go before the column they name")
        #expect(!dropped.dropFirst(4).contains { $0.contains(#""title""#) })
    }

    @Test func renamingAPublishedTableMovesItsCapture() throws {
        let sqlite = try MigrationFixture.ddl("alter table todos rename to tasks", on: Self.published).sqlite
        #expect(sqlite[0] == #"DROP TRIGGER IF EXISTS "_cellbase_capture_todos_insert""#)
        #expect(sqlite[3] == #"ALTER TABLE "todos" RENAME TO "tasks""#)
        #expect(sqlite.last?.hasPrefix(#"CREATE TRIGGER "_cellbase_capture_tasks_delete" AFTER DELETE ON "tasks""#) == true)
        #expect(sqlite.last?.contains("VALUES ('tasks', 'DELETE'") == true)
    }

    @Test func unrelatedMigrationsAndUnpublishingLeaveTheLogAlone() throws {
        let unrelated = try MigrationFixture.ddl("create table other (id int primary key); alter table notes add column c int", on: Self.published)
        #expect(!unrelated.sqlite.contains { $0.contains("_cellbase") })
        #expect(!unrelated.postgres.contains { $0.contains("_cellbase") })
        let unpublished = try MigrationFixture.ddl("alter publication supabase_realtime drop table todos", on: Self.published)
        #expect(unpublished.sqlite.count == 3 && unpublished.sqlite.allSatisfy { $0.hasPrefix("DROP TRIGGER IF EXISTS") })
        #expect(unpublished.postgres == [#"DROP TRIGGER IF EXISTS "_cellbase_capture" ON "p"."todos""#])
        let dropped = try MigrationFixture.ddl("drop table todos", on: Self.published).sqlite
        #expect(dropped.last == #"DROP TABLE "todos""#)
    }
}
