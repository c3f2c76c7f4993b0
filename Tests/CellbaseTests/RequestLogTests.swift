import CellbaseSQL
import HTTPTypes
import Logging
import Synchronization
import Testing

@testable import Cellbase

/// Every log line a node writes, rendered as text with its metadata.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func logger(level: Logger.Level) -> Logger {
        var logger = Logger(label: "cellbase.test") { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(rendered) [\(event.source)]") }
        }
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
        // The log does carry the request ids, so a request's lines can be found.
        #expect(lines.contains { $0.hasPrefix("debug request answered") && $0.contains("request_id=") && $0.contains("route=/auth/v1/token") })
    }
}
