import Prometheus

/// Storage traffic on this node: object bytes received and sent, objects created and removed.
final class StorageMetrics: Sendable {
    private let receivedBytes: Counter
    private let sentBytes: Counter
    private let created: Counter
    private let removedObjects: Counter

    init(registry: PrometheusCollectorRegistry) {
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "cellbase", subsystem: "storage", metricName: name, unitName: "total", helpText: help))
        }
        receivedBytes = counter("received_bytes", "Object content bytes received by uploads that were stored.")
        sentBytes = counter("sent_bytes", "Object content bytes answered by downloads (whole objects and ranges).")
        created = counter("objects_created", "Objects created by uploads and copies (replacing an object does not count).")
        removedObjects = counter("objects_removed", "Objects removed, one by one or by emptying a bucket.")
    }

    func received(_ bytes: Int) { receivedBytes.increment(by: Int64(bytes)) }
    func sent(_ bytes: Int) { sentBytes.increment(by: Int64(bytes)) }
    func stored(_ count: Int) { created.increment(by: Int64(count)) }
    func removed(_ count: Int) { removedObjects.increment(by: Int64(count)) }
}
