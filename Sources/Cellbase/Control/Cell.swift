/// A group of nodes and the shards they serve. A failure stays inside its cell: a node serves
/// only the projects placed in its own.
public struct Cell: Sendable, Hashable, Codable {
    /// Every control plane has it; nodes started without `--cell` belong to it.
    public static let defaultName = "default"

    public var name: String
    public var createdAt: String

    public init(name: String, createdAt: String) {
        self.name = name
        self.createdAt = createdAt
    }

    /// Cell and shard names: 1 to 63 lowercase letters, digits, `-` and `_`, starting with a letter.
    static func isValidName(_ name: String) -> Bool {
        guard (1...63).contains(name.utf8.count), let first = name.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }
}

/// A running node as the control plane knows it: registered as it starts, beating while it runs.
public struct NodeRecord: Sendable, Hashable, Codable {
    public var id: String
    public var cell: String
    /// Where the gateway reaches it.
    public var url: String
    /// The shared shards it is configured with (its own `local` is not listed).
    public var shards: [String]
    public var startedAt: String
    public var beatAt: String
    /// Seconds since its last heartbeat, by the control database's clock.
    public var secondsSinceBeat: Double

    public init(id: String, cell: String, url: String, shards: [String], startedAt: String, beatAt: String, secondsSinceBeat: Double) {
        self.id = id
        self.cell = cell
        self.url = url
        self.shards = shards
        self.startedAt = startedAt
        self.beatAt = beatAt
        self.secondsSinceBeat = secondsSinceBeat
    }
}

/// A rate-limit plan: the requests per second a project may make through the gateway, and the burst above it.
public struct RatePlan: Sendable, Hashable, Codable {
    public var name: String
    public var requestsPerSecond: Double
    public var burst: Int

    public init(name: String, requestsPerSecond: Double, burst: Int) {
        self.name = name
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }
}
