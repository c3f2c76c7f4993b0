import PostgresNIO
import Prometheus

/// A PostgreSQL shard's figures: how long its work holds a pooled connection, and how its pool is
/// used — connections in use, callers waiting for one, and the bound.
///
/// PostgresNIO keeps its pool's own counts to itself, so these are counted around every use
/// Cellbase makes of the pool: they are this node's uses, not the server's backends (which
/// include other nodes', and idle connections the pool keeps open). Each use costs four atomic
/// updates.
final class PostgresShardMetrics: Sendable {
    let queryDuration: DurationHistogram
    private let inUse: Gauge
    private let waiters: Gauge

    init(registry: PrometheusCollectorRegistry, shard: String, maxConnections: Int) {
        let labels = [("shard", shard)]
        queryDuration = registry.makeDurationHistogram(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "postgres", metricName: "query_duration", unitName: "seconds",
            helpText: "Time a PostgreSQL shard holds a pooled connection for one request's queries, the wait for it included."
        ), labels: labels, buckets: NodeMetrics.latencyBuckets)
        inUse = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "postgres", metricName: "connections_in_use", unitName: "",
            helpText: "Pooled connections this node's work holds now, the change listener's included."
        ), labels: labels)
        waiters = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "postgres", metricName: "connection_waiters", unitName: "",
            helpText: "Uses of the pool waiting for a connection now."
        ), labels: labels)
        registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "postgres", metricName: "connections_max", unitName: "",
            helpText: "Most connections this node opens to the shard (--postgres-connections)."
        ), labels: labels).set(Int64(maxConnections))
    }

    /// Runs `body` on a connection of `client`'s pool, counted as a waiter until the pool hands
    /// one over (or the wait fails) and as a connection in use while `body` holds it.
    func withConnection<T>(of client: PostgresClient, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        waiters.increment()
        var waiting = true
        defer { if waiting { waiters.decrement() } }
        return try await client.withConnection { connection in
            waiting = false
            waiters.decrement()
            inUse.increment()
            defer { inUse.decrement() }
            return try await body(connection)
        }
    }
}
