import Hummingbird
import Synchronization

/// Measures every request around the router, so requests for unknown routes — which never reach
/// router middleware — are counted too (under Hummingbird's route `NotFound`).
struct HTTPMetricsResponder<Routes: HTTPResponder>: HTTPResponder where Routes.Context == CellbaseRequestContext {
    let router: Routes
    /// `nil` with metrics off: nothing is recorded, so that setting also shows what recording costs.
    let metrics: HTTPMetrics?

    func respond(to request: Request, context: CellbaseRequestContext) async throws -> Response {
        guard let metrics else { return try await router.respond(to: request, context: context) }
        let start = ContinuousClock.now
        metrics.started()
        var context = context
        let project = metrics.projectLabels.map { _ in RequestProject() }
        context.metricsProject = project
        // The router renders HTTP errors as responses; whatever it throws, the server answers with 500.
        var status = HTTPResponse.Status.internalServerError
        defer {
            metrics.finished(
                method: request.method, route: context.endpointPath ?? "NotFound", status: status,
                projectRef: project?.ref, duration: ContinuousClock.now - start
            )
        }
        let response = try await router.respond(to: request, context: context)
        status = response.status
        return response
    }
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
