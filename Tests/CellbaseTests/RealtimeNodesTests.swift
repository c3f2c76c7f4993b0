import CellbaseSQL
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Cellbase

/// Two real nodes on loopback sharing a PostgreSQL control database and shard: what a client of
/// one does reaches the clients of the other.
@Suite("Realtime across nodes")
struct RealtimeNodesTests {
    static let schema = """
        create table todos (id bigint primary key, title text not null);
        alter publication supabase_realtime add table todos;
        """

    /// Runs `test` with a client of each node, both serving on ephemeral ports.
    static func withTwoNodes(_ test: @Sendable (TestClient, TestClient) async throws -> Void) async throws {
        let first = TestNode(backend: .postgres)
        let second = TestNode(backend: .postgres)
        defer {
            first.removeData()
            second.removeData()
        }
        let (firstApp, firstNode) = try await CellbaseBuilder.build(try first.sharingControlPlane(), logger: first.logger)
        let (secondApp, secondNode) = try await CellbaseBuilder.build(try second.sharingControlPlane(), logger: second.logger)
        try await firstApp.test(.live) { firstClient in
            try await secondApp.test(.live) { secondClient in
                try await test(TestClient(client: firstClient, node: firstNode), TestClient(client: secondClient, node: secondNode))
            }
        }
    }

    /// The next message that is not a reply or system notice, as the sockets here only wait for events.
    static func nextEvent(_ socket: TestSocket) async throws -> JSONValue {
        while true {
            let message = try await socket.next()
            if message["event"] != .string("phx_reply"), message["event"] != .string("system") { return message }
        }
    }

    @Test func broadcastPresenceAndChangesReachTheOtherNode() async throws {
        try await Self.withTwoNodes { first, second in
            let project = try await first.project(migration: Self.schema)
            try await first.socket(project, key: project.serviceRoleKey) { alice in
                try await second.socket(project, key: project.serviceRoleKey) { bob in
                    let config = #"{"broadcast":{"self":false},"presence":{"key":"bob","enabled":true},"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos"}]}"#
                    let joined = try await bob.join("room", config: config)
                    #expect(RealtimeTests.status(joined) == "ok")
                    #expect(try await Self.nextEvent(bob)["event"] == .string("presence_state"))
                    _ = try await alice.join("room", config: #"{"presence":{"key":"alice","enabled":true}}"#)
                    #expect(try await Self.nextEvent(alice)["event"] == .string("presence_state"))

                    // Alice's broadcast on the first node reaches Bob on the second.
                    alice.push("realtime:room", "broadcast", #"{"type":"broadcast","event":"hello","payload":{"from":"first"}}"#, joinRef: "1")
                    let broadcast = try await Self.nextEvent(bob)
                    #expect(broadcast["event"] == .string("broadcast"))
                    #expect(broadcast["payload"]?["payload"]?["from"] == .string("first"))

                    // Her presence too.
                    alice.push("realtime:room", "presence", #"{"type":"presence","event":"track","payload":{"user":"alice"}}"#, joinRef: "1")
                    let diff = try await Self.nextEvent(bob)
                    #expect(diff["event"] == .string("presence_diff"))
                    #expect(diff["payload"]?["joins"]?["alice"]?["metas"]?.arrayValue?.first?["user"] == .string("alice"))

                    // A row written through the first node is delivered by the second.
                    let written = try await first.rest(.post, "todos", project: project, key: project.serviceRoleKey, body: #"{"id":1,"title":"across"}"#)
                    #expect(written.status == .created)
                    let change = try await Self.nextEvent(bob)
                    #expect(change["event"] == .string("postgres_changes"))
                    #expect(change["payload"]?["data"]?["record"]?["title"] == .string("across"))

                    // A broadcast larger than a NOTIFY payload travels through the spool.
                    let large = String(repeating: "x", count: 20_000)
                    alice.push("realtime:room", "broadcast", #"{"type":"broadcast","event":"large","payload":{"text":"\#(large)"}}"#, joinRef: "1")
                    let spooled = try await Self.nextEvent(bob)
                    #expect(spooled["payload"]?["payload"]?["text"] == .string(large))
                }
            }
        }
    }
}
