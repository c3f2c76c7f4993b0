import CellbaseSQL

/// How telemetry is stored on this node: the partition width new projects get, how many
/// partitions are made ahead of time, and the retention new projects start with.
public struct TelemetryConfiguration: Sendable {
    /// Partition width for projects whose telemetry tables this node creates; an existing
    /// project keeps the width it was created with (its settings row).
    public var partitionHours: Int
    /// Partitions made ahead of time: today's and those of this many days after.
    public var partitionsAhead: Int
    /// Days of points a new project keeps; each project changes its own through
    /// `PATCH /telemetry/v1/settings`.
    public var defaultRetentionDays: Int
    /// How long a verified device credential is trusted without asking the database again.
    public var credentialCacheSeconds: Int
    /// Most verified credentials remembered at once.
    public var maxCachedCredentials: Int

    public init(partitionHours: Int = 24, partitionsAhead: Int = 2, defaultRetentionDays: Int = 30, credentialCacheSeconds: Int = 30, maxCachedCredentials: Int = 100_000) {
        self.partitionHours = partitionHours
        self.partitionsAhead = partitionsAhead
        self.defaultRetentionDays = defaultRetentionDays
        self.credentialCacheSeconds = credentialCacheSeconds
        self.maxCachedCredentials = maxCachedCredentials
    }

    public static let maxRetentionDays = 3650
    /// How long a command waits for its device when its request names no `ttl`.
    static let defaultCommandTTLSeconds = 86_400
    static let maxCommandTTLSeconds = 30 * 86_400
    /// How often, at most, a project's partitions are checked during ingest: made ahead and dropped past retention.
    static let maintenanceIntervalMicros: Int64 = PartitionLayout.hourMicros
}
