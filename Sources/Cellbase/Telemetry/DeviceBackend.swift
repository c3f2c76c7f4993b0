import NIOCore

/// A device as the MQTT listener knows it once it has authenticated: which project it belongs to and its id there.
public struct DeviceIdentity: Sendable, Hashable {
    public var projectRef: String
    public var deviceID: String

    public init(projectRef: String, deviceID: String) {
        self.projectRef = projectRef
        self.deviceID = deviceID
    }
}

/// One PUBLISH a device sent to its telemetry topic (`devices/{id}/telemetry[/...]`), already checked
/// against the device's ACL.
public struct DevicePublish: Sendable {
    public var device: DeviceIdentity
    /// The full topic name, after any topic alias was resolved.
    public var topic: String
    public var payload: ByteBuffer
    /// Arrival time in milliseconds since the Unix epoch: the point time when the payload has no `ts`.
    public var receivedAtMillis: Int64

    public init(device: DeviceIdentity, topic: String, payload: ByteBuffer, receivedAtMillis: Int64) {
        self.device = device
        self.topic = topic
        self.payload = payload
        self.receivedAtMillis = receivedAtMillis
    }
}

/// What became of one publish handed to `DeviceBackend.store`.
public enum DevicePublishOutcome: Sendable, Equatable {
    /// Its points and last state are committed.
    case stored
    /// The payload is not telemetry Cellbase understands (bad JSON, invalid UTF-8, out-of-range
    /// timestamp…); nothing of it was stored. MQTT 5 answers QoS 1 with PUBACK 0x99 (payload format
    /// invalid); MQTT 3.1.1 has no negative PUBACK, so the publish is acknowledged and dropped.
    case rejected(reason: String)
}

/// A command waiting for a device on `devices/{id}/commands[/...]`.
public struct DeviceCommand: Sendable, Equatable {
    public var id: String
    /// The full topic name the command is published to.
    public var topic: String
    public var payload: ByteBuffer
    /// When the command stops being delivered, in milliseconds since the Unix epoch.
    public var expiresAtMillis: Int64

    public init(id: String, topic: String, payload: ByteBuffer, expiresAtMillis: Int64) {
        self.id = id
        self.topic = topic
        self.payload = payload
        self.expiresAtMillis = expiresAtMillis
    }
}

/// What the MQTT listener (and the upstream-broker consumer) needs from the node: device credentials,
/// durable telemetry storage and the command outbox. The telemetry service implements it over the
/// projects' shards; tests may implement it in memory.
public protocol DeviceBackend: Sendable {
    /// The device a CONNECT's credentials name, or `nil` when they are wrong.
    ///
    /// `username` is `PROJECT_REF:DEVICE_ID`, or a bare device id when the node serves a single project.
    func authenticate(username: String, password: ByteBuffer) async throws -> DeviceIdentity?

    /// Stores a batch of publishes — possibly from many devices and projects — and returns one outcome
    /// per publish, in order. It returns only once every `.stored` publish is durably committed, so
    /// the caller may acknowledge QoS 1 publishes the moment it returns.
    func store(_ publishes: [DevicePublish]) async throws -> [DevicePublishOutcome]

    /// Commands for the device that are neither delivered nor expired, oldest first.
    func pendingCommands(for device: DeviceIdentity) async throws -> [DeviceCommand]

    /// Records that the device acknowledged a command (PUBACK for its QoS 1 publish).
    func commandDelivered(id: String, to device: DeviceIdentity) async throws

    /// Devices that have a new command since they were last asked, as commands are posted.
    /// Each call returns a new stream; the listener holds one for its lifetime.
    func commandNotifications() -> AsyncStream<DeviceIdentity>
}
