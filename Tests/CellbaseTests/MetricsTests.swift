import HTTPTypes
import Testing

@testable import Cellbase

extension TestClient {
    /// `GET /metrics`, parsed; a scrape that is not valid exposition text fails the test.
    func metrics(headers: HTTPFields = [:]) async throws -> Exposition {
        let answer = try await request(.get, "/metrics", headers: headers)
        guard answer.status == .ok, answer.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true else {
            throw UnexpectedAnswer(answer: answer)
        }
        return try Exposition(answer.body)
    }
}

@Suite("Metrics")
struct MetricsTests {
    static func withNode(_ backend: Backend = .sqlite, metrics: MetricsConfiguration = MetricsConfiguration(), _ test: @Sendable (TestClient) async throws -> Void) async throws {
        var node = TestNode(backend: backend)
        node.metrics = metrics
        defer { node.removeData() }
        try await node.run(test)
    }

    static let requests = "cellbase_http_requests_total"
    static let errors = "cellbase_http_errors_total"

    @Test(arguments: Backend.allCases)
    func requestsAreCountedByRouteTemplateStatusClassAndProject(backend: Backend) async throws {
        try await Self.withNode(backend) { client in
            let project = try await client.project(migration: todosMigration)
            for _ in 0..<2 { #expect(try await client.rest(.get, "todos", project: project).status == .ok) }
            #expect(try await client.rest(.get, "no_such_table", project: project).status == .notFound)
            #expect(try await client.request(.get, "/rest/v1/todos").status == .unauthorized)
            #expect(try await client.request(.get, "/nowhere/at/all").status == .notFound)

            let metrics = try await client.metrics()
            let table = ["method": "GET", "route": "/rest/v1/{table}", "project": project.ref]
            #expect(metrics.value(Self.requests, table.merging(["status_class": "2xx"]) { $1 }) == 2)
            #expect(metrics.value(Self.requests, table.merging(["status_class": "4xx"]) { $1 }) == 1)
            #expect(metrics.value(Self.errors, table.merging(["status_class": "4xx"]) { $1 }) == 1)
            #expect(metrics.value(Self.errors, table.merging(["status_class": "2xx"]) { $1 }) == nil)
            // Without a key the project is unknown; an unknown route shares one label.
            #expect(metrics.value(Self.requests, ["method": "GET", "route": "/rest/v1/{table}", "status_class": "4xx", "project": ""]) == 1)
            #expect(metrics.value(Self.requests, ["method": "GET", "route": "NotFound", "status_class": "4xx", "project": ""]) == 1)
            #expect(metrics.value(Self.requests, ["method": "POST", "route": "/admin/v1/projects", "status_class": "2xx", "project": ""]) == 1)
            // Raw paths never become labels.
            let routes = Set(metrics.samples.compactMap { $0.labels["route"] })
            #expect(!routes.contains { $0.contains("todos") || $0.contains("no_such_table") || $0.contains("nowhere") })
            // The scrape itself is the one request in flight.
            #expect(metrics.value("cellbase_http_requests_in_flight") == 1)

            let latency = table.merging(["le": "+Inf"]) { $1 }
            #expect(metrics.value("cellbase_http_request_duration_seconds_bucket", latency) == 3)
            #expect(metrics.value("cellbase_http_request_duration_seconds_count", table) == 3)
            let buckets = metrics.samples(named: "cellbase_http_request_duration_seconds_bucket").filter { $0.labels["route"] == "/rest/v1/{table}" && $0.labels["project"] == project.ref }
            #expect(buckets.count == NodeMetrics.latencyBuckets.count + 1)
            let counts = buckets.sorted { Double($0.labels["le"]!)! < Double($1.labels["le"]!)! }.map(\.value)
            #expect(counts == counts.sorted(), "buckets are cumulative")

            switch backend {
            case .sqlite:
                #expect(try #require(metrics.value("cellbase_sqlite_open_databases")) >= 1)
                #expect(metrics.samples(named: "cellbase_postgres_query_duration_seconds_count").isEmpty)
                #expect(metrics.samples(named: "cellbase_postgres_connections_in_use").isEmpty)
            case .postgres:
                // Creating the default and the test project, the migration and two reads each used a connection.
                #expect(try #require(metrics.value("cellbase_postgres_query_duration_seconds_count", ["shard": "pg"])) >= 5)
                // Between requests only the change listener holds a connection for good: the job
                // runner's and the change feed's polls take one for a moment, so the gauge is read until it is back down.
                // A leaked connection would keep it above one for every read.
                var inUse = metrics.value("cellbase_postgres_connections_in_use", ["shard": "pg"])
                for _ in 0..<50 where inUse != 1 {
                    try await Task.sleep(for: .milliseconds(100))
                    inUse = try await client.metrics().value("cellbase_postgres_connections_in_use", ["shard": "pg"])
                }
                #expect(inUse == 1)
                #expect(metrics.value("cellbase_postgres_connection_waiters", ["shard": "pg"]) == 0)
                #expect(metrics.value("cellbase_postgres_connections_max", ["shard": "pg"]) == Double(client.node.configuration.postgresMaxConnections))
                #expect(metrics.value("cellbase_sqlite_open_databases") == 0)
            }
            #if os(Linux)
            #expect(try #require(metrics.value("process_resident_memory_bytes")) > 1_000_000)
            #expect(try #require(metrics.value("process_open_fds")) >= 3)
            #endif
        }
    }

    @Test
    func projectsPastTheCapShareOneLabel() async throws {
        try await Self.withNode(metrics: MetricsConfiguration(maxProjectLabels: 1)) { client in
            let first = try await client.project(migration: todosMigration)
            let second = try await client.project(migration: todosMigration)
            for project in [first, second, first] { _ = try await client.rest(.get, "todos", project: project) }
            let metrics = try await client.metrics()
            let projects = Set(metrics.samples(named: Self.requests).compactMap { $0.labels["project"] })
            #expect(projects == ["", first.ref, "other"])
            #expect(metrics.value(Self.requests, ["method": "GET", "route": "/rest/v1/{table}", "status_class": "2xx", "project": first.ref]) == 2)
            #expect(metrics.value(Self.requests, ["method": "GET", "route": "/rest/v1/{table}", "status_class": "2xx", "project": "other"]) == 1)
        }
    }

    @Test
    func theProjectLabelCanBeTurnedOff() async throws {
        try await Self.withNode(metrics: MetricsConfiguration(projectLabel: false)) { client in
            let project = try await client.project(migration: todosMigration)
            _ = try await client.rest(.get, "todos", project: project)
            let metrics = try await client.metrics()
            #expect(metrics.value(Self.requests, ["method": "GET", "route": "/rest/v1/{table}", "status_class": "2xx"]) == 1)
            #expect(!metrics.samples.contains { $0.labels["project"] != nil })
        }
    }

    @Test(arguments: Backend.allCases)
    func signInsAreCountedByOutcome(backend: Backend) async throws {
        var node = TestNode(backend: backend)
        node.auth = AuthConfiguration(signInAttempts: 2, signInWindow: 600, bcryptCost: 4)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project(migration: todosMigration)
            _ = try await client.signUp(project, "kim@example.com")
            #expect(try await client.signIn(project, "kim@example.com").status == .ok)
            for _ in 0..<2 { #expect(try await client.signIn(project, "kim@example.com", password: "wrong-password").status == .badRequest) }
            #expect(try await client.signIn(project, "kim@example.com").status == .tooManyRequests)

            let metrics = try await client.metrics()
            let signIns = "cellbase_auth_sign_ins_total"
            #expect(metrics.value(signIns, ["outcome": "success", "project": project.ref]) == 1)
            #expect(metrics.value(signIns, ["outcome": "failure", "project": project.ref]) == 2)
            #expect(metrics.value(signIns, ["outcome": "throttled", "project": project.ref]) == 1)
        }
    }

    @Test
    func accessCanRequireTheAdminTokenOrBeOff() async throws {
        try await Self.withNode(metrics: MetricsConfiguration(access: .admin)) { client in
            #expect(try await client.request(.get, "/metrics").status == .unauthorized)
            let metrics = try await client.metrics(headers: [.authorization: "Bearer \(client.node.adminToken)"])
            #expect(metrics.value(Self.requests, ["method": "GET", "route": "/metrics", "status_class": "4xx", "project": ""]) == 1)
        }
        try await Self.withNode(metrics: MetricsConfiguration(access: .off)) { client in
            let answer = try await client.request(.get, "/metrics")
            #expect(answer.status == .notFound)
        }
    }

    @Test
    func projectLabelsKeepTheFirstProjectsUpToTheLimit() {
        let labels = ProjectLabels(limit: 2)
        #expect(["a", "b", "c", "a", "d", "b"].map(labels.label(for:)) == ["a", "b", "other", "a", "other", "b"])
        #expect(ProjectLabels(limit: 0).label(for: "a") == "other")
    }

    @Test(arguments: [
        "cellbase_x 1\n",
        "# TYPE cellbase_x counter\ncellbase_x{a=\"1} 1\n",
        "# TYPE cellbase_x counter\ncellbase_x{a=1} 1\n",
        "# TYPE cellbase_x counter\ncellbase_x{a=\"\\q\"} 1\n",
        "# TYPE cellbase_x counter\ncellbase_x{a=\"1\",a=\"2\"} 1\n",
        "# TYPE cellbase_x counter\ncellbase_x one\n",
        "# TYPE cellbase_x counter\n# TYPE cellbase_x gauge\n",
        "# TYPE cellbase_x counter\ncellbase_x 1",
        "# TYPE cellbase_x histogram\ncellbase_x_total 1\n",
    ])
    func theParserRejectsMalformedText(text: String) {
        #expect(throws: Exposition.Malformed.self) { try Exposition(text) }
    }

    @Test
    func theParserReadsEscapesAndHistogramSamples() throws {
        let text = """
            # HELP cellbase_h A histogram.
            # TYPE cellbase_h histogram
            cellbase_h_bucket{path="a\\"b\\\\c\\nd",le="+Inf"} 3
            cellbase_h_count{path="a\\"b\\\\c\\nd"} 3

            """
        let exposition = try Exposition(text)
        #expect(exposition.value("cellbase_h_bucket", ["path": "a\"b\\c\nd", "le": "+Inf"]) == 3)
        #expect(exposition.family(of: "cellbase_h_count") == "cellbase_h")
    }
}
