import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// What the node observes of every request, around the router so that requests for unknown
/// routes — which never reach router middleware — are seen too: its `X-Request-Id`, which every
/// log line of the request carries and the response returns; its metrics (route `NotFound` for
/// unknown routes); and, at `debug` level, one line when it is answered.
struct ObservedResponder<Routes: HTTPResponder>: HTTPResponder where Routes.Context == CellbaseRequestContext {
    let router: Routes
    /// `nil` with metrics off: nothing is recorded, so that setting also shows what recording costs.
    let metrics: HTTPMetrics?

    func respond(to request: Request, context: CellbaseRequestContext) async throws -> Response {
        let requestID = RequestID(request.headers[.xRequestID])
        var context = context
        context.logger[metadataKey: "request_id"] = .string(requestID.value)
        let start = ContinuousClock.now
        metrics?.started()
        let project = metrics?.projectLabels.map { _ in RequestProject() }
        context.metricsProject = project
        // The router renders HTTP errors as responses; whatever it throws, the server answers with 500.
        var status = HTTPResponse.Status.internalServerError
        defer {
            let route = context.endpointPath ?? "NotFound"
            let duration = ContinuousClock.now - start
            metrics?.finished(method: request.method, route: route, status: status, projectRef: project?.ref, duration: duration)
            context.logger.debug("request answered", metadata: [
                "method": .string(request.method.rawValue), "route": .string(route),
                "status": .stringConvertible(status.code), "duration": .stringConvertible(duration),
            ])
        }
        var response = try await router.respond(to: request, context: context)
        status = response.status
        response.headers[.xRequestID] = requestID.value
        return response
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

/// Where the API-key middleware notes the request's project, for the metrics recorded around the
/// router: contexts travel inwards by value, so only a shared reference carries it back out.
final class RequestProject: Sendable {
    private let value = Mutex<String?>(nil)

    var ref: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
