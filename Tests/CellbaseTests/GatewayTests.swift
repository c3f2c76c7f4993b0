import AsyncHTTPClient
import CellbaseSQL
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

@testable import Cellbase

/// `cellbase gateway` in front of two nodes sharing the PostgreSQL control plane.
@Suite("Gateway")
struct GatewayTests {
    /// Runs `test` with the two nodes' clients and the gateway's base URL.
    static func withGateway(
        edit: (inout GatewayConfiguration) -> Void = { _ in },
        _ test: @Sendable (TestClient, TestClient, String) async throws -> Void
    ) async throws {
        let first = TestNode(backend: .postgres)
        let second = TestNode(backend: .postgres)
        defer {
            first.removeData()
            second.removeData()
        }
        // A cell of their own: the nodes of other tests, coming and going, are not this gateway's concern.
        let cell = ControlPlaneTests.unique("gw")
        let shard = ControlPlaneTests.unique("pg")
        try await ControlPlaneTests.withNode(cell: Cell.defaultName, shard: "pg") { client in try await ControlPlaneTests.createCell(client, cell) }
        let firstConfiguration = try ControlPlaneTests.configuration(first, cell: cell, shard: shard)
        let secondConfiguration = try ControlPlaneTests.configuration(second, cell: cell, shard: shard)
        let (firstApp, firstNode) = try await CellbaseBuilder.build(firstConfiguration, logger: first.logger)
        let (secondApp, secondNode) = try await CellbaseBuilder.build(secondConfiguration, logger: second.logger)
        var configuration = GatewayConfiguration(controlURL: try TestEnvironment.postgresURL())
        configuration.port = 0
        configuration.refreshInterval = .milliseconds(100)
        edit(&configuration)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let gateway = try Gateway(configuration: configuration, logger: first.logger) { port in portContinuation.yield(port) }
        try await firstApp.test(.live) { firstClient in
            try await secondApp.test(.live) { secondClient in
                let clients = (TestClient(client: firstClient, node: firstNode), TestClient(client: secondClient, node: secondNode))
                let group = ServiceGroup(configuration: .init(services: [gateway], logger: first.logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    var iterator = ports.makeAsyncIterator()
                    guard let port = await iterator.next() else { throw CancellationError() }
                    try await Self.waitForNodes(of: clients.0, count: 2)
                    try await test(clients.0, clients.1, "http://127.0.0.1:\(port)")
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
        }
    }

    /// Until both nodes have registered (they do once they listen).
    static func waitForNodes(of client: TestClient, count: Int) async throws {
        for _ in 0..<100 {
            let nodes = try await client.admin(.get, "/admin/v1/nodes").json()
            if case .array(let list) = nodes, list.filter({ $0["healthy"] == .bool(true) && $0["cell"] == .string(client.node.configuration.cell) }).count >= count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var code: String? {
            guard case .string(let code)? = (try? JSONParser.parse(Array(body.utf8), maxDepth: 16))?["code"] else { return nil }
            return code
        }
    }

    static func send(_ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// Requests for `project` that reached `client`'s node, by its own metrics.
    static func served(_ client: TestClient, _ project: TestProject) async throws -> Double {
        let answer = try await client.request(.get, "/metrics")
        var total = 0.0
        for line in answer.body.split(separator: "\n") where line.hasPrefix("cellbase_http_requests_total{") && line.contains("project=\"\(project.ref)\"") {
            total += Double(line.split(separator: " ").last ?? "0") ?? 0
        }
        return total
    }

    /// A graceful shutdown stops the gateway even with client connections open: an idle
    /// keep-alive one and one that has sent nothing yet are closed, and its run ends.
    @Test func aGracefulShutdownClosesIdleClientConnectionsAndEnds() async throws {
        let url = try TestEnvironment.postgresURL()
        // The control tables exist before the gateway reads its first routing table.
        let control = PostgresClient(configuration: try PostgresURL.configuration(url), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await control.run() }
            defer { tasks.cancelAll() }
            try await PostgresControlStore(client: control, logger: Logger(label: "test")).prepare()
        }
        var configuration = GatewayConfiguration(controlURL: url)
        configuration.port = 0
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let logger = TestNode(backend: .postgres).logger
        let gateway = try Gateway(configuration: configuration, logger: logger) { port in portContinuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [gateway], logger: logger))
        try await GracefulShutdownTests.expectShutdownEnds(group, listeningOn: ports)
    }

    /// What reaches a node: the gateway's `X-Forwarded-*` (never the client's), no hop-by-hop
    /// headers, the client's request id and `traceparent`, the gateway's placement version; and
    /// nothing the client sends picks the upstream (an absolute-form target is refused). The
    /// node is an echo server registered in a cell of its own.
    @Test func headersThatTryToChooseOrFoolTheUpstreamAreReplaced() async throws {
        let url = try TestEnvironment.postgresURL()
        let control = PostgresClient(configuration: try PostgresURL.configuration(url), backgroundLogger: Logger(label: "test"))
        let store = PostgresControlStore(client: control, logger: Logger(label: "test"))
        let echoRouter = Router()
        echoRouter.get("health/ready") { _, _ in "ok" }
        let seen = Mutex<[String]>([])
        let echo: @Sendable (Request, BasicRequestContext) async throws -> String = { request, _ in
            let lines = [request.uri.description] + request.headers.map { "\($0.name.canonicalName): \($0.value)" }
            seen.withLock { $0.append(request.uri.description) }
            return lines.joined(separator: "\n")
        }
        echoRouter.get("**", use: echo)
        echoRouter.post("**", use: echo)
        let echoApp = Application(router: echoRouter, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await control.run() }
            defer { tasks.cancelAll() }
            try await store.prepare()
            try await echoApp.test(.live) { echoClient in
                let echoPort = try #require(echoClient.port)
                let cell = ControlPlaneTests.unique("echo")
                try await store.insert(Cell(name: cell, createdAt: "2026-01-01T00:00:00Z"))
                let nodeID = ControlPlaneTests.unique("echo")
                let ref = String((0..<20).map { _ in Character(Unicode.Scalar(UInt8.random(in: UInt8(ascii: "a")...UInt8(ascii: "z")))) })
                let placed = try await store.insert(Project(
                    ref: ref, name: ControlPlaneTests.unique("echo"), shard: "pg", jwtSecret: "secret", anonKey: Self.key(ref: ref),
                    serviceRoleKey: Self.key(ref: ref), createdAt: "2026-01-01T00:00:00Z", cell: cell
                ))
                // Registered (and beating) only now: a gateway takes a node whose last beat is older
                // than its node timeout for gone, and the steps above can take that long on a busy machine.
                try await store.register(NodeRecord(
                    id: nodeID, cell: cell, url: "http://127.0.0.1:\(echoPort)", shards: [], startedAt: "2026-01-01T00:00:00Z", beatAt: "", secondsSinceBeat: 0
                ))
                var configuration = GatewayConfiguration(controlURL: url)
                configuration.port = 0
                configuration.refreshInterval = .milliseconds(100)
                let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
                let logger = TestNode(backend: .postgres).logger
                let gateway = try Gateway(configuration: configuration, logger: logger) { port in portContinuation.yield(port) }
                let group = ServiceGroup(configuration: .init(services: [gateway], logger: logger))
                var iterator = ports.makeAsyncIterator()
                try await withThrowingTaskGroup(of: Void.self) { gatewayTasks in
                    gatewayTasks.addTask {
                        repeat { _ = try? await store.heartbeat(node: nodeID) } while (try? await Task.sleep(for: .milliseconds(500))) != nil
                    }
                    gatewayTasks.addTask { try await group.run() }
                    let port = try #require(await iterator.next())
                    let base = "http://127.0.0.1:\(port)"
                    let reply = try await Self.send(base + "/rest/v1/notes?select=id", headers: [
                        ("apikey", Self.key(ref: ref)),
                        ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"),
                        ("X-Forwarded-Port", "1"), ("Forwarded", "for=6.6.6.6;host=evil.example"), ("X-Real-IP", "6.6.6.6"),
                        ("Cellbase-Placement-Version", "9223372036854775807"), ("Connection", "keep-alive, X-Secret-Hop"),
                        ("X-Secret-Hop", "dropped"), ("Proxy-Authorization", "Basic c2VjcmV0"), ("TE", "trailers"),
                        ("X-Request-Id", "req-from-client"), ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                    ])
                    if reply.status != 200 {
                        let nodes = (try? await store.nodes().filter { $0.cell == cell }.map { "\($0.id) \($0.url) \($0.secondsSinceBeat) s since its beat" }) ?? []
                        Issue.record("\(reply.status) \(reply.body); the cell's nodes: \(nodes)")
                    }
                    let lines = reply.body.split(separator: "\n").map(String.init)
                    func values(_ name: String) -> [String] {
                        lines.dropFirst().compactMap { line in
                            let parts = line.split(separator: ":", maxSplits: 1)
                            guard parts.count == 2, parts[0].lowercased() == name.lowercased() else { return nil }
                            return parts[1].trimmingCharacters(in: .whitespaces)
                        }
                    }
                    #expect(lines.first == "/rest/v1/notes?select=id")
                    #expect(values("X-Forwarded-Host") == ["127.0.0.1:\(port)"])
                    #expect(values("X-Forwarded-For") == ["127.0.0.1"])
                    #expect(values("X-Forwarded-Proto") == ["http"])
                    for gone in ["X-Forwarded-Port", "Forwarded", "X-Real-IP", "X-Secret-Hop", "Proxy-Authorization", "TE", "Keep-Alive"] {
                        #expect(values(gone).isEmpty, "\(gone)")
                    }
                    #expect(values("Cellbase-Placement-Version") == ["\(placed.placementVersion)"])
                    #expect(values("X-Request-Id") == ["req-from-client"])
                    #expect(values("traceparent") == ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])

                    // An absolute-form target naming the echo server itself is refused, and reaches nothing.
                    let before = seen.withLock { $0.count }
                    let absolute = try await RawHTTP.send(
                        port: port,
                        "GET http://127.0.0.1:\(echoPort)/rest/v1/notes HTTP/1.1\r\nHost: 127.0.0.1:\(echoPort)\r\napikey: \(Self.key(ref: ref))\r\nConnection: close\r\n\r\n"
                    )
                    #expect(absolute.hasPrefix("HTTP/1.1 400"), "\(absolute)")
                    // A Host that names another machine does not send the request there either.
                    let otherHost = try await Self.send(base + "/rest/v1/notes", headers: [("apikey", Self.key(ref: ref)), ("Host", "evil.example:1")])
                    #expect(otherHost.status == 200)
                    #expect(seen.withLock { Array($0.dropFirst(before)) } == ["/rest/v1/notes"])

                    await group.triggerGracefulShutdown()
                    try await gatewayTasks.next()
                    gatewayTasks.cancelAll()
                }
                try await store.removeNode(id: nodeID)
            }
        }
    }

    /// Streams pass through: a realtime WebSocket joins, broadcasts and gets its own broadcast
    /// back, and a Server-Sent Events stream carries a change made through the gateway.
    @Test func webSocketsAndEventStreamsPassThroughTheGateway() async throws {
        try await Self.withGateway { first, _, gateway in
            let project = try await first.project(
                migration: "create table t (id bigint primary key, body text); alter publication supabase_realtime add table t;"
            )
            var request = HTTPClientRequest(url: gateway + "/realtime/v1/sse?table=t")
            request.headers.add(name: "apikey", value: project.anonKey)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true)
            let events = RealtimeEventStreamTests.EventReader(response.body)
            // Rows are written through the gateway until the stream, subscribed as its head came
            // back, carries one (a row written before the subscription is not a change it owes).
            // (The request's deadline bounds the stream.)
            let change = try await withThrowingTaskGroup(of: Void.self) { writes in
                writes.addTask {
                    for id in 1...60 {
                        let inserted = try await Self.send(
                            gateway + "/rest/v1/t", method: .POST,
                            headers: [("apikey", project.serviceRoleKey), ("Authorization", "Bearer \(project.serviceRoleKey)"), ("Content-Type", "application/json")],
                            body: #"{"id":\#(id),"body":"through the gateway"}"#
                        )
                        #expect(inserted.status == 201, "\(inserted.body)")
                        try await Task.sleep(for: .milliseconds(250))
                    }
                }
                defer { writes.cancelAll() }
                return try await events.nextChange()
            }
            #expect(change["data"]?["type"] == .string("INSERT"))
            #expect(change["data"]?["record"]?["body"] == .string("through the gateway"))

            // Plain requests, each on a connection of its own so that they land on every event
            // loop of the gateway, leave keep-alive connections to both nodes in its pools. A node
            // upgrades a connection on its first request only: an upgrade must not borrow one.
            // And an upgrade whose client goes away without a close frame leaves nothing behind.
            let port = Int(gateway.split(separator: ":").last!)!
            for _ in 0..<8 {
                let plain = try await RawHTTP.send(port: port, "GET /rest/v1/t?select=id&limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: \(project.anonKey)\r\nConnection: close\r\n\r\n")
                #expect(plain.hasPrefix("HTTP/1.1 200"), "\(plain)")
            }
            // An upgrade the node refuses (this path is no WebSocket) is answered, and so are the
            // requests after it.
            let refused = try await RawHTTP.send(port: port, "GET /rest/v1/t?select=id&limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: \(project.anonKey)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            #expect(!refused.hasPrefix("HTTP/1.1 101"), "\(refused)")
            for _ in 0..<4 {
                let plain = try await RawHTTP.send(port: port, "GET /rest/v1/t?select=id&limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: \(project.anonKey)\r\nConnection: close\r\n\r\n")
                #expect(plain.hasPrefix("HTTP/1.1 200"), "\(plain)")
            }
            let raw = try await RawHTTP.send(port: port, "GET /realtime/v1/websocket?apikey=\(project.anonKey)&vsn=1.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            #expect(raw.hasPrefix("HTTP/1.1 101"), "\(raw)")

            let socketURL = gateway.replacingOccurrences(of: "http://", with: "ws://") + "/realtime/v1/websocket?apikey=\(project.anonKey)&vsn=1.0.0"
            let replies = Mutex<[JSONValue]>([])
            _ = try await WebSocketClient.connect(url: socketURL, logger: Logger(label: "test")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"topic":"realtime:room","event":"phx_join","payload":{"config":{"broadcast":{"self":true}}},"ref":"1","join_ref":"1"}"#))
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                while let message = try await messages.next() {
                    guard case .text(let text) = message else { continue }
                    let value = try JSONParser.parse(Array(text.utf8), maxDepth: 64)
                    replies.withLock { $0.append(value) }
                    if value["event"] == .string("phx_reply"), value["ref"] == .string("1") {
                        try await outbound.write(.text(#"{"topic":"realtime:room","event":"broadcast","payload":{"type":"broadcast","event":"hello","payload":{"n":1}},"ref":"2","join_ref":"1"}"#))
                    }
                    if value["event"] == .string("broadcast") { break }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let received = replies.withLock { $0 }
            let joined = received.first { $0["event"] == .string("phx_reply") && $0["ref"] == .string("1") }
            #expect(joined?["payload"]?["status"] == .string("ok"))
            let echoed = received.first { $0["event"] == .string("broadcast") }
            #expect(echoed?["payload"]?["payload"]?["n"] == .number("1"))
        }
    }

    @Test func requestsReachBothNodesOfTheCellAndMigrationsAreSeenByEach() async throws {
        try await Self.withGateway { first, second, gateway in
            let project = try await first.project(migration: "create table notes (id bigint primary key, body text);")
            let key = [("apikey", project.serviceRoleKey), ("Authorization", "Bearer \(project.serviceRoleKey)"), ("Content-Type", "application/json")]
            for id in 1...20 {
                let inserted = try await Self.send(gateway + "/rest/v1/notes", method: .POST, headers: key, body: #"{"id":\#(id),"body":"n\#(id)"}"#)
                #expect(inserted.status == 201, "\(inserted.body)")
            }
            let read = try await Self.send(gateway + "/rest/v1/notes?select=id&order=id", headers: key)
            #expect(read.status == 200)
            #expect(try JSONParser.parse(Array(read.body.utf8), maxDepth: 8) == .array((1...20).map { .object([JSONMember(key: "id", value: .number("\($0)"))]) }))
            #expect(read.headers.first(name: "x-request-id") != nil)
            let (onFirst, onSecond) = (try await Self.served(first, project), try await Self.served(second, project))
            #expect(onFirst > 0 && onSecond > 0, "first \(onFirst), second \(onSecond)")

            // A migration applied through one node is seen by the other once it reads the new version.
            let migrated = try await first.admin(.post, "/admin/v1/projects/\(project.ref)/migrations", body: TestClient.migrationBody(name: "0002.sql", sql: "create table tags (id bigint primary key);"))
            #expect(migrated.status == .created)
            var everywhere = false
            for _ in 0..<50 where !everywhere {
                let statuses = [try await second.rest(.get, "tags", project: project).status, try await first.rest(.get, "tags", project: project).status]
                everywhere = statuses.allSatisfy { $0 == .ok }
                if !everywhere { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(everywhere)
        }
    }

    /// A project moved from one node's SQLite shard to the other's, through the cell's PostgreSQL
    /// shard, while the gateway's routing table still names the first node: the first node answers
    /// 421 `wrong_node`, and the gateway reads the placements again and sends the request — a
    /// POST, which the node refused before doing anything — to the right node.
    @Test func aRequestAnswered421AfterAMoveIsSentToTheProjectsNewNode() async throws {
        try await Self.withGateway(edit: { $0.refreshInterval = .seconds(3600) }) { first, second, gateway in
            let created = try await first.admin(.post, "/admin/v1/projects", body: #"{"name":"\#(ControlPlaneTests.unique("mv"))","shard":"local"}"#)
            guard created.status == .created, case .string(let ref)? = try created.json()["ref"],
                  case .string(let anon)? = try created.json()["anon_key"], case .string(let service)? = try created.json()["service_role_key"]
            else { throw UnexpectedAnswer(answer: created) }
            let project = TestProject(ref: ref, anonKey: anon, serviceRoleKey: service)
            #expect(try await first.admin(.post, "/admin/v1/projects/\(ref)/migrations", body: TestClient.migrationBody(name: "0001.sql", sql: "create table notes (id bigint primary key, body text);")).status == .created)
            let key = [("apikey", service), ("Authorization", "Bearer \(service)"), ("Content-Type", "application/json")]
            #expect(try await Self.send(gateway + "/rest/v1/notes", method: .POST, headers: key, body: #"{"id":0,"body":"on the first node"}"#).status == 201)

            // local (first) -> the cell's PostgreSQL shard -> local (second).
            let shard = first.node.configuration.defaultShard
            let toShared = try await first.admin(.post, "/admin/v1/projects/\(ref)/move", body: #"{"to":"\#(shard)"}"#)
            #expect(toShared.status == .accepted, "\(toShared.body)")
            #expect(try await ProjectMoveTests.waitForMove(first, project)["state"] == .string("done"))
            // The second node reads the new placement with its next heartbeat.
            var seen = false
            for _ in 0..<50 where !seen {
                seen = second.node.directory.cachedProject(ref: ref)?.shard == shard
                if !seen { try await Task.sleep(for: .milliseconds(100)) }
            }
            let toSecond = try await second.admin(.post, "/admin/v1/projects/\(ref)/move", body: #"{"to":"local"}"#)
            #expect(toSecond.status == .accepted, "\(toSecond.body)")
            #expect(try await ProjectMoveTests.waitForMove(second, project)["state"] == .string("done"))
            var firstKnows = false
            for _ in 0..<50 where !firstKnows {
                firstKnows = first.node.directory.cachedProject(ref: ref)?.node == second.node.directory.place.node
                if !firstKnows { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(firstKnows)
            #expect(try await first.rest(.get, "notes", project: project).status.code == 421)

            for id in 1...10 {
                let inserted = try await Self.send(gateway + "/rest/v1/notes", method: .POST, headers: key, body: #"{"id":\#(id),"body":"through the gateway"}"#)
                #expect(inserted.status == 201, "\(inserted.status): \(inserted.body)")
            }
            let read = try await second.rest(.get, "notes?select=id&order=id", project: project, key: service)
            #expect(try read.json() == .array((0...10).map { .object([JSONMember(key: "id", value: .number("\($0)"))]) }))
        }
    }

    @Test func requestsWithoutAKnownProjectAreRefusedByTheGateway() async throws {
        try await Self.withGateway { first, _, gateway in
            #expect(try await Self.send(gateway + "/health/live").status == 200)
            #expect(try await Self.send(gateway + "/health/ready").status == 200)
            let nobody = try await Self.send(gateway + "/rest/v1/notes")
            #expect(nobody.status == 404)
            #expect(nobody.code == "project_not_identified")
            // A well-formed key of a project that does not exist.
            let project = try await first.project()
            let unknown = try await Self.send(gateway + "/rest/v1/", headers: [("apikey", Self.key(ref: "zzzzzzzzzzzzzzzzzzzz"))])
            #expect(unknown.status == 404)
            #expect(unknown.code == "project_not_found")
            // A key whose signature is wrong is sent on (the node answers 401 in its API's shape) but spends no project budget.
            let badSignature = try await Self.send(gateway + "/rest/v1/", headers: [("apikey", String(project.anonKey.dropLast(3)) + "abc")])
            #expect(badSignature.status == 401)
            // A project created a moment ago is found at once.
            let fresh = try await first.project()
            #expect(try await Self.send(gateway + "/rest/v1/", headers: [("apikey", fresh.anonKey)]).status == 200)
            // Many distinct made-up refs do not grow the routing table.
            for index in 0..<30 {
                let ref = String((0..<20).map { _ in Character(Unicode.Scalar(UInt8.random(in: UInt8(ascii: "a")...UInt8(ascii: "z")))) })
                let refused = try await Self.send(gateway + "/rest/v1/", headers: [("apikey", Self.key(ref: ref))])
                if index == 0 { #expect(refused.code == "project_not_found") }
            }
            let metrics = try await Self.send(gateway + "/metrics")
            #expect(metrics.body.contains("cellbase_gateway_requests_total"))
            let projects = metrics.body.split(separator: "\n").first { $0.hasPrefix("cellbase_gateway_projects ") }
            let count = projects.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
            let registered = try await first.admin(.get, "/admin/v1/placements").json()
            guard case .array(let placements) = registered else { Issue.record("no placements"); return }
            #expect(count == Double(placements.count))
        }
    }

    /// An unsigned JWT naming `ref`: enough for the gateway to look the project up.
    static func key(ref: String) -> String {
        func base64URL(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return base64URL(#"{"alg":"HS256","typ":"JWT"}"#) + "." + base64URL(#"{"ref":"\#(ref)","role":"anon"}"#) + ".c2lnbmF0dXJl"
    }

    /// The same default limit with the buckets in Redis: the burst is admitted (and at most one
    /// more, on credit, should a request come before the last lease is back), then 429s; the
    /// gateway's metrics say the limits are shared.
    @Test func projectLimitsAreSharedThroughRedis() async throws {
        let redis = try TestEnvironment.redisURL()
        try await Self.withGateway(edit: {
            $0.projectRateLimit = RateLimit(requestsPerSecond: 0.01, burst: 3)
            $0.redisURL = redis
        }) { first, _, gateway in
            let limited = try await first.project()
            var statuses: [Int] = []
            for _ in 0..<8 {
                let reply = try await Self.send(gateway + "/rest/v1/", headers: [("apikey", limited.anonKey)])
                statuses.append(reply.status)
                if reply.status == 429 { #expect(Int(reply.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1) }
            }
            let allowed = statuses.filter { $0 == 200 }.count
            #expect(allowed == 3 || allowed == 4, "\(statuses)")
            #expect(statuses.drop(while: { $0 == 200 }).allSatisfy { $0 == 429 }, "\(statuses)")
            let metrics = try await Self.send(gateway + "/metrics")
            #expect(metrics.body.contains("cellbase_gateway_rate_limit_redis_up 1"), "\(metrics.body)")
        }
    }

    @Test func projectsAreHeldToTheirPlanAndTheDefaultLimit() async throws {
        try await Self.withGateway(edit: { $0.projectRateLimit = RateLimit(requestsPerSecond: 0.01, burst: 3) }) { first, _, gateway in
            let limited = try await first.project()
            let key = [("apikey", limited.anonKey)]
            for expected in [2, 1, 0] {
                let allowed = try await Self.send(gateway + "/rest/v1/", headers: key)
                #expect(allowed.status == 200)
                #expect(allowed.headers.first(name: "RateLimit-Limit") == "3")
                #expect(allowed.headers.first(name: "RateLimit-Remaining") == String(expected))
            }
            let refused = try await Self.send(gateway + "/rest/v1/", headers: key)
            #expect(refused.status == 429)
            #expect(refused.code == "rate_limited")
            #expect(Int(refused.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
            #expect(refused.headers.first(name: "RateLimit-Remaining") == "0")

            // A plan lifts it for the project on it.
            let plan = "p" + String(UInt32.random(in: 0...UInt32.max))
            #expect(try await first.admin(.put, "/admin/v1/plans/\(plan)", body: #"{"requests_per_second":1000,"burst":1000}"#).status == .ok)
            #expect(try await first.admin(.put, "/admin/v1/projects/\(limited.ref)/plan", body: #"{"plan":"\#(plan)"}"#).status == .ok)
            var lifted = false
            for _ in 0..<50 where !lifted {
                lifted = try await Self.send(gateway + "/rest/v1/", headers: key).status == 200
                if !lifted { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(lifted)
            // Other projects keep their own budget.
            let other = try await first.project()
            #expect(try await Self.send(gateway + "/rest/v1/", headers: [("apikey", other.anonKey)]).status == 200)
        }
    }
}
