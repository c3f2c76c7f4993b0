import Prometheus

/// The upstream broker consumer on this node (`--mqtt-upstream`).
final class MQTTUpstreamMetrics: Sendable {
    private let connected: Gauge
    private let received: Counter
    private let stored: Counter
    private let rejected: Counter
    private let acknowledged: Counter
    private let commandsDelivered: Counter
    private let reconnects: Counter

    init(registry: PrometheusCollectorRegistry) {
        func descriptor(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "cellbase", subsystem: "mqtt_upstream", metricName: name, unitName: unit, helpText: help)
        }
        connected = registry.makeGauge(descriptor: descriptor("connected", "1 while subscribed to the upstream broker, else 0."))
        received = registry.makeCounter(descriptor: descriptor("messages_received", unit: "total", "Telemetry publishes received from the upstream broker."))
        stored = registry.makeCounter(descriptor: descriptor("messages_stored", unit: "total", "Upstream publishes the device backend committed."))
        rejected = registry.makeCounter(descriptor: descriptor(
            "messages_rejected", unit: "total", "Upstream publishes not stored: payload refused, unknown device, or a topic naming no valid device."
        ))
        acknowledged = registry.makeCounter(descriptor: descriptor("messages_acknowledged", unit: "total", "PUBACKs sent to the upstream broker."))
        commandsDelivered = registry.makeCounter(descriptor: descriptor(
            "commands_delivered", unit: "total", "Commands the upstream broker accepted (PUBACK) and that were marked delivered."
        ))
        reconnects = registry.makeCounter(descriptor: descriptor("reconnects", unit: "total", "Connection attempts after a lost or failed connection."))
    }

    func setConnected(_ isConnected: Bool) { connected.set(to: isConnected ? 1 : 0) }
    func messageReceived() { received.increment() }
    func messageStored() { stored.increment() }
    func messageRejected() { rejected.increment() }
    func messageAcknowledged() { acknowledged.increment() }
    func commandDelivered() { commandsDelivered.increment() }
    func reconnecting() { reconnects.increment() }
}
