import Prometheus
import Synchronization

/// The gateway's figures at its own `GET /metrics`: answers by cell and status class, upstream
/// failures, retries, rate-limit refusals, and the routing table's size.
final class GatewayMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let answers = Mutex<[String: Counter]>([:])
    private let failures: Counter
    private let retries: Counter
    private let limitedByProject: Counter
    private let limitedByAddress: Counter
    private let projects: Gauge
    private let nodes: Gauge
    private let redisUp: Gauge
    private let routes: GatewayRoutes

    init(routes: GatewayRoutes) {
        self.routes = routes
        failures = registry.makeCounter(descriptor: .init(
            namespace: "cellbase", subsystem: "gateway", metricName: "upstream_failures", unitName: "total",
            helpText: "Requests a node could not be reached for or dropped before answering."
        ))
        retries = registry.makeCounter(descriptor: .init(
            namespace: "cellbase", subsystem: "gateway", metricName: "retries", unitName: "total",
            helpText: "Requests sent again to another node of the cell."
        ))
        let limited = MetricNameDescriptor(
            namespace: "cellbase", subsystem: "gateway", metricName: "rate_limited", unitName: "total",
            helpText: "Requests refused with 429, by the limit that refused them (project or address)."
        )
        limitedByProject = registry.makeCounter(descriptor: limited, labels: [("scope", "project")])
        limitedByAddress = registry.makeCounter(descriptor: limited, labels: [("scope", "address")])
        projects = registry.makeGauge(descriptor: .init(
            namespace: "cellbase", subsystem: "gateway", metricName: "projects", helpText: "Projects in the routing table."
        ))
        nodes = registry.makeGauge(descriptor: .init(
            namespace: "cellbase", subsystem: "gateway", metricName: "nodes", helpText: "Nodes in the routing table."
        ))
        redisUp = registry.makeGauge(descriptor: .init(
            namespace: "cellbase", subsystem: "gateway", metricName: "rate_limit_redis_up",
            helpText: "1 while rate limits are shared through Redis; 0 while Redis is unreachable (each gateway then limits on its own) or no --redis is given."
        ))
    }

    func answered(cell: String, status: UInt) {
        let statusClass = "\(status / 100)xx"
        let key = cell + "|" + statusClass
        let counter = answers.withLock { answers -> Counter in
            if let counter = answers[key] { return counter }
            let counter = registry.makeCounter(descriptor: .init(
                namespace: "cellbase", subsystem: "gateway", metricName: "requests", unitName: "total",
                helpText: "Requests answered, by the cell that served them (empty: the gateway itself) and status class."
            ), labels: [("cell", cell), ("status_class", statusClass)])
            answers[key] = counter
            return counter
        }
        counter.increment()
    }

    func upstreamFailed() { failures.increment() }
    func redisState(up: Bool) { redisUp.set(Double(up ? 1 : 0)) }
    func retried() { retries.increment() }

    func rateLimited(_ scope: GatewayRateLimiter.Scope) {
        switch scope {
        case .project: limitedByProject.increment()
        case .address: limitedByAddress.increment()
        }
    }

    func exposition() -> String {
        projects.set(Double(routes.projectCount))
        nodes.set(Double(routes.allUpstreams.count))
        return String(decoding: registry.emitToBuffer(), as: UTF8.self)
    }
}
