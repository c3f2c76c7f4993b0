import CellbaseSQL

/// Everything `cellbase serve` can be told. Defaults are the zero-configuration laptop setup.
public struct CellbaseConfiguration: Sendable {
    /// Where the control database, the admin token and the `local` shard's project files live.
    public var dataDirectory: String
    public var host: String
    public var port: Int
    /// PostgreSQL shards by name. The SQLite shard `local` always exists and is not listed here.
    public var postgresShards: [String: String]
    /// The shard new projects are placed on when they name none.
    public var defaultShard: String
    /// A PostgreSQL URL for a shared control plane; `nil` keeps it in SQLite under `dataDirectory`.
    public var controlURL: String?
    /// The cell this node belongs to (`--cell`); it serves only the projects placed there.
    public var cell: String = Cell.defaultName
    /// Where gateways reach this node (`--advertise-url`); `nil` is `http://host:port` as bound.
    public var advertiseURL: String?
    /// How a project created without a shard is placed (`--placement`).
    public var placement: PlacementPolicy = .defaultShard
    /// How often the node beats in the control plane and looks for changed placements.
    public var heartbeatInterval: Duration = .seconds(2)
    /// Largest request body accepted, in bytes; larger ones get 413.
    public var maxBodySize: Int
    public var restLimits: RESTLimits
    /// Most project databases kept open at once on the `local` shard.
    public var maxOpenProjectDatabases: Int
    /// `PRAGMA synchronous` for project databases: `normal` survives a killed process, `full` also a power cut.
    public var sqliteSynchronous: String
    /// Connections per PostgreSQL shard pool.
    public var postgresMaxConnections: Int
    /// How often a followed change log is read when no commit was heard of.
    public var changePollInterval: Duration = .seconds(1)
    /// Whether the first start creates the project `default`.
    public var createDefaultProject: Bool
    public var auth: AuthConfiguration
    public var metrics: MetricsConfiguration
    public var realtime: RealtimeConfiguration
    public var mqtt = MQTTConfiguration()
    /// An MQTT 5 broker to consume device telemetry from (`--mqtt-upstream`); `nil` consumes from none.
    public var mqttUpstream: MQTTUpstreamConfiguration?
    /// Telemetry partitioning and retention defaults.
    public var telemetry = TelemetryConfiguration()
    public var storage = StorageConfiguration()
    public var jobs = JobsConfiguration()
    /// Where webhooks may be delivered and how much of an answer is read.
    public var webhooks = WebhookConfiguration()
    /// Where Auth's confirmation and recovery mails go; `nil` sends none.
    public var mail: MailConfiguration?

    public init(
        dataDirectory: String = "./cellbase-data",
        host: String = "127.0.0.1",
        port: Int = 54321,
        postgresShards: [String: String] = [:],
        defaultShard: String = "local",
        controlURL: String? = nil,
        maxBodySize: Int = 10 * 1024 * 1024,
        restLimits: RESTLimits = RESTLimits(),
        maxOpenProjectDatabases: Int = 256,
        sqliteSynchronous: String = "normal",
        postgresMaxConnections: Int = 20,
        createDefaultProject: Bool = true,
        auth: AuthConfiguration = AuthConfiguration(),
        metrics: MetricsConfiguration = MetricsConfiguration(),
        realtime: RealtimeConfiguration = RealtimeConfiguration()
    ) {
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.postgresShards = postgresShards
        self.defaultShard = defaultShard
        self.controlURL = controlURL
        self.maxBodySize = maxBodySize
        self.restLimits = restLimits
        self.maxOpenProjectDatabases = maxOpenProjectDatabases
        self.sqliteSynchronous = sqliteSynchronous
        self.postgresMaxConnections = postgresMaxConnections
        self.createDefaultProject = createDefaultProject
        self.auth = auth
        self.metrics = metrics
        self.realtime = realtime
    }

    public var url: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "http://\(shownHost):\(port)"
    }
}
