import AsyncHTTPClient
import CellbaseSQL
import FoundationEssentials
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// What a node is made of once its configuration has been read: the pieces tests and the CLI
/// reach into (the control plane, the shards) besides the HTTP application itself.
public struct CellbaseNode: Sendable {
    public let configuration: CellbaseConfiguration
    public let adminToken: String
    let directory: ProjectDirectory
    let projects: ProjectService
    /// Every project's committed row changes, for realtime and whatever else follows the log.
    let changes: ChangeFeed
    /// Devices, their time series and commands; the MQTT listener's `DeviceBackend`.
    let telemetry: TelemetryService
    /// The port the MQTT listener is bound to; `nil` when the node opens none.
    public let mqttPort: Int?
    /// The consumer of the upstream broker; `nil` without `--mqtt-upstream`.
    let mqttUpstream: MQTTUpstream?

    /// The project `default`, once the node has started.
    public var defaultProject: Project? { directory.project(named: "default") }
    public var allProjects: [Project] { directory.projects }
}

public enum CellbaseBuilder {
    /// Opens the data directory, the control plane and the shards, and wires the routes.
    /// Databases are touched (tables created, the default project made) in `beforeServerStarts`,
    /// once the PostgreSQL pools run.
    ///
    /// - Parameter tracing: where requests and database work report their spans; `nil` traces nothing.
    /// - Parameter deviceBackend: devices, telemetry storage and commands for the MQTT listener in
    ///   place of the node's own telemetry service (tests use one in memory).
    /// - Parameter authMailer: where Auth's mails go in place of the project's queue (and the SMTP
    ///   client of `configuration.mail`, which still names the sender); unused without `configuration.mail`.
    public static func build(
        _ configuration: CellbaseConfiguration,
        logger: Logger = Logger(label: "cellbase"),
        tracing: NodeTracing? = nil,
        deviceBackend: (any DeviceBackend)? = nil,
        authMailer: (any AuthMailer)? = nil,
        onReady: @escaping @Sendable (CellbaseNode, Int) async -> Void = { _, _ in }
    ) async throws -> (some ApplicationProtocol, CellbaseNode) {
        try await build(
            configuration, logger: logger, tracing: tracing, realtime: RealtimeWiring(), deviceBackend: deviceBackend,
            authMailer: authMailer, onReady: onReady
        )
    }

    /// What realtime is built from, for tests that replace a part: where row changes are read
    /// (the node's change feed), who may see them (the tables' policies), and the bus to the other
    /// nodes (PostgreSQL's NOTIFY on a shared control database, else in-process).
    struct RealtimeWiring {
        var changeSource: (any ChangeSource)?
        var visibility: (any ChangeVisibility)?
        var bus: (any RealtimeBus)?
    }

    static func build(
        _ configuration: CellbaseConfiguration,
        logger: Logger,
        tracing: NodeTracing? = nil,
        realtime wiring: RealtimeWiring,
        deviceBackend: (any DeviceBackend)? = nil,
        authMailer: (any AuthMailer)? = nil,
        onReady: @escaping @Sendable (CellbaseNode, Int) async -> Void = { _, _ in }
    ) async throws -> (some ApplicationProtocol, CellbaseNode) {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let adminToken = try AdminToken.loadOrCreate(in: configuration.dataDirectory)

        let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        let threadPool = NIOThreadPool.singleton
        var postgresClients: [PostgresClient] = []

        func postgresClient(_ url: String) throws -> PostgresClient {
            var postgres = try PostgresURL.configuration(url)
            postgres.options.additionalStartupParameters = [("TimeZone", "UTC"), ("application_name", "cellbase")]
            postgres.options.maximumConnections = configuration.postgresMaxConnections
            let client = PostgresClient(configuration: postgres, backgroundLogger: logger)
            postgresClients.append(client)
            return client
        }

        let control: any ControlStore
        /// Nodes sharing a PostgreSQL control database relay realtime messages through it.
        var sharedBus: PostgresRealtimeBus?
        if let controlURL = configuration.controlURL {
            let client = try postgresClient(controlURL)
            control = PostgresControlStore(client: client, logger: logger)
            sharedBus = PostgresRealtimeBus(client: client, logger: logger)
        } else {
            control = try await SQLiteControlStore.open(path: configuration.dataDirectory + "/control.db", threadPool: threadPool)
        }

        let localShard = try SQLiteShard(
            directory: configuration.dataDirectory + "/projects",
            capacity: configuration.maxOpenProjectDatabases,
            synchronous: configuration.sqliteSynchronous,
            threadPool: threadPool,
            tracer: tracing?.tracer,
            logger: logger
        )
        let metrics = NodeMetrics(configuration: configuration.metrics, localShard: localShard)
        var shards: [String: any Shard] = ["local": localShard]
        var authDatabases: [String: any AuthDatabase] = ["local": localShard]
        var changeLogs: [String: any ChangeLog] = ["local": localShard]
        var telemetryDatabases: [String: any TelemetryDatabase] = ["local": localShard]
        var storageDatabases: [String: any StorageDatabase] = ["local": localShard]
        for (name, url) in configuration.postgresShards.sorted(by: { $0.key < $1.key }) {
            guard name != "local" else { throw ConfigurationError("the shard name 'local' is the embedded SQLite shard") }
            let shard = PostgresShard(
                name: name, client: try postgresClient(url),
                metrics: metrics.postgresShard(name, maxConnections: configuration.postgresMaxConnections),
                tracer: tracing?.tracer, logger: logger
            )
            shards[name] = shard
            authDatabases[name] = shard
            changeLogs[name] = shard
            telemetryDatabases[name] = shard
            storageDatabases[name] = shard
        }
        guard shards[configuration.defaultShard] != nil else {
            throw ConfigurationError("--default-shard \(configuration.defaultShard) is not a configured shard (\(shards.keys.sorted().joined(separator: ", ")))")
        }

        let nodeID = try NodeID.loadOrCreate(in: configuration.dataDirectory)
        guard Cell.isValidName(configuration.cell) else {
            throw ConfigurationError("--cell \(configuration.cell): a cell name is 1 to 63 lowercase letters, digits, '-' and '_', starting with a letter")
        }
        let directory = ProjectDirectory(store: control, place: NodePlace(cell: configuration.cell, node: nodeID))
        let projects = ProjectService(
            directory: directory, shards: shards, defaultShard: configuration.defaultShard, placement: configuration.placement, logger: logger
        )
        directory.onChange { [projects] refs in projects.forgetCatalogs(of: refs) }
        let membership = NodeMembership(
            store: control, directory: directory, nodeID: nodeID, cell: configuration.cell, shards: Array(configuration.postgresShards.keys),
            advertiseURL: configuration.advertiseURL, interval: configuration.heartbeatInterval, logger: logger
        )
        let changes = ChangeFeed(logs: changeLogs, configuration: .init(pollInterval: configuration.changePollInterval), logger: logger)
        let telemetry = TelemetryService(
            configuration: configuration.telemetry, directory: directory, databases: telemetryDatabases,
            metrics: configuration.metrics.access == .off ? nil : metrics.telemetry
        )
        let mqttListener: MQTTListener? = configuration.mqtt.enabled ? try await MQTTListener.bind(
            configuration: configuration.mqtt, host: configuration.host, backend: deviceBackend ?? telemetry, eventLoopGroup: eventLoopGroup,
            metrics: configuration.metrics.access == .off ? nil : metrics.mqtt, logger: logger
        ) : nil
        let mqttUpstream = try configuration.mqttUpstream.map { upstream in
            MQTTUpstream(
                configuration: upstream,
                clientIdentifier: upstream.clientIdentifier ?? "cellbase-" + nodeID,
                backend: deviceBackend ?? telemetry,
                resolveProject: { try await directory.upstreamProject(upstream.project) },
                eventLoopGroup: eventLoopGroup, metrics: configuration.metrics.access == .off ? nil : metrics.mqttUpstream, logger: logger
            )
        }
        try StatusFile.write(
            StatusFile.Contents(url: configuration.url, control: configuration.controlURL, mqtt: mqttListener.map { "mqtt://\(configuration.mqtt.host ?? configuration.host):\($0.port)" }),
            in: configuration.dataDirectory
        )
        let node = CellbaseNode(
            configuration: configuration, adminToken: adminToken, directory: directory, projects: projects, changes: changes,
            telemetry: telemetry, mqttPort: mqttListener?.port, mqttUpstream: mqttUpstream
        )

        let router = Router(context: CellbaseRequestContext.self)
        HealthController(control: control, shards: shards.values.sorted { $0.name < $1.name }).addRoutes(to: router)
        switch configuration.metrics.access {
        case .open: MetricsController(metrics: metrics).addRoutes(to: router)
        case .admin: MetricsController(metrics: metrics).addRoutes(to: router.group().add(middleware: AdminTokenMiddleware(token: adminToken)))
        case .off: break
        }
        let admin = router.group("admin/v1").add(middleware: AdminTokenMiddleware(token: adminToken))
        let objectContents: any ObjectContents = switch configuration.storage.backend {
        case .local: LocalObjectFiles(dataDirectory: configuration.dataDirectory)
        case .s3(let s3): try S3ObjectContents(configuration: s3, http: .shared, logger: logger)
        }
        let storage = StorageController(
            projects: projects, directory: directory, databases: storageDatabases,
            files: objectContents, configuration: configuration.storage,
            metrics: configuration.metrics.access == .off ? nil : metrics.storage
        )
        var handlers: [JobKind: any JobHandler] = [
            .noop: NoopJobHandler(),
            .export: ExportJobHandler(projects: projects, storage: storage, baseURL: configuration.url),
            .webhook: WebhookJobHandler(
                databases: authDatabases, sender: WebhookDelivery(configuration: configuration.webhooks, eventLoopGroup: eventLoopGroup), logger: logger
            ),
        ]
        if let mail = configuration.mail {
            handlers[.mail] = MailJobHandler(client: try SMTPClient(configuration: mail.smtp, eventLoopGroup: eventLoopGroup, logger: logger))
        }
        let jobRunner = JobRunner(
            configuration: configuration.jobs, owner: nodeID,
            dependencies: JobRunner.Dependencies(
                directory: directory, databases: authDatabases, handlers: handlers,
                duties: [WebhookDispatcher(projects: projects, changes: wiring.changeSource ?? changes, logger: logger), ScheduleDuty()]
            ),
            metrics: configuration.metrics.access == .off ? nil : metrics.jobs, logger: logger
        )
        let jobs = JobService(runner: jobRunner)
        AdminController(projects: projects, webhooks: MigrationWebhooks(jobs: jobs, projects: projects)).addRoutes(to: admin)
        PlacementAdminController(
            store: control, projects: projects, nodeTimeout: configuration.heartbeatInterval * 3,
            mover: ProjectMover(projects: projects, logger: logger)
        ).addRoutes(to: admin)
        JobsAdminController(jobs: jobs, projects: projects).addRoutes(to: admin)
        WebhooksAdminController(jobs: jobs, projects: projects).addRoutes(to: admin)
        let exports = ExportsController(jobs: jobs, projects: projects, storage: storage)
        SchedulesAdminController(jobs: jobs, projects: projects, exports: exports).addRoutes(to: admin)
        exports.addRoutes(
            to: router.group("jobs/v1")
                .add(middleware: APIKeyMiddleware(directory: directory, shape: .plain))
                .add(middleware: AccessTokenMiddleware(directory: directory, shape: .plain))
                .group(context: ProjectRequestContext.self)
        )
        DataAPIController(projects: projects, limits: configuration.restLimits, maxBodySize: configuration.maxBodySize).addRoutes(
            to: router.group("rest/v1")
                .add(middleware: APIKeyMiddleware(directory: directory, shape: .postgrest))
                .add(middleware: AccessTokenMiddleware(directory: directory))
                .group(context: ProjectRequestContext.self)
        )
        let passwordHasher = PasswordHasher(cost: configuration.auth.bcryptCost)
        let authMail = configuration.mail.map { mail in AuthMail(mailer: authMailer ?? QueuedMailer(jobs: jobs), from: mail.from) }
        let auth = AuthService(
            configuration: configuration.auth, directory: directory, databases: authDatabases,
            hasher: passwordHasher, issuer: configuration.url + "/auth/v1", metrics: metrics.auth, mail: authMail
        )
        AuthController(auth: auth).addRoutes(
            to: router.group("auth/v1")
                .add(middleware: APIKeyMiddleware(directory: directory, shape: .gotrue))
                .group(context: ProjectRequestContext.self)
        )

        TelemetryController(telemetry: telemetry, maxBodySize: configuration.maxBodySize).addRoutes(
            to: router.group("telemetry/v1").add(middleware: ProjectMovedMiddleware(directory: directory, shape: .plain))
        )
        storage.addRoutes(
            keyed: router.group("storage/v1")
                .add(middleware: APIKeyMiddleware(directory: directory, shape: .storage))
                .add(middleware: AccessTokenMiddleware(directory: directory, shape: .storage))
                .group(context: ProjectRequestContext.self),
            open: router.group("storage/v1").add(middleware: ProjectMovedMiddleware(directory: directory, shape: .storage))
        )

        let hub = RealtimeHub(
            bus: wiring.bus ?? sharedBus ?? InProcessRealtimeBus(),
            changeSource: wiring.changeSource ?? changes,
            visibility: wiring.visibility ?? PolicyChangeVisibility(projects: projects, logger: logger),
            projects: projects, logger: logger
        )
        // A project that moved (to another shard, node or cell) has its realtime sockets here
        // closed: their clients reconnect, through the gateway, to where it is served now.
        directory.onChange { [directory, hub] refs in
            hub.closeMovedSockets(of: refs) { ref in
                guard let project = directory.cachedProject(ref: ref), directory.misplacement(of: project) == nil else { return nil }
                return project.shard
            }
        }
        let realtime = RealtimeConnection.Services(
            hub: hub, limiter: RealtimeLimiter(configuration: configuration.realtime), directory: directory, projects: projects,
            configuration: configuration.realtime, metrics: configuration.metrics.access == .off ? nil : metrics.realtime
        )
        RealtimeController(services: realtime).addRoutes(
            to: router.group("realtime/v1")
                .add(middleware: APIKeyMiddleware(directory: directory, shape: .plain))
                .add(middleware: AccessTokenMiddleware(directory: directory))
                .group(context: ProjectRequestContext.self)
        )

        var services: [any Service] = []
        // A service group stops its services in reverse order: the exporter last, once the server
        // has ended its final spans.
        if let exporter = tracing?.exporter { services.append(exporter) }
        // Nothing leases a PostgreSQL connection before its pool runs, and the services that read
        // the databases as they start wait until the control plane and the default project exist.
        let poolsRunning = StartupEvent(count: postgresClients.count)
        let databasesReady = StartupEvent()
        services += postgresClients.map { PostgresClientService(client: $0, started: poolsRunning) } as [any Service]
        services += [passwordHasher, hub, NodeShutdown(control: control, shards: Array(shards.values))] as [any Service]
        services += [
            StartsAfter(event: databasesReady, service: changes), StartsAfter(event: databasesReady, service: jobRunner),
            StartsAfter(event: databasesReady, service: membership),
        ]
        if wiring.bus == nil, let sharedBus { services.append(StartsAfter(event: databasesReady, service: sharedBus)) }
        if let mqttListener { services.append(mqttListener) }
        if let mqttUpstream { services.append(StartsAfter(event: databasesReady, service: mqttUpstream)) }
        var app = Application(
            responder: ObservedResponder(
                router: router.buildResponder(),
                metrics: configuration.metrics.access == .off ? nil : metrics.http,
                tracer: tracing?.tracer
            ),
            server: HTTPServerBuilder { responder in
                RealtimeServerChannel(responder: responder, maxFrameSize: RealtimeConfiguration.maxFrameBytes) { request, logger in
                    await RealtimeConnection.accept(request, services: realtime, logger: logger)
                }
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "cellbase"),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                membership.serverBound(host: configuration.host, port: port)
                await onReady(node, port)
            },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
        app.beforeServerStarts {
            await poolsRunning.wait()
            try await control.prepare()
            try await NodeMembership.checkPlace(cell: configuration.cell, shards: configuration.postgresShards, store: control)
            try await directory.reload()
            // Off the start's path: a shard that is down must not hold the node's start.
            let shardsToRecover = projects.shards.values.compactMap { $0 as? PostgresShard }
            Task {
                for shard in shardsToRecover {
                    do {
                        try await shard.recoverRetiredProjects(placement: { ref in directory.cachedProject(ref: ref)?.shard })
                    } catch {
                        logger.warning("looking for projects left retired by a dead move failed", metadata: ["shard": .string(shard.name), "error": "\(error)"])
                    }
                }
            }
            if configuration.createDefaultProject, directory.project(named: "default") == nil {
                _ = try await projects.createProject(name: "default", shard: nil)
            }
            databasesReady.signal()
        }
        return (app, node)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
