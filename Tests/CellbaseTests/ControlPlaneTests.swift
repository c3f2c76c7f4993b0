import AsyncHTTPClient
import CellbaseSQL
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import HummingbirdTesting
import NIOHTTP1
import Testing

@testable import Cellbase

/// Cells, nodes and placements on the PostgreSQL control plane that several nodes share: each
/// test makes its own cells and shard names, so tests running at once never meet.
@Suite("Cells, nodes and placements")
struct ControlPlaneTests {
    static func unique(_ prefix: String) -> String { prefix + String(UInt32.random(in: 0...UInt32.max)) }

    /// A node of `cell` on the shared control plane, its PostgreSQL shard named `shard`.
    static func configuration(_ node: TestNode, cell: String, shard: String) throws -> CellbaseConfiguration {
        var configuration = try node.sharingControlPlane()
        configuration.postgresShards = [shard: try TestEnvironment.postgresURL()]
        configuration.defaultShard = shard
        configuration.cell = cell
        configuration.heartbeatInterval = .milliseconds(200)
        return configuration
    }

    static func withNode<Value: Sendable>(
        cell: String, shard: String, edit: (inout CellbaseConfiguration) -> Void = { _ in },
        _ test: @Sendable (TestClient) async throws -> Value
    ) async throws -> Value {
        let node = TestNode(backend: .postgres)
        defer { node.removeData() }
        var configuration = try configuration(node, cell: cell, shard: shard)
        edit(&configuration)
        let (app, built) = try await CellbaseBuilder.build(configuration, logger: node.logger)
        return try await app.test(.live) { client in try await test(TestClient(client: client, node: built)) }
    }

    /// The check a node makes of its place before it serves (`cellbase serve` exits with its
    /// error), against the shared control database; the error it stops with, if any.
    static func refusedStart(cell: String, shard: String) async throws -> ConfigurationError? {
        let client = PostgresClient(configuration: try PostgresURL.configuration(try TestEnvironment.postgresURL()), backgroundLogger: Logger(label: "test"))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await client.run() }
            defer { tasks.cancelAll() }
            let store = PostgresControlStore(client: client, logger: Logger(label: "test"))
            // As `cellbase serve` does: the control tables exist before the place is checked (on a
            // fresh database this may be the first node to start).
            try await store.prepare()
            do {
                try await NodeMembership.checkPlace(cell: cell, shards: [shard: try TestEnvironment.postgresURL()], store: store)
                return nil
            } catch let error as ConfigurationError {
                return error
            }
        }
    }

    static func createCell(_ client: TestClient, _ name: String) async throws {
        let created = try await client.admin(.post, "/admin/v1/cells", body: #"{"name":"\#(name)"}"#)
        guard created.status == .created else { throw UnexpectedAnswer(answer: created) }
    }

    @Test func cellsAreCreatedOnceWithValidNames() async throws {
        let cell = Self.unique("c")
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { client in
            let created = try await client.admin(.post, "/admin/v1/cells", body: #"{"name":"\#(cell)"}"#)
            #expect(created.status == .created)
            #expect(try created.json()["name"] == .string(cell))
            #expect(try created.json()["shards"] == .array([]))
            let again = try await client.admin(.post, "/admin/v1/cells", body: #"{"name":"\#(cell)"}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "cell_exists")
            for bad in [#"{"name":""}"#, #"{"name":"Upper"}"#, #"{"name":"9lives"}"#, #"{"name":"a b"}"#, #"{"name":1}"#, #"{}"#, "not json",
                        #"{"name":"\#(String(repeating: "a", count: 64))"}"#] {
                let refused = try await client.admin(.post, "/admin/v1/cells", body: bad)
                #expect(refused.status == .badRequest, "\(bad)")
            }
            let cells = try await client.admin(.get, "/admin/v1/cells").json()
            guard case .array(let list) = cells else { Issue.record("not a list"); return }
            let names = list.compactMap { cell -> String? in if case .string(let name)? = cell["name"] { name } else { nil } }
            #expect(names.contains(cell))
            #expect(names.contains(Cell.defaultName))
            #expect(try await client.request(.get, "/admin/v1/cells").status == .unauthorized)
        }
    }

    @Test func aNodeOfAMissingCellOrOfAnotherCellsShardDoesNotStart() async throws {
        let missing = Self.unique("missing")
        let noCell = try await Self.refusedStart(cell: missing, shard: Self.unique("pg"))
        #expect(noCell != nil)
        #expect(noCell?.description.contains("the cell '\(missing)' does not exist") == true)
        // The shard is claimed by the first cell whose node starts with it; a node of another cell
        // configured with it is refused before it serves anything.
        let (first, second, shard) = (Self.unique("a"), Self.unique("b"), Self.unique("pg"))
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { client in
            try await Self.createCell(client, first)
            try await Self.createCell(client, second)
        }
        try await Self.withNode(cell: first, shard: shard) { client in
            let cells = try await client.admin(.get, "/admin/v1/cells").json()
            guard case .array(let list) = cells, let mine = list.first(where: { $0["name"] == .string(first) }) else {
                Issue.record("the cell is not listed"); return
            }
            #expect(mine["shards"] == .array([.string(shard)]))
        }
        let error = try await Self.refusedStart(cell: second, shard: shard)
        #expect(error != nil)
        // The cell that owns it may use it.
        #expect(try await Self.refusedStart(cell: first, shard: shard) == nil)
        #expect(error?.description.contains("belongs to the cell '\(first)'") == true)
    }

    @Test func anotherCellsProjectIsRefusedWithItsCell() async throws {
        let (first, second) = (Self.unique("a"), Self.unique("b"))
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { client in
            try await Self.createCell(client, first)
            try await Self.createCell(client, second)
        }
        try await Self.withNode(cell: first, shard: Self.unique("pg")) { firstClient in
            let project = try await firstClient.project(migration: "create table notes (id bigint primary key, body text);")
            #expect(try await firstClient.rest(.get, "notes", project: project).status == .ok)
            let placed = try await firstClient.admin(.get, "/admin/v1/projects/\(project.ref)").json()
            #expect(placed["cell"] == .string(first))

            try await Self.withNode(cell: second, shard: Self.unique("pg")) { secondClient in
                for path in ["/rest/v1/notes", "/auth/v1/settings", "/storage/v1/bucket", "/realtime/v1/websocket"] {
                    let refused = try await secondClient.request(.get, path, headers: [HTTPField.Name("apikey")!: project.anonKey])
                    #expect(refused.status.code == 421, "\(path)")
                    #expect(refused.headers[HTTPField.Name("Cellbase-Cell")!] == first, "\(path)")
                }
                let misplaced = try await secondClient.rest(.get, "notes", project: project)
                #expect(misplaced.code == "wrong_cell")
                // A forged placement version does not make the node serve what is not placed with it.
                let forged = try await secondClient.rest(
                    .get, "notes", project: project, headers: [HTTPField.Name("Cellbase-Placement-Version")!: "9223372036854775807"]
                )
                #expect(forged.status.code == 421)
                // Projects are created in the cell of the node asked, or refused with the right one.
                let elsewhere = try await secondClient.admin(.post, "/admin/v1/projects", body: #"{"name":"\#(Self.unique("p"))","cell":"\#(first)"}"#)
                #expect(elsewhere.status.code == 421)
                #expect(elsewhere.headers[HTTPField.Name("Cellbase-Cell")!] == first)
                let mine = try await secondClient.project()
                #expect(try await secondClient.rest(.get, "", project: mine).status == .ok)
                #expect(try await firstClient.rest(.get, "", project: mine).status.code == 421)
            }
        }
    }

    @Test func nodesRegisterBeatAndLeave() async throws {
        let cell = Self.unique("c")
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { client in try await Self.createCell(client, cell) }
        // Healthy means a beat within three intervals: the tests' 200 ms interval leaves a busy
        // machine 600 ms, so this node beats every 2 s (6 s to spare).
        let nodeID = try await Self.withNode(cell: cell, shard: Self.unique("pg"), edit: { $0.heartbeatInterval = .seconds(2) }) { client -> String in
            var mine: JSONValue?
            for _ in 0..<50 {
                let nodes = try await client.admin(.get, "/admin/v1/nodes").json()
                if case .array(let list) = nodes, let found = list.first(where: { $0["cell"] == .string(cell) }) { mine = found; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let node = try #require(mine)
            #expect(node["healthy"] == .bool(true))
            guard case .string(let url)? = node["url"], case .string(let id)? = node["id"] else { throw UnexpectedAnswer(answer: .init(status: .ok, headers: [:], body: "\(node)")) }
            #expect(url.hasPrefix("http://127.0.0.1:") && !url.hasSuffix(":0"))
            // The node answers on the URL it registered.
            let live = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/health/live"), timeout: .seconds(10))
            #expect(live.status == .ok)
            // It keeps beating: its last heartbeat moves on.
            let firstBeat = node["last_heartbeat_at"]
            var laterBeat = firstBeat
            for _ in 0..<100 where laterBeat == firstBeat {
                try await Task.sleep(for: .milliseconds(100))
                let again = try await client.admin(.get, "/admin/v1/nodes").json()
                guard case .array(let list) = again, let beating = list.first(where: { $0["id"] == .string(id) }) else {
                    Issue.record("the node is gone"); return id
                }
                laterBeat = beating["last_heartbeat_at"]
            }
            #expect(laterBeat != firstBeat)
            let cells = try await client.admin(.get, "/admin/v1/cells").json()
            if case .array(let cellList) = cells, let entry = cellList.first(where: { $0["name"] == .string(cell) }) {
                #expect(entry["healthy_nodes"] == .number("1"))
            } else {
                Issue.record("the cell is not listed")
            }
            return id
        }
        // Stopped gracefully, it has left.
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { client in
            let nodes = try await client.admin(.get, "/admin/v1/nodes").json()
            guard case .array(let list) = nodes else { Issue.record("not a list"); return }
            #expect(!list.contains { $0["id"] == .string(nodeID) })
        }
    }

    @Test func placementsAreVersionedAndPlansReachOtherNodes() async throws {
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { first in
            try await Self.withNode(cell: Cell.defaultName, shard: "pg") { second in
                let one = try await first.project()
                let two = try await first.project()
                let placements = try await first.admin(.get, "/admin/v1/placements").json()
                guard case .array(let list) = placements else { Issue.record("not a list"); return }
                func version(_ ref: String) -> Int64? {
                    guard case .number(let text)? = list.first(where: { $0["ref"] == .string(ref) })?["version"] else { return nil }
                    return Int64(text)
                }
                let (v1, v2) = (try #require(version(one.ref)), try #require(version(two.ref)))
                #expect(v2 > v1)
                #expect(list.first { $0["ref"] == .string(one.ref) }?["shard"] == .string("pg"))
                #expect(list.first { $0["ref"] == .string(one.ref) }?["node"] == .null)

                let plan = Self.unique("plan")
                let unknown = try await first.admin(.put, "/admin/v1/projects/\(one.ref)/plan", body: #"{"plan":"\#(plan)"}"#)
                #expect(unknown.code == "unknown_plan")
                for bad in [#"{"requests_per_second":0,"burst":1}"#, #"{"requests_per_second":10,"burst":0}"#, #"{"burst":1}"#, #"{"requests_per_second":"10","burst":1}"#] {
                    #expect(try await first.admin(.put, "/admin/v1/plans/\(plan)", body: bad).status == .badRequest, "\(bad)")
                }
                let saved = try await first.admin(.put, "/admin/v1/plans/\(plan)", body: #"{"requests_per_second":12.5,"burst":40}"#)
                #expect(saved.status == .ok)
                #expect(try saved.json()["requests_per_second"] == .number("12.5"))
                #expect(try await first.admin(.put, "/admin/v1/projects/\(one.ref)/plan", body: #"{"plan":"\#(plan)"}"#).status == .ok)
                // The second node takes the change in with its next look at the placements.
                var seen: JSONValue?
                for _ in 0..<50 {
                    seen = second.node.directory.cachedProject(ref: one.ref).map { $0.plan.map(JSONValue.string) ?? .null }
                    if seen == .string(plan) { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(seen == .string(plan))
                let moved = try #require(second.node.directory.cachedProject(ref: one.ref))
                #expect(moved.placementVersion > v2)
            }
        }
    }

    @Test func aProjectOnANodesOwnSQLiteIsServedByThatNodeAlone() async throws {
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { first in
            try await Self.withNode(cell: Cell.defaultName, shard: "pg") { second in
                let created = try await first.admin(.post, "/admin/v1/projects", body: #"{"name":"\#(Self.unique("p"))","shard":"local"}"#)
                #expect(created.status == .created)
                let json = try created.json()
                guard case .string(let ref)? = json["ref"], case .string(let anon)? = json["anon_key"] else { throw UnexpectedAnswer(answer: created) }
                #expect(json["node"] != .null)
                let project = TestProject(ref: ref, anonKey: anon, serviceRoleKey: "")
                #expect(try await first.rest(.get, "", project: project).status == .ok)
                let refused = try await second.rest(.get, "", project: project)
                #expect(refused.status.code == 421)
                #expect(refused.code == "wrong_node")
                #expect(refused.headers[HTTPField.Name("Cellbase-Node")!] == json["node"].flatMap { if case .string(let id) = $0 { id } else { nil } })
            }
        }
    }

    @Test func leastLoadedPlacementFillsTheEmptiestShard() async throws {
        let cell = Self.unique("c")
        try await Self.withNode(cell: Cell.defaultName, shard: "pg") { client in try await Self.createCell(client, cell) }
        let (busy, idle) = (Self.unique("pgbusy"), Self.unique("pgidle"))
        try await Self.withNode(cell: cell, shard: busy) { client in
            for _ in 0..<2 { _ = try await client.project() }
        }
        try await Self.withNode(cell: cell, shard: busy, edit: { configuration in
            configuration.postgresShards[idle] = configuration.postgresShards[busy]
            configuration.placement = .leastLoaded
        }) { client in
            var shards: [String] = []
            for _ in 0..<3 {
                let created = try await client.admin(.post, "/admin/v1/projects", body: #"{"name":"\#(Self.unique("p"))"}"#)
                guard case .string(let shard)? = try created.json()["shard"] else { throw UnexpectedAnswer(answer: created) }
                shards.append(shard)
            }
            // 2 on busy, 0 on idle: idle, idle, then the tie goes by name.
            #expect(shards[0] == idle && shards[1] == idle)
            #expect(shards[2] == min(busy, idle))
        }
    }

    @Test func placementRefreshesAreLetThroughOncePerInterval() {
        let refreshes = PlacementRefreshes()
        let start = ContinuousClock.now
        #expect(refreshes.mayRefresh(now: start))
        #expect(!refreshes.mayRefresh(now: start + .milliseconds(10)))
        #expect(!refreshes.mayRefresh(now: start + PlacementRefreshes.minimumInterval - .milliseconds(1)))
        #expect(refreshes.mayRefresh(now: start + PlacementRefreshes.minimumInterval))
    }

    @Test func misplacementsName421AndThePlace() {
        let directory = ProjectDirectory(store: NoStore(), place: NodePlace(cell: "a", node: "n1"))
        func project(cell: String, node: String?) -> Project {
            Project(ref: "abcdefghijabcdefghij", name: "p", shard: node == nil ? "pg" : "local", jwtSecret: "", anonKey: "", serviceRoleKey: "", createdAt: "", cell: cell, node: node)
        }
        #expect(directory.misplacement(of: project(cell: "a", node: nil)) == nil)
        #expect(directory.misplacement(of: project(cell: "a", node: "n1")) == nil)
        #expect(directory.misplacement(of: project(cell: "b", node: nil)) == .cell("b"))
        #expect(directory.misplacement(of: project(cell: "a", node: "n2")) == .node("n2"))
        #expect(directory.misplacement(of: project(cell: "b", node: "n1")) == .cell("b"))
        let error = Misplacement.cell("b").error(ref: "abcdefghijabcdefghij", shape: .postgrest)
        #expect(error.status.code == 421)
        #expect(error.headers[Misplacement.cellField] == "b")
    }
}

/// A control store with nothing in it, for logic that never reads it.
private struct NoStore: ControlStore {
    func prepare() async throws {}
    func allProjects() async throws -> [Project] { [] }
    func project(ref: String) async throws -> Project? { nil }
    func projects(placedAfter version: Int64) async throws -> [Project] { [] }
    func insert(_ project: Project) async throws -> Project { project }
    func setPlan(_ plan: String?, ofProject ref: String) async throws -> Bool { false }
    func touch(ref: String) async throws {}
    func movePlacement(ref: String, from: String, to: String, node: String?, cell: String) async throws -> Project? { nil }
    func cells() async throws -> [Cell] { [] }
    func insert(_ cell: Cell) async throws {}
    func shardCells() async throws -> [String: String] { [:] }
    func claimShard(_ shard: String, cell: String, url: String?) async throws -> String { cell }
    func shardLocation(_ shard: String) async throws -> ShardLocation? { nil }
    func register(_ node: NodeRecord) async throws {}
    func heartbeat(node id: String) async throws -> Bool { true }
    func removeNode(id: String) async throws {}
    func nodes() async throws -> [NodeRecord] { [] }
    func plans() async throws -> [RatePlan] { [] }
    func save(_ plan: RatePlan) async throws {}
    func checkReachable() async throws {}
    func shutdown() async throws {}
}
