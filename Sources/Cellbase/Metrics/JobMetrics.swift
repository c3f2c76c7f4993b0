import Prometheus

/// The queues this node works: jobs finished by kind and outcome, how long attempts take, and
/// each queue's depth and the age of its oldest due job as last seen by its worker.
final class JobMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let projectLabels: ProjectLabels?

    /// 1 ms to 60 s: a no-op job to a slow webhook receiver or an export.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
        .seconds(1), .seconds(5), .seconds(15), .seconds(60),
    ]

    init(registry: PrometheusCollectorRegistry, projectLabels: ProjectLabels?) {
        self.registry = registry
        self.projectLabels = projectLabels
    }

    private func descriptor(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cellbase", subsystem: "jobs", metricName: name, unitName: unit, helpText: help)
    }

    private func labels(_ ref: String, _ more: [(String, String)]) -> [(String, String)] {
        guard let projectLabels else { return more }
        return more + [("project", projectLabels.label(for: ref))]
    }

    /// An attempt ended: `completed`, `failed` (to be retried), `dead` or `lease_lost`.
    func finished(project ref: String, kind: String, outcome: String, duration: Duration) {
        registry.makeCounter(
            descriptor: descriptor("attempts", unit: "total", "Job attempts by kind and outcome: completed, failed (retried later), dead, lease_lost."),
            labels: labels(ref, [("kind", kind), ("outcome", outcome)])
        ).increment()
        registry.makeDurationHistogram(
            descriptor: descriptor("attempt_duration", unit: "seconds", "How long job attempts ran, by kind."),
            labels: [("kind", kind)], buckets: Self.durationBuckets
        ).record(duration)
    }

    /// A queue's depth by state and the wait of its oldest due job (0 when none is due).
    func observe(project ref: String, _ queue: QueueDepth) {
        for state in [JobState.queued, .running, .failed, .dead] {
            registry.makeGauge(
                descriptor: descriptor("queue_depth", "Jobs in a queue by state (queued, running, failed awaiting retry, dead), as last seen by this node's worker."),
                labels: labels(ref, [("queue", queue.name), ("state", state.rawValue)])
            ).set(Int64(queue.counts[state] ?? 0))
        }
        registry.makeGauge(
            descriptor: descriptor("oldest_ready_age", unit: "seconds", "How long the oldest due job of a queue has waited past its run time; 0 when none is due."),
            labels: labels(ref, [("queue", queue.name)])
        ).set(Double(queue.oldestReadyAgeMilliseconds ?? 0) / 1000)
    }
}
