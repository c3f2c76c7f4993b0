import Logging
import ServiceLifecycle
import Tracing

/// Where a node's spans go: the tracer its requests and database work report to, and the service
/// that exports what the tracer records.
///
/// A node is given its tracer rather than reading the process-wide `InstrumentationSystem`, so
/// that a node without one — the default — tests a single `nil` per request and per database use
/// and creates nothing, and so that the tests can run many nodes in one process, each tracing
/// into its own tracer.
public struct NodeTracing: Sendable {
    public let tracer: any Tracer
    /// Runs among the node's services, started before the server and stopped after it, so the
    /// spans of the last requests are still exported.
    public let exporter: (any Service)?

    public init(tracer: any Tracer, exporter: (any Service)? = nil) {
        self.tracer = tracer
        self.exporter = exporter
    }
}
