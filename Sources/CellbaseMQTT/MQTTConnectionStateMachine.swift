import NIOCore

/// What the server holds for a client between connections when its session outlives the connection
/// (3.1.1 Clean Session 0, 5.0 Session Expiry Interval > 0). Commands waiting for the client are
/// kept by the device backend, not here.
public struct MQTTSessionState: Hashable, Sendable {
    /// Topic filter → granted QoS.
    public var subscriptions: [String: MQTTQoS]

    public init(subscriptions: [String: MQTTQoS] = [:]) {
        self.subscriptions = subscriptions
    }
}

/// A server-to-client message the device backend holds for a device.
public struct MQTTOutboundCommand: Hashable, Sendable {
    public var id: String
    public var topic: String
    public var payload: ByteBuffer

    public init(id: String, topic: String, payload: ByteBuffer) {
        self.id = id
        self.topic = topic
        self.payload = payload
    }
}

/// Limits the server announces (5.0 CONNACK) and enforces on every connection.
public struct MQTTServerLimits: Hashable, Sendable {
    /// The largest packet accepted from a client, fixed header included.
    public var maximumPacketSize: Int
    /// How many client-to-server topic aliases a connection may define.
    public var topicAliasMaximum: UInt16
    /// How many QoS 1 publishes a client may have unacknowledged (awaiting storage) at once.
    public var receiveMaximum: UInt16
    /// How many commands the server sends before it waits for their PUBACKs, when the client does not say (3.1.1).
    public var outboundInflightMaximum: UInt16
    /// The longest session expiry granted, in seconds; a 3.1.1 persistent session gets this.
    public var maximumSessionExpiry: UInt32
    /// A keep-alive over this (or none at all) is lowered to it on 5.0 through Server Keep Alive, in seconds.
    public var maximumKeepAlive: UInt16
    /// How long a new connection may take to send its CONNECT.
    public var connectTimeout: TimeAmount

    public init(
        maximumPacketSize: Int = 1_048_576, topicAliasMaximum: UInt16 = 16, receiveMaximum: UInt16 = 64,
        outboundInflightMaximum: UInt16 = 16, maximumSessionExpiry: UInt32 = 86_400, maximumKeepAlive: UInt16 = 3600,
        connectTimeout: TimeAmount = .seconds(10)
    ) {
        self.maximumPacketSize = maximumPacketSize
        self.topicAliasMaximum = topicAliasMaximum
        self.receiveMaximum = receiveMaximum
        self.outboundInflightMaximum = outboundInflightMaximum
        self.maximumSessionExpiry = maximumSessionExpiry
        self.maximumKeepAlive = maximumKeepAlive
        self.connectTimeout = connectTimeout
    }
}

/// The server side of one MQTT connection as a value-type state machine: packets and events in, actions
/// out, no I/O. Its owner performs the actions (write, close, authenticate, store, fetch commands) and
/// reports their results back.
///
/// The owner feeds packets one at a time and does not feed any while an `.authenticate` is outstanding,
/// which is how "the server processes nothing after CONNECT until it has sent CONNACK" holds.
public struct MQTTConnectionStateMachine: Sendable {
    public enum Action: Hashable, Sendable {
        /// Write the packet.
        case send(MQTTPacket)
        /// Write the packet, if any, then close the connection. Nothing follows it.
        case close(sending: MQTTPacket?)
        /// Check the CONNECT's credentials and answer with `authenticated` or `authenticationRefused`.
        case authenticate(userName: String, password: ByteBuffer)
        /// Durably store a telemetry publish; for QoS 1 (`packetIdentifier` set) report back with `stored`.
        case store(topic: String, payload: ByteBuffer, packetIdentifier: UInt16?)
        /// Load the commands pending for the device and hand them to `deliver`.
        case fetchCommands
        /// The client acknowledged the command (or received it at QoS 0): mark it delivered.
        case commandDelivered(id: String)
        /// Keep the session for a reconnect within `expiry` seconds.
        case keepSession(MQTTSessionState, expiry: UInt32)
    }

    private enum State: Sendable {
        case awaitingConnect(deadline: NIODeadline)
        case authenticating(MQTTConnect)
        case connected(Connected)
        case closed
    }

    private struct Connected: Sendable {
        var connect: MQTTConnect
        var topics: MQTTDeviceTopics
        var session: MQTTSessionState
        var sessionExpiry: UInt32
        var keepAlive: TimeAmount?
        var lastPacketAt: NIODeadline
        var topicAliases: [UInt16: String] = [:]
        /// QoS 1 publishes from the client in arrival order, each awaiting its storage outcome:
        /// PUBACKs go out in this order (MQTT 5 §4.6).
        var pendingAcknowledgements: [(packetIdentifier: UInt16, reasonCode: MQTTReasonCode?)] = []
        /// Packet identifier → command id of commands sent and not yet acknowledged.
        var inflightCommands: [UInt16: String] = [:]
        /// Commands acknowledged on this connection whose delivery the backend may not have recorded yet,
        /// so a fetch that still lists them does not send them twice.
        var acknowledgedCommands: Set<String> = []
        var nextPacketIdentifier: UInt16 = 1
        /// A fetch found more commands than the inflight window held.
        var commandsWaiting = false
        var outboundInflightMaximum: Int
        var clientMaximumPacketSize: Int
    }

    public let limits: MQTTServerLimits
    private var state: State

    public init(limits: MQTTServerLimits, now: NIODeadline) {
        self.limits = limits
        self.state = .awaitingConnect(deadline: now + limits.connectTimeout)
    }

    /// The protocol version of the connection, once its CONNECT has arrived.
    public var version: MQTTProtocolVersion? {
        switch state {
        case .awaitingConnect, .closed: nil
        case .authenticating(let connect): connect.version
        case .connected(let connected): connected.connect.version
        }
    }

    /// The Client Identifier of the CONNECT being served (empty when the client left it to the server).
    public var clientIdentifier: String? {
        switch state {
        case .awaitingConnect, .closed: nil
        case .authenticating(let connect): connect.clientIdentifier
        case .connected(let connected): connected.connect.clientIdentifier
        }
    }

    /// When `timerFired` should next be called: the connect timeout, then the keep-alive deadline
    /// (1.5 × the keep-alive after the last packet, MQTT §3.1.2.10).
    public var nextDeadline: NIODeadline? {
        switch state {
        case .awaitingConnect(let deadline): deadline
        case .connected(let connected):
            connected.keepAlive.map { connected.lastPacketAt + .nanoseconds($0.nanoseconds * 3 / 2) }
        case .authenticating, .closed: nil
        }
    }

    // MARK: - Events

    /// A packet from the client; its arrival restarts the keep-alive interval.
    public mutating func received(_ packet: MQTTPacket, now: NIODeadline) -> [Action] {
        switch state {
        case .awaitingConnect:
            guard case .connect(let connect) = packet else { return close(sending: nil) }
            return receivedConnect(connect)
        case .authenticating:
            return close(sending: nil)
        case .closed:
            return []
        case .connected(var connected):
            connected.lastPacketAt = now
            let actions = receivedWhileConnected(packet, &connected)
            if case .closed = state { return actions }
            state = .connected(connected)
            return actions
        }
    }

    /// The decoder refused what the client sent.
    public mutating func received(_ error: MQTTProtocolError) -> [Action] {
        switch state {
        case .awaitingConnect where error.reasonCode == .unsupportedProtocolVersion:
            // 3.1.1 §3.1.2.2 answers an unknown level with return code 1; the 3.1.1 CONNACK shape is the one every client reads.
            return close(sending: .connAck(MQTTConnAck(reasonCode: .unsupportedProtocolVersion)))
        case .connected(let connected):
            return protocolViolation(error, connected)
        case .awaitingConnect, .authenticating, .closed:
            return close(sending: nil)
        }
    }

    /// The CONNECT's credentials name device `deviceID`; `stored` is the session its client identifier
    /// left, if one is still kept (it is dropped when the client asked for a clean start).
    public mutating func authenticated(deviceID: String, restoring stored: MQTTSessionState?, now: NIODeadline) -> [Action] {
        guard case .authenticating(let connect) = state else { return [] }
        let v5 = connect.version == .v5
        let requestedExpiry = v5 ? connect.properties.sessionExpiryInterval ?? 0 : (connect.cleanStart ? 0 : UInt32.max)
        let expiry = min(requestedExpiry, limits.maximumSessionExpiry)
        let restored = connect.cleanStart ? nil : stored
        var properties = MQTTProperties()
        var keepAlive = connect.keepAlive
        if v5 {
            properties.maximumQoS = 1
            properties.maximumPacketSize = UInt32(limits.maximumPacketSize)
            properties.topicAliasMaximum = limits.topicAliasMaximum
            properties.receiveMaximum = limits.receiveMaximum
            properties.sharedSubscriptionAvailable = 0
            properties.subscriptionIdentifierAvailable = 0
            if expiry != requestedExpiry { properties.sessionExpiryInterval = expiry }
            if connect.clientIdentifier.isEmpty { properties.assignedClientIdentifier = deviceID }
            if keepAlive == 0 || keepAlive > limits.maximumKeepAlive {
                keepAlive = limits.maximumKeepAlive
                properties.serverKeepAlive = keepAlive
            }
        }
        let clientReceiveMaximum = Int(connect.properties.receiveMaximum ?? UInt16.max)
        state = .connected(Connected(
            connect: connect, topics: MQTTDeviceTopics(deviceID: deviceID), session: restored ?? MQTTSessionState(), sessionExpiry: expiry,
            keepAlive: keepAlive == 0 ? nil : .seconds(Int64(keepAlive)), lastPacketAt: now,
            outboundInflightMaximum: min(clientReceiveMaximum, Int(limits.outboundInflightMaximum)),
            clientMaximumPacketSize: Int(connect.properties.maximumPacketSize ?? UInt32(MQTTLimits.maximumPacketSize))
        ))
        var actions: [Action] = [.send(.connAck(MQTTConnAck(sessionPresent: restored != nil, properties: properties)))]
        if let restored, !restored.subscriptions.isEmpty { actions.append(.fetchCommands) }
        return actions
    }

    /// The credentials were wrong (`.badUserNameOrPassword`), the device may not connect
    /// (`.notAuthorized`) or the backend failed (`.serverUnavailable`).
    public mutating func authenticationRefused(_ reasonCode: MQTTReasonCode) -> [Action] {
        guard case .authenticating = state else { return [] }
        return close(sending: .connAck(MQTTConnAck(reasonCode: reasonCode)))
    }

    /// The backend stored (`accepted`) or refused a QoS 1 publish handed out with `.store`.
    public mutating func stored(packetIdentifier: UInt16, accepted: Bool) -> [Action] {
        guard case .connected(var connected) = state,
            let index = connected.pendingAcknowledgements.firstIndex(where: { $0.packetIdentifier == packetIdentifier && $0.reasonCode == nil })
        else { return [] }
        // 3.1.1 has no negative PUBACK: a refused payload is acknowledged and dropped.
        let refusal: MQTTReasonCode = connected.connect.version == .v5 ? .payloadFormatInvalid : .success
        connected.pendingAcknowledgements[index].reasonCode = accepted ? .success : refusal
        let actions = Self.sendDecidedAcknowledgements(&connected)
        state = .connected(connected)
        return actions
    }

    /// Commands pending for the device, as the backend listed them after a `.fetchCommands`. Those the
    /// client subscribed to are sent, as many as its inflight window allows.
    public mutating func deliver(_ commands: [MQTTOutboundCommand]) -> [Action] {
        guard case .connected(var connected) = state else { return [] }
        let listed = Set(commands.map(\.id))
        connected.acknowledgedCommands.formIntersection(listed)
        let inflight = Set(connected.inflightCommands.values)
        connected.commandsWaiting = false
        var actions: [Action] = []
        for command in commands where !inflight.contains(command.id) && !connected.acknowledgedCommands.contains(command.id) {
            guard let qos = grantedQoS(for: command.topic, in: connected.session) else { continue }
            if qos == .atLeastOnce && connected.inflightCommands.count >= connected.outboundInflightMaximum {
                connected.commandsWaiting = true
                break
            }
            // The identifier's value does not change the size, so the check can run before one is allocated.
            var publish = MQTTPublish(topic: command.topic, payload: command.payload, qos: qos, packetIdentifier: qos == .atLeastOnce ? 1 : nil)
            // A packet over the client's Maximum Packet Size must not be sent (MQTT 5 §3.1.2.11.4); it waits until it expires.
            guard Self.encodedSize(.publish(publish), connected.connect.version) <= connected.clientMaximumPacketSize else { continue }
            if qos == .atLeastOnce { publish.packetIdentifier = Self.freePacketIdentifier(&connected) }
            if let identifier = publish.packetIdentifier {
                connected.inflightCommands[identifier] = command.id
            } else {
                connected.acknowledgedCommands.insert(command.id)
            }
            actions.append(.send(.publish(publish)))
            if qos == .atMostOnce { actions.append(.commandDelivered(id: command.id)) }
        }
        state = .connected(connected)
        return actions
    }

    /// The connect timeout or keep-alive deadline may have passed.
    public mutating func timerFired(now: NIODeadline) -> [Action] {
        guard let deadline = nextDeadline, now >= deadline else { return [] }
        if case .connected(let connected) = state, connected.connect.version == .v5 {
            return closeAbnormally(sending: .disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)))
        }
        return closeAbnormally(sending: nil)
    }

    /// Another connection authenticated with the same client identifier: this one is closed (5.0 says
    /// why with DISCONNECT 0x8E), its will is stored and its session handed on (MQTT §3.1.4).
    public mutating func takenOver() -> [Action] {
        guard case .connected(let connected) = state else { return [] }
        return closeAbnormally(sending: connected.connect.version == .v5 ? .disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver)) : nil)
    }

    /// The network connection ended without a DISCONNECT from the client (or the server closed it):
    /// the will is stored, and the session kept if it outlives the connection.
    public mutating func connectionClosed() -> [Action] {
        closeAbnormally(sending: nil).filter { if case .close = $0 { false } else { true } }
    }

    // MARK: - Packets

    private mutating func receivedConnect(_ connect: MQTTConnect) -> [Action] {
        let v5 = connect.version == .v5
        func refuse(_ reasonCode: MQTTReasonCode) -> [Action] {
            close(sending: .connAck(MQTTConnAck(reasonCode: reasonCode)))
        }
        if connect.clientIdentifier.isEmpty && !connect.cleanStart && !v5 { return refuse(.clientIdentifierNotValid) }
        if connect.properties.authenticationMethod != nil { return refuse(.badAuthenticationMethod) }
        if v5, let will = connect.will, will.qos == .exactlyOnce { return refuse(.qosNotSupported) }
        guard let userName = connect.userName, let password = connect.password else { return refuse(.badUserNameOrPassword) }
        state = .authenticating(connect)
        return [.authenticate(userName: userName, password: password)]
    }

    private mutating func receivedWhileConnected(_ packet: MQTTPacket, _ connected: inout Connected) -> [Action] {
        let v5 = connected.connect.version == .v5
        switch packet {
        case .publish(let publish):
            return receivedPublish(publish, &connected)
        case .pubAck(let ack):
            guard let commandID = connected.inflightCommands.removeValue(forKey: ack.packetIdentifier) else { return [] }
            connected.acknowledgedCommands.insert(commandID)
            return connected.commandsWaiting ? [.commandDelivered(id: commandID), .fetchCommands] : [.commandDelivered(id: commandID)]
        case .subscribe(let subscribe):
            return receivedSubscribe(subscribe, &connected)
        case .unsubscribe(let unsubscribe):
            let reasonCodes = unsubscribe.topicFilters.map { filter in
                connected.session.subscriptions.removeValue(forKey: filter) == nil ? MQTTReasonCode.noSubscriptionExisted : .success
            }
            return [.send(.unsubAck(MQTTUnsubAck(packetIdentifier: unsubscribe.packetIdentifier, reasonCodes: v5 ? reasonCodes : [])))]
        case .pingReq:
            return [.send(.pingResp)]
        case .disconnect(let disconnect):
            if let expiry = disconnect.properties.sessionExpiryInterval {
                // Raising the expiry from 0 at DISCONNECT is a protocol error (MQTT 5 §3.14.2.2.2).
                if connected.sessionExpiry == 0 && expiry != 0 { return protocolViolation(.protocolError(.unexpectedPacket), connected) }
                connected.sessionExpiry = min(expiry, limits.maximumSessionExpiry)
            }
            if disconnect.reasonCode != .disconnectWithWillMessage { connected.connect.will = nil }
            state = .connected(connected)
            return closeAbnormally(sending: nil)
        case .connect:
            return protocolViolation(.protocolError(.secondConnect), connected)
        case .auth:
            return protocolViolation(.protocolError(.authenticationNotSupported), connected)
        case .pubRec, .pubRel, .pubComp:
            // No QoS 2 flow is ever started: the server refuses QoS 2 and sends at most QoS 1.
            return protocolViolation(.protocolError(.unknownPacketIdentifier), connected)
        case .connAck, .subAck, .unsubAck, .pingResp:
            return protocolViolation(.protocolError(.unexpectedPacket), connected)
        }
    }

    private mutating func receivedPublish(_ publish: MQTTPublish, _ connected: inout Connected) -> [Action] {
        let v5 = connected.connect.version == .v5
        if publish.qos == .exactlyOnce {
            return protocolViolation(MQTTProtocolError(.qosNotSupported, reasonCode: .qosNotSupported), connected)
        }
        if !publish.properties.subscriptionIdentifiers.isEmpty {
            return protocolViolation(.protocolError(.propertyNotAllowed), connected)
        }
        var topic = publish.topic
        if let alias = publish.properties.topicAlias {
            guard alias != 0, alias <= limits.topicAliasMaximum else {
                return protocolViolation(MQTTProtocolError(.topicAliasInvalid, reasonCode: .topicAliasInvalid), connected)
            }
            if topic.isEmpty {
                guard let known = connected.topicAliases[alias] else { return protocolViolation(.protocolError(.topicAliasInvalid), connected) }
                topic = known
            } else {
                connected.topicAliases[alias] = topic
            }
        } else if topic.isEmpty {
            return protocolViolation(.protocolError(.invalidTopicName), connected)
        }
        let allowed = connected.topics.mayPublish(to: topic)
        if !allowed && !v5 { return closeAbnormally(sending: nil) }
        guard let identifier = publish.packetIdentifier else {
            return allowed ? [.store(topic: topic, payload: publish.payload, packetIdentifier: nil)] : []
        }
        // A resend of a publish still being stored is acknowledged once, when the first copy is.
        if connected.pendingAcknowledgements.contains(where: { $0.packetIdentifier == identifier }) { return [] }
        guard connected.pendingAcknowledgements.count < Int(limits.receiveMaximum) else {
            return protocolViolation(MQTTProtocolError(.receiveMaximumExceeded, reasonCode: .receiveMaximumExceeded), connected)
        }
        guard allowed else {
            // Refused at once, but acknowledged in turn behind the publishes still being stored.
            connected.pendingAcknowledgements.append((identifier, .notAuthorized))
            return Self.sendDecidedAcknowledgements(&connected)
        }
        connected.pendingAcknowledgements.append((identifier, nil))
        return [.store(topic: topic, payload: publish.payload, packetIdentifier: identifier)]
    }

    private mutating func receivedSubscribe(_ subscribe: MQTTSubscribe, _ connected: inout Connected) -> [Action] {
        let v5 = connected.connect.version == .v5
        if !subscribe.properties.subscriptionIdentifiers.isEmpty {
            return protocolViolation(
                MQTTProtocolError(.propertyNotAllowed, reasonCode: .subscriptionIdentifiersNotSupported), connected
            )
        }
        var granted = false
        let reasonCodes = subscribe.subscriptions.map { subscription -> MQTTReasonCode in
            guard let filter = MQTTTopicFilter(parsing: subscription.topicFilter, version: connected.connect.version) else {
                return .topicFilterInvalid
            }
            if v5 && filter.shareGroup != nil { return .sharedSubscriptionsNotSupported }
            guard connected.topics.maySubscribe(to: filter) else { return .notAuthorized }
            let qos = min(subscription.qos, .atLeastOnce)
            connected.session.subscriptions[subscription.topicFilter] = qos
            granted = true
            return MQTTReasonCode(rawValue: qos.rawValue)
        }
        let subAck = Action.send(.subAck(MQTTSubAck(packetIdentifier: subscribe.packetIdentifier, reasonCodes: reasonCodes)))
        return granted ? [subAck, .fetchCommands] : [subAck]
    }

    // MARK: - Helpers

    /// PUBACKs for the oldest publishes whose outcome is known, up to the first still being stored.
    private static func sendDecidedAcknowledgements(_ connected: inout Connected) -> [Action] {
        var actions: [Action] = []
        while let first = connected.pendingAcknowledgements.first, let reasonCode = first.reasonCode {
            connected.pendingAcknowledgements.removeFirst()
            actions.append(.send(.pubAck(MQTTAcknowledgement(packetIdentifier: first.packetIdentifier, reasonCode: reasonCode))))
        }
        return actions
    }

    private func grantedQoS(for topic: String, in session: MQTTSessionState) -> MQTTQoS? {
        session.subscriptions.filter { MQTTTopic.matches(filter: $0.key, name: topic) }.values.max()
    }

    private static func freePacketIdentifier(_ connected: inout Connected) -> UInt16 {
        while connected.inflightCommands[connected.nextPacketIdentifier] != nil {
            connected.nextPacketIdentifier = connected.nextPacketIdentifier == .max ? 1 : connected.nextPacketIdentifier + 1
        }
        let identifier = connected.nextPacketIdentifier
        connected.nextPacketIdentifier = identifier == .max ? 1 : identifier + 1
        return identifier
    }

    private static func encodedSize(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) -> Int {
        var buffer = ByteBuffer()
        guard (try? packet.write(to: &buffer, version: version)) != nil else { return .max }
        return buffer.readableBytes
    }

    /// Ends the connection over a protocol violation: MQTT 5 says why in a DISCONNECT, 3.1.1 just closes.
    private mutating func protocolViolation(_ error: MQTTProtocolError, _ connected: Connected) -> [Action] {
        state = .connected(connected)
        return closeAbnormally(sending: connected.connect.version == .v5 ? .disconnect(MQTTDisconnect(reasonCode: error.reasonCode)) : nil)
    }

    /// Closes a connection that did not end with a normal DISCONNECT: its will (if still held and on a
    /// topic the device may publish to) is stored, and its session kept while it has not expired.
    private mutating func closeAbnormally(sending packet: MQTTPacket?) -> [Action] {
        guard case .connected(let connected) = state else { return close(sending: packet) }
        var actions: [Action] = []
        if let will = connected.connect.will, connected.topics.mayPublish(to: will.topic) {
            actions.append(.store(topic: will.topic, payload: will.payload, packetIdentifier: nil))
        }
        if connected.sessionExpiry > 0 { actions.append(.keepSession(connected.session, expiry: connected.sessionExpiry)) }
        return actions + close(sending: packet)
    }

    private mutating func close(sending packet: MQTTPacket?) -> [Action] {
        state = .closed
        return [.close(sending: packet)]
    }
}
