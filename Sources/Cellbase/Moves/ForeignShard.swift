import Logging
import PostgresNIO
import Prometheus

/// Another cell's PostgreSQL shard, opened by a node for the length of one move to that cell: a
/// small pool of its own, to the URL the other cell's nodes recorded in the control plane.
final class ForeignShard: Sendable {
    let shard: PostgresShard
    private let run: Task<Void, Never>

    /// Connections the move uses on the other cell's database.
    static let maxConnections = 4

    init(name: String, url: String, logger: Logger) throws {
        var configuration = try PostgresURL.configuration(url)
        configuration.options.additionalStartupParameters = [("TimeZone", "UTC"), ("application_name", "cellbase-move")]
        configuration.options.maximumConnections = Self.maxConnections
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        // Its figures are the other cell's to show: this pool's go to a registry nobody scrapes.
        shard = PostgresShard(
            name: name, client: client,
            metrics: PostgresShardMetrics(registry: PrometheusCollectorRegistry(), shard: name, maxConnections: Self.maxConnections),
            logger: logger
        )
        run = Task { await client.run() }
    }

    /// Closes the pool.
    func close() async {
        run.cancel()
        await run.value
    }
}
