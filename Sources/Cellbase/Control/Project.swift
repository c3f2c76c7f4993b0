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

    public init(ref: String, name: String, shard: String, jwtSecret: String, anonKey: String, serviceRoleKey: String, createdAt: String) {
        self.ref = ref
        self.name = name
        self.shard = shard
        self.jwtSecret = jwtSecret
        self.anonKey = anonKey
        self.serviceRoleKey = serviceRoleKey
        self.createdAt = createdAt
    }

    static func isValidRef(_ ref: String) -> Bool {
        ref.utf8.count == 20 && ref.utf8.allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
    }
}
