import Prometheus

/// A node's metrics, in a registry of its own rather than the process-wide `MetricsSystem`: a
/// process can only bootstrap that once, and the tests run many nodes in one process, each of
/// which must report its own figures.
final class NodeMetrics: Sendable {
    /// 0.5 ms to 10 s: a cached REST read takes about a millisecond, a PostgreSQL write under load
    /// or a bcrypt sign-in tens to hundreds.
    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10),
    ]

    let http: HTTPMetrics
    let auth: AuthMetrics
    let realtime: RealtimeMetrics
    let mqtt: MQTTMetrics
    let mqttUpstream: MQTTUpstreamMetrics
    let telemetry: TelemetryMetrics
    let storage: StorageMetrics
    let jobs: JobMetrics
    private let registry: PrometheusCollectorRegistry
    private let localShard: SQLiteShard
    private let sqliteOpenDatabases: Gauge

    init(configuration: MetricsConfiguration, localShard: SQLiteShard) {
        let registry = PrometheusCollectorRegistry()
        let projectLabels = configuration.projectLabel ? ProjectLabels(limit: configuration.maxProjectLabels) : nil
        self.registry = registry
        http = HTTPMetrics(registry: registry, projectLabels: projectLabels)
        auth = AuthMetrics(registry: registry, projectLabels: projectLabels)
        realtime = RealtimeMetrics(registry: registry)
        mqtt = MQTTMetrics(registry: registry)
        mqttUpstream = MQTTUpstreamMetrics(registry: registry)
        telemetry = TelemetryMetrics(registry: registry)
        storage = StorageMetrics(registry: registry)
        jobs = JobMetrics(registry: registry, projectLabels: projectLabels)
        self.localShard = localShard
        sqliteOpenDatabases = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "sqlite", metricName: "open_databases", unitName: "",
            helpText: "Project databases the local SQLite shard holds open; past its bound the least recently used idle one is closed."
        ))
    }

    func postgresShard(_ shard: String, maxConnections: Int) -> PostgresShardMetrics {
        PostgresShardMetrics(registry: registry, shard: shard, maxConnections: maxConnections)
    }

    /// The exposition text, after reading the figures that are looked up rather than counted.
    /// Process figures are registered on the first scrape that can read them, so a system without
    /// `/proc` shows none rather than zeros.
    func scrape() -> [UInt8] {
        sqliteOpenDatabases.set(Int64(localShard.openDatabaseCount))
        if let bytes = ProcessStats.residentMemoryBytes() {
            registry.makeGauge(descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "resident_memory", unitName: "bytes", helpText: "Resident memory size in bytes."
            )).set(Int64(bytes))
        }
        if let count = ProcessStats.openFileDescriptors() {
            registry.makeGauge(descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "open", unitName: "fds", helpText: "Number of open file descriptors."
            )).set(Int64(count))
        }
        return registry.emitToBuffer()
    }
}
