import CellbaseMQTT

/// How the node's MQTT listener runs (`cellbase serve --mqtt-*`).
public struct MQTTConfiguration: Sendable {
    /// `false` (`--no-mqtt`) opens no MQTT port.
    public var enabled: Bool
    /// Address to listen on; `nil` uses the node's `--host`.
    public var host: String?
    /// TCP port; 0 picks a free one (tests).
    public var port: Int
    /// What every connection is held to: packet size, topic aliases, receive maximum, session expiry,
    /// keep-alive and the connect timeout.
    public var limits: MQTTServerLimits
    /// Sockets that may wait for their CONNECT at once; more are closed as they arrive, so a flood of
    /// idle sockets costs at most this many until the connect timeout clears them.
    public var maxPendingConnections: Int
    /// Bytes written to one client and not yet taken by it before it is disconnected as not reading.
    public var maxPendingBytes: Int
    /// Most publishes handed to the device backend in one store call (one transaction).
    public var maxBatchSize: Int
    /// Publishes waiting for storage across the node; QoS 0 publishes beyond it are dropped
    /// (QoS 1 ones are bounded by each connection's receive maximum).
    public var maxQueuedPublishes: Int

    public init(
        enabled: Bool = true, host: String? = nil, port: Int = 1883, limits: MQTTServerLimits = MQTTServerLimits(),
        maxPendingConnections: Int = 1024, maxPendingBytes: Int = 1 << 20, maxBatchSize: Int = 1000, maxQueuedPublishes: Int = 100_000
    ) {
        self.enabled = enabled
        self.host = host
        self.port = port
        self.limits = limits
        self.maxPendingConnections = maxPendingConnections
        self.maxPendingBytes = maxPendingBytes
        self.maxBatchSize = maxBatchSize
        self.maxQueuedPublishes = maxQueuedPublishes
    }
}
