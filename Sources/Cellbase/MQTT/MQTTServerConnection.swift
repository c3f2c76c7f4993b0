import CellbaseMQTT
import FoundationEssentials
import Logging
import NIOCore
import Synchronization

/// One client connection: it owns the connection's `MQTTConnectionStateMachine` and performs its
/// actions. Packets are fed from the read loop, one at a time; storage outcomes, timers and posted
/// commands arrive from elsewhere, so the machine sits behind a lock, and the packets an event
/// produces are written while it is held — writes then reach the socket in the order the machine
/// emitted them.
final class MQTTServerConnection: Sendable {
    struct Services: Sendable {
        var backend: any DeviceBackend
        var batcher: MQTTPublishBatcher
        var sessions: MQTTSessionRegistry
        var devices: MQTTDeviceConnections
        var configuration: MQTTConfiguration
        var metrics: MQTTMetrics?
        var logger: Logger
    }

    private struct State {
        var machine: MQTTConnectionStateMachine
        var device: DeviceIdentity?
        var clientIdentifier = ""
        var timer = MachineTimer()
        var closed = false
        var pendingReleased = false
    }

    private let channel: any Channel
    private let services: Services
    /// Bytes handed to the channel and not yet written to the socket. Counted here rather than read
    /// from the channel's writability, which lags behind writes issued off its event loop.
    private let unwrittenBytes = Atomic<Int>(0)
    /// Released once the CONNECT has been answered or the socket closed, whichever comes first.
    private let pending: PendingConnections
    private let state: Mutex<State>
    /// Wakes the task that fetches pending commands; at most one wake-up waits, as one fetch serves all.
    private let commandWakeups: AsyncStream<Void>
    private let wakeForCommands: AsyncStream<Void>.Continuation

    init(channel: any Channel, services: Services, pending: PendingConnections) {
        self.channel = channel
        self.services = services
        self.pending = pending
        self.state = Mutex(State(machine: MQTTConnectionStateMachine(limits: services.configuration.limits, now: .now())))
        (commandWakeups, wakeForCommands) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Serves the connection until either side closes it.
    func run(_ asyncChannel: NIOAsyncChannel<MQTTPacket, ByteBuffer>) async {
        services.metrics?.connectionOpened()
        defer { services.metrics?.connectionClosed() }
        do {
            try await asyncChannel.executeThenClose { inbound, _ in
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await self.deliverCommands() }
                    state.withLock { scheduleTimer(&$0) }
                    do {
                        for try await packet in inbound {
                            services.metrics?.received(packet.kind)
                            let actions = apply { $0.received(packet, now: .now()) }
                            await performDeferred(actions, group: &group)
                            if isClosed { break }
                        }
                    } catch let error as MQTTProtocolError {
                        services.logger.debug("MQTT protocol error", metadata: ["error": "\(error)"])
                        _ = apply { $0.received(error) }
                    }
                    // Ends the command task once a fetch in progress is done; recorded deliveries finish on their own.
                    wakeForCommands.finish()
                }
            }
        } catch {
            services.logger.debug("MQTT connection ended", metadata: ["error": "\(error)"])
        }
        _ = apply { $0.connectionClosed() }
        state.withLock { state in
            state.timer.cancel()
            state.closed = true
        }
        releasePending()
        if let device = state.withLock({ $0.device }) { services.devices.remove(self, for: device) }
    }

    /// The device backend has a new command for this connection's device.
    func commandsPosted() {
        wakeForCommands.yield()
    }

    /// The client identifier the connection serves, once authenticated.
    var clientIdentifier: String { state.withLock { $0.clientIdentifier } }

    /// A newer connection authenticated with the same device and client identifier. The session is
    /// kept before this returns, so the newer connection finds it.
    func takeOver() {
        _ = apply { $0.takenOver() }
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    private func releasePending() {
        state.withLock { releasePending(&$0) }
    }

    private func releasePending(_ state: inout State) {
        guard !state.pendingReleased else { return }
        state.pendingReleased = true
        pending.release()
    }

    // MARK: - Performing actions

    /// Runs an event on the machine and performs what can be done at once — writes, closing, queueing
    /// a publish for storage, keeping the session — while holding the lock. Returns the actions that
    /// must await the device backend.
    ///
    /// Events still reach the machine after the connection was closed for a reason it does not know
    /// (a client not reading, a failed store), so that the end of the connection stores its will.
    private func apply(_ event: (inout MQTTConnectionStateMachine) -> [MQTTConnectionStateMachine.Action]) -> [MQTTConnectionStateMachine.Action] {
        state.withLock { state in
            // The machine forgets the version once closed; the packet it closes with still needs it.
            let versionBefore = state.machine.version
            let actions = event(&state.machine)
            let version = state.machine.version ?? versionBefore ?? .v3_1_1
            var deferred: [MQTTConnectionStateMachine.Action] = []
            for action in actions {
                switch action {
                case .send(let packet):
                    write(packet, version: version, &state)
                case .close(let packet):
                    if let packet { write(packet, version: version, &state) }
                    releasePending(&state)
                    state.closed = true
                    state.timer.cancel()
                    channel.close(mode: .all, promise: nil)
                case .store(let topic, let payload, let packetIdentifier):
                    if let device = state.device { submit(topic: topic, payload: payload, packetIdentifier: packetIdentifier, device: device) }
                case .keepSession(let session, let expiry):
                    if let device = state.device {
                        let key = MQTTSessionRegistry.Key(device: device, clientIdentifier: state.clientIdentifier)
                        services.sessions.keep(session, for: key, expiry: expiry, now: .now())
                    }
                case .commandDelivered:
                    // A QoS 0 command is delivered once written; once the connection is closed, the
                    // ones after it were not written and stay pending.
                    if !state.closed { deferred.append(action) }
                case .authenticate, .fetchCommands:
                    deferred.append(action)
                }
            }
            scheduleTimer(&state)
            return deferred
        }
    }

    private func write(_ packet: MQTTPacket, version: MQTTProtocolVersion, _ state: inout State) {
        guard !state.closed else { return }
        var buffer = channel.allocator.buffer(capacity: 64)
        do {
            try packet.write(to: &buffer, version: version)
        } catch {
            services.logger.error("MQTT packet could not be encoded", metadata: ["type": "\(packet.kind)"])
            return
        }
        // A client that does not read fills the socket's buffer; past `maxPendingBytes` waiting behind
        // it, the client is dropped rather than buffered for without end.
        let size = buffer.readableBytes
        guard unwrittenBytes.add(size, ordering: .relaxed).newValue <= services.configuration.maxPendingBytes else {
            unwrittenBytes.subtract(size, ordering: .relaxed)
            services.logger.debug("MQTT client not reading; disconnecting")
            state.closed = true
            channel.close(mode: .all, promise: nil)
            return
        }
        services.metrics?.sent(packet.kind)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in self.unwrittenBytes.subtract(size, ordering: .relaxed) }
        channel.writeAndFlush(buffer, promise: written)
    }

    private func submit(topic: String, payload: ByteBuffer, packetIdentifier: UInt16?, device: DeviceIdentity) {
        let publish = DevicePublish(device: device, topic: topic, payload: payload, receivedAtMillis: Self.nowMillis())
        guard let packetIdentifier else {
            services.batcher.submit(publish, completion: nil)
            return
        }
        services.batcher.submit(publish) { result in
            switch result {
            case .success(let outcome):
                _ = self.apply { $0.stored(packetIdentifier: packetIdentifier, accepted: outcome == .stored) }
            case .failure(let error):
                // Unacknowledged, the publish is sent again when the client reconnects.
                self.services.logger.debug("MQTT publish not stored; disconnecting", metadata: ["error": "\(error)"])
                _ = self.apply { _ in [.close(sending: nil)] }
            }
        }
    }

    /// Performs actions that await the device backend. Authentication runs inline, so nothing the
    /// client sent after CONNECT is processed before CONNACK; the rest run beside the read loop.
    private func performDeferred(
        _ actions: [MQTTConnectionStateMachine.Action], group: inout ThrowingDiscardingTaskGroup<any Error>
    ) async {
        for action in actions {
            switch action {
            case .authenticate(let userName, let password):
                await authenticate(userName: userName, password: password)
            case .fetchCommands:
                wakeForCommands.yield()
            case .commandDelivered(let id):
                guard let device = state.withLock({ $0.device }) else { continue }
                group.addTask { await self.recordDelivery(id, to: device) }
            case .send, .close, .store, .keepSession:
                continue
            }
        }
    }

    private func authenticate(userName: String, password: ByteBuffer) async {
        defer { releasePending() }
        let device: DeviceIdentity?
        do {
            device = try await services.backend.authenticate(username: userName, password: password)
        } catch {
            services.logger.warning("MQTT authentication failed", metadata: ["error": "\(error)"])
            _ = apply { $0.authenticationRefused(.serverUnavailable) }
            return
        }
        guard let device else {
            _ = apply { $0.authenticationRefused(.badUserNameOrPassword) }
            return
        }
        let clientIdentifier = state.withLock { state in
            state.device = device
            return state.machine.clientIdentifier ?? ""
        }
        let key = MQTTSessionRegistry.Key(device: device, clientIdentifier: clientIdentifier.isEmpty ? device.deviceID : clientIdentifier)
        for other in services.devices.connections(of: device) where other !== self && other.clientIdentifier == key.clientIdentifier {
            other.takeOver()
        }
        let restored = services.sessions.take(key, now: .now())
        state.withLock { $0.clientIdentifier = key.clientIdentifier }
        services.devices.add(self, for: device)
        let actions = apply { machine in
            machine.authenticated(deviceID: device.deviceID, restoring: restored, now: .now())
        }
        for case .fetchCommands in actions { wakeForCommands.yield() }
    }

    /// Fetches and sends pending commands whenever woken, one fetch at a time.
    private func deliverCommands() async {
        for await _ in commandWakeups {
            guard let device = state.withLock({ $0.device }) else { continue }
            do {
                let commands = try await services.backend.pendingCommands(for: device).map {
                    MQTTOutboundCommand(id: $0.id, topic: $0.topic, payload: $0.payload)
                }
                for case .commandDelivered(let id) in apply({ $0.deliver(commands) }) { await recordDelivery(id, to: device) }
            } catch {
                services.logger.warning("MQTT pending commands not read", metadata: ["error": "\(error)"])
            }
        }
    }

    private func recordDelivery(_ id: String, to device: DeviceIdentity) async {
        do {
            try await services.backend.commandDelivered(id: id, to: device)
        } catch {
            // The command stays pending and is sent again on the next fetch: at least once.
            services.logger.warning("MQTT command delivery not recorded", metadata: ["error": "\(error)", "command": "\(id)"])
        }
    }

    // MARK: - Timers

    private func scheduleTimer(_ state: inout State) {
        guard !state.closed, let deadline = state.machine.nextDeadline else { return }
        state.timer.arm(for: deadline, on: channel.eventLoop) { [self] in
            self.state.withLock { $0.timer.fired() }
            _ = apply { $0.timerFired(now: .now()) }
        }
    }

    private static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
