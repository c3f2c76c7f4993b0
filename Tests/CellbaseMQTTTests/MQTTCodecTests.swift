import CellbaseMQTT
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

/// Builds a buffer from bytes and strings, so malformed packets read like their wire layout.
func bytes(_ parts: [any ByteParts]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for part in parts { part.append(to: &buffer) }
    return buffer
}

protocol ByteParts { func append(to buffer: inout ByteBuffer) }
extension Int: ByteParts { func append(to buffer: inout ByteBuffer) { buffer.writeInteger(UInt8(self)) } }
extension [Int]: ByteParts { func append(to buffer: inout ByteBuffer) { for byte in self { buffer.writeInteger(UInt8(byte)) } } }
/// A string as MQTT writes it: two length bytes, then UTF-8.
extension String: ByteParts {
    func append(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(utf8.count))
        buffer.writeString(self)
    }
}

func encode(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    try packet.write(to: &buffer, version: version)
    return buffer
}

/// Every packet type with most of its fields set, as each version can carry it.
func samplePackets(_ version: MQTTProtocolVersion) -> [MQTTPacket] {
    let v5 = version == .v5
    var connectProperties = MQTTProperties()
    var willProperties = MQTTProperties()
    var connAckProperties = MQTTProperties()
    var publishProperties = MQTTProperties()
    var ackProperties = MQTTProperties()
    var subscribeProperties = MQTTProperties()
    var disconnectProperties = MQTTProperties()
    if v5 {
        connectProperties.sessionExpiryInterval = 3600
        connectProperties.receiveMaximum = 20
        connectProperties.maximumPacketSize = 65536
        connectProperties.topicAliasMaximum = 10
        connectProperties.requestProblemInformation = 1
        connectProperties.requestResponseInformation = 0
        connectProperties.userProperties = [MQTTUserProperty(name: "a", value: "1"), MQTTUserProperty(name: "a", value: "2")]
        connectProperties.authenticationMethod = "SCRAM"
        connectProperties.authenticationData = ByteBuffer(bytes: [1, 2, 3])
        willProperties.willDelayInterval = 5
        willProperties.payloadFormatIndicator = 1
        willProperties.messageExpiryInterval = 60
        willProperties.contentType = "application/json"
        willProperties.responseTopic = "r/t"
        willProperties.correlationData = ByteBuffer(bytes: [9])
        connAckProperties.sessionExpiryInterval = 0
        connAckProperties.receiveMaximum = 100
        connAckProperties.maximumQoS = 1
        connAckProperties.retainAvailable = 1
        connAckProperties.maximumPacketSize = 1_048_576
        connAckProperties.assignedClientIdentifier = "auto-1"
        connAckProperties.topicAliasMaximum = 16
        connAckProperties.reasonString = "ok"
        connAckProperties.wildcardSubscriptionAvailable = 1
        connAckProperties.subscriptionIdentifierAvailable = 0
        connAckProperties.sharedSubscriptionAvailable = 0
        connAckProperties.serverKeepAlive = 30
        connAckProperties.responseInformation = "info"
        connAckProperties.serverReference = "other"
        publishProperties.topicAlias = 3
        publishProperties.subscriptionIdentifiers = [1, 268_435_455]
        publishProperties.messageExpiryInterval = 10
        ackProperties.reasonString = "why"
        subscribeProperties.subscriptionIdentifiers = [42]
        disconnectProperties.sessionExpiryInterval = 0
        disconnectProperties.reasonString = "bye"
        disconnectProperties.serverReference = "elsewhere"
    }
    let payload = ByteBuffer(string: #"{"temp":21.5}"#)
    return [
        .connect(MQTTConnect(
            version: version, cleanStart: false, keepAlive: 30, clientIdentifier: "sensor-1",
            will: MQTTWill(topic: "devices/d1/telemetry", payload: ByteBuffer(string: "gone"), qos: .atLeastOnce, retain: true, properties: willProperties),
            userName: "p:d1", password: ByteBuffer(bytes: [0, 255, 7]), properties: connectProperties
        )),
        .connect(MQTTConnect(version: version, clientIdentifier: "")),
        .connAck(MQTTConnAck(sessionPresent: true, reasonCode: .success, properties: connAckProperties)),
        .connAck(MQTTConnAck(reasonCode: .badUserNameOrPassword)),
        .connAck(MQTTConnAck(reasonCode: .notAuthorized)),
        .publish(MQTTPublish(topic: "devices/d1/telemetry", payload: payload)),
        .publish(MQTTPublish(topic: "a/b", payload: payload, qos: .atLeastOnce, retain: true, duplicate: true, packetIdentifier: 7, properties: publishProperties)),
        .publish(MQTTPublish(topic: "a/b", payload: ByteBuffer(), qos: .exactlyOnce, packetIdentifier: 65535)),
        .pubAck(MQTTAcknowledgement(packetIdentifier: 1)),
        .pubAck(MQTTAcknowledgement(packetIdentifier: 2, reasonCode: v5 ? .payloadFormatInvalid : .success, properties: ackProperties)),
        .pubAck(MQTTAcknowledgement(packetIdentifier: 3, reasonCode: v5 ? .notAuthorized : .success)),
        .pubRec(MQTTAcknowledgement(packetIdentifier: 4)),
        .pubRel(MQTTAcknowledgement(packetIdentifier: 5, reasonCode: v5 ? .packetIdentifierNotFound : .success)),
        .pubComp(MQTTAcknowledgement(packetIdentifier: 6)),
        .subscribe(MQTTSubscribe(
            packetIdentifier: 8,
            subscriptions: [
                MQTTSubscription(topicFilter: "devices/d1/commands/#", qos: .atLeastOnce),
                MQTTSubscription(
                    topicFilter: "a/+/c", qos: .exactlyOnce, noLocal: v5, retainAsPublished: v5, retainHandling: v5 ? .doNotSend : .sendOnSubscribe
                ),
                MQTTSubscription(topicFilter: "$share/g/x/#", retainHandling: v5 ? .sendOnNewSubscribe : .sendOnSubscribe),
            ],
            properties: subscribeProperties
        )),
        .subAck(MQTTSubAck(packetIdentifier: 8, reasonCodes: [.grantedQoS1, v5 ? .notAuthorized : .unspecifiedError, .success, .grantedQoS2])),
        .unsubscribe(MQTTUnsubscribe(packetIdentifier: 9, topicFilters: ["a/#", "b"])),
        .unsubAck(MQTTUnsubAck(packetIdentifier: 9, reasonCodes: v5 ? [.success, .noSubscriptionExisted] : [])),
        .pingReq,
        .pingResp,
        .disconnect(MQTTDisconnect()),
        .disconnect(MQTTDisconnect(reasonCode: v5 ? .disconnectWithWillMessage : .success, properties: disconnectProperties)),
    ] + (v5 ? [.auth(MQTTAuth()), .auth(MQTTAuth(reasonCode: MQTTReasonCode(rawValue: 0x18), properties: connectProperties.authOnly))] : [])
}

extension MQTTProperties {
    fileprivate var authOnly: MQTTProperties {
        var properties = MQTTProperties()
        properties.authenticationMethod = authenticationMethod
        properties.authenticationData = authenticationData
        properties.reasonString = "continue"
        return properties
    }
}

@Suite struct MQTTCodecTests {
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func everyPacketRoundTrips(version: MQTTProtocolVersion) throws {
        for packet in samplePackets(version) {
            var buffer = try encode(packet, version)
            var parser = MQTTPacketParser(version: packet.kind == .connect ? nil : version)
            let parsed = try parser.parse(&buffer)
            #expect(parsed == packet, "\(packet.kind)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func connectSetsTheParsersVersion(version: MQTTProtocolVersion) throws {
        var buffer = try encode(.connect(MQTTConnect(version: version, clientIdentifier: "c")), version)
        try encode(.pingReq, version).readableBytesView.forEach { buffer.writeInteger($0) }
        var parser = MQTTPacketParser()
        #expect(parser.version == nil)
        _ = try parser.parse(&buffer)
        #expect(parser.version == version)
        #expect(try parser.parse(&buffer) == .pingReq)
        #expect(try parser.parse(&buffer) == nil)
    }

    @Test func threeOneOneOmitsWhatItCannotCarry() throws {
        #expect(try encode(.connAck(MQTTConnAck(reasonCode: .notAuthorized)), .v3_1_1) == bytes([0x20, 2, 0, 5]))
        #expect(try encode(.connAck(MQTTConnAck(reasonCode: .badUserNameOrPassword)), .v5) == bytes([0x20, 3, 0, 0x86, 0]))
        #expect(try encode(.pubAck(MQTTAcknowledgement(packetIdentifier: 1, reasonCode: .payloadFormatInvalid)), .v3_1_1) == bytes([0x40, 2, 0, 1]))
        #expect(try encode(.pubAck(MQTTAcknowledgement(packetIdentifier: 1, reasonCode: .payloadFormatInvalid)), .v5) == bytes([0x40, 3, 0, 1, 0x99]))
        #expect(try encode(.pubAck(MQTTAcknowledgement(packetIdentifier: 1)), .v5) == bytes([0x40, 2, 0, 1]))
        #expect(try encode(.subAck(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.notAuthorized, .grantedQoS1])), .v3_1_1) == bytes([0x90, 4, 0, 2, 0x80, 1]))
        #expect(try encode(.subAck(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.notAuthorized])), .v5) == bytes([0x90, 4, 0, 2, 0, 0x87]))
        #expect(try encode(.disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)), .v3_1_1) == bytes([0xE0, 0]))
        #expect(try encode(.disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)), .v5) == bytes([0xE0, 1, 0x8D]))
        #expect(try encode(.pingResp, .v5) == bytes([0xD0, 0]))
    }

    @Test func variableByteIntegerBoundaries() throws {
        #expect(try encode(.pingReq, .v3_1_1) == bytes([0xC0, 0x00]))
        let cases: [(length: Int, header: [Int])] = [
            (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
            (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        ]
        for (length, header) in cases {
            // Topic "t" takes three bytes of the remaining length; the payload fills the rest.
            let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(repeating: 0x61, count: length - 3)))
            var buffer = try encode(publish, .v3_1_1)
            #expect(Array(buffer.readableBytesView.dropFirst().prefix(header.count)) == header.map(UInt8.init))
            var parser = MQTTPacketParser(version: .v3_1_1)
            #expect(try parser.parse(&buffer) == publish)
        }
        // The largest remaining length is well-formed: without a smaller size limit the parser waits for the body.
        var largest = bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F])
        var parser = MQTTPacketParser(version: .v5)
        #expect(try parser.parse(&largest) == nil)
        #expect(largest.readableBytes == 5)
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func partialPacketsWaitAndConsumeNothing(version: MQTTProtocolVersion) throws {
        for packet in samplePackets(version) {
            let whole = try encode(packet, version)
            var parser = MQTTPacketParser(version: packet.kind == .connect ? nil : version)
            for length in 0..<whole.readableBytes {
                var prefix = whole.getSlice(at: 0, length: length)!
                #expect(try parser.parse(&prefix) == nil, "\(packet.kind) cut at \(length)")
                #expect(prefix.readableBytes == length)
            }
        }
    }

    @Test func aQuarterGigabyteRemainingLengthIsRefusedFromTheFixedHeader() {
        // 0xFF 0xFF 0xFF 0x7F announces 268,435,455 bytes; nothing of the body has arrived.
        var buffer = bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00])
        var parser = MQTTPacketParser(maximumPacketSize: 1_048_576, version: .v3_1_1)
        #expect(throws: MQTTProtocolError(.packetTooLarge, reasonCode: .packetTooLarge)) { try parser.parse(&buffer) }
        // Before CONNECT too: the CONNECT itself is bounded.
        var connect = bytes([0x10, 0xFF, 0xFF, 0xFF, 0x7F])
        var fresh = MQTTPacketParser(maximumPacketSize: 1_048_576)
        #expect(throws: MQTTProtocolError(.packetTooLarge, reasonCode: .packetTooLarge)) { try fresh.parse(&connect) }
    }

    @Test func maximumPacketSizeCountsTheFixedHeader() throws {
        let packet = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(repeating: 1, count: 5)))
        let encoded = try encode(packet, .v5)
        var exact = MQTTPacketParser(maximumPacketSize: encoded.readableBytes, version: .v5)
        var fits = encoded
        #expect(try exact.parse(&fits) == packet)
        var tooSmall = MQTTPacketParser(maximumPacketSize: encoded.readableBytes - 1, version: .v5)
        var refused = encoded
        #expect(throws: MQTTProtocolError(.packetTooLarge, reasonCode: .packetTooLarge)) { try tooSmall.parse(&refused) }
    }

    @Test func encoderRefusesFieldsTooLongForTheWire() {
        let topic = String(repeating: "a", count: 65_536)
        #expect(throws: MQTTEncodingError.fieldTooLong) { try encode(.publish(MQTTPublish(topic: topic, payload: ByteBuffer())), .v5) }
    }
}

@Suite struct MQTTChannelCodecTests {
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func decoderReadsPacketsFedByteByByte(version: MQTTProtocolVersion) throws {
        let packets = samplePackets(version).filter { $0.kind != .connect }
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(parser: MQTTPacketParser(version: version))))
        var stream = ByteBuffer()
        for packet in packets { try packet.write(to: &stream, version: version) }
        var decoded: [MQTTPacket] = []
        while let byte = stream.readSlice(length: 1) {
            try channel.writeInbound(byte)
            while let packet = try channel.readInbound(as: MQTTPacket.self) { decoded.append(packet) }
        }
        #expect(decoded == packets)
        #expect(try channel.finish().isClean)
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func decoderPassesTheByteToMessageVerifier(version: MQTTProtocolVersion) throws {
        let pairs = try samplePackets(version).filter { $0.kind != .connect }.map { (try encode($0, version), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            MQTTPacketDecoder(parser: MQTTPacketParser(version: version))
        }
    }

    @Test func decoderFiresTheProtocolErrorIntoThePipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(parser: MQTTPacketParser())))
        #expect(throws: MQTTProtocolError(.expectedConnect, reasonCode: .protocolError)) {
            try channel.writeInbound(bytes([0x30, 3, "t", 0x61]))
        }
        _ = try? channel.finish()
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func encoderWritesWhatTheParserReads(version: MQTTProtocolVersion) throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(MQTTPacketEncoder(version: version)))
        var parser = MQTTPacketParser(version: version)
        for packet in samplePackets(version) where packet.kind != .connect {
            try channel.writeOutbound(packet)
            var written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(try parser.parse(&written) == packet)
        }
        #expect(try channel.finish().isClean)
    }
}
