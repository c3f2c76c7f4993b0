/// What `GET /metrics` exposes and to whom.
public struct MetricsConfiguration: Sendable {
    /// Who may read `GET /metrics`.
    public enum Access: String, Sendable, CaseIterable {
        /// Anyone who reaches the listen address: the node listens on loopback by default, where
        /// only local processes (the operator's Prometheus or agent) can.
        case open
        /// Only with `Authorization: Bearer <admin token>`, for nodes that listen on a public address.
        case admin
        /// No endpoint, and no per-request recording.
        case off
    }

    public var access: Access
    /// Whether HTTP and Auth series carry a `project` label.
    public var projectLabel: Bool
    /// Most distinct projects given their own `project` label; later ones share `project="other"`,
    /// so ten thousand projects cannot mean ten thousand series per route.
    public var maxProjectLabels: Int

    public init(access: Access = .open, projectLabel: Bool = true, maxProjectLabels: Int = 100) {
        self.access = access
        self.projectLabel = projectLabel
        self.maxProjectLabels = maxProjectLabels
    }
}
