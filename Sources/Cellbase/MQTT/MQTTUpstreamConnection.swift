import CellbaseMQTT
import FoundationEssentials
import Logging
import NIOCore
import Synchronization

/// One connection to the upstream broker: it owns an ``MQTTUpstreamStateMachine`` and performs its
/// actions. Packets arrive from the read loop; storage outcomes, timers, fetched commands and the
/// node's shutdown arrive from elsewhere, so the machine sits behind a lock and the packets an event
/// produces are written while it is held, in the order the machine emitted them.
final class MQTTUpstreamConnection: Sendable {
    struct Services: Sendable {
        var backend: any DeviceBackend
        var batcher: MQTTPublishBatcher
        var projectRef: String
        var metrics: MQTTUpstreamMetrics?
        var logger: Logger
        /// Called once the subscription is granted, so that waiting commands are fetched.
        var subscribed: @Sendable () -> Void
    }

    private struct State {
        var machine: MQTTUpstreamStateMachine
        var timer = MachineTimer()
        var closed = false
        var subscribed = false
        var error: MQTTUpstreamError?
    }

    /// How a connection ended.
    struct Outcome: Sendable {
        /// Whether the broker granted the subscription before the connection ended.
        var subscribed: Bool
        /// Why the broker side ended it; `nil` when the socket simply closed or the node shut down.
        var error: MQTTUpstreamError?
        /// Commands the broker did not acknowledge, for the next connection.
        var unacknowledgedCommands: [MQTTUpstreamCommand]
    }

    private let channel: any Channel
    private let services: Services
    private let state: Mutex<State>
    private let deliveries: AsyncStream<MQTTUpstreamCommand>
    private let deliver: AsyncStream<MQTTUpstreamCommand>.Continuation

    init(channel: any Channel, machine: MQTTUpstreamStateMachine, services: Services) {
        self.channel = channel
        self.services = services
        self.state = Mutex(State(machine: machine))
        // One entry per command in flight, which the broker's receive maximum and the command queue bound.
        (deliveries, deliver) = AsyncStream.makeStream()
    }

    /// Runs the connection until the broker or the node ends it.
    func run(_ asyncChannel: NIOAsyncChannel<MQTTPacket, ByteBuffer>) async -> Outcome {
        do {
            try await asyncChannel.executeThenClose { inbound, _ in
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await self.recordDeliveries() }
                    apply { $0.connected(now: .now()) }
                    do {
                        for try await packet in inbound {
                            apply { $0.received(packet, now: .now()) }
                            if isClosed { break }
                        }
                    } catch let error as MQTTProtocolError {
                        services.logger.warning("MQTT upstream sent a malformed packet", metadata: ["error": "\(error)"])
                        apply { $0.received(error) }
                    }
                    deliver.finish()
                }
            }
        } catch {
            services.logger.debug("MQTT upstream connection ended", metadata: ["error": "\(error)"])
        }
        deliver.finish()
        return state.withLock { state in
            state.machine.connectionClosed()
            state.closed = true
            state.timer.cancel()
            return Outcome(subscribed: state.subscribed, error: state.error, unacknowledgedCommands: state.machine.unacknowledgedCommands)
        }
    }

    /// Commands fetched for the project's devices.
    func publish(_ commands: [MQTTUpstreamCommand]) {
        apply { $0.publish(commands, now: .now()) }
    }

    /// The node is stopping: DISCONNECT normally, keeping the session at the broker.
    func shutdown() {
        apply { $0.shutdown() }
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: - Performing actions

    private func apply(_ event: (inout MQTTUpstreamStateMachine) -> [MQTTUpstreamStateMachine.Action]) {
        var becameSubscribed = false
        state.withLock { state in
            for action in event(&state.machine) {
                switch action {
                case .send(let packet):
                    write(packet, &state)
                case .store(let deviceID, let topic, let payload, let packetIdentifier):
                    services.metrics?.messageReceived()
                    submit(deviceID: deviceID, topic: topic, payload: payload, packetIdentifier: packetIdentifier)
                case .discard(let topic):
                    services.metrics?.messageReceived()
                    services.metrics?.messageRejected()
                    services.logger.debug("MQTT upstream publish names no device", metadata: ["topic": "\(topic)"])
                case .fetchCommands:
                    state.subscribed = true
                    becameSubscribed = true
                case .commandDelivered(let command):
                    deliver.yield(command)
                case .commandRefused(let command, let reasonCode):
                    services.logger.warning("MQTT upstream refused a command", metadata: ["command": "\(command.id)", "reason_code": "\(reasonCode)"])
                case .close(let packet, let error):
                    if let packet { write(packet, &state) }
                    if let error {
                        state.error = error
                        services.logger.warning("MQTT upstream connection closed", metadata: ["error": "\(error)"])
                    }
                    state.closed = true
                    state.timer.cancel()
                    channel.close(mode: .all, promise: nil)
                }
            }
            scheduleTimer(&state)
        }
        if becameSubscribed {
            services.metrics?.setConnected(true)
            services.subscribed()
        }
    }

    private func write(_ packet: MQTTPacket, _ state: inout State) {
        guard !state.closed else { return }
        var buffer = channel.allocator.buffer(capacity: 64)
        do {
            try packet.write(to: &buffer, version: .v5)
        } catch {
            services.logger.error("MQTT packet could not be encoded", metadata: ["type": "\(packet.kind)"])
            return
        }
        if case .pubAck = packet { services.metrics?.messageAcknowledged() }
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func submit(deviceID: String, topic: String, payload: ByteBuffer, packetIdentifier: UInt16?) {
        let publish = DevicePublish(
            device: DeviceIdentity(projectRef: services.projectRef, deviceID: deviceID), topic: topic, payload: payload,
            receivedAtMillis: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        )
        let metrics = services.metrics
        services.batcher.submit(publish) { result in
            switch result {
            case .success(let outcome):
                if outcome == .stored { metrics?.messageStored() } else { metrics?.messageRejected() }
                if let packetIdentifier { self.apply { $0.stored(packetIdentifier: packetIdentifier, accepted: outcome == .stored, now: .now()) } }
            case .failure:
                // Nothing is acknowledged: the broker sends the publish again, to this node once it
                // reconnects or to another of the group. The batcher has logged the error.
                if packetIdentifier != nil { self.apply { _ in [.close(sending: nil, error: nil)] } }
            }
        }
    }

    /// Records, one at a time, the commands the broker accepted.
    private func recordDeliveries() async {
        for await command in deliveries {
            do {
                try await services.backend.commandDelivered(id: command.id, to: DeviceIdentity(projectRef: services.projectRef, deviceID: command.deviceID))
                services.metrics?.commandDelivered()
            } catch {
                // The command stays pending and goes out again on a later fetch: at least once.
                services.logger.warning("MQTT command delivery not recorded", metadata: ["error": "\(error)", "command": "\(command.id)"])
            }
        }
    }

    // MARK: - Timers

    private func scheduleTimer(_ state: inout State) {
        guard !state.closed, let deadline = state.machine.nextDeadline else { return }
        state.timer.arm(for: deadline, on: channel.eventLoop) { [self] in
            self.state.withLock { $0.timer.fired() }
            apply { $0.timerFired(now: .now()) }
        }
    }
}
