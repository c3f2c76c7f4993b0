import CellbaseSQL
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryTracing
import Logging
import NIOCore
import Testing
import Tracing

@testable import Cellbase

@Suite("Tracing")
struct TracingTests {
    static let items = "create table items (id int primary key, title text not null)"
    /// A value the requests filter and write by, which no span may carry.
    static let secret = "s3cret-title-value"
    static let requestID = HTTPField.Name("X-Request-Id")!

    /// Every attribute value of a span, as text, for checking that no SQL or value leaks into one.
    static func texts(of attributes: SpanAttributes) -> [String] {
        var texts: [String] = []
        attributes.forEach { key, value in texts.append("\(key)=\(value)") }
        return texts
    }

    static func leaks(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return lowered.contains(secret) || ["select", "insert", "update", "delete", "from "].contains { lowered.contains($0) }
    }

    @Test(arguments: Backend.allCases)
    func aRequestIsOneServerSpanWithItsDatabaseWorkAsChildren(backend: Backend) async throws {
        let tracer = InMemoryTracer()
        var node = TestNode(backend: backend)
        node.tracing = NodeTracing(tracer: tracer)
        defer { node.removeData() }
        let shard = backend == .sqlite ? "local" : "pg"
        let project = try await node.run { client in
            let project = try await client.project(migration: Self.items)
            tracer.clearAll()
            let insert = try await client.rest(.post, "items", project: project, key: project.serviceRoleKey, body: #"{"id":1,"title":"\#(Self.secret)"}"#)
            #expect(insert.status == .created)
            let read = try await client.rest(.get, "items?title=eq.\(Self.secret)", project: project, headers: [Self.requestID: "read-1"])
            #expect(read.status == .ok)
            #expect(try await client.request(.get, "/no/such/\(Self.secret)").status == .notFound)
            return project
        }
        let spans = tracer.finishedSpans
        let servers = spans.filter { $0.kind == .server }
        // Named by method and route template, never the path.
        #expect(servers.map(\.operationName) == ["POST /rest/v1/{table}", "GET /rest/v1/{table}", "GET NotFound"])
        let read = try #require(servers.dropFirst().first)
        #expect(read.parentSpanID == nil)
        #expect(read.attributes.get("http.request.method") == .string("GET"))
        #expect(read.attributes.get("http.route") == .string("/rest/v1/{table}"))
        #expect(read.attributes.get("http.response.status_code") == .int64(200))
        #expect(read.attributes.get("cellbase.project") == .string(project.ref))
        #expect(read.attributes.get("cellbase.request_id") == .string("read-1"))
        #expect(read.status == nil, "a 2xx leaves the status unset")
        #expect(servers.last?.attributes.get("cellbase.project") == nil, "a request without a key names no project")
        #expect(servers.last?.status == nil, "a 4xx is the client's error, not the node's")

        // Each request's database work is a child span in its trace, named and described without SQL.
        let database = spans.filter { $0.kind == .client }
        for (server, operation) in zip(servers, ["write", "read"]) {
            let children = database.filter { $0.parentSpanID == server.spanID }
            #expect(children.map(\.operationName) == ["\(operation) \(shard)"])
            let child = try #require(children.first)
            #expect(child.traceID == server.traceID)
            #expect(child.attributes.get("db.system.name") == .string(backend == .sqlite ? "sqlite" : "postgresql"))
            #expect(child.attributes.get("db.operation.name") == .string(operation))
            #expect(child.attributes.get("cellbase.shard") == .string(shard))
        }
        // Nothing traces outside a request: every database span belongs to one.
        #expect(database.allSatisfy { span in servers.contains { $0.spanID == span.parentSpanID } })
        for span in spans {
            #expect(!Self.leaks(span.operationName), "\(span.operationName)")
            for text in Self.texts(of: span.attributes) {
                #expect(!Self.leaks(text), "\(span.operationName): \(text)")
                #expect(!text.contains(project.anonKey) && !text.contains(project.serviceRoleKey), "\(span.operationName): a key")
            }
        }
    }

    /// A node is given its tracer or has none: without one it reads no trace context and makes no
    /// span, even where a tracer is bound for the task (as a bootstrapped `InstrumentationSystem`
    /// would be).
    @Test func aNodeWithoutATracerMakesNoSpans() async throws {
        let tracer = InMemoryTracer()
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await withTracer(tracer) {
            try await node.run { client in
                let project = try await client.project(migration: Self.items)
                let headers: HTTPFields = [
                    HTTPField.Name("traceparent")!: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    HTTPField.Name(InMemoryTracer.traceIDKey)!: "trace-1",
                    HTTPField.Name(InMemoryTracer.spanIDKey)!: "span-1",
                ]
                #expect(try await client.rest(.get, "items", project: project, headers: headers).status == .ok)
            }
        }
        #expect(tracer.finishedSpans.isEmpty)
        #expect(tracer.activeSpans.isEmpty)
        #expect(tracer.performedContextExtractions.isEmpty)
    }

    /// A request the routes could not answer: its span is failed and carries the error.
    @Test func aFailedRequestsSpanIsMarkedFailed() async throws {
        struct Fault: Error {}
        struct FailingRoutes: HTTPResponder {
            func respond(to request: Request, context: CellbaseRequestContext) async throws -> Response { throw Fault() }
        }
        let tracer = InMemoryTracer()
        var logger = Logger(label: "cellbase.test")
        logger.logLevel = .critical
        let app = Application(responder: ObservedResponder(router: FailingRoutes(), metrics: nil, tracer: tracer), logger: logger)
        try await app.test(.router) { client in
            try await client.execute(uri: "/anything", method: .post) { response in
                #expect(response.status == .internalServerError)
            }
        }
        let span = try #require(tracer.finishedSpans.first)
        #expect(tracer.finishedSpans.count == 1)
        #expect(span.operationName == "POST NotFound")
        #expect(span.status?.code == .error)
        #expect(span.errors.count == 1 && span.errors.first?.error is Fault)
        #expect(span.attributes.get("http.response.status_code") == .int64(500))
    }

    /// Spans reach an OTLP/HTTP collector as the node exports them (protobuf, the default
    /// protocol): a request with a W3C `traceparent` continues the caller's trace, one without
    /// starts its own, each with its database work as children; and the request's log line names
    /// its trace and span.
    @Test(arguments: Backend.allCases)
    func spansAreExportedOverOTLPContinuingTheCallersTrace(backend: Backend) async throws {
        let receiver = OTLPReceiver()
        let log = CapturedLog()
        let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let callerSpan = "00f067aa0ba902b7"
        let ref = try await receiver.run { port in
            var node = TestNode(backend: backend)
            node.logger = log.logger(level: .info, metadataProvider: OTLPTracing.logMetadata)
            let tracing = try #require(try OTLPTracing.tracing(endpoint: "http://127.0.0.1:\(port)/v1/traces", logger: node.logger))
            node.tracing = tracing
            defer { node.removeData() }
            // The exporter is one of the node's services: when `run` returns it has sent every span.
            return try await node.run { client in
                let project = try await client.project(migration: Self.items)
                let insert = try await client.rest(.post, "items", project: project, key: project.serviceRoleKey, body: #"{"id":1,"title":"\#(Self.secret)"}"#)
                #expect(insert.status == .created)
                let fresh = try await client.rest(.get, "items?title=eq.\(Self.secret)", project: project, headers: [Self.requestID: "fresh-1"])
                #expect(fresh.status == .ok)
                let continued = try await client.rest(.get, "items?id=eq.1", project: project, headers: [
                    Self.requestID: "continued-1",
                    HTTPField.Name("traceparent")!: "00-\(callerTrace)-\(callerSpan)-01",
                    HTTPField.Name("tracestate")!: "caller=7",
                ])
                #expect(continued.status == .ok)
                // A malformed traceparent starts a trace of its own, quietly.
                let malformed = try await client.rest(.get, "items?id=eq.1", project: project, headers: [
                    Self.requestID: "malformed-1", HTTPField.Name("traceparent")!: "00-\(callerTrace)-zz-01",
                ])
                #expect(malformed.status == .ok)
                return project.ref
            }
        }
        let spans = try receiver.spans()
        let servers = spans.filter { $0.kind == .server }
        let fresh = try #require(servers.first { $0.attributes["cellbase.request_id"] == .string("fresh-1") })
        let continued = try #require(servers.first { $0.attributes["cellbase.request_id"] == .string("continued-1") })

        #expect(continued.traceID == callerTrace)
        #expect(continued.parentSpanID == callerSpan)
        #expect(continued.traceState == "caller=7")
        #expect(fresh.parentSpanID == nil)
        #expect(fresh.traceID.count == 32 && fresh.traceID != callerTrace)
        #expect(fresh.traceID != continued.traceID)
        let malformed = try #require(servers.first { $0.attributes["cellbase.request_id"] == .string("malformed-1") })
        #expect(malformed.parentSpanID == nil && malformed.traceID != callerTrace)
        for server in [fresh, continued] {
            #expect(server.name == "GET /rest/v1/{table}")
            #expect(server.attributes["http.request.method"] == .string("GET"))
            #expect(server.attributes["http.route"] == .string("/rest/v1/{table}"))
            #expect(server.attributes["http.response.status_code"] == .int(200))
            #expect(server.attributes["cellbase.project"] == .string(ref))
            #expect(server.resource["service.name"] == .string(OTLPTracing.serviceName))
            let children = spans.filter { $0.parentSpanID == server.spanID }
            #expect(children.map(\.name) == ["read \(backend == .sqlite ? "local" : "pg")"])
            #expect(children.allSatisfy { $0.kind == .client && $0.traceID == server.traceID })
            #expect(children.first?.attributes["db.system.name"] == .string(backend == .sqlite ? "sqlite" : "postgresql"))
        }
        let write = try #require(servers.first { $0.name == "POST /rest/v1/{table}" })
        #expect(spans.filter { $0.parentSpanID == write.spanID }.map { $0.attributes["db.operation.name"] } == [.string("write")])
        // The admin requests that created the project and applied its migration were traced too.
        #expect(servers.contains { $0.name == "POST /admin/v1/projects/{ref}/migrations" })
        for span in spans {
            #expect(!Self.leaks(span.name), "\(span.name)")
            for (key, value) in span.attributes { #expect(!Self.leaks("\(key)=\(value)"), "\(span.name): \(key)") }
        }

        let logged = try log.objects()
        let notInfo = logged.filter { $0["level"] != .string("info") }.map(\.serialized)
        #expect(notInfo.isEmpty, "no warning: the exporter reached the receiver, and bad trace headers are not a fault: \(notInfo)")
        let lines = logged.filter { $0["message"] == .string("request") }
        let continuedLine = try #require(lines.first { $0["request_id"] == .string("continued-1") })
        #expect(continuedLine["trace_id"] == .string(callerTrace))
        #expect(continuedLine["span_id"] == .string(continued.spanID))
        let freshLine = try #require(lines.first { $0["request_id"] == .string("fresh-1") })
        #expect(freshLine["trace_id"] == .string(fresh.traceID))
        #expect(freshLine["span_id"] == .string(fresh.spanID))
    }

    /// What is read of a caller's trace context, as the W3C recommendation has it: a malformed
    /// `traceparent` is none at all, a malformed `tracestate` is dropped on its own.
    @Test func traceHeadersAreTakenOnlyWhenWellFormed() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        func headers(_ fields: [(String, String)]) -> HTTPFields {
            HTTPFields(fields.map { HTTPField(name: HTTPField.Name($0.0)!, value: $0.1) })
        }
        let both = TraceHeaders(headers([("traceparent", parent), ("tracestate", "caller=7,other=x")]))
        #expect(both?.traceparent == parent && both?.tracestate == "caller=7,other=x")
        let badState = TraceHeaders(headers([("traceparent", parent), ("tracestate", "Caller=7")]))
        #expect(badState?.traceparent == parent && badState?.tracestate == nil)
        for malformed in [
            "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        ] {
            #expect(TraceHeaders(headers([("traceparent", malformed), ("tracestate", "caller=7")])) == nil, "\(malformed)")
        }
        // Two traceparent fields: which one the caller meant is unknown, so neither.
        #expect(TraceHeaders(headers([("traceparent", parent), ("traceparent", parent)])) == nil)
        #expect(TraceHeaders(headers([("tracestate", "caller=7")])) == nil)
    }

    /// The `OTEL_*` settings swift-otel cannot honour in this build are refused at start by name,
    /// rather than stopping the process or being ignored.
    @Test func unsupportedOpenTelemetrySettingsAreRefused() throws {
        let accepted: [[String: String]] = [
            [:],
            ["OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_PROPAGATORS": "tracecontext"],
            ["OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json", "OTEL_TRACES_SAMPLER": "always_off", "OTEL_PROPAGATORS": "none"],
            // The signal's own protocol wins over the shared one.
            ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"],
            ["OTEL_TRACES_SAMPLER": "always_on"], ["OTEL_TRACES_SAMPLER": "traceidratio"], ["OTEL_TRACES_SAMPLER": "parentbased_always_on"],
            ["OTEL_TRACES_SAMPLER": "parentbased_always_off"],
        ]
        for environment in accepted {
            #expect(throws: Never.self, "\(environment)") { try OTLPTracing.check(environment) }
        }
        let refused: [([String: String], String)] = [
            (["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"], "OTEL_EXPORTER_OTLP_PROTOCOL"),
            (["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"], "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            (["OTEL_EXPORTER_OTLP_PROTOCOL": "http"], "OTEL_EXPORTER_OTLP_PROTOCOL"),
            (["OTEL_TRACES_SAMPLER": "xray"], "OTEL_TRACES_SAMPLER"),
            (["OTEL_TRACES_SAMPLER": "jaeger_remote"], "OTEL_TRACES_SAMPLER"),
            (["OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote"], "OTEL_TRACES_SAMPLER"),
            (["OTEL_TRACES_SAMPLER": "ALWAYS_ON"], "OTEL_TRACES_SAMPLER"),
            (["OTEL_PROPAGATORS": "tracecontext,baggage"], "OTEL_PROPAGATORS"),
            (["OTEL_PROPAGATORS": "b3"], "OTEL_PROPAGATORS"),
            (["OTEL_TRACES_EXPORTER": "console"], "OTEL_TRACES_EXPORTER"),
            (["OTEL_TRACES_EXPORTER": "zipkin"], "OTEL_TRACES_EXPORTER"),
        ]
        for (environment, variable) in refused {
            let error = #expect(throws: TracingSettingError.self, "\(environment)") { try OTLPTracing.check(environment) }
            #expect(error?.variable == variable)
            #expect(error?.description.hasPrefix("\(variable)=\(environment[variable]!) is not supported") == true)
        }
    }
}
