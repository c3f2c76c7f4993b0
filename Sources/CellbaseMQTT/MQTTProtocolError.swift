/// A violation of the MQTT specification found in what a peer sent, with the reason code the
/// specification has the receiver answer it with (in the DISCONNECT or CONNACK that closes the
/// connection on MQTT 5; MQTT 3.1.1 just closes it).
public struct MQTTProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong. A struct rather than an enum so that codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        public static let malformedVariableByteInteger = Code("malformed_variable_byte_integer")
        public static let packetTooLarge = Code("packet_too_large")
        public static let reservedPacketType = Code("reserved_packet_type")
        public static let reservedFlags = Code("reserved_flags")
        public static let truncatedPacket = Code("truncated_packet")
        public static let trailingBytes = Code("trailing_bytes")
        public static let invalidUTF8 = Code("invalid_utf8")
        public static let nullCharacter = Code("null_character")
        public static let invalidProtocolName = Code("invalid_protocol_name")
        public static let unsupportedProtocolVersion = Code("unsupported_protocol_version")
        public static let expectedConnect = Code("expected_connect")
        public static let unexpectedPacket = Code("unexpected_packet")
        public static let duplicateProperty = Code("duplicate_property")
        public static let unknownProperty = Code("unknown_property")
        public static let propertyNotAllowed = Code("property_not_allowed")
        public static let invalidPropertyValue = Code("invalid_property_value")
        public static let invalidQoS = Code("invalid_qos")
        public static let zeroPacketIdentifier = Code("zero_packet_identifier")
        public static let emptySubscriptionList = Code("empty_subscription_list")
        public static let invalidSubscriptionOptions = Code("invalid_subscription_options")
        public static let invalidTopicName = Code("invalid_topic_name")
        public static let invalidTopicFilter = Code("invalid_topic_filter")
        public static let invalidReasonCode = Code("invalid_reason_code")
        public static let passwordWithoutUserName = Code("password_without_user_name")
        public static let secondConnect = Code("second_connect")
        public static let topicAliasInvalid = Code("topic_alias_invalid")
        public static let qosNotSupported = Code("qos_not_supported")
        public static let receiveMaximumExceeded = Code("receive_maximum_exceeded")
        public static let unknownPacketIdentifier = Code("unknown_packet_identifier")
        public static let authenticationNotSupported = Code("authentication_not_supported")
    }

    public var code: Code
    /// The MQTT 5 reason code answering this violation: 0x81 (malformed packet), 0x82 (protocol error) or a more specific one.
    public var reasonCode: MQTTReasonCode

    public init(_ code: Code, reasonCode: MQTTReasonCode) {
        self.code = code
        self.reasonCode = reasonCode
    }

    static func malformed(_ code: Code) -> MQTTProtocolError { MQTTProtocolError(code, reasonCode: .malformedPacket) }
    static func protocolError(_ code: Code) -> MQTTProtocolError { MQTTProtocolError(code, reasonCode: .protocolError) }

    public var description: String { "MQTT \(code) (reason code \(reasonCode))" }
}
