import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1
import Synchronization
import Tracing

/// What the node observes of every request, around the router so that requests for unknown
/// routes — which never reach router middleware — are seen too: its `X-Request-Id`, which every
/// log line of the request carries and the response returns; its metrics (route `NotFound` for
/// unknown routes); with a tracer, its span, continuing the caller's trace when a W3C
/// `traceparent` came with it; at `info` level, one line when it is answered; and the error of a
/// request the router could not answer, logged with the request's id and answered with a bare 500.
struct ObservedResponder<Routes: HTTPResponder>: HTTPResponder where Routes.Context == CellbaseRequestContext {
    let router: Routes
    /// `nil` with metrics off: nothing is recorded, so that setting also shows what recording costs.
    let metrics: HTTPMetrics?
    /// `nil` with tracing off: no context is read from the headers and no span is made.
    let tracer: (any Tracer)?

    func respond(to request: Request, context: CellbaseRequestContext) async throws -> Response {
        guard let tracer else { return try await observe(request, context: context, span: nil) }
        var parent = ServiceContext.current ?? .topLevel
        if let caller = TraceHeaders(request.headers) {
            tracer.extract(caller, into: &parent, using: TraceHeaders.Extractor())
        }
        // Named after the method until the router has matched a route template.
        return try await tracer.withAnySpan(request.method.rawValue, context: parent, ofKind: .server) { span in
            try await observe(request, context: context, span: span)
        }
    }

    private func observe(_ request: Request, context: CellbaseRequestContext, span: (any Span)?) async throws -> Response {
        let requestID = RequestID(request.headers[.xRequestID])
        var context = context
        // One id per request in the log: ours, which the client can give and sees in the answer.
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = .string(requestID.value)
        let start = ContinuousClock.now
        metrics?.started()
        let logsRequests = context.logger.logLevel <= .info
        let project = metrics?.projectLabels != nil || logsRequests || span != nil ? RequestProject() : nil
        context.observedProject = project
        // Set once answered; a parser error leaves it at 500, as the server then gives up on the connection.
        var status = HTTPResponse.Status.internalServerError
        var bytesOut: Int?
        defer {
            let route = context.endpointPath ?? "NotFound"
            let duration = ContinuousClock.now - start
            metrics?.finished(method: request.method, route: route, status: status, projectRef: project?.ref, duration: duration)
            if let span {
                Self.describe(span, request, route: route, status: status, projectRef: project?.ref, requestID: requestID)
            }
            if logsRequests {
                context.logger.info("request", metadata: Self.requestLine(
                    request, route: route, status: status, duration: duration, projectRef: project?.ref, bytesOut: bytesOut
                ))
            }
        }
        var response: Response
        do {
            response = try await router.respond(to: request, context: context)
        } catch let error as HTTPParserError {
            // The connection's fault rather than the request's: the server closes the connection.
            throw error
        } catch {
            // Answered here rather than by the server, so the 500 carries the id its log line has.
            context.logger.error("request failed", error: error, metadata: [
                "method": .string(request.method.rawValue), "route": .string(context.endpointPath ?? "NotFound"),
            ])
            span?.recordError(error)
            response = Response(status: .internalServerError)
        }
        status = response.status
        bytesOut = response.body.contentLength
        response.headers[.xRequestID] = requestID.value
        return response
    }

    /// Names the request's span by its method and route template — never its path, which holds
    /// ids and would make a name per row — and gives it OpenTelemetry's HTTP server attributes and
    /// the request's project and id. A 5xx marks it failed; a 4xx is the client's error, not the
    /// node's, as the semantic conventions have it for servers.
    static func describe(_ span: any Span, _ request: Request, route: String, status: HTTPResponse.Status, projectRef: String?, requestID: RequestID) {
        span.operationName = request.method.rawValue + " " + route
        guard span.isRecording else { return }
        span.updateAttributes { attributes in
            attributes["http.request.method"] = request.method.rawValue
            attributes["http.route"] = route
            attributes["http.response.status_code"] = status.code
            attributes["cellbase.request_id"] = requestID.value
            if let projectRef { attributes["cellbase.project"] = projectRef }
        }
        if status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }

    /// The fields of the request line: the route template rather than the path, whose query can
    /// carry an `apikey`; sizes rather than bodies; no header values at all.
    static func requestLine(
        _ request: Request, route: String, status: HTTPResponse.Status, duration: Duration, projectRef: String?, bytesOut: Int?
    ) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(route),
            "status": .stringConvertible(status.code),
            "duration_ms": .stringConvertible((duration / .microseconds(1)).rounded() / 1000),
        ]
        if let projectRef { metadata["project"] = .string(projectRef) }
        // The body streams past the node's handlers, so its size is what the client declared.
        if let bytesIn = request.headers[.contentLength].flatMap(Int.init) { metadata["bytes_in"] = .stringConvertible(bytesIn) }
        if let bytesOut { metadata["bytes_out"] = .stringConvertible(bytesOut) }
        return metadata
    }
}

/// A request's id: the caller's `X-Request-Id` when it is a sane token (1 to 128 characters of
/// letters, digits, `-`, `_`, `.`, `:`), so ids can follow a request through a balancer or gateway;
/// otherwise a fresh random one. Anything else a client sends is not echoed into logs or headers.
struct RequestID: Sendable, Hashable {
    let value: String

    init(_ given: String?) {
        if let given, Self.isAcceptable(given) {
            value = given
        } else {
            let digits = String(UInt64.random(in: .min ... .max), radix: 16)
            value = String(repeating: "0", count: 16 - digits.count) + digits
        }
    }

    static func isAcceptable(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"): true
            default: false
            }
        }
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
}

/// Where the API-key middleware notes the request's project, for the metrics and the request line
/// written around the router: contexts travel inwards by value, so only a shared reference carries
/// it back out.
final class RequestProject: Sendable {
    private let value = Mutex<String?>(nil)

    var ref: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
