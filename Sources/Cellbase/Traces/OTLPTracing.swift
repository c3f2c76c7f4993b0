import FoundationEssentials
import Logging
import OTel

/// Tracing exported over OTLP/HTTP, configured as every OpenTelemetry SDK is: by the `OTEL_*`
/// environment variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, ...), read by swift-otel.
public enum OTLPTracing {
    /// The service name spans carry unless `OTEL_SERVICE_NAME` names another.
    public static let serviceName = "cellbase"

    /// The fields a log line written inside a span gets: `trace_id`, `span_id` and `trace_flags`
    /// (`1` when the trace is sampled, so exported).
    public static var logMetadata: Logger.MetadataProvider {
        OTel.makeLoggingMetadataProvider()
    }

    /// A tracer exporting to the collector the process's `OTEL_*` variables name (by default
    /// `http://localhost:4318/v1/traces`, protobuf), or `nil` when `OTEL_SDK_DISABLED=true`.
    ///
    /// - Parameters:
    ///   - endpoint: the full URL to post spans to, instead of the one the variables give.
    ///   - logger: where the exporter reports failures (a collector that does not answer, spans
    ///     dropped from a full queue), at `warning` unless `OTEL_LOG_LEVEL` says otherwise: its
    ///     `info` lines would repeat the variables' values, and `OTEL_EXPORTER_OTLP_HEADERS` can
    ///     hold a collector's token.
    public static func tracing(endpoint: String? = nil, logger: Logger) throws -> NodeTracing? {
        let environment = ProcessInfo.processInfo.environment
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return nil }
        try check(environment)
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        if let endpoint { configuration.traces.otlpExporter.endpoint = endpoint }
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return NodeTracing(tracer: backend.factory, exporter: backend.service)
    }

    /// Refuses the settings this build cannot honour, which swift-otel would otherwise meet by
    /// stopping the process (`fatalError`) or with an error that names no variable: the gRPC
    /// protocol (its exporter is not built in), samplers and propagators it does not implement,
    /// and exporters other than `otlp` and `none`.
    static func check(_ environment: [String: String]) throws(TracingSettingError) {
        if let exporter = environment["OTEL_TRACES_EXPORTER"], !["otlp", "none"].contains(exporter) {
            throw TracingSettingError(variable: "OTEL_TRACES_EXPORTER", value: exporter, supported: "otlp or none")
        }
        // The signal's own variable wins over the shared one, as swift-otel reads them.
        if let variable = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"].first(where: { environment[$0] != nil }),
           let value = environment[variable], !["http/protobuf", "http/json"].contains(value) {
            throw TracingSettingError(variable: variable, value: value, supported: "http/protobuf or http/json")
        }
        let samplers = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]
        if let sampler = environment["OTEL_TRACES_SAMPLER"], !samplers.contains(sampler) {
            throw TracingSettingError(variable: "OTEL_TRACES_SAMPLER", value: sampler, supported: samplers.joined(separator: ", "))
        }
        if let propagators = environment["OTEL_PROPAGATORS"],
           !propagators.split(separator: ",").allSatisfy({ ["tracecontext", "none"].contains($0) }) {
            throw TracingSettingError(variable: "OTEL_PROPAGATORS", value: propagators, supported: "tracecontext (W3C Trace Context) or none")
        }
    }
}

/// An `OTEL_*` variable set to a value Cellbase cannot trace with; `cellbase serve --tracing on`
/// refuses to start rather than run with a setting it would ignore.
public struct TracingSettingError: Error, Equatable, CustomStringConvertible {
    public var variable: String
    public var value: String
    public var supported: String

    public var description: String {
        "\(variable)=\(value) is not supported; use \(supported)"
    }
}
