import NIOCore

/// The protocol levels this codec speaks.
public enum MQTTProtocolVersion: UInt8, Hashable, Sendable {
    case v3_1_1 = 4
    case v5 = 5
}

/// Delivery guarantee of a PUBLISH or subscription.
public enum MQTTQoS: UInt8, Hashable, Sendable, Comparable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One MQTT control packet, in the version-neutral shape both 3.1.1 and 5.0 map onto; fields only 5.0
/// has (properties, most reason codes) are left out of 3.1.1 packets by the encoder.
public enum MQTTPacket: Hashable, Sendable {
    case connect(MQTTConnect)
    case connAck(MQTTConnAck)
    case publish(MQTTPublish)
    case pubAck(MQTTAcknowledgement)
    case pubRec(MQTTAcknowledgement)
    case pubRel(MQTTAcknowledgement)
    case pubComp(MQTTAcknowledgement)
    case subscribe(MQTTSubscribe)
    case subAck(MQTTSubAck)
    case unsubscribe(MQTTUnsubscribe)
    case unsubAck(MQTTUnsubAck)
    case pingReq
    case pingResp
    case disconnect(MQTTDisconnect)
    case auth(MQTTAuth)

    /// The packet type of the fixed header (MQTT §2.1.2).
    public var kind: Kind {
        switch self {
        case .connect: .connect
        case .connAck: .connAck
        case .publish: .publish
        case .pubAck: .pubAck
        case .pubRec: .pubRec
        case .pubRel: .pubRel
        case .pubComp: .pubComp
        case .subscribe: .subscribe
        case .subAck: .subAck
        case .unsubscribe: .unsubscribe
        case .unsubAck: .unsubAck
        case .pingReq: .pingReq
        case .pingResp: .pingResp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }

    public enum Kind: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        case connect = 1, connAck, publish, pubAck, pubRec, pubRel, pubComp, subscribe, subAck, unsubscribe, unsubAck
        case pingReq, pingResp, disconnect, auth

        /// Lower-case name, as metrics label it.
        public var description: String {
            switch self {
            case .connect: "connect"
            case .connAck: "connack"
            case .publish: "publish"
            case .pubAck: "puback"
            case .pubRec: "pubrec"
            case .pubRel: "pubrel"
            case .pubComp: "pubcomp"
            case .subscribe: "subscribe"
            case .subAck: "suback"
            case .unsubscribe: "unsubscribe"
            case .unsubAck: "unsuback"
            case .pingReq: "pingreq"
            case .pingResp: "pingresp"
            case .disconnect: "disconnect"
            case .auth: "auth"
            }
        }

        /// The low nibble of the first byte, fixed for every type but PUBLISH (MQTT §2.1.3).
        var fixedFlags: UInt8 {
            switch self {
            case .pubRel, .subscribe, .unsubscribe: 0b0010
            default: 0
            }
        }
    }
}

/// The message a server publishes on the client's behalf when the connection ends abnormally.
public struct MQTTWill: Hashable, Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, properties: MQTTProperties = MQTTProperties()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

public struct MQTTConnect: Hashable, Sendable {
    public var version: MQTTProtocolVersion
    /// Clean Session in 3.1.1, Clean Start in 5.0.
    public var cleanStart: Bool
    /// Seconds; 0 turns keep-alive off.
    public var keepAlive: UInt16
    public var clientIdentifier: String
    public var will: MQTTWill?
    public var userName: String?
    public var password: ByteBuffer?
    public var properties: MQTTProperties

    public init(
        version: MQTTProtocolVersion, cleanStart: Bool = true, keepAlive: UInt16 = 60, clientIdentifier: String,
        will: MQTTWill? = nil, userName: String? = nil, password: ByteBuffer? = nil, properties: MQTTProperties = MQTTProperties()
    ) {
        self.version = version
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientIdentifier = clientIdentifier
        self.will = will
        self.userName = userName
        self.password = password
        self.properties = properties
    }
}

public struct MQTTConnAck: Hashable, Sendable {
    public var sessionPresent: Bool
    /// On 3.1.1 sent as the nearest return code (``MQTTReasonCode/connectReturnCode``).
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool = false, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

public struct MQTTPublish: Hashable, Sendable {
    /// Empty only on 5.0 when ``MQTTProperties/topicAlias`` names it.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    public var duplicate: Bool
    /// Present exactly when QoS is 1 or 2.
    public var packetIdentifier: UInt16?
    public var properties: MQTTProperties

    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
        packetIdentifier: UInt16? = nil, properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP: a packet identifier and, on 5.0, a reason code and properties.
public struct MQTTAcknowledgement: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// One topic filter of a SUBSCRIBE with its options (on 3.1.1 only the QoS).
public struct MQTTSubscription: Hashable, Sendable {
    public enum RetainHandling: UInt8, Hashable, Sendable {
        case sendOnSubscribe = 0
        case sendOnNewSubscribe = 1
        case doNotSend = 2
    }

    public var topicFilter: String
    public var qos: MQTTQoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(
        topicFilter: String, qos: MQTTQoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: RetainHandling = .sendOnSubscribe
    ) {
        self.topicFilter = topicFilter
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

public struct MQTTSubscribe: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// Never empty.
    public var subscriptions: [MQTTSubscription]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, subscriptions: [MQTTSubscription], properties: MQTTProperties = MQTTProperties()) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

public struct MQTTSubAck: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// One per subscription: the granted QoS (0x00–0x02) or a failure. On 3.1.1 every failure is sent as 0x80.
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [MQTTReasonCode], properties: MQTTProperties = MQTTProperties()) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

public struct MQTTUnsubscribe: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// Never empty.
    public var topicFilters: [String]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, topicFilters: [String], properties: MQTTProperties = MQTTProperties()) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

public struct MQTTUnsubAck: Hashable, Sendable {
    public var packetIdentifier: UInt16
    /// One per topic filter on 5.0; 3.1.1 UNSUBACKs carry none.
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [MQTTReasonCode] = [], properties: MQTTProperties = MQTTProperties()) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

public struct MQTTDisconnect: Hashable, Sendable {
    /// 3.1.1 DISCONNECTs carry no reason code; they read as normal disconnection.
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// MQTT 5 enhanced authentication exchange; the server does not offer it, but parses it to refuse it properly.
public struct MQTTAuth: Hashable, Sendable {
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
