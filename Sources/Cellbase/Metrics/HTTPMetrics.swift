import HTTPTypes
import Prometheus
import Synchronization

/// Requests, errors and latency by method, route template, status class and (optionally) project.
///
/// The registry already deduplicates series, but finding one there means building a label array
/// per call; this keeps each series' collectors under a small hashable key, so after a series'
/// first request recording is a dictionary lookup and a few atomic adds.
final class HTTPMetrics: Sendable {
    static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    /// `nil` when series carry no project label.
    let projectLabels: ProjectLabels?
    private let requestsInFlight: Gauge
    private let registry: PrometheusCollectorRegistry
    private let series = Mutex<[SeriesKey: Series]>([:])

    private struct SeriesKey: Hashable {
        var method: HTTPRequest.Method
        var route: String
        var statusClass: Int
        var project: String?
    }

    private struct Series {
        let requests: Counter
        /// For 4xx and 5xx only.
        let errors: Counter?
        let duration: DurationHistogram
    }

    init(registry: PrometheusCollectorRegistry, projectLabels: ProjectLabels?) {
        self.registry = registry
        self.projectLabels = projectLabels
        self.requestsInFlight = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "http", metricName: "requests_in_flight", unitName: "",
            helpText: "Requests being answered now."
        ))
    }

    /// A request has come in; `finished` follows once it is answered.
    func started() {
        requestsInFlight.increment()
    }

    /// - Parameters:
    ///   - route: the template the router matched, such as `/rest/v1/{table}`.
    ///   - projectRef: the request's project, `nil` for requests outside one.
    func finished(method: HTTPRequest.Method, route: String, status: HTTPResponse.Status, projectRef: String?, duration: Duration) {
        requestsInFlight.decrement()
        let key = SeriesKey(
            method: method, route: route, statusClass: min(max(status.code / 100, 1), 5),
            project: projectLabels.map { labels in projectRef.map(labels.label(for:)) ?? "" }
        )
        let series = self.series.withLock { $0[key] } ?? makeSeries(key)
        series.requests.increment()
        series.errors?.increment()
        series.duration.record(duration)
    }

    /// The registry returns the collectors it already holds for the same labels, so two requests
    /// racing to make one series share it.
    private func makeSeries(_ key: SeriesKey) -> Series {
        var labels = [("method", key.method.rawValue), ("route", key.route)]
        if let project = key.project { labels.append(("project", project)) }
        var classified = labels
        classified.insert(("status_class", Self.statusClasses[key.statusClass - 1]), at: 2)
        let series = Series(
            requests: registry.makeCounter(descriptor: Self.requestsName, labels: classified),
            errors: key.statusClass >= 4 ? registry.makeCounter(descriptor: Self.errorsName, labels: classified) : nil,
            duration: registry.makeDurationHistogram(descriptor: Self.durationName, labels: labels, buckets: NodeMetrics.latencyBuckets)
        )
        self.series.withLock { $0[key] = series }
        return series
    }

    private static var requestsName: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cellbase", subsystem: "http", metricName: "requests", unitName: "total", helpText: "Requests answered.")
    }
    private static var errorsName: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cellbase", subsystem: "http", metricName: "errors", unitName: "total", helpText: "Requests answered with a 4xx or 5xx status.")
    }
    private static var durationName: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cellbase", subsystem: "http", metricName: "request_duration", unitName: "seconds", helpText: "Time from routing a request to its response's head.")
    }
}
