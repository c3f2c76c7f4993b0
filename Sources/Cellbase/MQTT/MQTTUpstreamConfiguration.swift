import CellbaseMQTT

/// How the node consumes device telemetry from an existing MQTT 5 broker (`cellbase serve --mqtt-upstream*`).
///
/// Every node of a deployment subscribes to the same shared subscription, so the broker splits the
/// devices' publishes between them; each node keeps a persistent session under its own client
/// identifier, so the broker holds what a node has not acknowledged until that node is back.
public struct MQTTUpstreamConfiguration: Sendable {
    /// The broker's address.
    public var host: String
    public var port: Int
    /// The client identifier the node's session is kept under; `nil` uses `cellbase-{node id}`, the
    /// node id being made once and kept in `<data>/node_id`, so it is stable across restarts.
    public var clientIdentifier: String?
    public var userName: String?
    /// Sent in CONNECT and never logged.
    public var password: String?
    /// The project whose devices the topics name: a project ref or name; `nil` takes the project `default`.
    public var project: String?
    /// The share name of the subscription (`$share/{group}/devices/+/telemetry/#`).
    public var shareGroup: String
    /// Seconds between packets before the client pings the broker; a broker's Server Keep Alive overrides it.
    public var keepAlive: UInt16
    /// Seconds the broker keeps the session, and the publishes it holds for the node, after a disconnect.
    public var sessionExpiry: UInt32
    /// Publishes the broker may have in flight to the node at once (our Receive Maximum).
    public var receiveMaximum: UInt16
    /// The largest packet accepted from the broker.
    public var maximumPacketSize: Int
    /// Commands waiting for the broker's Receive Maximum to allow them; more stay pending in storage.
    public var maxQueuedCommands: Int
    /// First and longest wait between connection attempts; each wait is doubled up to the cap and jittered.
    public var reconnectDelay: Duration
    public var maxReconnectDelay: Duration

    public init(
        host: String, port: Int = 1883, clientIdentifier: String? = nil, userName: String? = nil, password: String? = nil, project: String? = nil,
        shareGroup: String = "cellbase", keepAlive: UInt16 = 30, sessionExpiry: UInt32 = 3600, receiveMaximum: UInt16 = 1000,
        maximumPacketSize: Int = 1 << 20, maxQueuedCommands: Int = 10_000, reconnectDelay: Duration = .milliseconds(250),
        maxReconnectDelay: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.clientIdentifier = clientIdentifier
        self.userName = userName
        self.password = password
        self.project = project
        self.shareGroup = shareGroup
        self.keepAlive = keepAlive
        self.sessionExpiry = sessionExpiry
        self.receiveMaximum = receiveMaximum
        self.maximumPacketSize = maximumPacketSize
        self.maxQueuedCommands = maxQueuedCommands
        self.reconnectDelay = reconnectDelay
        self.maxReconnectDelay = maxReconnectDelay
    }

    /// The shared subscription the node consumes.
    public var topicFilter: String { "$share/\(shareGroup)/devices/+/telemetry/#" }

    /// Host and port of an `mqtt://host[:port]` URL (no path, query or credentials), or `nil`.
    public static func brokerAddress(_ url: String) -> (host: String, port: Int)? {
        guard url.hasPrefix("mqtt://") else { return nil }
        let authority = url.dropFirst("mqtt://".count)
        guard !authority.isEmpty, !authority.contains(where: { "/?#@".contains($0) }) else { return nil }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let host = String(authority[authority.index(after: authority.startIndex)..<close])
            let rest = authority[authority.index(after: close)...]
            if rest.isEmpty { return host.isEmpty ? nil : (host, 1883) }
            guard rest.first == ":", let port = Int(rest.dropFirst()), (1...65535).contains(port), !host.isEmpty else { return nil }
            return (host, port)
        }
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return (String(parts[0]), 1883)
        case 2:
            guard !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
            return (String(parts[0]), port)
        default: return nil
        }
    }
}
