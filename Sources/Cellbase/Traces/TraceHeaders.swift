import HTTPTypes
import Tracing
import W3CTraceContext

/// The W3C Trace Context a request came with: its `traceparent`, and its `tracestate` when that
/// is well-formed too.
///
/// Checked here rather than left to the tracer, so that a malformed `traceparent` simply starts a
/// new trace, as the W3C recommendation asks, instead of costing a warning per request (swift-otel
/// logs the carrier it failed to read: with the request's headers, that would be its `apikey` and
/// token); and so that a malformed `tracestate` is dropped without losing a good `traceparent`.
/// Two `traceparent` fields read as one joined value, which is malformed: the trace restarts.
struct TraceHeaders: Sendable {
    var traceparent: String
    var tracestate: String?

    init?(_ fields: HTTPFields) {
        guard let traceparent = fields[.traceparent], (try? TraceContext(traceParentHeaderValue: traceparent)) != nil else { return nil }
        self.traceparent = traceparent
        if let tracestate = fields[.tracestate],
           (try? TraceContext(traceParentHeaderValue: traceparent, traceStateHeaderValue: tracestate)) != nil {
            self.tracestate = tracestate
        }
    }

    /// Hands the checked values to the tracer's propagator under their header names.
    struct Extractor: Tracing.Extractor {
        func extract(key: String, from headers: TraceHeaders) -> String? {
            switch key {
            case HTTPField.Name.traceparent.canonicalName: headers.traceparent
            case HTTPField.Name.tracestate.canonicalName: headers.tracestate
            default: nil
            }
        }
    }
}

extension HTTPField.Name {
    static let traceparent = Self("traceparent")!
    static let tracestate = Self("tracestate")!
}
