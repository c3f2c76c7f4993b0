import CellbaseMQTT
import CellbaseSQL
import NIOCore

/// Why a connection to the upstream broker ended other than by the node's own shutdown.
struct MQTTUpstreamError: Error, Hashable, Sendable, CustomStringConvertible {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        let description: String
        private init(_ description: String) { self.description = description }

        /// CONNACK with a failure reason code (bad credentials, not authorized, server busy…).
        static let connectionRefused = Code("connection_refused")
        /// SUBACK refused the shared subscription, or granted less than QoS 1.
        static let subscriptionRefused = Code("subscription_refused")
        /// The broker cannot serve this client: no shared subscriptions, or no QoS 1.
        static let brokerUnsuitable = Code("broker_unsuitable")
        /// The broker sent something the protocol does not allow.
        static let protocolViolation = Code("protocol_violation")
        /// No CONNACK, or no PINGRESP, within the keep-alive.
        static let timeout = Code("timeout")
        /// The broker sent DISCONNECT.
        static let disconnected = Code("disconnected")
    }

    var code: Code
    var reasonCode: MQTTReasonCode

    var description: String { "MQTT upstream \(code) (reason code \(reasonCode))" }
}

/// A command on its way to a device through the broker.
struct MQTTUpstreamCommand: Hashable, Sendable {
    var id: String
    var deviceID: String
    var topic: String
    var payload: ByteBuffer
}

/// The client side of one connection to the upstream broker, without I/O: packets and outcomes in,
/// actions out. The owner performs the actions in order.
///
/// Inbound, it maps `devices/{id}/telemetry[/...]` publishes to devices, holds the broker to our
/// Receive Maximum, and answers each QoS 1 publish only once its storage outcome is known. Outbound,
/// it publishes commands within the broker's Receive Maximum and reports each one the broker accepts.
/// Commands in flight when a connection ends are carried into the next one (``unacknowledgedCommands``).
struct MQTTUpstreamStateMachine {
    struct Settings: Hashable, Sendable {
        var clientIdentifier: String
        var userName: String?
        var password: ByteBuffer?
        var topicFilter: String
        var keepAlive: UInt16
        var sessionExpiry: UInt32
        var receiveMaximum: UInt16
        var maximumPacketSize: Int
        var maxQueuedCommands: Int
    }

    enum Action: Hashable, Sendable {
        case send(MQTTPacket)
        /// Store a telemetry publish of `deviceID`, then report it with ``stored(packetIdentifier:accepted:)`` (QoS 1).
        case store(deviceID: String, topic: String, payload: ByteBuffer, packetIdentifier: UInt16?)
        /// A publish on a topic that names no valid device: acknowledged (QoS 1) and dropped.
        case discard(topic: String)
        /// Subscribed: fetch the commands waiting for devices.
        case fetchCommands
        /// The broker accepted a command: it is delivered as far as the node is concerned.
        case commandDelivered(MQTTUpstreamCommand)
        /// The broker refused a command; it stays pending and is published again on a later fetch.
        case commandRefused(MQTTUpstreamCommand, MQTTReasonCode)
        /// Close the socket, after sending the packet if any; `error` is `nil` for the node's own shutdown.
        case close(sending: MQTTPacket?, error: MQTTUpstreamError?)
    }

    private enum State: Hashable {
        case idle
        case awaitingConnAck(deadline: NIODeadline)
        case awaitingSubAck(packetIdentifier: UInt16)
        case subscribed
        case closed
    }

    private let settings: Settings
    private var state = State.idle
    /// When a packet was last sent, and when an unanswered PINGREQ went out.
    private var lastSentAt: NIODeadline
    private var pingSentAt: NIODeadline?
    private var keepAlive: TimeAmount
    /// QoS 1 publishes from the broker not yet acknowledged by us.
    private var inboundUnacknowledged: Set<UInt16> = []
    /// Our QoS 1 publishes the broker has not acknowledged, in the order sent, and those waiting for room.
    private var inflight: [(packetIdentifier: UInt16, command: MQTTUpstreamCommand)] = []
    private var queued: [MQTTUpstreamCommand] = []
    private var nextPacketIdentifier: UInt16 = 1
    private var brokerReceiveMaximum = Int(UInt16.max)
    private var brokerMaximumPacketSize = Int.max

    /// - Parameter carried: commands the previous connection published and the broker did not acknowledge.
    init(settings: Settings, carrying carried: [MQTTUpstreamCommand] = [], now: NIODeadline) {
        self.settings = settings
        self.lastSentAt = now
        self.keepAlive = .seconds(Int64(settings.keepAlive))
        self.queued = carried
    }

    /// The commands not yet accepted by the broker, for the next connection.
    var unacknowledgedCommands: [MQTTUpstreamCommand] { inflight.map(\.command) + queued }

    /// When ``timerFired(now:)`` should next run: the CONNACK deadline, the next ping, or the ping's answer.
    var nextDeadline: NIODeadline? {
        switch state {
        case .idle, .closed: return nil
        case .awaitingConnAck(let deadline): return deadline
        case .awaitingSubAck, .subscribed:
            guard keepAlive > .zero else { return nil }
            return (pingSentAt ?? lastSentAt) + keepAlive
        }
    }

    // MARK: - Events

    /// The socket is open: send CONNECT with clean start off, so the broker keeps the session.
    mutating func connected(now: NIODeadline) -> [Action] {
        guard case .idle = state else { return [] }
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = settings.sessionExpiry
        properties.receiveMaximum = settings.receiveMaximum
        properties.maximumPacketSize = UInt32(clamping: settings.maximumPacketSize)
        let connect = MQTTConnect(
            version: .v5, cleanStart: false, keepAlive: settings.keepAlive, clientIdentifier: settings.clientIdentifier,
            userName: settings.userName, password: settings.password, properties: properties
        )
        // The broker gets one keep-alive (at least ten seconds) to answer.
        state = .awaitingConnAck(deadline: now + max(keepAlive, .seconds(10)))
        return [send(.connect(connect), now: now)]
    }

    mutating func received(_ packet: MQTTPacket, now: NIODeadline) -> [Action] {
        switch (state, packet) {
        case (.idle, _), (.closed, _):
            return []
        case (.awaitingConnAck, .connAck(let connAck)):
            return connAckReceived(connAck, now: now)
        case (.awaitingConnAck, .disconnect(let disconnect)), (.awaitingSubAck, .disconnect(let disconnect)), (.subscribed, .disconnect(let disconnect)):
            return close(MQTTUpstreamError(code: .disconnected, reasonCode: disconnect.reasonCode), sending: nil)
        case (.awaitingConnAck, _):
            return protocolViolation(.protocolError)
        case (.awaitingSubAck(let identifier), .subAck(let subAck)):
            guard subAck.packetIdentifier == identifier, subAck.reasonCodes.count == 1 else { return protocolViolation(.protocolError) }
            guard subAck.reasonCodes[0] == .grantedQoS1 else {
                return close(MQTTUpstreamError(code: .subscriptionRefused, reasonCode: subAck.reasonCodes[0]), sending: nil)
            }
            state = .subscribed
            return [.fetchCommands]
        case (.awaitingSubAck, .publish(let publish)), (.subscribed, .publish(let publish)):
            return publishReceived(publish)
        case (.awaitingSubAck, .pubAck(let ack)), (.subscribed, .pubAck(let ack)):
            return pubAckReceived(ack, now: now)
        case (.awaitingSubAck, .pingResp), (.subscribed, .pingResp):
            pingSentAt = nil
            return []
        case (.awaitingSubAck, _), (.subscribed, _):
            return protocolViolation(.protocolError)
        }
    }

    /// The parser refused the broker's bytes.
    mutating func received(_ error: MQTTProtocolError) -> [Action] {
        protocolViolation(error.reasonCode)
    }

    /// The storage outcome of a QoS 1 publish: acknowledged either way, since sending a payload that
    /// cannot be stored again would not change it.
    mutating func stored(packetIdentifier: UInt16, accepted: Bool, now: NIODeadline) -> [Action] {
        guard state != .closed, inboundUnacknowledged.remove(packetIdentifier) != nil else { return [] }
        let ack = MQTTAcknowledgement(packetIdentifier: packetIdentifier, reasonCode: accepted ? .success : .payloadFormatInvalid)
        return [send(.pubAck(ack), now: now)]
    }

    /// Commands fetched for devices: those not already on their way are published as the broker's
    /// Receive Maximum allows, the rest wait; past `maxQueuedCommands` they stay in storage for a later fetch.
    mutating func publish(_ commands: [MQTTUpstreamCommand], now: NIODeadline) -> [Action] {
        guard state != .closed else { return [] }
        var known = Set(inflight.map(\.command.id))
        known.formUnion(queued.map(\.id))
        for command in commands where !known.contains(command.id) && queued.count < settings.maxQueuedCommands {
            known.insert(command.id)
            queued.append(command)
        }
        guard case .subscribed = state else { return [] }
        return sendQueued(now: now)
    }

    /// Keep-alive: ping when nothing was sent for a keep-alive, give up when a ping (or the CONNACK) is not answered in one.
    mutating func timerFired(now: NIODeadline) -> [Action] {
        guard let deadline = nextDeadline, deadline <= now else { return [] }
        switch state {
        case .awaitingConnAck:
            return close(MQTTUpstreamError(code: .timeout, reasonCode: .keepAliveTimeout), sending: nil)
        case .awaitingSubAck, .subscribed:
            if pingSentAt != nil { return close(MQTTUpstreamError(code: .timeout, reasonCode: .keepAliveTimeout), sending: nil) }
            pingSentAt = now
            return [send(.pingReq, now: now)]
        case .idle, .closed:
            return []
        }
    }

    /// The node is shutting down: a normal DISCONNECT, keeping the session for the next start.
    mutating func shutdown() -> [Action] {
        switch state {
        case .idle:
            state = .closed
            return [.close(sending: nil, error: nil)]
        case .awaitingConnAck:
            state = .closed
            return [.close(sending: nil, error: nil)]
        case .awaitingSubAck, .subscribed:
            state = .closed
            return [.close(sending: .disconnect(MQTTDisconnect()), error: nil)]
        case .closed:
            return []
        }
    }

    /// The socket closed; nothing more is sent on it.
    mutating func connectionClosed() {
        state = .closed
    }

    // MARK: - Packets

    private mutating func connAckReceived(_ connAck: MQTTConnAck, now: NIODeadline) -> [Action] {
        guard connAck.reasonCode == .success else {
            return close(MQTTUpstreamError(code: .connectionRefused, reasonCode: connAck.reasonCode), sending: nil)
        }
        let properties = connAck.properties
        if properties.maximumQoS == 0 {
            return close(MQTTUpstreamError(code: .brokerUnsuitable, reasonCode: .qosNotSupported), sending: .disconnect(MQTTDisconnect(reasonCode: .qosNotSupported)))
        }
        if properties.sharedSubscriptionAvailable == 0 {
            return close(
                MQTTUpstreamError(code: .brokerUnsuitable, reasonCode: .sharedSubscriptionsNotSupported),
                sending: .disconnect(MQTTDisconnect(reasonCode: .sharedSubscriptionsNotSupported))
            )
        }
        if let receiveMaximum = properties.receiveMaximum { brokerReceiveMaximum = Int(receiveMaximum) }
        if let maximumPacketSize = properties.maximumPacketSize { brokerMaximumPacketSize = Int(maximumPacketSize) }
        if let serverKeepAlive = properties.serverKeepAlive { keepAlive = .seconds(Int64(serverKeepAlive)) }

        let identifier = allocatePacketIdentifier()
        state = .awaitingSubAck(packetIdentifier: identifier)
        var actions = [send(.subscribe(MQTTSubscribe(
            packetIdentifier: identifier, subscriptions: [MQTTSubscription(topicFilter: settings.topicFilter, qos: .atLeastOnce)]
        )), now: now)]
        // Commands the previous connection left unacknowledged go out again; a resumed session keeps
        // their packet identifiers and marks them duplicates (MQTT 5 §4.4).
        let carried = queued
        queued = []
        for command in carried {
            guard inflight.count < brokerReceiveMaximum else {
                queued.append(command)
                continue
            }
            actions.append(contentsOf: sendCommand(command, duplicate: connAck.sessionPresent, now: now))
        }
        return actions
    }

    private mutating func publishReceived(_ publish: MQTTPublish) -> [Action] {
        // We subscribe at QoS 1 and allow no topic aliases, so the broker may send neither QoS 2 nor an alias.
        guard publish.qos != .exactlyOnce, publish.properties.topicAlias == nil, MQTTTopic.isValidName(publish.topic) else {
            return protocolViolation(.protocolError)
        }
        if let identifier = publish.packetIdentifier {
            guard !inboundUnacknowledged.contains(identifier) else { return protocolViolation(.packetIdentifierInUse) }
            guard inboundUnacknowledged.count < Int(settings.receiveMaximum) else { return protocolViolation(.receiveMaximumExceeded) }
        }
        guard let deviceID = Self.deviceID(inTelemetryTopic: publish.topic) else {
            var actions: [Action] = [.discard(topic: publish.topic)]
            if let identifier = publish.packetIdentifier {
                actions.append(.send(.pubAck(MQTTAcknowledgement(packetIdentifier: identifier, reasonCode: .topicNameInvalid))))
            }
            return actions
        }
        if let identifier = publish.packetIdentifier { inboundUnacknowledged.insert(identifier) }
        return [.store(deviceID: deviceID, topic: publish.topic, payload: publish.payload, packetIdentifier: publish.packetIdentifier)]
    }

    private mutating func pubAckReceived(_ ack: MQTTAcknowledgement, now: NIODeadline) -> [Action] {
        guard let index = inflight.firstIndex(where: { $0.packetIdentifier == ack.packetIdentifier }) else {
            return protocolViolation(.packetIdentifierNotFound)
        }
        let command = inflight.remove(at: index).command
        var actions: [Action] = [ack.reasonCode.rawValue < 0x80 ? .commandDelivered(command) : .commandRefused(command, ack.reasonCode)]
        if case .subscribed = state { actions += sendQueued(now: now) }
        return actions
    }

    // MARK: - Helpers

    private mutating func sendQueued(now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        while inflight.count < brokerReceiveMaximum, !queued.isEmpty {
            actions += sendCommand(queued.removeFirst(), duplicate: false, now: now)
        }
        return actions
    }

    private mutating func sendCommand(_ command: MQTTUpstreamCommand, duplicate: Bool, now: NIODeadline) -> [Action] {
        // A command too large for the broker could never be accepted: refused here, it stays pending.
        guard 16 + command.topic.utf8.count + command.payload.readableBytes <= brokerMaximumPacketSize else {
            return [.commandRefused(command, .packetTooLarge)]
        }
        let identifier = allocatePacketIdentifier()
        inflight.append((identifier, command))
        let publish = MQTTPublish(topic: command.topic, payload: command.payload, qos: .atLeastOnce, duplicate: duplicate, packetIdentifier: identifier)
        return [send(.publish(publish), now: now)]
    }

    /// The next identifier not used by a command in flight (the subscription's is answered before any is).
    private mutating func allocatePacketIdentifier() -> UInt16 {
        let used = Set(inflight.map(\.packetIdentifier))
        while true {
            let identifier = nextPacketIdentifier
            nextPacketIdentifier = nextPacketIdentifier == .max ? 1 : nextPacketIdentifier + 1
            if !used.contains(identifier) { return identifier }
        }
    }

    private mutating func send(_ packet: MQTTPacket, now: NIODeadline) -> Action {
        lastSentAt = now
        return .send(packet)
    }

    private mutating func protocolViolation(_ reasonCode: MQTTReasonCode) -> [Action] {
        close(MQTTUpstreamError(code: .protocolViolation, reasonCode: reasonCode), sending: .disconnect(MQTTDisconnect(reasonCode: reasonCode)))
    }

    private mutating func close(_ error: MQTTUpstreamError, sending packet: MQTTPacket?) -> [Action] {
        state = .closed
        return [.close(sending: packet, error: error)]
    }

    /// The device a telemetry topic names: `devices/{id}/telemetry` or a topic under it, with a valid device id.
    static func deviceID(inTelemetryTopic topic: String) -> String? {
        let levels = topic.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard levels.count >= 3, levels[0] == "devices", levels[2] == "telemetry" else { return nil }
        let id = String(levels[1])
        return DeviceID.isValid(id) ? id : nil
    }
}
