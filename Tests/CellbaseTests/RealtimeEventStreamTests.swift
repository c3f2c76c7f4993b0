import AsyncHTTPClient
import CellbaseSQL
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

@testable import Cellbase

/// `GET /realtime/v1/sse` over a real connection: the same change payloads a channel receives,
/// as Server-Sent Events, filtered like a binding.
@Suite("Realtime event streams")
struct RealtimeEventStreamTests {
    /// Reads `data:` lines of `postgres_changes` events from a streaming body.
    final class EventReader {
        private var iterator: HTTPClientResponse.Body.AsyncIterator
        private var pending = ""

        init(_ body: HTTPClientResponse.Body) {
            iterator = body.makeAsyncIterator()
        }

        /// The next event's type and data, skipping comments.
        func nextEvent() async throws -> (name: String, data: String) {
            while true {
                if let range = pending.range(of: "\n\n") {
                    let event = String(pending[..<range.lowerBound])
                    pending.removeSubrange(..<range.upperBound)
                    let lines = event.split(separator: "\n")
                    guard let name = lines.first(where: { $0.hasPrefix("event: ") }), let data = lines.first(where: { $0.hasPrefix("data: ") }) else { continue }
                    return (String(name.dropFirst(7)), String(data.dropFirst(6)))
                }
                guard let buffer = try await iterator.next() else { throw Ended() }
                pending += String(buffer: buffer)
            }
        }

        /// Whether the body ends, reading whatever comes before.
        func ends() async throws -> Bool {
            while try await iterator.next() != nil {}
            return true
        }

        func nextChange() async throws -> JSONValue {
            while true {
                if let range = pending.range(of: "\n\n") {
                    let event = String(pending[..<range.lowerBound])
                    pending.removeSubrange(..<range.upperBound)
                    let lines = event.split(separator: "\n")
                    guard lines.contains("event: postgres_changes"), let data = lines.first(where: { $0.hasPrefix("data: ") }) else { continue }
                    return try JSONParser.parse(Array(data.dropFirst(6).utf8), maxDepth: 64)
                }
                guard let buffer = try await iterator.next() else { throw Ended() }
                pending += String(buffer: buffer)
            }
        }

        struct Ended: Error {}
    }

    @Test(arguments: Backend.allCases)
    func changesArriveAsEventsThroughTheFilter(backend: Backend) async throws {
        try await RealtimeTests.withProject(backend) { client, project, feed in
            let port = try #require(client.client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/realtime/v1/sse?table=todos&filter=done=eq.true")
            request.headers.add(name: "apikey", value: project.anonKey)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true)
            let events = EventReader(response.body)
            await feed.subscribed(project.ref)
            feed.emit(project.ref, [
                try RealtimeTests.change(1, .insert, record: #"{"id":1,"title":"a","done":true}"#),
                try RealtimeTests.change(2, .insert, record: #"{"id":2,"title":"b","done":false}"#),
                try RealtimeTests.change(3, .insert, record: #"{"id":3,"title":"c","done":true}"#),
            ])
            let first = try await events.nextChange()
            #expect(first["data"]?["type"] == .string("INSERT") && first["data"]?["record"]?["id"] == .number("1"))
            #expect(first["ids"]?.arrayValue?.count == 1)
            let second = try await events.nextChange()
            #expect(second["data"]?["record"]?["id"] == .number("3"), "id 2 does not pass the filter")

            let refused = try await client.request(.get, "/realtime/v1/sse?table=nope", headers: [HTTPField.Name("apikey")!: project.anonKey])
            #expect(refused.status == .badRequest && refused.code == "invalid_subscription")
            let keyless = try await client.request(.get, "/realtime/v1/sse?table=todos")
            #expect(keyless.status == .unauthorized)
        }
    }

    /// A graceful shutdown ends open event streams (with a system event), so the node does not
    /// wait for their clients to hang up.
    @Test func shuttingDownEndsOpenStreams() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        let ready = AsyncStream<Int>.makeStream()
        let (app, cellbase) = try await CellbaseBuilder.build(try node.configuration(), logger: node.logger) { _, port in ready.continuation.yield(port) }
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: node.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = ready.stream.makeAsyncIterator()
            let port = try #require(await ports.next())
            let base = "http://127.0.0.1:\(port)"
            let project = try #require(cellbase.defaultProject)
            var migration = HTTPClientRequest(url: base + "/admin/v1/projects/\(project.ref)/migrations")
            migration.method = .POST
            migration.headers.add(name: "Authorization", value: "Bearer \(cellbase.adminToken)")
            migration.body = .bytes(ByteBuffer(string: TestClient.migrationBody(name: "t", sql: "create table t (id int primary key); alter publication supabase_realtime add table t;")))
            #expect(try await HTTPClient.shared.execute(migration, timeout: .seconds(20)).status == .created)

            var request = HTTPClientRequest(url: base + "/realtime/v1/sse?table=t")
            request.headers.add(name: "apikey", value: project.anonKey)
            // The bound turns a node that never ends the stream into a failure, not a hang.
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
            #expect(response.status == .ok)
            let events = EventReader(response.body)
            await group.triggerGracefulShutdown()
            let last = try await events.nextEvent()
            #expect(last.name == "system" && last.data.contains("Server shutting down"))
            #expect(try await events.ends())
            try await tasks.waitForAll()
        }
    }
}
