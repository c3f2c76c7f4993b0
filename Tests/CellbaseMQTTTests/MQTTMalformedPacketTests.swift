import CellbaseMQTT
import NIOCore
import NIOEmbedded
import Testing

/// A packet with the given first byte and body; the remaining length is computed (bodies here are short).
func packet(_ first: Int, _ body: [any ByteParts]) -> ByteBuffer {
    let content = bytes(body)
    precondition(content.readableBytes < 128)
    return bytes([first, content.readableBytes]) + content
}

extension ByteBuffer {
    static func + (lhs: ByteBuffer, rhs: ByteBuffer) -> ByteBuffer {
        var joined = lhs
        var tail = rhs
        joined.writeBuffer(&tail)
        return joined
    }
}

/// A CONNECT body: protocol name, level, flags, keep-alive, then the rest as given.
func connect(name: String = "MQTT", level: Int, flags: Int, _ rest: [any ByteParts]) -> ByteBuffer {
    packet(0x10, [name, level, flags, [0, 60]] + rest)
}

struct MalformedCase: CustomTestStringConvertible, Sendable {
    var name: String
    var version: MQTTProtocolVersion?
    var input: ByteBuffer
    var code: MQTTProtocolError.Code
    var reasonCode: MQTTReasonCode
    var maximumPacketSize = 1024

    var testDescription: String { name }
}

let malformedCases: [MalformedCase] = [
    MalformedCase(name: "five-byte remaining length", version: .v5, input: bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
                  code: .malformedVariableByteInteger, reasonCode: .malformedPacket, maximumPacketSize: MQTTLimits.maximumPacketSize),
    MalformedCase(name: "remaining length not in its shortest form", version: .v5, input: bytes([0xC0, 0x80, 0x00]),
                  code: .malformedVariableByteInteger, reasonCode: .malformedPacket),
    MalformedCase(name: "256 MB remaining length", version: .v3_1_1, input: bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
                  code: .packetTooLarge, reasonCode: .packetTooLarge),
    MalformedCase(name: "packet type 0", version: .v5, input: bytes([0x00, 0x00]), code: .reservedPacketType, reasonCode: .malformedPacket),
    MalformedCase(name: "AUTH on 3.1.1", version: .v3_1_1, input: bytes([0xF0, 0x00]), code: .reservedPacketType, reasonCode: .malformedPacket),
    MalformedCase(name: "PUBACK with flags", version: .v5, input: packet(0x41, [[0, 1]]), code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "SUBSCRIBE without its fixed flags", version: .v5, input: packet(0x80, [[0, 1, 0], "a", 0]),
                  code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "PINGREQ with flags", version: .v3_1_1, input: bytes([0xC1, 0x00]), code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "PUBLISH QoS 3", version: .v3_1_1, input: packet(0x36, ["t", [0, 1]]), code: .invalidQoS, reasonCode: .malformedPacket),
    MalformedCase(name: "PUBLISH QoS 0 with DUP", version: .v3_1_1, input: packet(0x38, ["t"]), code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "PUBLISH before CONNECT", version: nil, input: packet(0x30, ["t"]), code: .expectedConnect, reasonCode: .protocolError),
    MalformedCase(name: "CONNECT with another protocol name", version: nil, input: connect(name: "MQIsdp", level: 3, flags: 2, ["c"]),
                  code: .invalidProtocolName, reasonCode: .unsupportedProtocolVersion),
    MalformedCase(name: "CONNECT level 6", version: nil, input: connect(level: 6, flags: 2, [0, "c"]),
                  code: .unsupportedProtocolVersion, reasonCode: .unsupportedProtocolVersion),
    MalformedCase(name: "CONNECT reserved flag", version: nil, input: connect(level: 4, flags: 3, ["c"]), code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "CONNECT will QoS 3", version: nil, input: connect(level: 4, flags: 0x1E, ["c", "w", "p"]),
                  code: .invalidQoS, reasonCode: .malformedPacket),
    MalformedCase(name: "CONNECT will retain without will", version: nil, input: connect(level: 4, flags: 0x22, ["c"]),
                  code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "3.1.1 CONNECT password without user name", version: nil, input: connect(level: 4, flags: 0x42, ["c", "pw"]),
                  code: .passwordWithoutUserName, reasonCode: .malformedPacket),
    MalformedCase(name: "client id not UTF-8", version: nil, input: connect(level: 4, flags: 2, [[0, 2, 0xC3, 0x28]]),
                  code: .invalidUTF8, reasonCode: .malformedPacket),
    MalformedCase(name: "client id with an encoded surrogate", version: nil, input: connect(level: 4, flags: 2, [[0, 3, 0xED, 0xA0, 0x80]]),
                  code: .invalidUTF8, reasonCode: .malformedPacket),
    MalformedCase(name: "client id with U+0000", version: nil, input: connect(level: 4, flags: 2, [[0, 3, 0x61, 0x00, 0x62]]),
                  code: .nullCharacter, reasonCode: .malformedPacket),
    MalformedCase(name: "will topic with a wildcard", version: nil, input: connect(level: 4, flags: 0x06, ["c", "a/#", "p"]),
                  code: .invalidTopicName, reasonCode: .malformedPacket),
    MalformedCase(name: "CONNECT cut short", version: nil, input: connect(level: 5, flags: 2, [[0]]), code: .truncatedPacket, reasonCode: .malformedPacket),
    MalformedCase(name: "duplicate Session Expiry Interval", version: nil,
                  input: connect(level: 5, flags: 2, [[10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], "c"]),
                  code: .duplicateProperty, reasonCode: .protocolError),
    MalformedCase(name: "Topic Alias in CONNECT", version: nil, input: connect(level: 5, flags: 2, [[3, 0x23, 0, 1], "c"]),
                  code: .propertyNotAllowed, reasonCode: .protocolError),
    MalformedCase(name: "unknown property", version: nil, input: connect(level: 5, flags: 2, [[2, 0x7E, 0], "c"]),
                  code: .unknownProperty, reasonCode: .malformedPacket),
    MalformedCase(name: "Receive Maximum 0", version: nil, input: connect(level: 5, flags: 2, [[3, 0x21, 0, 0], "c"]),
                  code: .invalidPropertyValue, reasonCode: .protocolError),
    MalformedCase(name: "Maximum Packet Size 0", version: nil, input: connect(level: 5, flags: 2, [[5, 0x27, 0, 0, 0, 0], "c"]),
                  code: .invalidPropertyValue, reasonCode: .protocolError),
    MalformedCase(name: "Request Problem Information 2", version: nil, input: connect(level: 5, flags: 2, [[2, 0x17, 2], "c"]),
                  code: .invalidPropertyValue, reasonCode: .protocolError),
    MalformedCase(name: "property list longer than the packet", version: nil, input: connect(level: 5, flags: 2, [[9, 0x17, 1]]),
                  code: .truncatedPacket, reasonCode: .malformedPacket),
    MalformedCase(name: "user property with invalid UTF-8", version: .v5, input: packet(0x30, ["t", [7, 0x26, 0, 1, 0xFF, 0, 1, 0x61]]),
                  code: .invalidUTF8, reasonCode: .malformedPacket),
    MalformedCase(name: "PUBLISH QoS 1 packet id 0", version: .v3_1_1, input: packet(0x32, ["t", [0, 0]]),
                  code: .zeroPacketIdentifier, reasonCode: .protocolError),
    MalformedCase(name: "PUBLISH to a + topic", version: .v3_1_1, input: packet(0x30, ["a/+"]), code: .invalidTopicName, reasonCode: .malformedPacket),
    MalformedCase(name: "PUBLISH to a # topic", version: .v5, input: packet(0x30, ["a/#", 0]), code: .invalidTopicName, reasonCode: .malformedPacket),
    MalformedCase(name: "3.1.1 PUBLISH with an empty topic", version: .v3_1_1, input: packet(0x30, [""]),
                  code: .invalidTopicName, reasonCode: .malformedPacket),
    MalformedCase(name: "Subscription Identifier 0", version: .v5, input: packet(0x30, ["t", [2, 0x0B, 0]]),
                  code: .invalidPropertyValue, reasonCode: .protocolError),
    MalformedCase(name: "Session Expiry Interval on PUBLISH", version: .v5, input: packet(0x30, ["t", [5, 0x11, 0, 0, 0, 1]]),
                  code: .propertyNotAllowed, reasonCode: .protocolError),
    MalformedCase(name: "PUBACK packet id 0", version: .v5, input: packet(0x40, [[0, 0]]), code: .zeroPacketIdentifier, reasonCode: .protocolError),
    MalformedCase(name: "PUBACK with a reason code PUBACK cannot carry", version: .v5, input: packet(0x40, [[0, 1, 0x8D]]),
                  code: .invalidReasonCode, reasonCode: .protocolError),
    MalformedCase(name: "3.1.1 PUBACK with a reason code", version: .v3_1_1, input: packet(0x40, [[0, 1, 0x00]]),
                  code: .trailingBytes, reasonCode: .malformedPacket),
    MalformedCase(name: "SUBSCRIBE without filters", version: .v3_1_1, input: packet(0x82, [[0, 1]]),
                  code: .emptySubscriptionList, reasonCode: .protocolError),
    MalformedCase(name: "SUBSCRIBE to a/#/b", version: .v3_1_1, input: packet(0x82, [[0, 1], "a/#/b", 0]),
                  code: .invalidTopicFilter, reasonCode: .malformedPacket),
    MalformedCase(name: "SUBSCRIBE to a+", version: .v5, input: packet(0x82, [[0, 1, 0], "a+", 0]), code: .invalidTopicFilter, reasonCode: .malformedPacket),
    MalformedCase(name: "SUBSCRIBE to an empty filter", version: .v5, input: packet(0x82, [[0, 1, 0], "", 0]),
                  code: .invalidTopicFilter, reasonCode: .malformedPacket),
    MalformedCase(name: "SUBSCRIBE to $share without a filter", version: .v5, input: packet(0x82, [[0, 1, 0], "$share/g", 0]),
                  code: .invalidTopicFilter, reasonCode: .malformedPacket),
    MalformedCase(name: "SUBSCRIBE to $share with an empty group", version: .v5, input: packet(0x82, [[0, 1, 0], "$share//a", 0]),
                  code: .invalidTopicFilter, reasonCode: .malformedPacket),
    MalformedCase(name: "3.1.1 subscription options beyond QoS", version: .v3_1_1, input: packet(0x82, [[0, 1], "a", 0x04]),
                  code: .invalidSubscriptionOptions, reasonCode: .malformedPacket),
    MalformedCase(name: "5.0 reserved subscription option bits", version: .v5, input: packet(0x82, [[0, 1, 0], "a", 0x40]),
                  code: .invalidSubscriptionOptions, reasonCode: .malformedPacket),
    MalformedCase(name: "Retain Handling 3", version: .v5, input: packet(0x82, [[0, 1, 0], "a", 0x30]),
                  code: .invalidSubscriptionOptions, reasonCode: .protocolError),
    MalformedCase(name: "subscription QoS 3", version: .v5, input: packet(0x82, [[0, 1, 0], "a", 0x03]), code: .invalidQoS, reasonCode: .malformedPacket),
    MalformedCase(name: "No Local on a shared subscription", version: .v5, input: packet(0x82, [[0, 1, 0], "$share/g/a", 0x04]),
                  code: .invalidSubscriptionOptions, reasonCode: .protocolError),
    MalformedCase(name: "two Subscription Identifiers on SUBSCRIBE", version: .v5, input: packet(0x82, [[0, 1, 4, 0x0B, 1, 0x0B, 2], "a", 0]),
                  code: .duplicateProperty, reasonCode: .protocolError),
    MalformedCase(name: "UNSUBSCRIBE without filters", version: .v5, input: packet(0xA2, [[0, 1, 0]]),
                  code: .emptySubscriptionList, reasonCode: .protocolError),
    MalformedCase(name: "UNSUBSCRIBE from an invalid filter", version: .v3_1_1, input: packet(0xA2, [[0, 1], "#/a"]),
                  code: .invalidTopicFilter, reasonCode: .malformedPacket),
    MalformedCase(name: "PINGREQ with a body", version: .v5, input: packet(0xC0, [0]), code: .trailingBytes, reasonCode: .malformedPacket),
    MalformedCase(name: "3.1.1 DISCONNECT with a body", version: .v3_1_1, input: packet(0xE0, [0]), code: .trailingBytes, reasonCode: .malformedPacket),
    MalformedCase(name: "DISCONNECT with a CONNACK-only reason code", version: .v5, input: packet(0xE0, [0x86]),
                  code: .invalidReasonCode, reasonCode: .protocolError),
    MalformedCase(name: "AUTH with an unknown reason code", version: .v5, input: packet(0xF0, [0x01, 0]), code: .invalidReasonCode, reasonCode: .protocolError),
    MalformedCase(name: "3.1.1 CONNACK return code 6", version: .v3_1_1, input: packet(0x20, [[0, 6]]),
                  code: .invalidReasonCode, reasonCode: .malformedPacket),
    MalformedCase(name: "CONNACK reserved acknowledge flags", version: .v5, input: packet(0x20, [[2, 0, 0]]),
                  code: .reservedFlags, reasonCode: .malformedPacket),
    MalformedCase(name: "string longer than the packet", version: .v3_1_1, input: packet(0x30, [[0, 5, 0x61]]),
                  code: .truncatedPacket, reasonCode: .malformedPacket),
]

@Suite struct MQTTMalformedPacketTests {
    @Test(arguments: malformedCases)
    func malformedInputIsRefusedWithTheMandatedReasonCode(_ malformed: MalformedCase) {
        var parser = MQTTPacketParser(maximumPacketSize: malformed.maximumPacketSize, version: malformed.version)
        var input = malformed.input
        #expect(throws: MQTTProtocolError(malformed.code, reasonCode: malformed.reasonCode)) { try parser.parse(&input) }
    }

    /// Fed one byte at a time, each input waits for more until the same error surfaces, never a packet.
    @Test(arguments: malformedCases)
    func malformedInputFedByteByByteFailsTheSameWay(_ malformed: MalformedCase) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(
            parser: MQTTPacketParser(maximumPacketSize: malformed.maximumPacketSize, version: malformed.version)
        )))
        var input = malformed.input
        var failure: (any Error)?
        while failure == nil, let byte = input.readSlice(length: 1) {
            do {
                try channel.writeInbound(byte)
                #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
            } catch {
                failure = error
            }
        }
        #expect(failure as? MQTTProtocolError == MQTTProtocolError(malformed.code, reasonCode: malformed.reasonCode))
        _ = try? channel.finish()
    }
}
