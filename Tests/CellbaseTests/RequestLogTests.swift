import CellbaseSQL
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Cellbase

/// Every log line a node writes, rendered by the node's own handler as JSON.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    /// The lines parsed as JSON objects; a line that is not one fails the test.
    func objects() throws -> [JSONValue] {
        try all.map { line in
            #expect(line.hasSuffix("}\n") && line.dropLast().allSatisfy { $0 != "\n" }, "not one JSON line: \(line)")
            return try JSONParser.parse(Array(line.utf8), maxDepth: 16)
        }
    }

    func logger(level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) -> Logger {
        var logger = Logger(label: "cellbase.test") { _ in
            LogLineHandler(format: .json, metadataProvider: metadataProvider) { line in self.lines.withLock { $0.append(line) } }
        }
        logger.logLevel = level
        return logger
    }
}

@Suite("Request ids and logs")
struct RequestLogTests {
    static let requestID = HTTPField.Name("X-Request-Id")!

    @Test(arguments: Backend.allCases)
    func everyAnswerCarriesARequestID(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project(migration: "create table t (id int primary key)")
            // Given and sane: kept, so an id can follow a request through a balancer.
            let kept = try await client.request(.get, "/health/live", headers: [Self.requestID: "lb-7f3a.2:9"])
            #expect(kept.headers[Self.requestID] == "lb-7f3a.2:9")
            // Absent, or not a sane token: a fresh one, never the client's text.
            for given in [nil, "", "two words", "line\r\nbreak", String(repeating: "a", count: 129), "ünï"] as [String?] {
                var headers = HTTPFields()
                if let given { headers[Self.requestID] = given }
                let answer = try await client.request(.get, "/health/live", headers: headers)
                let id = try #require(answer.headers[Self.requestID])
                #expect(id != given)
                #expect(id.count == 16 && id.allSatisfy(\.isHexDigit))
            }
            // Unknown routes, refusals and Data API errors carry one too, each its own.
            let unknown = try await client.request(.get, "/nowhere")
            let refused = try await client.request(.get, "/rest/v1/t")
            let failed = try await client.rest(.get, "t?id=eq.nope", project: project)
            #expect(unknown.status == .notFound && refused.status == .unauthorized && failed.status == .badRequest)
            let ids = [unknown, refused, failed].compactMap { $0.headers[Self.requestID] }
            #expect(Set(ids).count == 3)
        }
    }

    /// Keys, tokens, passwords and secrets never reach the log, at the most verbose level, through
    /// every flow that handles them — successful and refused.
    @Test(arguments: Backend.allCases)
    func noSecretReachesTheLog(backend: Backend) async throws {
        let log = CapturedLog()
        var node = TestNode(backend: backend)
        node.logger = log.logger(level: .trace)
        defer { node.removeData() }
        let secrets = try await node.run { client -> [String] in
            let project = try await client.project(migration: "create table t (id int primary key, body text)")
            let password = "pw-\(UInt64.random(in: 0...UInt64.max))"
            let session = try await client.signUp(project, "someone@example.com", password: password)
            _ = try await client.signIn(project, "someone@example.com", password: password)
            _ = try await client.signIn(project, "someone@example.com", password: password + "-wrong")
            let refreshed = try await client.refresh(project, session.refreshToken)
            _ = try await client.refresh(project, session.refreshToken)  // reuse: revokes the session
            _ = try await client.rest(.post, "t", project: project, key: project.serviceRoleKey, body: #"{"id":1,"body":"x"}"#)
            _ = try await client.rest(.get, "t", project: project, headers: [.authorization: "Bearer \(session.accessToken)"])
            _ = try await client.rest(.get, "t", project: project, headers: [.authorization: "Bearer \(session.accessToken)x"])
            _ = try await client.request(.get, "/admin/v1/projects", headers: [.authorization: "Bearer \(client.node.adminToken)x"])
            _ = try await client.request(.get, "/admin/v1/projects", headers: [.authorization: "Bearer \(client.node.adminToken)"])
            // A key in the query string: the request line names the route template, never the path.
            _ = try await client.request(.get, "/rest/v1/t?apikey=\(project.serviceRoleKey)&select=*")
            _ = try await client.request(.get, "/rest/v1/nowhere/\(project.anonKey)?apikey=\(project.anonKey)")
            let secret = try #require(try await client.node.directory.project(ref: project.ref)).jwtSecret
            var secrets = [password, session.accessToken, session.refreshToken, project.anonKey, project.serviceRoleKey, client.node.adminToken, secret]
            if case .string(let token)? = (try? refreshed.json())?["refresh_token"] { secrets.append(token) }
            return secrets
        }
        let lines = log.all
        #expect(!lines.isEmpty)
        for secret in secrets {
            let leaks = lines.filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "a secret of \(secret.count) characters is in \(leaks.count) log line(s): \(leaks.first ?? "")")
        }
        // The log does carry the request lines, with their ids, so a request's lines can be found.
        let requestLines = try log.objects().filter { $0["message"] == .string("request") }
        #expect(requestLines.contains { $0["route"] == .string("/auth/v1/token") && $0["request_id"] != nil && $0["status"] == .number("200") })
    }

    /// One line per request at `info`: what was asked, of which project, how it went, how long it
    /// took and how much went each way, under the id the client got back.
    @Test(arguments: Backend.allCases)
    func everyRequestGetsOneLine(backend: Backend) async throws {
        let log = CapturedLog()
        var node = TestNode(backend: backend)
        node.logger = log.logger(level: .info)
        defer { node.removeData() }
        let (project, answers) = try await node.run { client in
            let project = try await client.project(migration: "create table t (id int primary key, body text)")
            let body = #"{"id":1,"body":"x"}"#
            let inserted = try await client.rest(.post, "t", project: project, headers: [HTTPField.Name("Prefer")!: "return=representation"], body: body)
            let read = try await client.rest(.get, "t?id=eq.1", project: project)
            let unknown = try await client.request(.get, "/nowhere")
            return (project, [(inserted, body.utf8.count), (read, 0), (unknown, 0)])
        }
        let lines = try log.objects()
        #expect(!lines.contains { $0["level"] == .string("debug") })
        for (answer, bytesIn) in answers {
            let id = try #require(answer.headers[Self.requestID])
            let matching = lines.filter { $0["message"] == .string("request") && $0["request_id"] == .string(id) }
            #expect(matching.count == 1)
            let line = try #require(matching.first)
            #expect(line["level"] == .string("info"))
            #expect(line["status"] == .number("\(answer.status.code)"))
            #expect(line["bytes_out"] == .number("\(answer.body.utf8.count)"))
            #expect(line["bytes_in"] == (bytesIn > 0 ? .number("\(bytesIn)") : nil))
            guard case .number(let milliseconds)? = line["duration_ms"] else { Issue.record("no duration_ms in \(line)"); continue }
            #expect((Double(milliseconds) ?? -1) >= 0)
            if answer.status == .notFound {
                #expect(line["route"] == .string("NotFound") && line["project"] == nil && line["method"] == .string("GET"))
            } else {
                #expect(line["route"] == .string("/rest/v1/{table}") && line["project"] == .string(project.ref))
            }
        }
    }

    struct Fault: Error, CustomStringConvertible {
        var description: String { "the disk is on fire" }
    }

    /// A request the routes could not answer: a structured error line carrying the request's id,
    /// the same id in the bare 500 the client gets, and the request line with its status.
    @Test func failuresLogTheirErrorUnderTheRequestID() async throws {
        struct FailingRoutes: HTTPResponder {
            func respond(to request: Request, context: CellbaseRequestContext) async throws -> Response { throw Fault() }
        }
        let log = CapturedLog()
        let app = Application(responder: ObservedResponder(router: FailingRoutes(), metrics: nil, tracer: nil), logger: log.logger(level: .info))
        let id = try await app.test(.router) { client in
            try await client.execute(uri: "/anything", method: .post, headers: [Self.requestID: "client-id-1"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .internalServerError)
                return response.headers[Self.requestID]
            }
        }
        #expect(id == "client-id-1")
        let lines = try log.objects()
        let failure = try #require(lines.first { $0["message"] == .string("request failed") })
        #expect(failure["level"] == .string("error") && failure["request_id"] == .string("client-id-1"))
        #expect(failure["error"] == .string("the disk is on fire") && failure["method"] == .string("POST"))
        let request = try #require(lines.first { $0["message"] == .string("request") })
        #expect(request["request_id"] == .string("client-id-1") && request["status"] == .number("500") && request["bytes_in"] == .number("2"))
        #expect(lines.allSatisfy { $0["hb.request.id"] == nil })
    }
}
