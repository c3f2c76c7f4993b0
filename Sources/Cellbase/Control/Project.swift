/// A tenant: an isolated backend with its own tables, keys and shard placement.
public struct Project: Sendable, Hashable, Codable {
    /// Twenty lowercase letters, like a Supabase project ref.
    public var ref: String
    public var name: String
    public var shard: String
    /// The HS256 secret that signs this project's keys and user tokens.
    public var jwtSecret: String
    public var anonKey: String
    public var serviceRoleKey: String
    public var createdAt: String
    /// The cell whose nodes serve the project.
    public var cell: String
    /// The node whose own SQLite shard holds the project; `nil` for a shared (PostgreSQL) shard,
    /// which any node of the cell serves.
    public var node: String?
    /// Raised by every change of placement, from one counter for all projects: whoever caches
    /// placements asks the control plane for the ones above the highest it has seen.
    public var placementVersion: Int64
    /// The rate-limit plan the gateway holds the project to; `nil` is the gateway's default.
    public var plan: String?

    public init(
        ref: String, name: String, shard: String, jwtSecret: String, anonKey: String, serviceRoleKey: String, createdAt: String,
        cell: String = Cell.defaultName, node: String? = nil, placementVersion: Int64 = 0, plan: String? = nil
    ) {
        self.ref = ref
        self.name = name
        self.shard = shard
        self.jwtSecret = jwtSecret
        self.anonKey = anonKey
        self.serviceRoleKey = serviceRoleKey
        self.createdAt = createdAt
        self.cell = cell
        self.node = node
        self.placementVersion = placementVersion
        self.plan = plan
    }

    static func isValidRef(_ ref: String) -> Bool {
        ref.utf8.count == 20 && ref.utf8.allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
    }
}
