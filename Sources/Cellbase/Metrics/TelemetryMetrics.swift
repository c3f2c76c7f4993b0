import Prometheus

/// Telemetry ingest on this node, HTTP and MQTT alike: points stored (a rate is points per
/// second) and the size of the batches they came in, which says how well writes are grouped.
final class TelemetryMetrics: Sendable {
    private let points: Counter
    private let rejected: Counter
    private let batchSize: ValueHistogram

    /// 1 to 100,000 points: one MQTT publish to a large HTTP batch.
    static let batchBuckets: [Double] = [1, 10, 100, 1_000, 10_000, 100_000]

    init(registry: PrometheusCollectorRegistry) {
        func descriptor(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "cellbase", subsystem: "telemetry", metricName: name, unitName: unit, helpText: help)
        }
        points = registry.makeCounter(descriptor: descriptor("points_stored", unit: "total", "Telemetry points committed, from HTTP ingest and device publishes."))
        rejected = registry.makeCounter(descriptor: descriptor("records_rejected", unit: "total", "Telemetry requests and publishes refused as malformed, out of range or for an unknown device."))
        batchSize = registry.makeValueHistogram(descriptor: descriptor("batch_points", "Points per committed telemetry batch (one HTTP request, or the publishes of one project stored together)."), buckets: Self.batchBuckets)
    }

    func stored(points count: Int) {
        points.increment(by: Int64(count))
        batchSize.record(Double(count))
    }

    func rejected(_ count: Int = 1) {
        rejected.increment(by: Int64(count))
    }
}
