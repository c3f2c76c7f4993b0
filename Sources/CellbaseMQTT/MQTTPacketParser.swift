import NIOCore

/// An incremental, strict MQTT 3.1.1 / 5.0 parser over a `ByteBuffer`, without I/O.
///
/// It consumes a packet only once all of it has arrived, and judges the packet size from the fixed
/// header alone: a remaining length over ``maximumPacketSize`` is refused before any of the body is
/// buffered. Until a CONNECT has been read, the protocol version is unknown and any other packet is
/// refused from its first byte.
public struct MQTTPacketParser: Sendable {
    /// The largest whole packet accepted, fixed header included (MQTT 5 Maximum Packet Size).
    public var maximumPacketSize: Int
    /// The version the peer speaks: set by the first CONNECT read, or up front when parsing a server's packets.
    public private(set) var version: MQTTProtocolVersion?

    public init(maximumPacketSize: Int = MQTTLimits.maximumPacketSize, version: MQTTProtocolVersion? = nil) {
        self.maximumPacketSize = maximumPacketSize
        self.version = version
    }

    /// The next whole packet, or `nil` when more bytes are needed. On success the packet's bytes are
    /// consumed; otherwise the buffer is left alone.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(MQTTProtocolError) -> MQTTPacket? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard let kind = MQTTPacket.Kind(rawValue: first >> 4), kind != .auth || version != .v3_1_1 else {
            throw .malformed(.reservedPacketType)
        }
        if version == nil && kind != .connect { throw .protocolError(.expectedConnect) }
        let flags = first & 0x0F
        if kind == .publish {
            if (flags >> 1) & 0b11 == 3 { throw .malformed(.invalidQoS) }
            if flags & 0b1000 != 0 && (flags >> 1) & 0b11 == 0 { throw .malformed(.reservedFlags) }
        } else if flags != kind.fixedFlags {
            throw .malformed(.reservedFlags)
        }
        guard case .value(let remainingLength, let lengthBytes) = try buffer.peekMQTTVariableByteInteger(at: 1) else { return nil }
        let packetSize = 1 + lengthBytes + remainingLength
        guard packetSize <= maximumPacketSize else { throw MQTTProtocolError(.packetTooLarge, reasonCode: .packetTooLarge) }
        guard buffer.readableBytes >= packetSize else { return nil }

        var body = buffer.getSlice(at: buffer.readerIndex + 1 + lengthBytes, length: remainingLength)!
        let packet = try parseBody(kind: kind, flags: flags, body: &body)
        guard body.readableBytes == 0 else { throw .malformed(.trailingBytes) }
        buffer.moveReaderIndex(forwardBy: packetSize)
        if case .connect(let connect) = packet, version == nil { version = connect.version }
        return packet
    }

    private func parseBody(kind: MQTTPacket.Kind, flags: UInt8, body: inout ByteBuffer) throws(MQTTProtocolError) -> MQTTPacket {
        if kind == .connect { return .connect(try Self.parseConnect(&body)) }
        let version = version ?? .v5
        switch kind {
        case .connect: preconditionFailure("handled above")
        case .connAck: return .connAck(try Self.parseConnAck(&body, version: version))
        case .publish: return .publish(try Self.parsePublish(&body, flags: flags, version: version))
        case .pubAck: return .pubAck(try Self.parseAcknowledgement(&body, version: version, allowed: Self.pubAckReasonCodes))
        case .pubRec: return .pubRec(try Self.parseAcknowledgement(&body, version: version, allowed: Self.pubAckReasonCodes))
        case .pubRel: return .pubRel(try Self.parseAcknowledgement(&body, version: version, allowed: Self.pubRelReasonCodes))
        case .pubComp: return .pubComp(try Self.parseAcknowledgement(&body, version: version, allowed: Self.pubRelReasonCodes))
        case .subscribe: return .subscribe(try Self.parseSubscribe(&body, version: version))
        case .subAck: return .subAck(try Self.parseSubAck(&body, version: version))
        case .unsubscribe: return .unsubscribe(try Self.parseUnsubscribe(&body, version: version))
        case .unsubAck: return .unsubAck(try Self.parseUnsubAck(&body, version: version))
        case .pingReq: return .pingReq
        case .pingResp: return .pingResp
        case .disconnect: return .disconnect(try Self.parseDisconnect(&body, version: version))
        case .auth: return .auth(try Self.parseAuth(&body))
        }
    }

    // MARK: - Packets

    private static func parseConnect(_ body: inout ByteBuffer) throws(MQTTProtocolError) -> MQTTConnect {
        guard try body.readMQTTString() == "MQTT" else {
            throw MQTTProtocolError(.invalidProtocolName, reasonCode: .unsupportedProtocolVersion)
        }
        guard let version = MQTTProtocolVersion(rawValue: try body.readMQTTByte()) else {
            throw MQTTProtocolError(.unsupportedProtocolVersion, reasonCode: .unsupportedProtocolVersion)
        }
        let flags = try body.readMQTTByte()
        let hasUserName = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0b11
        let hasWill = flags & 0x04 != 0
        guard flags & 0x01 == 0 else { throw .malformed(.reservedFlags) }
        guard hasWill || (willQoSBits == 0 && !willRetain) else { throw .malformed(.reservedFlags) }
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else { throw .malformed(.invalidQoS) }
        if version == .v3_1_1 && hasPassword && !hasUserName { throw .malformed(.passwordWithoutUserName) }
        let keepAlive = try body.readMQTTTwoByteInteger()
        let properties = version == .v5 ? try parseProperties(&body, context: .connect) : MQTTProperties()
        let clientIdentifier = try body.readMQTTString()
        var will: MQTTWill?
        if hasWill {
            let willProperties = version == .v5 ? try parseProperties(&body, context: .will) : MQTTProperties()
            let topic = try body.readMQTTString()
            guard MQTTTopic.isValidName(topic) else { throw .malformed(.invalidTopicName) }
            let payload = try body.readMQTTBinaryData()
            will = MQTTWill(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let userName = hasUserName ? try body.readMQTTString() : nil
        let password = hasPassword ? try body.readMQTTBinaryData() : nil
        return MQTTConnect(
            version: version, cleanStart: flags & 0x02 != 0, keepAlive: keepAlive, clientIdentifier: clientIdentifier,
            will: will, userName: userName, password: password, properties: properties
        )
    }

    private static func parseConnAck(_ body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTConnAck {
        let flags = try body.readMQTTByte()
        guard flags & 0xFE == 0 else { throw .malformed(.reservedFlags) }
        let code = try body.readMQTTByte()
        switch version {
        case .v3_1_1:
            guard let reasonCode = MQTTReasonCode(connectReturnCode: code) else { throw .malformed(.invalidReasonCode) }
            return MQTTConnAck(sessionPresent: flags == 1, reasonCode: reasonCode)
        case .v5:
            let reasonCode = MQTTReasonCode(rawValue: code)
            guard connAckReasonCodes.contains(reasonCode) else { throw .malformed(.invalidReasonCode) }
            return MQTTConnAck(sessionPresent: flags == 1, reasonCode: reasonCode, properties: try parseProperties(&body, context: .connAck))
        }
    }

    private static func parsePublish(_ body: inout ByteBuffer, flags: UInt8, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTPublish {
        let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11)!
        let topic = try body.readMQTTString()
        // MQTT 5 allows an empty topic name when a topic alias stands for it; the session resolves that.
        let topicIsValid = MQTTTopic.isValidName(topic) || (version == .v5 && topic.isEmpty)
        guard topicIsValid else { throw .malformed(.invalidTopicName) }
        let packetIdentifier = qos == .atMostOnce ? nil : try body.readMQTTPacketIdentifier()
        let properties = version == .v5 ? try parseProperties(&body, context: .publish) : MQTTProperties()
        let payload = body.readSlice(length: body.readableBytes)!
        return MQTTPublish(
            topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, duplicate: flags & 0x08 != 0,
            packetIdentifier: packetIdentifier, properties: properties
        )
    }

    private static func parseAcknowledgement(
        _ body: inout ByteBuffer, version: MQTTProtocolVersion, allowed: Set<MQTTReasonCode>
    ) throws(MQTTProtocolError) -> MQTTAcknowledgement {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        guard version == .v5, body.readableBytes > 0 else { return MQTTAcknowledgement(packetIdentifier: packetIdentifier) }
        let reasonCode = MQTTReasonCode(rawValue: try body.readMQTTByte())
        guard allowed.contains(reasonCode) else { throw .protocolError(.invalidReasonCode) }
        let properties = body.readableBytes > 0 ? try parseProperties(&body, context: .acknowledgement) : MQTTProperties()
        return MQTTAcknowledgement(packetIdentifier: packetIdentifier, reasonCode: reasonCode, properties: properties)
    }

    private static func parseSubscribe(_ body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTSubscribe {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = version == .v5 ? try parseProperties(&body, context: .subscribe) : MQTTProperties()
        var subscriptions: [MQTTSubscription] = []
        while body.readableBytes > 0 {
            let text = try body.readMQTTString()
            guard let filter = MQTTTopicFilter(parsing: text, version: version) else { throw .malformed(.invalidTopicFilter) }
            let options = try body.readMQTTByte()
            let reservedMask: UInt8 = version == .v5 ? 0xC0 : 0xFC
            guard options & reservedMask == 0 else { throw .malformed(.invalidSubscriptionOptions) }
            guard let qos = MQTTQoS(rawValue: options & 0b11) else { throw .malformed(.invalidQoS) }
            guard let retainHandling = MQTTSubscription.RetainHandling(rawValue: (options >> 4) & 0b11) else {
                throw .protocolError(.invalidSubscriptionOptions)
            }
            let noLocal = options & 0x04 != 0
            // No Local on a shared subscription is a protocol error (MQTT 5 §3.8.3.1).
            if noLocal && filter.shareGroup != nil { throw .protocolError(.invalidSubscriptionOptions) }
            subscriptions.append(MQTTSubscription(
                topicFilter: text, qos: qos, noLocal: noLocal, retainAsPublished: options & 0x08 != 0, retainHandling: retainHandling
            ))
        }
        guard !subscriptions.isEmpty else { throw .protocolError(.emptySubscriptionList) }
        return MQTTSubscribe(packetIdentifier: packetIdentifier, subscriptions: subscriptions, properties: properties)
    }

    private static func parseSubAck(_ body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTSubAck {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = version == .v5 ? try parseProperties(&body, context: .subAck) : MQTTProperties()
        let allowed = version == .v5 ? subAckReasonCodes : [.success, .grantedQoS1, .grantedQoS2, .unspecifiedError]
        var reasonCodes: [MQTTReasonCode] = []
        while body.readableBytes > 0 {
            let reasonCode = MQTTReasonCode(rawValue: try body.readMQTTByte())
            guard allowed.contains(reasonCode) else { throw .protocolError(.invalidReasonCode) }
            reasonCodes.append(reasonCode)
        }
        guard !reasonCodes.isEmpty else { throw .protocolError(.emptySubscriptionList) }
        return MQTTSubAck(packetIdentifier: packetIdentifier, reasonCodes: reasonCodes, properties: properties)
    }

    private static func parseUnsubscribe(_ body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTUnsubscribe {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = version == .v5 ? try parseProperties(&body, context: .unsubscribe) : MQTTProperties()
        var filters: [String] = []
        while body.readableBytes > 0 {
            let text = try body.readMQTTString()
            guard MQTTTopicFilter(parsing: text, version: version) != nil else { throw .malformed(.invalidTopicFilter) }
            filters.append(text)
        }
        guard !filters.isEmpty else { throw .protocolError(.emptySubscriptionList) }
        return MQTTUnsubscribe(packetIdentifier: packetIdentifier, topicFilters: filters, properties: properties)
    }

    private static func parseUnsubAck(_ body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTUnsubAck {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        guard version == .v5 else { return MQTTUnsubAck(packetIdentifier: packetIdentifier) }
        let properties = try parseProperties(&body, context: .unsubAck)
        var reasonCodes: [MQTTReasonCode] = []
        while body.readableBytes > 0 {
            let reasonCode = MQTTReasonCode(rawValue: try body.readMQTTByte())
            guard unsubAckReasonCodes.contains(reasonCode) else { throw .protocolError(.invalidReasonCode) }
            reasonCodes.append(reasonCode)
        }
        guard !reasonCodes.isEmpty else { throw .protocolError(.emptySubscriptionList) }
        return MQTTUnsubAck(packetIdentifier: packetIdentifier, reasonCodes: reasonCodes, properties: properties)
    }

    private static func parseDisconnect(_ body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTProtocolError) -> MQTTDisconnect {
        guard version == .v5, body.readableBytes > 0 else { return MQTTDisconnect() }
        let reasonCode = MQTTReasonCode(rawValue: try body.readMQTTByte())
        guard disconnectReasonCodes.contains(reasonCode) else { throw .protocolError(.invalidReasonCode) }
        let properties = body.readableBytes > 0 ? try parseProperties(&body, context: .disconnect) : MQTTProperties()
        return MQTTDisconnect(reasonCode: reasonCode, properties: properties)
    }

    private static func parseAuth(_ body: inout ByteBuffer) throws(MQTTProtocolError) -> MQTTAuth {
        guard body.readableBytes > 0 else { return MQTTAuth() }
        let reasonCode = MQTTReasonCode(rawValue: try body.readMQTTByte())
        guard [0x00, 0x18, 0x19].contains(reasonCode.rawValue) else { throw .protocolError(.invalidReasonCode) }
        return MQTTAuth(reasonCode: reasonCode, properties: try parseProperties(&body, context: .auth))
    }

    // MARK: - Properties

    private static func parseProperties(_ body: inout ByteBuffer, context: MQTTPropertyContext) throws(MQTTProtocolError) -> MQTTProperties {
        let length = try body.readMQTTVariableByteInteger()
        guard var list = body.readSlice(length: length) else { throw .malformed(.truncatedPacket) }
        var properties = MQTTProperties()
        var seen = Set<MQTTPropertyIdentifier>()
        while list.readableBytes > 0 {
            let rawIdentifier = try list.readMQTTVariableByteInteger()
            guard rawIdentifier <= 0x7F, let identifier = MQTTPropertyIdentifier(rawValue: UInt8(rawIdentifier)) else {
                throw .malformed(.unknownProperty)
            }
            guard identifier.isAllowed(in: context) else { throw .protocolError(.propertyNotAllowed) }
            let repeatable = identifier == .userProperty || (identifier == .subscriptionIdentifier && context == .publish)
            guard seen.insert(identifier).inserted || repeatable else { throw .protocolError(.duplicateProperty) }
            try readValue(of: identifier, from: &list, into: &properties)
        }
        return properties
    }

    private static func readValue(
        of identifier: MQTTPropertyIdentifier, from list: inout ByteBuffer, into properties: inout MQTTProperties
    ) throws(MQTTProtocolError) {
        /// A Byte property whose only legal values are 0 and 1.
        func readFlag() throws(MQTTProtocolError) -> UInt8 {
            let value = try list.readMQTTByte()
            guard value <= 1 else { throw .protocolError(.invalidPropertyValue) }
            return value
        }
        switch identifier {
        case .payloadFormatIndicator: properties.payloadFormatIndicator = try readFlag()
        case .messageExpiryInterval: properties.messageExpiryInterval = try list.readMQTTFourByteInteger()
        case .contentType: properties.contentType = try list.readMQTTString()
        case .responseTopic:
            let topic = try list.readMQTTString()
            guard MQTTTopic.isValidName(topic) else { throw .protocolError(.invalidTopicName) }
            properties.responseTopic = topic
        case .correlationData: properties.correlationData = try list.readMQTTBinaryData()
        case .subscriptionIdentifier:
            let value = try list.readMQTTVariableByteInteger()
            guard value > 0 else { throw .protocolError(.invalidPropertyValue) }
            properties.subscriptionIdentifiers.append(value)
        case .sessionExpiryInterval: properties.sessionExpiryInterval = try list.readMQTTFourByteInteger()
        case .assignedClientIdentifier: properties.assignedClientIdentifier = try list.readMQTTString()
        case .serverKeepAlive: properties.serverKeepAlive = try list.readMQTTTwoByteInteger()
        case .authenticationMethod: properties.authenticationMethod = try list.readMQTTString()
        case .authenticationData: properties.authenticationData = try list.readMQTTBinaryData()
        case .requestProblemInformation: properties.requestProblemInformation = try readFlag()
        case .willDelayInterval: properties.willDelayInterval = try list.readMQTTFourByteInteger()
        case .requestResponseInformation: properties.requestResponseInformation = try readFlag()
        case .responseInformation: properties.responseInformation = try list.readMQTTString()
        case .serverReference: properties.serverReference = try list.readMQTTString()
        case .reasonString: properties.reasonString = try list.readMQTTString()
        case .receiveMaximum:
            let value = try list.readMQTTTwoByteInteger()
            guard value > 0 else { throw .protocolError(.invalidPropertyValue) }
            properties.receiveMaximum = value
        case .topicAliasMaximum: properties.topicAliasMaximum = try list.readMQTTTwoByteInteger()
        case .topicAlias: properties.topicAlias = try list.readMQTTTwoByteInteger()
        case .maximumQoS: properties.maximumQoS = try readFlag()
        case .retainAvailable: properties.retainAvailable = try readFlag()
        case .userProperty:
            let name = try list.readMQTTString()
            let value = try list.readMQTTString()
            properties.userProperties.append(MQTTUserProperty(name: name, value: value))
        case .maximumPacketSize:
            let value = try list.readMQTTFourByteInteger()
            guard value > 0 else { throw .protocolError(.invalidPropertyValue) }
            properties.maximumPacketSize = value
        case .wildcardSubscriptionAvailable: properties.wildcardSubscriptionAvailable = try readFlag()
        case .subscriptionIdentifierAvailable: properties.subscriptionIdentifierAvailable = try readFlag()
        case .sharedSubscriptionAvailable: properties.sharedSubscriptionAvailable = try readFlag()
        }
    }

    // MARK: - Reason codes each packet may carry (MQTT 5 §3)

    private static let connAckReasonCodes: Set<MQTTReasonCode> = Set(
        [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F]
            .map(MQTTReasonCode.init(rawValue:))
    )
    private static let pubAckReasonCodes: Set<MQTTReasonCode> = Set(
        [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99].map(MQTTReasonCode.init(rawValue:))
    )
    private static let pubRelReasonCodes: Set<MQTTReasonCode> = [.success, .packetIdentifierNotFound]
    private static let subAckReasonCodes: Set<MQTTReasonCode> = Set(
        [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2].map(MQTTReasonCode.init(rawValue:))
    )
    private static let unsubAckReasonCodes: Set<MQTTReasonCode> = Set(
        [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91].map(MQTTReasonCode.init(rawValue:))
    )
    private static let disconnectReasonCodes: Set<MQTTReasonCode> = Set(
        [
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
            0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
        ].map(MQTTReasonCode.init(rawValue:))
    )
}
