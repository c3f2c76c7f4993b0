import Cellbase
import CellbaseMQTT
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

/// A `DeviceBackend` in memory: devices with passwords, the publishes stored, commands and their
/// deliveries. `holdStores` makes `store` wait until `releaseStores()`, so a test can see what the
/// listener does while a commit is in flight.
final class InMemoryDeviceBackend: DeviceBackend {
    private struct State {
        var devices: [String: (password: String, identity: DeviceIdentity)] = [:]
        var stored: [DevicePublish] = []
        var commands: [DeviceIdentity: [DeviceCommand]] = [:]
        var heldStores: [CheckedContinuation<Void, Never>] = []
        var holdStores = false
    }

    private let state = Mutex(State())
    private let notifications: AsyncStream<DeviceIdentity>
    private let notify: AsyncStream<DeviceIdentity>.Continuation
    /// Every `store` call's publishes, and every delivered command id, as they happen.
    let storedEvents: AsyncStream<[DevicePublish]>
    private let storedContinuation: AsyncStream<[DevicePublish]>.Continuation
    let deliveries: AsyncStream<String>
    private let deliveriesContinuation: AsyncStream<String>.Continuation
    /// The size of each batch as its `store` call begins (before it is held).
    let storesStarted: AsyncStream<Int>
    private let storesStartedContinuation: AsyncStream<Int>.Continuation

    init() {
        (notifications, notify) = AsyncStream.makeStream()
        (storedEvents, storedContinuation) = AsyncStream.makeStream()
        (deliveries, deliveriesContinuation) = AsyncStream.makeStream()
        (storesStarted, storesStartedContinuation) = AsyncStream.makeStream()
    }

    func addDevice(project: String, id: String, password: String) {
        state.withLock { $0.devices["\(project):\(id)"] = (password, DeviceIdentity(projectRef: project, deviceID: id)) }
    }

    func post(_ command: DeviceCommand, to device: DeviceIdentity) {
        state.withLock { $0.commands[device, default: []].append(command) }
        notify.yield(device)
    }

    func holdStores(_ hold: Bool) {
        state.withLock { $0.holdStores = hold }
    }

    /// Stops holding stores and lets the held ones finish.
    func releaseStores() {
        let held = state.withLock { state in
            defer {
                state.heldStores = []
                state.holdStores = false
            }
            return state.heldStores
        }
        for continuation in held { continuation.resume() }
    }

    var stored: [DevicePublish] { state.withLock { $0.stored } }

    func authenticate(username: String, password: ByteBuffer) async throws -> DeviceIdentity? {
        state.withLock { state in
            guard let device = state.devices[username], device.password == String(buffer: password) else { return nil }
            return device.identity
        }
    }

    /// Payloads that are not JSON objects are refused, as the real backend refuses non-telemetry.
    func store(_ publishes: [DevicePublish]) async throws -> [DevicePublishOutcome] {
        storesStartedContinuation.yield(publishes.count)
        await withCheckedContinuation { continuation in
            let held = state.withLock { state in
                if state.holdStores { state.heldStores.append(continuation) }
                return state.holdStores
            }
            if !held { continuation.resume() }
        }
        let outcomes = publishes.map { publish in
            publish.payload.readableBytesView.first == UInt8(ascii: "{") ? DevicePublishOutcome.stored : .rejected(reason: "not a JSON object")
        }
        let stored = zip(publishes, outcomes).filter { $0.1 == .stored }.map(\.0)
        state.withLock { $0.stored += stored }
        storedContinuation.yield(publishes)
        return outcomes
    }

    func pendingCommands(for device: DeviceIdentity) async throws -> [DeviceCommand] {
        state.withLock { $0.commands[device] ?? [] }
    }

    func pendingCount(for device: DeviceIdentity) -> Int {
        state.withLock { $0.commands[device]?.count ?? 0 }
    }

    func commandDelivered(id: String, to device: DeviceIdentity) async throws {
        state.withLock { $0.commands[device]?.removeAll { $0.id == id } }
        deliveriesContinuation.yield(id)
    }

    func commandNotifications() -> AsyncStream<DeviceIdentity> {
        notifications
    }
}

/// A raw MQTT client over TCP: packets are encoded with the codec under test, or written as raw bytes.
final class MQTTTestClient {
    private var inbound: NIOAsyncChannelInboundStream<MQTTPacket>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let version: MQTTProtocolVersion

    private init(inbound: NIOAsyncChannelInboundStream<MQTTPacket>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, version: MQTTProtocolVersion) {
        self.inbound = inbound
        self.outbound = outbound
        self.version = version
    }

    /// Connects to the listener and runs `body` with the client; the socket is closed afterwards.
    static func with<Result: Sendable>(
        port: Int, version: MQTTProtocolVersion, _ body: (MQTTTestClient) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder(parser: MQTTPacketParser(version: version))))
                return try NIOAsyncChannel<MQTTPacket, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(MQTTTestClient(inbound: inbound.makeAsyncIterator(), outbound: outbound, version: version))
        }
    }

    func send(_ packet: MQTTPacket) async throws {
        var buffer = ByteBuffer()
        try packet.write(to: &buffer, version: version)
        try await outbound.write(buffer)
    }

    func send(bytes: ByteBuffer) async throws {
        try await outbound.write(bytes)
    }

    /// The next packet from the server, or `nil` once it closed the connection.
    func receive() async throws -> MQTTPacket? {
        try await inbound.next()
    }

    /// Whether the server closed the connection without sending anything more.
    func isClosedByServer() async -> Bool {
        do {
            return try await inbound.next() == nil
        } catch {
            return true
        }
    }

    /// CONNECT as device `id` of project `p1` with `password`, returning the CONNACK.
    func connect(device id: String, password: String, keepAlive: UInt16 = 60, cleanStart: Bool = true) async throws -> MQTTConnAck? {
        try await send(.connect(MQTTConnect(
            version: version, cleanStart: cleanStart, keepAlive: keepAlive, clientIdentifier: "client-\(id)",
            userName: "p1:\(id)", password: ByteBuffer(string: password)
        )))
        guard case .connAck(let connAck) = try await receive() else { return nil }
        return connAck
    }
}

/// Runs a listener on a free port with the given backend and configuration for the duration of `body`.
func withMQTTListener(
    backend: InMemoryDeviceBackend, configuration: MQTTConfiguration = MQTTConfiguration(port: 0),
    _ body: @Sendable (Int) async throws -> Void
) async throws {
    var logger = Logger(label: "cellbase.test.mqtt")
    logger.logLevel = .warning
    let listener = try await MQTTListener.bind(
        configuration: configuration, host: "127.0.0.1", backend: backend, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        logger: logger
    )
    // Stopped as a node stops it: by a graceful shutdown of its service group.
    let services = ServiceGroup(configuration: .init(services: [listener], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        let outcome: Result<Void, any Error>
        do { outcome = .success(try await body(listener.port)) } catch { outcome = .failure(error) }
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
        try outcome.get()
    }
}
