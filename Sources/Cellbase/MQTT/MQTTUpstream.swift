import CellbaseMQTT
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Consumes device telemetry from an existing MQTT 5 broker (`--mqtt-upstream`) and publishes the
/// project's commands through it. A `Service` of the node.
///
/// The node subscribes to `$share/{group}/devices/+/telemetry/#` at QoS 1 under a persistent session,
/// so the nodes of a deployment split the devices' publishes and the broker keeps what a node has
/// not acknowledged until it is back. Publishes are group-committed by an ``MQTTPublishBatcher`` and
/// acknowledged only once stored; with idempotent storage, a publish the broker sends twice is one point.
public final class MQTTUpstream: Service {
    private let configuration: MQTTUpstreamConfiguration
    private let clientIdentifier: String
    private let backend: any DeviceBackend
    private let resolveProject: @Sendable () async throws -> String?
    private let eventLoopGroup: any EventLoopGroup
    private let metrics: MQTTUpstreamMetrics?
    private let logger: Logger
    private let current = Mutex<MQTTUpstreamConnection?>(nil)
    private let stopping = Atomic<Bool>(false)

    /// Whether the node is subscribed to the broker right now.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }
    private let connected = Atomic<Bool>(false)

    /// - Parameter clientIdentifier: the configured one, or the node's own.
    /// - Parameter resolveProject: the ref of the project the topics' devices belong to, or `nil`
    ///   while it does not exist; asked before each connection.
    init(
        configuration: MQTTUpstreamConfiguration, clientIdentifier: String, backend: any DeviceBackend, resolveProject: @escaping @Sendable () async throws -> String?,
        eventLoopGroup: any EventLoopGroup, metrics: MQTTUpstreamMetrics?, logger: Logger
    ) {
        self.configuration = configuration
        self.clientIdentifier = clientIdentifier
        self.backend = backend
        self.resolveProject = resolveProject
        self.eventLoopGroup = eventLoopGroup
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        let batcher = MQTTPublishBatcher(backend: backend, maxBatchSize: 1000, maxQueued: Int(configuration.receiveMaximum), metrics: nil, logger: logger)
        let (work, request) = AsyncStream.makeStream(of: CommandWork.self, bufferingPolicy: .bufferingNewest(configuration.maxQueuedCommands))
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await batcher.run() }
                group.addTask {
                    for await device in self.backend.commandNotifications() { request.yield(.device(device)) }
                }
                group.addTask { await self.publishCommands(work) }
                await connectLoop(batcher: batcher, requestCommands: { request.yield(.all) })
                request.finish()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.current.withLock { $0 }?.shutdown()
        }
    }

    // MARK: - Connections

    /// Connects, serves the connection, and reconnects after a capped, jittered exponential backoff
    /// until the node stops.
    private func connectLoop(batcher: MQTTPublishBatcher, requestCommands: @escaping @Sendable () -> Void) async {
        var carried: [MQTTUpstreamCommand] = []
        var failures = 0
        while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
            if failures > 0 {
                metrics?.reconnecting()
                guard await sleep(Self.backoff(failures: failures, base: configuration.reconnectDelay, cap: configuration.maxReconnectDelay)) else { return }
            }
            do {
                guard let projectRef = try await resolveProject() else {
                    logger.warning("MQTT upstream project not found; waiting", metadata: ["project": "\(configuration.project ?? "default")"])
                    failures += 1
                    continue
                }
                let outcome = try await connect(projectRef: projectRef, batcher: batcher, carrying: carried, requestCommands: requestCommands)
                carried = outcome.unacknowledgedCommands
                failures = outcome.subscribed ? 1 : failures + 1
            } catch {
                logger.warning("MQTT upstream connection failed", metadata: ["broker": "\(configuration.host):\(configuration.port)", "error": "\(error)"])
                failures += 1
            }
        }
    }

    private func connect(
        projectRef: String, batcher: MQTTPublishBatcher, carrying carried: [MQTTUpstreamCommand], requestCommands: @escaping @Sendable () -> Void
    ) async throws -> MQTTUpstreamConnection.Outcome {
        let maximumPacketSize = configuration.maximumPacketSize
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let parser = MQTTPacketParser(maximumPacketSize: maximumPacketSize, version: .v5)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder(parser: parser)))
                    return try NIOAsyncChannel<MQTTPacket, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let machine = MQTTUpstreamStateMachine(settings: settings, carrying: carried, now: .now())
        let services = MQTTUpstreamConnection.Services(
            backend: backend, batcher: batcher, projectRef: projectRef, metrics: metrics, logger: logger,
            subscribed: { [self] in
                connected.store(true, ordering: .relaxed)
                logger.info("MQTT upstream subscribed", metadata: ["broker": "\(configuration.host):\(configuration.port)", "filter": "\(configuration.topicFilter)"])
                requestCommands()
            }
        )
        let connection = MQTTUpstreamConnection(channel: channel.channel, machine: machine, services: services)
        current.withLock { $0 = connection }
        // Shutdown may have begun while connecting, before the connection could be told.
        if stopping.load(ordering: .relaxed) { connection.shutdown() }
        let outcome = await connection.run(channel)
        current.withLock { $0 = nil }
        connected.store(false, ordering: .relaxed)
        metrics?.setConnected(false)
        return outcome
    }

    private var settings: MQTTUpstreamStateMachine.Settings {
        MQTTUpstreamStateMachine.Settings(
            clientIdentifier: clientIdentifier, userName: configuration.userName,
            password: configuration.password.map { ByteBuffer(string: $0) }, topicFilter: configuration.topicFilter,
            keepAlive: configuration.keepAlive, sessionExpiry: configuration.sessionExpiry, receiveMaximum: configuration.receiveMaximum,
            maximumPacketSize: configuration.maximumPacketSize, maxQueuedCommands: configuration.maxQueuedCommands
        )
    }

    /// The wait before attempt `failures` + 1: the base doubled per failure, capped, and then a uniformly
    /// random share of its upper half, so that nodes that lost the broker together do not return together.
    static func backoff(failures: Int, base: Duration, cap: Duration) -> Duration {
        let doubled = base * (1 << min(max(failures - 1, 0), 20))
        let ceiling = min(doubled, cap)
        return ceiling / 2 + (ceiling / 2) * Double.random(in: 0...1)
    }

    /// Sleeps unless the node begins to stop; `false` when it did.
    private func sleep(_ duration: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await Task.sleep(for: duration)) != nil }
            group.addTask {
                try? await gracefulShutdown()
                return false
            }
            let slept = await group.next() ?? false
            group.cancelAll()
            return slept && !stopping.load(ordering: .relaxed)
        }
    }

    // MARK: - Commands

    private enum CommandWork: Sendable {
        /// A command was posted for this device.
        case device(DeviceIdentity)
        /// A connection subscribed: every device with commands may have some waiting.
        case all
    }

    /// Fetches pending commands for the devices that were notified and hands them to the current
    /// connection. Devices are remembered (up to `maxQueuedCommands` of them), so that a new
    /// connection fetches again for each one that had commands.
    private func publishCommands(_ work: AsyncStream<CommandWork>) async {
        var known: [String] = []
        var knownSet: Set<String> = []
        for await item in work {
            guard let projectRef = try? await resolveProject() else { continue }
            let devices: [String]
            switch item {
            case .device(let device):
                guard device.projectRef == projectRef else { continue }
                if knownSet.insert(device.deviceID).inserted {
                    known.append(device.deviceID)
                    if known.count > configuration.maxQueuedCommands { knownSet.remove(known.removeFirst()) }
                }
                devices = [device.deviceID]
            case .all:
                devices = known
            }
            // Without a connection, the device is remembered and its commands fetched once one subscribes.
            guard let connection = current.withLock({ $0 }) else { continue }
            for deviceID in devices {
                do {
                    let pending = try await backend.pendingCommands(for: DeviceIdentity(projectRef: projectRef, deviceID: deviceID))
                    if pending.isEmpty, case .all = item {
                        knownSet.remove(deviceID)
                        known.removeAll { $0 == deviceID }
                    }
                    connection.publish(pending.map { MQTTUpstreamCommand(id: $0.id, deviceID: deviceID, topic: $0.topic, payload: $0.payload) })
                } catch {
                    logger.warning("MQTT pending commands not read", metadata: ["error": "\(error)", "device": "\(deviceID)"])
                }
            }
        }
    }
}

extension ProjectDirectory {
    /// The ref of the project `--mqtt-upstream-project` names — by ref or by name — or, when it names
    /// none, of the project `default`, else of the node's only project; `nil` while there is no such project.
    /// Projects made on another node sharing the control plane are found once the directory reloads.
    func upstreamProject(_ reference: String?) async throws -> String? {
        if let reference, Project.isValidRef(reference), let project = try await project(ref: reference) { return project.ref }
        if let ref = localUpstreamProject(reference) { return ref }
        try await reload()
        return localUpstreamProject(reference)
    }

    private func localUpstreamProject(_ reference: String?) -> String? {
        guard let reference else {
            if let project = project(named: "default") { return project.ref }
            return projects.count == 1 ? projects[0].ref : nil
        }
        return project(named: reference)?.ref
    }
}
