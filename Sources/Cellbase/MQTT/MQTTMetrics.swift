import CellbaseMQTT
import Prometheus

/// MQTT connections, packets and stored publishes on this node. No project or device label: a node
/// may hold tens of thousands of devices.
final class MQTTMetrics: Sendable {
    private let connections: Gauge
    private let received: [MQTTPacket.Kind: Counter]
    private let sent: [MQTTPacket.Kind: Counter]
    private let stored: Counter
    private let rejected: Counter
    private let dropped: Counter
    private let batchSize: ValueHistogram

    init(registry: PrometheusCollectorRegistry) {
        func descriptor(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "cellbase", subsystem: "mqtt", metricName: name, unitName: unit, helpText: help)
        }
        connections = registry.makeGauge(descriptor: descriptor("connections", "Open MQTT connections, authenticated or not."))
        var received: [MQTTPacket.Kind: Counter] = [:]
        var sent: [MQTTPacket.Kind: Counter] = [:]
        for kind in MQTTPacket.Kind.allCases {
            received[kind] = registry.makeCounter(
                descriptor: descriptor("packets_received", unit: "total", "MQTT packets read from clients, by type."), labels: [("type", kind.description)]
            )
            sent[kind] = registry.makeCounter(
                descriptor: descriptor("packets_sent", unit: "total", "MQTT packets written to clients, by type."), labels: [("type", kind.description)]
            )
        }
        self.received = received
        self.sent = sent
        stored = registry.makeCounter(descriptor: descriptor("publishes_stored", unit: "total", "Telemetry publishes the device backend committed."))
        rejected = registry.makeCounter(descriptor: descriptor(
            "publishes_rejected", unit: "total", "Telemetry publishes the device backend refused as not telemetry it understands."
        ))
        dropped = registry.makeCounter(descriptor: descriptor(
            "publishes_dropped", unit: "total", "QoS 0 publishes dropped because the node-wide storage queue was full."
        ))
        batchSize = registry.makeValueHistogram(
            descriptor: descriptor("store_batch_size", "Publishes per store call (group commit)."), buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]
        )
    }

    func connectionOpened() { connections.increment() }
    func connectionClosed() { connections.decrement() }
    func received(_ kind: MQTTPacket.Kind) { received[kind]?.increment() }
    func sent(_ kind: MQTTPacket.Kind) { sent[kind]?.increment() }
    func batchStored(size: Int, stored storedCount: Int) {
        batchSize.record(Double(size))
        stored.increment(by: Int64(storedCount))
        rejected.increment(by: Int64(size - storedCount))
    }
    func publishDropped() { dropped.increment() }
}
