/// How a node runs its projects' queues.
public struct JobsConfiguration: Sendable, Hashable {
    /// Whether this node runs jobs at all; a node that does not still accepts and lists them.
    public var workerEnabled: Bool
    /// At most this many jobs of one project run at once on this node.
    public var concurrency: Int
    /// How long a claimed job stays leased without a renewal; renewed every third of it.
    public var leaseMilliseconds: Int64
    /// How often an idle worker looks for due jobs it was not told about (retries coming due,
    /// jobs enqueued by other nodes on a shared PostgreSQL shard).
    public var pollInterval: Duration
    /// Completed jobs are deleted this long after they finished.
    public var completedRetentionMilliseconds: Int64
    /// A job's attempts when its enqueuer does not say.
    public var defaultMaxAttempts: Int
    var retry: RetryPolicy

    public init(
        workerEnabled: Bool = true,
        concurrency: Int = 16,
        leaseMilliseconds: Int64 = 30_000,
        pollInterval: Duration = .seconds(1),
        completedRetentionMilliseconds: Int64 = 7 * 86_400_000,
        defaultMaxAttempts: Int = 8,
        retryBaseMilliseconds: Int64 = 2_000,
        retryCapMilliseconds: Int64 = 3_600_000
    ) {
        self.workerEnabled = workerEnabled
        self.concurrency = concurrency
        self.leaseMilliseconds = leaseMilliseconds
        self.pollInterval = pollInterval
        self.completedRetentionMilliseconds = completedRetentionMilliseconds
        self.defaultMaxAttempts = defaultMaxAttempts
        self.retry = RetryPolicy(baseMilliseconds: retryBaseMilliseconds, capMilliseconds: retryCapMilliseconds)
    }
}
