import CellbaseSQL
import Foundation
import HTTPTypes
import NIOHTTP1
import Testing

@testable import Cellbase

/// Database webhooks end to end: rows written through the Data API reach a real receiver on
/// loopback, signed, once per change; 410 disables a webhook; failures are retried until dead.
@Suite struct WebhookJobsTests {
    static let table = "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL);"

    static func node(_ backend: Backend) -> TestNode {
        var node = TestNode(backend: backend)
        node.webhooks = WebhookConfiguration(addressPolicy: OutboundAddressPolicy(allowsPrivate: true))
        node.jobs = JobsConfiguration(retryBaseMilliseconds: 50, retryCapMilliseconds: 200)
        return node
    }

    /// The webhooks of these tests wait up to a minute for their receiver (`timeout_ms`), not the
    /// default 5 s: on a loaded machine a loopback answer can take longer, and a timed-out attempt
    /// is retried, which would change what the tests count.
    static func createWebhook(_ client: TestClient, _ project: TestProject, _ body: String) async throws -> String {
        let created = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/webhooks", body: body)
        guard created.status == .created, case .string(let secret)? = try created.json()["secret"] else { throw UnexpectedAnswer(answer: created) }
        return secret
    }

    /// The project's dead jobs, once there are any; fails after about 30 seconds.
    static func deadJobs(_ client: TestClient, _ project: TestProject) async throws -> [JSONValue] {
        for _ in 0..<300 {
            if case .array(let dead) = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs?state=dead").json(), !dead.isEmpty {
                return dead
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("no job of project \(project.ref) died")
        return []
    }

    @Test(arguments: Backend.allCases)
    func everyChangeIsDeliveredOnceAndSigned(backend: Backend) async throws {
        let node = Self.node(backend)
        defer { node.removeData() }
        let receiver = WebhookReceiver(.respond(.ok))
        try await receiver.run { port in
            try await node.run { client in
                let project = try await client.project(migration: Self.table)
                let secret = try await Self.createWebhook(client, project, #"{"name":"all","table":"orders","timeout_ms":60000,"url":"http://127.0.0.1:\#(port)/all"}"#)
                _ = try await Self.createWebhook(client, project, #"{"name":"paid","table":"orders","events":["UPDATE"],"filter":"status=eq.paid","timeout_ms":60000,"url":"http://127.0.0.1:\#(port)/paid"}"#)
                let key = project.serviceRoleKey
                _ = try await client.rest(.post, "orders", project: project, key: key, body: #"[{"id":1,"status":"new"},{"id":2,"status":"new"}]"#)
                _ = try await client.rest(.patch, "orders?id=eq.1", project: project, key: key, body: #"{"status":"paid"}"#)
                _ = try await client.rest(.patch, "orders?id=eq.2", project: project, key: key, body: #"{"status":"cancelled"}"#)
                _ = try await client.rest(.delete, "orders?id=eq.2", project: project, key: key)

                for _ in 0..<300 where receiver.requests.count < 6 { try await Task.sleep(for: .milliseconds(100)) }
                try await Task.sleep(for: .milliseconds(500))
                let requests = receiver.requests
                let toAll = requests.filter { $0.uri == "/all" }
                let toPaid = requests.filter { $0.uri == "/paid" }
                #expect(toAll.count == 5)
                #expect(toPaid.count == 1)
                let secrets = [try #require(WebhookSecret(secret))]
                var ids = Set<String>()
                var types: [String] = []
                for request in toAll {
                    let id = try #require(request.headers.first(name: "webhook-id"))
                    ids.insert(id)
                    try WebhookSignature.verify(
                        id: id, timestamp: try #require(request.headers.first(name: "webhook-timestamp")),
                        signature: try #require(request.headers.first(name: "webhook-signature")), body: request.body,
                        secrets: secrets, now: Int64(Date().timeIntervalSince1970)
                    )
                    let body = try JSONParser.parse(request.body, maxDepth: 16)
                    #expect(body["table"] == .string("orders"))
                    #expect(body["schema"] == .string("public"))
                    if case .string(let type)? = body["type"] { types.append(type) }
                }
                #expect(ids.count == 5)
                #expect(types.sorted() == ["DELETE", "INSERT", "INSERT", "UPDATE", "UPDATE"])
                let paid = try JSONParser.parse(toPaid[0].body, maxDepth: 16)
                #expect(paid["record"]?["id"] == .number("1"))
                #expect(paid["record"]?["status"] == .string("paid"))
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func aGoneReceiverDisablesItsWebhook(backend: Backend) async throws {
        let node = Self.node(backend)
        defer { node.removeData() }
        let receiver = WebhookReceiver(.respond(.gone))
        try await receiver.run { port in
            try await node.run { client in
                let project = try await client.project(migration: Self.table)
                _ = try await Self.createWebhook(client, project, #"{"name":"gone","table":"orders","timeout_ms":60000,"url":"http://127.0.0.1:\#(port)/"}"#)
                _ = try await client.rest(.post, "orders", project: project, key: project.serviceRoleKey, body: #"{"id":1,"status":"new"}"#)
                var hook: JSONValue = .null
                for _ in 0..<300 {
                    hook = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/webhooks/gone").json()
                    if hook["enabled"] == .bool(false) { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(hook["enabled"] == .bool(false))
                guard case .string(let reason)? = hook["disabled_reason"] else { Issue.record("no reason: \(hook)"); return }
                #expect(reason.contains("410"))
                // The webhook is disabled while its job still runs; the job is dead a moment later.
                let jobs = try await Self.deadJobs(client, project)
                #expect(jobs.count == 1)
                #expect(receiver.requests.count == 1)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func aFailingReceiverIsRetriedUntilTheJobIsDead(backend: Backend) async throws {
        let node = Self.node(backend)
        defer { node.removeData() }
        let receiver = WebhookReceiver(.respond(.internalServerError, body: "broken"))
        try await receiver.run { port in
            try await node.run { client in
                let project = try await client.project(migration: Self.table)
                _ = try await Self.createWebhook(client, project, #"{"name":"flaky","table":"orders","max_attempts":3,"timeout_ms":60000,"url":"http://127.0.0.1:\#(port)/"}"#)
                _ = try await client.rest(.post, "orders", project: project, key: project.serviceRoleKey, body: #"{"id":1,"status":"new"}"#)
                let jobs = try await Self.deadJobs(client, project)
                #expect(jobs.count == 1)
                #expect(jobs.first?["attempts"] == .number("3"))
                guard case .string(let error)? = jobs.first?["last_error"] else { Issue.record("no error"); return }
                #expect(error.contains("500"))
                #expect(receiver.requests.count == 3)
                #expect(Set(receiver.requests.compactMap { $0.headers.first(name: "webhook-id") }).count == 1)
            }
        }
    }

    @Test func privateAddressesAreRefusedByDefault() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        let receiver = WebhookReceiver(.respond(.ok))
        try await receiver.run { port in
            try await node.run { client in
                let project = try await client.project(migration: Self.table)
                _ = try await Self.createWebhook(client, project, #"{"name":"inside","table":"orders","timeout_ms":60000,"url":"http://127.0.0.1:\#(port)/"}"#)
                _ = try await client.rest(.post, "orders", project: project, key: project.serviceRoleKey, body: #"{"id":1,"status":"new"}"#)
                let jobs = try await Self.deadJobs(client, project)
                #expect(jobs.first?["attempts"] == .number("1"))
                #expect(receiver.connections == 0)
            }
        }
    }

    /// A webhook declared in a migration as Supabase's dashboard writes it: created with its
    /// migration, delivering signed changes, gone when a later migration drops the trigger.
    @Test(arguments: Backend.allCases)
    func aWebhookDeclaredInAMigrationFollowsItsMigrations(backend: Backend) async throws {
        let node = Self.node(backend)
        defer { node.removeData() }
        let receiver = WebhookReceiver(.respond(.ok))
        try await receiver.run { port in
            try await node.run { client in
                let project = try await client.project(migration: Self.table)
                let migrations = "/admin/v1/projects/\(project.ref)/migrations"
                let declare = """
                    create trigger "orders_new" after insert on "public"."orders" for each row
                    execute function "supabase_functions"."http_request"('http://127.0.0.1:\(port)/new', 'POST', '{"Content-type":"application/json"}', '{}', '1000');
                    """
                let applied = try await client.admin(.post, migrations, body: TestClient.migrationBody(name: "0002_webhook.sql", sql: declare))
                #expect(applied.status == .created, "\(applied.body)")
                let hook = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/webhooks/orders_new").json()
                #expect(hook["table"] == .string("orders"))
                #expect(hook["events"] == .array([.string("INSERT")]))
                let secret = try #require(hook["secret"]?.stringValue)

                let key = project.serviceRoleKey
                _ = try await client.rest(.post, "orders", project: project, key: key, body: #"{"id":1,"status":"new"}"#)
                _ = try await client.rest(.patch, "orders?id=eq.1", project: project, key: key, body: #"{"status":"paid"}"#)
                for _ in 0..<300 where receiver.requests.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                try await Task.sleep(for: .milliseconds(300))
                #expect(receiver.requests.count == 1)
                let request = try #require(receiver.requests.first)
                try WebhookSignature.verify(
                    id: try #require(request.headers.first(name: "webhook-id")), timestamp: try #require(request.headers.first(name: "webhook-timestamp")),
                    signature: try #require(request.headers.first(name: "webhook-signature")), body: request.body,
                    secrets: [try #require(WebhookSecret(secret))], now: Int64(Date().timeIntervalSince1970)
                )
                #expect(try JSONParser.parse(request.body, maxDepth: 16)["type"] == .string("INSERT"))

                // An admin-API webhook's name cannot be declared, and the migration is not applied.
                _ = try await Self.createWebhook(client, project, #"{"name":"taken","table":"orders","timeout_ms":60000,"url":"http://127.0.0.1:\#(port)/taken"}"#)
                let clash = declare.replacing("orders_new", with: "taken")
                let refused = try await client.admin(.post, migrations, body: TestClient.migrationBody(name: "0003_clash.sql", sql: clash))
                #expect(refused.status == .conflict)
                #expect(refused.code == "webhook_exists")
                let applied3 = try await client.admin(.get, migrations).json()
                #expect(applied3.serialized.contains("0003_clash.sql") == false)

                let dropped = try await client.admin(.post, migrations, body: TestClient.migrationBody(name: "0004_drop.sql", sql: #"drop trigger "orders_new" on "public"."orders";"#))
                #expect(dropped.status == .created, "\(dropped.body)")
                #expect(try await client.admin(.get, "/admin/v1/projects/\(project.ref)/webhooks/orders_new").status == .notFound)
                #expect(try await client.admin(.get, "/admin/v1/projects/\(project.ref)/webhooks/taken").status == .ok)
            }
        }
    }
}
