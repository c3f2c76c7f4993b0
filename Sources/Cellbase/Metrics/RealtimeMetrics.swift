import Prometheus

/// Realtime sockets, channels and messages on this node. No project label: a node may hold tens
/// of thousands of sockets, and per-project counts are what the limits already bound.
final class RealtimeMetrics: Sendable {
    private let connections: Gauge
    private let channels: Gauge
    private let messagesIn: Counter
    private let messagesOut: Counter
    private let slowConsumers: Counter

    init(registry: PrometheusCollectorRegistry) {
        func descriptor(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "cellbase", subsystem: "realtime", metricName: name, unitName: unit, helpText: help)
        }
        connections = registry.makeGauge(descriptor: descriptor("connections", "Open realtime WebSockets and Server-Sent Events streams."))
        channels = registry.makeGauge(descriptor: descriptor("channels", "Channels joined on open realtime WebSockets."))
        messagesIn = registry.makeCounter(descriptor: descriptor("messages_received", unit: "total", "Messages read from realtime clients, heartbeats included."))
        messagesOut = registry.makeCounter(descriptor: descriptor("messages_sent", unit: "total", "Messages written to realtime clients."))
        slowConsumers = registry.makeCounter(descriptor: descriptor(
            "slow_consumers_disconnected", unit: "total", "Realtime clients disconnected because they read slower than they were sent to."
        ))
    }

    func connectionOpened() { connections.increment() }
    func connectionClosed() { connections.decrement() }
    func channelJoined() { channels.increment() }
    func channelLeft() { channels.decrement() }
    func received() { messagesIn.increment() }
    func sent() { messagesOut.increment() }
    func slowConsumerDisconnected() { slowConsumers.increment() }
}
