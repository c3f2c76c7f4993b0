import CellbaseRedis
import AsyncHTTPClient
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// Everything `cellbase gateway` can be told.
public struct GatewayConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    /// The PostgreSQL control plane the nodes share.
    public var controlURL: String
    /// How often the routing table is read again from the control plane.
    public var refreshInterval: Duration = .milliseconds(500)
    /// Seconds without a heartbeat after which a node gets no requests.
    public var nodeTimeout: Double = 6
    /// Seconds a node that failed a request gets no requests (times the failures in a row, up to 8).
    public var ejection: Double = 2
    /// How often each node's `/health/ready` is asked.
    public var healthCheckInterval: Duration = .seconds(1)
    /// Failed health checks in a row that take a node out.
    public var healthCheckFall = 3
    /// Passed health checks in a row that bring it back.
    public var healthCheckRise = 2
    public var connectTimeout: TimeAmount = .seconds(2)
    /// How long a graceful shutdown lets requests in progress (and open streams and WebSockets)
    /// finish before it closes what is left.
    public var drainTimeout: Duration = .seconds(10)
    /// The limit of a project on no plan; `nil`: unlimited.
    public var projectRateLimit: RateLimit?
    /// The limit of each client address; `nil`: unlimited.
    public var addressRateLimit: RateLimit?
    /// Redis shared by the gateways for their rate limits (`redis://[:password@]host[:port][/db]`);
    /// `nil`: each gateway limits on its own.
    public var redisURL: String?
    public var metrics = true

    public init(controlURL: String) {
        self.controlURL = controlURL
    }
}

/// `cellbase gateway`: one HTTP entry point in front of every cell. It routes each request by
/// its project's placement to the least busy healthy node of the project's cell, streams the
/// answer back (Server-Sent Events included), pipes WebSockets through after their upgrade, sends
/// idempotent requests again to another node when one fails, and holds projects and client
/// addresses to their rate limits.
public final class Gateway: Service {
    public let configuration: GatewayConfiguration
    let core: GatewayCore
    private let client: PostgresClient
    private let redis: RedisClient?
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    public init(configuration: GatewayConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        group = MultiThreadedEventLoopGroup.singleton
        var postgres = try PostgresURL.configuration(configuration.controlURL)
        postgres.options.maximumConnections = 4
        postgres.options.additionalStartupParameters = [("application_name", "cellbase-gateway")]
        client = PostgresClient(configuration: postgres, backgroundLogger: logger)
        let routes = GatewayRoutes(
            nodeTimeout: configuration.nodeTimeout, ejection: configuration.ejection,
            fall: configuration.healthCheckFall, rise: configuration.healthCheckRise
        )
        let metrics = configuration.metrics ? GatewayMetrics(routes: routes) : nil
        var shared: SharedRateLimits?
        if let url = configuration.redisURL {
            redis = RedisClient(configuration: try RedisConfiguration(url: url), eventLoopGroup: group, logger: logger)
            let start = ContinuousClock.now
            shared = SharedRateLimits(
                client: redis!, clock: { let elapsed = ContinuousClock.now - start; return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18 },
                logger: logger, onRedisState: { up in metrics?.redisState(up: up) }
            )
            metrics?.redisState(up: true)
        } else {
            redis = nil
        }
        core = GatewayCore(
            routes: routes,
            limiter: GatewayRateLimiter(projectDefault: configuration.projectRateLimit, perAddress: configuration.addressRateLimit, shared: shared),
            pools: UpstreamPools(group: group, connectTimeout: configuration.connectTimeout),
            metrics: metrics,
            store: PostgresControlStore(client: client, logger: logger),
            eventLoop: group.next(), logger: logger
        )
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { await self.client.run() }
            defer { tasks.cancelAll() }
            try await loadRoutes()
            let quiescing = ServerQuiescingHelper(group: group)
            let server = try await bind(quiescing: quiescing)
            let port = server.localAddress?.port ?? configuration.port
            logger.info("gateway listening", metadata: ["url": "http://\(configuration.host):\(port)"])
            await onListening(port)
            tasks.addTask { await self.refreshLoop() }
            tasks.addTask { await self.healthChecks() }
            try? await gracefulShutdown()
            await drain(quiescing)
            await core.pools.close()
            await redis?.shutdown()
        }
    }

    /// Stops accepting, closes idle client connections, lets each request in progress end (its
    /// connection closes after its response), and gives up waiting after the drain timeout.
    private func drain(_ quiescing: ServerQuiescingHelper) async {
        let drained = group.next().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: drained)
        let timeout = configuration.drainTimeout
        let finished = await withTaskGroup(of: Bool.self) { waits in
            waits.addTask { (try? await drained.futureResult.get()) != nil }
            waits.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            defer { waits.cancelAll() }
            return await waits.next() ?? false
        }
        if !finished { logger.warning("connections still open when the gateway's drain timeout ended", metadata: ["timeout": "\(timeout)"]) }
    }

    /// The first read of the routing table, retried until the control plane answers.
    private func loadRoutes() async throws {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await core.routes.refresh(from: core.store)
                return
            } catch {
                logger.warning("the control plane is not reachable yet", metadata: ["error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    private func bind(quiescing: ServerQuiescingHelper) async throws -> any Channel {
        let core = self.core
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let pool = core.pools.pool(for: channel.eventLoop) else { throw ChannelError.inappropriateOperationForState }
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(HTTPResponseEncoder(), name: GatewayPipeline.serverEncoder)
                    try pipeline.addHandler(
                        ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: GatewayPipeline.serverDecoder
                    )
                    try pipeline.addHandler(HTTPServerPipelineHandler(), name: GatewayPipeline.serverPipelining)
                    try pipeline.addHandler(GatewayClientHandler(core: core, pool: pool), name: GatewayPipeline.serverHandler)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }

    private func refreshLoop() async {
        while (try? await Task.sleep(for: configuration.refreshInterval)) != nil {
            do {
                try await core.routes.refresh(from: core.store)
            } catch {
                logger.warning("reading the routing table failed; routing with the last one", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Asks the `/health/ready` of every node that beats; a node that does not answer 200 in time
    /// `healthCheckFall` times in a row gets no requests until it has answered `healthCheckRise`
    /// times in a row.
    private func healthChecks() async {
        while (try? await Task.sleep(for: configuration.healthCheckInterval)) != nil {
            await withTaskGroup(of: Void.self) { checks in
                for upstream in core.routes.beatingUpstreams {
                    checks.addTask {
                        let url = "http://\(upstream.host.contains(":") ? "[\(upstream.host)]" : upstream.host):\(upstream.port)/health/ready"
                        let healthy: Bool
                        do {
                            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
                            healthy = response.status == .ok
                            _ = try? await response.body.collect(upTo: 64 * 1024)
                        } catch {
                            healthy = false
                        }
                        switch self.core.routes.checked(upstream.id, healthy: healthy) {
                        case true?:
                            self.logger.info("a node passes its health checks again", metadata: ["node": "\(upstream.id)", "cell": "\(upstream.cell)"])
                        case false?:
                            self.logger.warning(
                                "a node failed its health checks; it gets no requests until it passes again",
                                metadata: ["node": "\(upstream.id)", "cell": "\(upstream.cell)", "url": "\(url)"]
                            )
                        case nil:
                            break
                        }
                    }
                }
            }
        }
    }
}
