import CellbaseMQTT
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The node's MQTT listener: devices connect, publish telemetry and receive commands. A `Service`,
/// so the node's service group starts it and stops it with the rest.
///
/// One child task per connection in a discarding task group; publishes from every connection are
/// group-committed by one ``MQTTPublishBatcher``, and posted commands reach connections through the
/// backend's notification stream.
public final class MQTTListener: Service {
    typealias ServerChannel = NIOAsyncChannel<NIOAsyncChannel<MQTTPacket, ByteBuffer>, Never>

    private let configuration: MQTTConfiguration
    private let server: ServerChannel
    private let backend: any DeviceBackend
    private let metrics: MQTTMetrics?
    private let logger: Logger
    /// The port the listener is bound to: the configured one, or the one picked for port 0.
    public let port: Int

    /// Binds the listening socket, so that a port in use fails the node's start and the bound port
    /// is known before anything runs; connections are accepted once the service runs.
    public static func bind(
        configuration: MQTTConfiguration, host: String, backend: any DeviceBackend, eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> MQTTListener {
        try await bind(configuration: configuration, host: host, backend: backend, eventLoopGroup: eventLoopGroup, metrics: nil, logger: logger)
    }

    static func bind(
        configuration: MQTTConfiguration, host: String, backend: any DeviceBackend, eventLoopGroup: any EventLoopGroup,
        metrics: MQTTMetrics?, logger: Logger
    ) async throws -> MQTTListener {
        let host = configuration.host ?? host
        let server = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let parser = MQTTPacketParser(maximumPacketSize: configuration.limits.maximumPacketSize)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder(parser: parser)))
                    return try NIOAsyncChannel<MQTTPacket, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        logger.info("MQTT listening", metadata: ["address": "\(server.channel.localAddress.map { "\($0)" } ?? host)"])
        return MQTTListener(
            configuration: configuration, server: server, port: server.channel.localAddress?.port ?? configuration.port,
            backend: backend, metrics: metrics, logger: logger
        )
    }

    private init(configuration: MQTTConfiguration, server: ServerChannel, port: Int, backend: any DeviceBackend, metrics: MQTTMetrics?, logger: Logger) {
        self.configuration = configuration
        self.server = server
        self.port = port
        self.backend = backend
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        let configuration = configuration
        let server = server
        let batcher = MQTTPublishBatcher(
            backend: backend, maxBatchSize: configuration.maxBatchSize, maxQueued: configuration.maxQueuedPublishes, metrics: metrics,
            logger: logger
        )
        let services = MQTTServerConnection.Services(
            backend: backend, batcher: batcher, sessions: MQTTSessionRegistry(), devices: MQTTDeviceConnections(),
            configuration: configuration, metrics: metrics, logger: logger
        )
        let pending = PendingConnections(limit: configuration.maxPendingConnections)
        try await serve(server, batcher: batcher, services: services, pending: pending)
    }

    private func serve(_ server: ServerChannel, batcher: MQTTPublishBatcher, services: MQTTServerConnection.Services, pending: PendingConnections) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await batcher.run() }
            group.addTask {
                for await device in self.backend.commandNotifications() {
                    for connection in services.devices.connections(of: device) { connection.commandsPosted() }
                }
            }
            // A graceful shutdown closes the listening socket, and the loop ends once it has taken the
            // connections accepted before that. Cancelling the loop instead would drop those unclosed,
            // which SwiftNIO treats as a programming error (a trap).
            try await withGracefulShutdownHandler {
                try await server.executeThenClose { inbound in
                    for try await channel in inbound {
                        guard server.channel.isActive, pending.admit() else {
                            // Too many sockets are waiting for their CONNECT, or the node is stopping:
                            // this one is closed unread.
                            try? await channel.executeThenClose { _, _ in }
                            continue
                        }
                        group.addTask {
                            let connection = MQTTServerConnection(channel: channel.channel, services: services, pending: pending)
                            await connection.run(channel)
                        }
                    }
                }
            } onGracefulShutdown: {
                server.channel.close(promise: nil)
            }
            // The node is stopping: the connections are closed (each by cancelling its task, which
            // ends its read loop), and the batcher and the command notifications end.
            group.cancelAll()
        }
    }
}

/// Counts sockets that have not finished their CONNECT, against `MQTTConfiguration.maxPendingConnections`.
final class PendingConnections: Sendable {
    private let count = Mutex(0)
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func admit() -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() {
        count.withLock { $0 -= 1 }
    }
}
