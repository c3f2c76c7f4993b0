import CellbaseSQL
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import Cellbase

/// The two kinds of shard every Data API test runs against.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

enum TestEnvironment {
    /// Set by scripts/test, which starts PostgreSQL on loopback. Missing is a failure, never a skip.
    static func postgresURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CELLBASE_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw MissingServer()
        }
        return url
    }

    /// Set by scripts/test, which starts an S3-compatible server (moto) on loopback. Missing is a
    /// failure, never a skip.
    static func s3URL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CELLBASE_TEST_S3_URL"], !url.isEmpty else {
            throw MissingServer(variable: "CELLBASE_TEST_S3_URL", server: "an S3-compatible server")
        }
        return url
    }

    /// Set by scripts/test, which starts redis-server on loopback. Missing is a failure, never a skip.
    static func redisURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CELLBASE_TEST_REDIS_URL"], !url.isEmpty else {
            throw MissingServer(variable: "CELLBASE_TEST_REDIS_URL", server: "redis-server")
        }
        return url
    }

    struct MissingServer: Error, CustomStringConvertible {
        var variable = "CELLBASE_TEST_POSTGRES_URL"
        var server = "PostgreSQL"

        var description: String {
            "\(variable) is not set: run the tests through scripts/test, which starts \(server)"
        }
    }
}

/// A fresh node on a temporary data directory, with `default` placed on the chosen backend.
struct TestNode {
    let backend: Backend
    let dataDirectory: String
    /// bcrypt's lowest cost keeps the many sign-ups of the tests cheap; the hashing path is the same.
    var auth = AuthConfiguration(bcryptCost: 4)
    var metrics = MetricsConfiguration()
    var storage = StorageConfiguration()
    var jobs = JobsConfiguration()
    var webhooks = WebhookConfiguration()
    /// Auth's mail settings, and the mailer that takes its mails in place of SMTP.
    var mail: MailConfiguration?
    var authMailer: (any AuthMailer)?
    /// No spans unless a test gives the node a tracer.
    var tracing: NodeTracing?
    /// Where the node logs; warnings and worse to the console unless a test captures them, or the
    /// level `CELLBASE_TEST_LOG_LEVEL` names (`debug` shows each service of a node starting and
    /// stopping). `test_node` tells the nodes of one test apart.
    var logger: Logger = {
        var logger = Logger(label: "cellbase.test")
        logger.logLevel = ProcessInfo.processInfo.environment["CELLBASE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        logger[metadataKey: "test_node"] = "\(UInt16.random(in: 0...UInt16.max))"
        return logger
    }()

    init(backend: Backend, dataDirectory: String? = nil) {
        self.backend = backend
        self.dataDirectory = dataDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("cellbase-test-\(UUID().uuidString)").path
    }

    func configuration() throws -> CellbaseConfiguration {
        var configuration = CellbaseConfiguration(dataDirectory: dataDirectory, port: 0)
        configuration.mqtt.port = 0
        configuration.maxBodySize = 1024 * 1024
        // Hundreds of test nodes run at once against one PostgreSQL server: small pools keep them
        // under its max_connections (scripts/services.sh).
        configuration.postgresMaxConnections = 6
        configuration.auth = auth
        configuration.metrics = metrics
        configuration.storage = storage
        configuration.jobs = jobs
        configuration.webhooks = webhooks
        configuration.mail = mail
        if backend == .postgres {
            configuration.postgresShards = ["pg": try TestEnvironment.postgresURL()]
            configuration.defaultShard = "pg"
        }
        return configuration
    }

    func run<Value: Sendable>(_ test: @Sendable (TestClient) async throws -> Value) async throws -> Value {
        let (app, node) = try await CellbaseBuilder.build(try configuration(), logger: logger, tracing: tracing, authMailer: authMailer)
        return try await app.test(.router) { client in
            try await test(TestClient(client: client, node: node))
        }
    }

    /// This node's configuration on the PostgreSQL control plane (and shard) that every test node
    /// built this way shares, without a `default` project, for tests of several nodes.
    func sharingControlPlane() throws -> CellbaseConfiguration {
        var configuration = try configuration()
        configuration.controlURL = try TestEnvironment.postgresURL()
        configuration.createDefaultProject = false
        return configuration
    }

    func removeData() {
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

/// A test client that knows the node's admin token and speaks JSON.
struct TestClient: Sendable {
    let client: any TestClientProtocol
    let node: CellbaseNode

    struct Answer: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: String

        func json() throws -> JSONValue {
            try JSONParser.parse(Array(body.utf8), maxDepth: 256)
        }

        /// The error `code` of a JSON error body.
        var code: String? {
            guard case .string(let code)? = (try? json())?["code"] else { return nil }
            return code
        }
    }

    func request(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: String? = nil) async throws -> Answer {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            Answer(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
    }

    func admin(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [.authorization: "Bearer \(node.adminToken)"]
        if body != nil { headers[.contentType] = "application/json" }
        return try await request(method, uri, headers: headers, body: body)
    }

    /// Creates a project on the node's default shard and applies `sql` to it.
    func project(_ name: String = "p\(UInt32.random(in: 0...UInt32.max))", migration sql: String? = nil) async throws -> TestProject {
        let created = try await admin(.post, "/admin/v1/projects", body: #"{"name":"\#(name)"}"#)
        guard created.status == .created, let json = try? created.json(),
              case .string(let ref)? = json["ref"], case .string(let anon)? = json["anon_key"],
              case .string(let service)? = json["service_role_key"]
        else { throw UnexpectedAnswer(answer: created) }
        let project = TestProject(ref: ref, anonKey: anon, serviceRoleKey: service)
        if let sql {
            let migrated = try await admin(.post, "/admin/v1/projects/\(ref)/migrations", body: Self.migrationBody(name: "0001_init.sql", sql: sql))
            guard migrated.status == .created else { throw UnexpectedAnswer(answer: migrated) }
        }
        return project
    }

    static func migrationBody(name: String, sql: String) -> String {
        JSONValue.object([JSONMember(key: "name", value: .string(name)), JSONMember(key: "sql", value: .string(sql))]).serialized
    }

    /// A Data API request with the project's anon key, as supabase-py sends it.
    func rest(_ method: HTTPRequest.Method, _ path: String, project: TestProject, key: String? = nil, headers extra: HTTPFields = [:], body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [
            HTTPField.Name("apiKey")!: key ?? project.anonKey,
            .authorization: "Bearer \(key ?? project.anonKey)",
            HTTPField.Name("Accept-Profile")!: "public",
        ]
        if body != nil { headers[.contentType] = "application/json" }
        for field in extra { headers[field.name] = field.value }
        return try await request(method, "/rest/v1/" + path, headers: headers, body: body)
    }
}

struct TestProject: Sendable {
    var ref: String
    var anonKey: String
    var serviceRoleKey: String
}

struct UnexpectedAnswer: Error, CustomStringConvertible {
    var answer: TestClient.Answer
    var description: String { "unexpected answer \(answer.status.code): \(answer.body)" }
}

/// Parses JSON text for comparisons; numbers compare by value (`12.50` == `12.5`), as the two
/// databases print numerics differently.
func json(_ text: String) throws -> JSONValue {
    try JSONParser.parse(Array(text.utf8), maxDepth: 256).normalizedNumbers
}

extension JSONValue {
    var normalizedNumbers: JSONValue {
        switch self {
        case .number(let text): .number(Double(text).map { "\($0)" } ?? text)
        case .array(let values): .array(values.map(\.normalizedNumbers))
        case .object(let members): .object(members.map { JSONMember(key: $0.key, value: $0.value.normalizedNumbers) })
        default: self
        }
    }
}

extension TestClient.Answer {
    func normalizedJSON() throws -> JSONValue { try json().normalizedNumbers }
}
