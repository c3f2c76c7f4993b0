import Prometheus

/// Password sign-ins by outcome: a rise in `failure` or `throttled` is someone guessing.
final class AuthMetrics: Sendable {
    enum SignInOutcome: String {
        case success
        /// Wrong email or password, or an email not confirmed yet.
        case failure
        /// Refused by the sign-in throttle without checking the password.
        case throttled
    }

    private let registry: PrometheusCollectorRegistry
    private let projectLabels: ProjectLabels?

    init(registry: PrometheusCollectorRegistry, projectLabels: ProjectLabels?) {
        self.registry = registry
        self.projectLabels = projectLabels
    }

    /// Looks the counter up in the registry each time: a sign-in costs a bcrypt hash, next to
    /// which building its labels is nothing.
    func signIn(_ outcome: SignInOutcome, projectRef: String) {
        var labels = [("outcome", outcome.rawValue)]
        if let projectLabels { labels.append(("project", projectLabels.label(for: projectRef))) }
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "cellbase", subsystem: "auth", metricName: "sign_ins", unitName: "total",
            helpText: "Password sign-ins by outcome: success, failure or throttled."
        ), labels: labels).increment()
    }
}
