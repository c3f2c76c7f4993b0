import CellbaseSQL
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import Cellbase

/// The change log through the real application: writes through the Data API, bulk writes and
/// plain SQL on the shard reach a subscriber in commit order, each exactly once.
@Suite("Change log")
struct ChangeLogTests {
    static let schema = """
        create table todos (id bigint primary key, title text not null, done boolean not null default false, meta jsonb);
        create table quiet (id int primary key);
        alter publication supabase_realtime add table todos;
        """

    /// Runs `body` with a fresh project holding `schema` and a subscription to its changes.
    static func withChanges(
        _ backend: Backend, sql: String = schema,
        _ body: @Sendable (TestClient, TestProject, Project, ChangeCollector) async throws -> Void
    ) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project(migration: sql)
            let resolved = try #require(try await client.node.directory.project(ref: project.ref))
            let collector = ChangeCollector(try await client.node.changes.changes(of: resolved))
            try await body(client, project, resolved, collector)
        }
    }

    static func insert(_ client: TestClient, _ project: TestProject, _ rows: String) async throws {
        let answer = try await client.rest(.post, "todos", project: project, key: project.serviceRoleKey, body: rows)
        #expect(answer.status == .created, "\(answer.body)")
    }

    @Test(arguments: Backend.allCases)
    func apiWritesArriveInOrderWithTheirRows(_ backend: Backend) async throws {
        try await Self.withChanges(backend) { client, project, _, changes in
            try await Self.insert(client, project, #"[{"id":1,"title":"a","meta":{"k":[1,2]}},{"id":2,"title":"b","meta":null}]"#)
            let patched = try await client.rest(.patch, "todos?id=eq.1", project: project, key: project.serviceRoleKey, body: #"{"done":true}"#)
            #expect(patched.status == .noContent)
            let deleted = try await client.rest(.delete, "todos?id=eq.2", project: project, key: project.serviceRoleKey)
            #expect(deleted.status == .noContent)
            let quiet = try await client.rest(.post, "quiet", project: project, key: project.serviceRoleKey, body: #"{"id":1}"#)
            #expect(quiet.status == .created)

            let received = try await changes.next(4)
            #expect(received.map(\.operation) == [.insert, .insert, .update, .delete])
            #expect(received.map(\.table) == ["todos", "todos", "todos", "todos"])
            #expect(zip(received, received.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            #expect(received[0].record?.normalizedNumbers == (try json(#"{"id":1,"title":"a","done":false,"meta":{"k":[1,2]}}"#)))
            #expect(received[0].oldRecord == nil)
            #expect(received[2].record?.normalizedNumbers == (try json(#"{"id":1,"title":"a","done":true,"meta":{"k":[1,2]}}"#)))
            #expect(received[2].oldRecord?.normalizedNumbers == (try json(#"{"id":1}"#)), "the old row is the key by default")
            #expect(received[3].record == nil)
            #expect(received[3].oldRecord?.normalizedNumbers == (try json(#"{"id":2}"#)))
            for change in received {
                #expect(change.committedAt.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(change.committedAt)")
            }
            #expect(try await changes.isQuiet(), "the unpublished table records nothing, and nothing arrives twice")
        }
    }

    @Test(arguments: Backend.allCases)
    func aBulkUpdateArrivesWholeAndOnce(_ backend: Backend) async throws {
        try await Self.withChanges(backend) { client, project, _, changes in
            let rows = (1...1_500).map { #"{"id":\#($0),"title":"t\#($0)"}"# }.joined(separator: ",")
            try await Self.insert(client, project, "[\(rows)]")
            let patched = try await client.rest(.patch, "todos?id=gt.0", project: project, key: project.serviceRoleKey, body: #"{"done":true}"#)
            #expect(patched.status == .noContent)
            let received = try await changes.next(3_000)
            #expect(received.prefix(1_500).allSatisfy { $0.operation == .insert })
            #expect(received.suffix(1_500).allSatisfy { $0.operation == .update })
            #expect(Set(received.suffix(1_500).compactMap { $0.oldRecord?["id"] }).count == 1_500)
            #expect(zip(received, received.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            #expect(try await changes.isQuiet())
        }
    }

    @Test(arguments: Backend.allCases)
    func plainSQLOnTheShardIsSeen(_ backend: Backend) async throws {
        try await Self.withChanges(backend) { client, project, resolved, changes in
            let shard = try client.node.projects.shard(for: resolved)
            let table = shard.namespace(for: project.ref).qualified("todos")
            try await Self.runSQL(on: shard, ref: project.ref, [
                "INSERT INTO \(table) (id, title) VALUES (7, 'typed')",
                "UPDATE \(table) SET title = 'retyped' WHERE id = 7",
            ])
            let received = try await changes.next(2)
            #expect(received.map(\.operation) == [.insert, .update])
            #expect(received[1].record?["title"] == .string("retyped"))
        }
    }

    @Test(arguments: Backend.allCases)
    func replicaIdentityFullRecordsTheWholeOldRow(_ backend: Backend) async throws {
        try await Self.withChanges(backend, sql: Self.schema + "alter table todos replica identity full;") { client, project, _, changes in
            try await Self.insert(client, project, #"{"id":1,"title":"a"}"#)
            _ = try await client.rest(.delete, "todos?id=eq.1", project: project, key: project.serviceRoleKey)
            let received = try await changes.next(2)
            #expect(received[1].oldRecord?.normalizedNumbers == (try json(#"{"id":1,"title":"a","done":false,"meta":null}"#)))
        }
    }

    @Test func aRolledBackTransactionRecordsNothingAndCommitsAreNumberedInCommitOrder() async throws {
        try await Self.withChanges(.postgres) { client, project, resolved, changes in
            let shard = try #require(try client.node.projects.shard(for: resolved) as? PostgresShard)
            let table = shard.namespace(for: project.ref).qualified("todos")
            await #expect(throws: (any Error).self) {
                try await shard.transaction { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) (id, title) VALUES (1, 'gone')"), logger: shard.logger)
                    throw CancellationError()
                }
            }
            // The first transaction writes first but commits last: its change is numbered last.
            try await shard.transaction { first in
                try await first.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) (id, title) VALUES (10, 'first written')"), logger: shard.logger)
                try await shard.transaction { second in
                    try await second.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) (id, title) VALUES (20, 'first committed')"), logger: shard.logger)
                }
            }
            let received = try await changes.next(2)
            #expect(received.map { $0.record?["title"] } == [.string("first committed"), .string("first written")])
            #expect(try await changes.isQuiet(), "the rolled back insert was never recorded")
        }
    }

    @Test(arguments: Backend.allCases)
    func theLogTrimsItselfToItsSettings(_ backend: Backend) async throws {
        try await Self.withChanges(backend) { client, project, resolved, changes in
            let shard = try client.node.projects.shard(for: resolved)
            let settings = shard.namespace(for: project.ref).qualified(ChangeCaptureDDL.settingsTable)
            try await Self.runSQL(on: shard, ref: project.ref, ["UPDATE \(settings) SET max_rows = 100"])
            let rows = (1...1_100).map { #"{"id":\#($0),"title":"t"}"# }.joined(separator: ",")
            try await Self.insert(client, project, "[\(rows)]")
            // One transaction: at sequence 1024 it trimmed its own first rows before anyone could
            // read them, so a subscriber sees the 176 the log kept.
            let received = try await changes.next(176)
            #expect(received.first?.sequence == 925)
            #expect(try await changes.isQuiet())
            let log = try #require(shard as? any ChangeLog)
            let kept = try await log.changes(ref: project.ref, after: 0, limit: 10_000)
            #expect(kept.first?.sequence == 925, "at sequence 1024 everything up to 1024 - 100 was trimmed")
            #expect(kept.last?.sequence == 1_100)
        }
    }

    @Test(arguments: Backend.allCases)
    func theAdminSwitchPublishesATableAndSetsRetention(_ backend: Backend) async throws {
        let sql = "create table todos (id bigint primary key, title text not null, done boolean not null default false, meta jsonb);"
        try await Self.withChanges(backend, sql: sql) { client, project, _, changes in
            let before = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/realtime")
            #expect(try before.json().unordered == (try json(#"{"tables":[{"name":"todos","published":false,"replica_identity":"default"}]}"#).unordered))
            try await Self.insert(client, project, #"{"id":1,"title":"unseen"}"#)

            let on = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/realtime/tables/todos", body: #"{"enabled":true}"#)
            #expect(on.status == .ok)
            #expect(try on.json()["tables"]?.unordered == (try json(#"[{"name":"todos","published":true,"replica_identity":"default"}]"#).unordered))
            #expect(try on.json()["retention"]?.unordered == (try json(#"{"max_rows":100000,"max_age_seconds":86400}"#).unordered))
            let again = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/realtime/tables/todos", body: #"{"enabled":true}"#)
            #expect(again.status == .ok, "switching on a published table changes nothing")
            try await Self.insert(client, project, #"{"id":2,"title":"seen"}"#)
            #expect(try await changes.next(1).map { $0.record?["title"] } == [.string("seen")])

            let retention = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/realtime/retention", body: #"{"max_rows":5000,"max_age_seconds":3600}"#)
            #expect(try retention.json()["retention"]?.unordered == (try json(#"{"max_rows":5000,"max_age_seconds":3600}"#).unordered))
            let invalid = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/realtime/retention", body: #"{"max_rows":0,"max_age_seconds":3600}"#)
            #expect(invalid.status == .badRequest && invalid.code == "invalid_body")

            let off = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/realtime/tables/todos", body: #"{"enabled":false}"#)
            #expect(try off.json()["tables"]?.unordered == (try json(#"[{"name":"todos","published":false,"replica_identity":"default"}]"#).unordered))
            try await Self.insert(client, project, #"{"id":3,"title":"unseen again"}"#)
            #expect(try await changes.isQuiet())

            let missing = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/realtime/tables/nope", body: #"{"enabled":true}"#)
            #expect(missing.status == .notFound && missing.code == "table_not_found")
            let migrations = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/migrations")
            #expect(try migrations.json().arrayCount == 3, "each switch is a migration of its own")
        }
    }

    @Test(arguments: Backend.allCases)
    func rowLevelSecurityDecidesWhoSeesAChange(_ backend: Backend) async throws {
        let sql = """
            create table notes (id bigint primary key, owner uuid, body text);
            alter table notes enable row level security;
            create policy own on notes for select to authenticated using (owner = auth.uid());
            create policy shared on notes for select using (body like 'shared%');
            alter publication supabase_realtime add table notes;
            """
        let alice = "11111111-1111-4111-8111-111111111111"
        let bob = "22222222-2222-4222-8222-222222222222"
        @Sendable func user(_ sub: String) -> RESTAccess {
            .role("authenticated", claims: .object([JSONMember(key: "sub", value: .string(sub)), JSONMember(key: "role", value: .string("authenticated"))]))
        }
        try await Self.withChanges(backend, sql: sql) { client, project, resolved, changes in
            let body = #"[{"id":1,"owner":"\#(alice)","body":"private"},{"id":2,"owner":"\#(bob)","body":"shared note"}]"#
            #expect(try await client.rest(.post, "notes", project: project, key: project.serviceRoleKey, body: body).status == .created)
            let inserted = try await changes.next(2)
            let table = try #require(try await client.node.projects.catalog(for: resolved).schema.table(named: "notes"))
            let visibility = PolicyChangeVisibility(projects: client.node.projects, logger: Logger(label: "cellbase.test"))
            @Sendable func sees(_ change: RowChange, _ access: RESTAccess) async -> Bool {
                await visibility.isVisible(change, in: table, to: access, project: resolved)
            }
            #expect(await sees(inserted[0], user(alice)), "the owner policy admits it; the like policy sends the question to the database")
            #expect(!(await sees(inserted[0], user(bob))), "neither policy admits it")
            #expect(try await client.rest(.delete, "notes?id=eq.1", project: project, key: project.serviceRoleKey).status == .noContent)
            let received = inserted + (try await changes.next(1))
            let (first, second, deletion) = (received[0], received[1], received[2])
            #expect(await sees(deletion, user(bob)), "deletes are not filtered")
            #expect(!(await sees(first, user(alice))), "undecided in memory, and the database no longer has the row")
            #expect(await sees(second, user(alice)), "the database admits it through the like policy")
            #expect(await sees(second, .anon))
            #expect(!(await sees(first, .anon)))
            #expect(await sees(first, .serviceRole))
            #expect(PolicyChangeVisibility.redacted(deletion, in: table).oldRecord?.normalizedNumbers == (try json(#"{"id":1}"#)))
            #expect(PolicyChangeVisibility.redacted(second, in: table) == second, "only deletes are cut down")
        }
    }

    /// Two nodes on one PostgreSQL control plane and shard, the second never reading its log on
    /// its own: a write through the first reaches the second's subscriber by NOTIFY.
    @Test func aChangeWrittenThroughOneNodeReachesASubscriberOfAnother() async throws {
        let first = TestNode(backend: .postgres)
        let second = TestNode(backend: .postgres)
        defer {
            first.removeData()
            second.removeData()
        }
        func configuration(_ node: TestNode) throws -> CellbaseConfiguration {
            var configuration = try node.sharingControlPlane()
            configuration.changePollInterval = .seconds(3600)
            return configuration
        }
        let (firstApp, firstNode) = try await CellbaseBuilder.build(try configuration(first))
        let (secondApp, secondNode) = try await CellbaseBuilder.build(try configuration(second))
        try await firstApp.test(.router) { firstRouter in
            let writer = TestClient(client: firstRouter, node: firstNode)
            let project = try await writer.project(migration: Self.schema)
            try await secondApp.test(.router) { _ in
                let resolved = try #require(try await secondNode.directory.project(ref: project.ref))
                let changes = ChangeCollector(try await secondNode.changes.changes(of: resolved))
                try await Self.insert(writer, project, #"{"id":1,"title":"across"}"#)
                let received = try await changes.next(1)
                #expect(received.first?.record?["title"] == .string("across"))
            }
        }
    }

    /// Statements on the shard's own connection, outside the Data API: no commit is reported to
    /// the feed, so only its polling (SQLite) or PostgreSQL's notification finds them.
    static func runSQL(on shard: any Shard, ref: String, _ statements: [String]) async throws {
        switch shard {
        case let sqlite as SQLiteShard:
            try await sqlite.withFile(ref) { file in
                try await file.write { handle in
                    for statement in statements { try handle.execute(statement) }
                }
            }
        case let postgres as PostgresShard:
            try await postgres.transaction { connection in
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: postgres.logger)
                }
            }
        default:
            Issue.record("unknown shard \(shard.name)")
        }
    }
}

/// Collects a subscription's batches so a test can wait for a number of changes.
final class ChangeCollector: Sendable {
    private final class Received: Sendable {
        let changes = Mutex<[RowChange]>([])
    }

    private let received = Received()
    private let reader: Task<Void, Never>

    init(_ subscription: ChangeSubscription) {
        reader = Task { [received] in
            for await batch in subscription {
                received.changes.withLock { $0 += batch }
            }
        }
    }

    deinit { reader.cancel() }

    /// The next `count` changes; fails after 20 s without them (a hang, not a timing).
    func next(_ count: Int) async throws -> [RowChange] {
        try await take(count, within: .seconds(20))
    }

    /// Whether nothing more arrives within two poll intervals.
    func isQuiet() async throws -> Bool {
        (try? await take(1, within: .seconds(2))) == nil
    }

    private func take(_ count: Int, within limit: Duration) async throws -> [RowChange] {
        let deadline = ContinuousClock.now + limit
        while true {
            let taken = received.changes.withLock { changes -> [RowChange]? in
                guard changes.count >= count else { return nil }
                defer { changes.removeFirst(count) }
                return Array(changes.prefix(count))
            }
            if let taken { return taken }
            guard ContinuousClock.now < deadline else { throw Timeout(expected: count, received: received.changes.withLock(\.count)) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    struct Timeout: Error {
        var expected: Int
        var received: Int
    }
}

extension JSONValue {
    var arrayCount: Int? {
        guard case .array(let elements) = self else { return nil }
        return elements.count
    }
}

extension JSONValue {
    /// Object members in key order, numbers by value: for answers encoded without a fixed key order.
    var unordered: JSONValue {
        switch self {
        case .array(let values): .array(values.map(\.unordered))
        case .object(let members): .object(members.map { JSONMember(key: $0.key, value: $0.value.unordered) }.sorted { $0.key < $1.key })
        default: normalizedNumbers
        }
    }
}
