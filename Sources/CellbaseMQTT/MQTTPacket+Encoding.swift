import NIOCore

extension MQTTPacket {
    /// Appends the packet as `version` spells it. Fields that version lacks (3.1.1 has no properties and
    /// few reason codes) are left out; CONNACK and SUBACK failures map to their 3.1.1 counterparts.
    public func write(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        var body = ByteBuffer()
        var flags = kind.fixedFlags
        switch self {
        case .connect(let connect): try Self.writeConnect(connect, to: &body)
        case .connAck(let connAck):
            body.writeInteger(UInt8(connAck.sessionPresent ? 1 : 0))
            switch version {
            case .v3_1_1: body.writeInteger(connAck.reasonCode.connectReturnCode)
            case .v5:
                body.writeInteger(connAck.reasonCode.rawValue)
                try Self.writeProperties(connAck.properties, to: &body)
            }
        case .publish(let publish):
            flags = (publish.duplicate ? 0b1000 : 0) | publish.qos.rawValue << 1 | (publish.retain ? 1 : 0)
            try body.writeMQTTString(publish.topic)
            if publish.qos != .atMostOnce, let identifier = publish.packetIdentifier { body.writeInteger(identifier) }
            if version == .v5 { try Self.writeProperties(publish.properties, to: &body) }
            body.writeImmutableBuffer(publish.payload)
        case .pubAck(let ack), .pubRec(let ack), .pubRel(let ack), .pubComp(let ack):
            body.writeInteger(ack.packetIdentifier)
            // MQTT 5 §3.4.2.1: a success without properties may leave out the reason code.
            if version == .v5 && (ack.reasonCode != .success || !ack.properties.isEmpty) {
                body.writeInteger(ack.reasonCode.rawValue)
                if !ack.properties.isEmpty { try Self.writeProperties(ack.properties, to: &body) }
            }
        case .subscribe(let subscribe):
            body.writeInteger(subscribe.packetIdentifier)
            if version == .v5 { try Self.writeProperties(subscribe.properties, to: &body) }
            for subscription in subscribe.subscriptions {
                try body.writeMQTTString(subscription.topicFilter)
                var options = subscription.qos.rawValue
                if version == .v5 {
                    options |= (subscription.noLocal ? 0x04 : 0) | (subscription.retainAsPublished ? 0x08 : 0)
                    options |= subscription.retainHandling.rawValue << 4
                }
                body.writeInteger(options)
            }
        case .subAck(let subAck):
            body.writeInteger(subAck.packetIdentifier)
            if version == .v5 { try Self.writeProperties(subAck.properties, to: &body) }
            for reasonCode in subAck.reasonCodes {
                body.writeInteger(version == .v5 || !reasonCode.isFailure ? reasonCode.rawValue : MQTTReasonCode.unspecifiedError.rawValue)
            }
        case .unsubscribe(let unsubscribe):
            body.writeInteger(unsubscribe.packetIdentifier)
            if version == .v5 { try Self.writeProperties(unsubscribe.properties, to: &body) }
            for filter in unsubscribe.topicFilters { try body.writeMQTTString(filter) }
        case .unsubAck(let unsubAck):
            body.writeInteger(unsubAck.packetIdentifier)
            if version == .v5 {
                try Self.writeProperties(unsubAck.properties, to: &body)
                for reasonCode in unsubAck.reasonCodes { body.writeInteger(reasonCode.rawValue) }
            }
        case .pingReq, .pingResp: break
        case .disconnect(let disconnect):
            if version == .v5 && (disconnect.reasonCode != .success || !disconnect.properties.isEmpty) {
                body.writeInteger(disconnect.reasonCode.rawValue)
                if !disconnect.properties.isEmpty { try Self.writeProperties(disconnect.properties, to: &body) }
            }
        case .auth(let auth):
            if auth.reasonCode != .success || !auth.properties.isEmpty {
                body.writeInteger(auth.reasonCode.rawValue)
                try Self.writeProperties(auth.properties, to: &body)
            }
        }
        guard body.readableBytes <= MQTTLimits.maximumVariableByteInteger else { throw .packetTooLarge }
        buffer.writeInteger(kind.rawValue << 4 | flags)
        buffer.writeMQTTVariableByteInteger(body.readableBytes)
        buffer.writeBuffer(&body)
    }

    private static func writeConnect(_ connect: MQTTConnect, to body: inout ByteBuffer) throws(MQTTEncodingError) {
        try body.writeMQTTString("MQTT")
        body.writeInteger(connect.version.rawValue)
        var flags: UInt8 = connect.cleanStart ? 0x02 : 0
        if let will = connect.will { flags |= 0x04 | will.qos.rawValue << 3 | (will.retain ? 0x20 : 0) }
        if connect.password != nil { flags |= 0x40 }
        if connect.userName != nil { flags |= 0x80 }
        body.writeInteger(flags)
        body.writeInteger(connect.keepAlive)
        if connect.version == .v5 { try writeProperties(connect.properties, to: &body) }
        try body.writeMQTTString(connect.clientIdentifier)
        if let will = connect.will {
            if connect.version == .v5 { try writeProperties(will.properties, to: &body) }
            try body.writeMQTTString(will.topic)
            try body.writeMQTTBinaryData(will.payload)
        }
        if let userName = connect.userName { try body.writeMQTTString(userName) }
        if let password = connect.password { try body.writeMQTTBinaryData(password) }
    }

    private static func writeProperties(_ properties: MQTTProperties, to body: inout ByteBuffer) throws(MQTTEncodingError) {
        var list = ByteBuffer()
        func byte(_ identifier: MQTTPropertyIdentifier, _ value: UInt8?) {
            guard let value else { return }
            list.writeInteger(identifier.rawValue)
            list.writeInteger(value)
        }
        func twoBytes(_ identifier: MQTTPropertyIdentifier, _ value: UInt16?) {
            guard let value else { return }
            list.writeInteger(identifier.rawValue)
            list.writeInteger(value)
        }
        func fourBytes(_ identifier: MQTTPropertyIdentifier, _ value: UInt32?) {
            guard let value else { return }
            list.writeInteger(identifier.rawValue)
            list.writeInteger(value)
        }
        func string(_ identifier: MQTTPropertyIdentifier, _ value: String?) throws(MQTTEncodingError) {
            guard let value else { return }
            list.writeInteger(identifier.rawValue)
            try list.writeMQTTString(value)
        }
        func binary(_ identifier: MQTTPropertyIdentifier, _ value: ByteBuffer?) throws(MQTTEncodingError) {
            guard let value else { return }
            list.writeInteger(identifier.rawValue)
            try list.writeMQTTBinaryData(value)
        }
        byte(.payloadFormatIndicator, properties.payloadFormatIndicator)
        fourBytes(.messageExpiryInterval, properties.messageExpiryInterval)
        try string(.contentType, properties.contentType)
        try string(.responseTopic, properties.responseTopic)
        try binary(.correlationData, properties.correlationData)
        for identifier in properties.subscriptionIdentifiers {
            list.writeInteger(MQTTPropertyIdentifier.subscriptionIdentifier.rawValue)
            list.writeMQTTVariableByteInteger(identifier)
        }
        fourBytes(.sessionExpiryInterval, properties.sessionExpiryInterval)
        try string(.assignedClientIdentifier, properties.assignedClientIdentifier)
        twoBytes(.serverKeepAlive, properties.serverKeepAlive)
        try string(.authenticationMethod, properties.authenticationMethod)
        try binary(.authenticationData, properties.authenticationData)
        byte(.requestProblemInformation, properties.requestProblemInformation)
        fourBytes(.willDelayInterval, properties.willDelayInterval)
        byte(.requestResponseInformation, properties.requestResponseInformation)
        try string(.responseInformation, properties.responseInformation)
        try string(.serverReference, properties.serverReference)
        try string(.reasonString, properties.reasonString)
        twoBytes(.receiveMaximum, properties.receiveMaximum)
        twoBytes(.topicAliasMaximum, properties.topicAliasMaximum)
        twoBytes(.topicAlias, properties.topicAlias)
        byte(.maximumQoS, properties.maximumQoS)
        byte(.retainAvailable, properties.retainAvailable)
        for property in properties.userProperties {
            list.writeInteger(MQTTPropertyIdentifier.userProperty.rawValue)
            try list.writeMQTTString(property.name)
            try list.writeMQTTString(property.value)
        }
        fourBytes(.maximumPacketSize, properties.maximumPacketSize)
        byte(.wildcardSubscriptionAvailable, properties.wildcardSubscriptionAvailable)
        byte(.subscriptionIdentifierAvailable, properties.subscriptionIdentifierAvailable)
        byte(.sharedSubscriptionAvailable, properties.sharedSubscriptionAvailable)
        body.writeMQTTVariableByteInteger(list.readableBytes)
        body.writeBuffer(&list)
    }
}
