import CellbaseSQL

/// What a `phx_join` asks for, read from its payload:
/// `{"config":{"broadcast":{"ack","self"},"presence":{"key","enabled"},"private","postgres_changes":[...]},"access_token"}`.
struct ChannelJoin: Sendable, Hashable {
    /// Whether the sender receives its own broadcasts.
    var broadcastSelf = false
    /// Whether a broadcast is answered with a `phx_reply`.
    var broadcastAck = false
    /// Whether the joiner wants the topic's presence state.
    var presenceEnabled = false
    /// The key this socket's presence is tracked under; `nil` when the client left it empty.
    var presenceKey: String?
    /// The `postgres_changes` bindings as sent, checked against the catalog when the join is authorised.
    var postgresChanges: [JSONValue] = []
    /// The API key or a user's access token; `nil` when omitted (the socket's API key applies).
    var accessToken: String?

    /// Most bindings one join may carry: each is checked against every change of its project.
    static let maxBindings = 100
    static let maxPresenceKeyLength = 255

    init(payload: JSONValue) throws(RealtimeRefusal) {
        let config = payload["config"] ?? .object([])
        guard case .object = config else { throw RealtimeRefusal("\"config\" must be an object") }
        if let broadcast = config["broadcast"], broadcast != .null {
            guard case .object = broadcast else { throw RealtimeRefusal("\"config.broadcast\" must be an object") }
            broadcastSelf = try Self.flag(broadcast["self"], "config.broadcast.self")
            broadcastAck = try Self.flag(broadcast["ack"], "config.broadcast.ack")
        }
        if let presence = config["presence"], presence != .null {
            guard case .object = presence else { throw RealtimeRefusal("\"config.presence\" must be an object") }
            presenceEnabled = try Self.flag(presence["enabled"], "config.presence.enabled")
            switch presence["key"] {
            case nil, .null?, .string("")?:
                presenceKey = nil
            case .string(let key)? where key.utf8.count <= Self.maxPresenceKeyLength:
                presenceKey = key
            default:
                throw RealtimeRefusal("\"config.presence.key\" must be a string of at most \(Self.maxPresenceKeyLength) bytes")
            }
        }
        if try Self.flag(config["private"], "config.private") {
            throw RealtimeRefusal("private channels are not supported: join with \"private\": false")
        }
        switch config["postgres_changes"] {
        case nil, .null?:
            break
        case .array(let bindings)? where bindings.count <= Self.maxBindings:
            postgresChanges = bindings
        case .array?:
            throw RealtimeRefusal("at most \(Self.maxBindings) postgres_changes bindings per channel")
        default:
            throw RealtimeRefusal("\"config.postgres_changes\" must be an array")
        }
        switch payload["access_token"] {
        case nil, .null?, .string("")?:
            accessToken = nil
        case .string(let token)?:
            accessToken = token
        default:
            throw RealtimeRefusal("\"access_token\" must be a string")
        }
    }

    private static func flag(_ value: JSONValue?, _ name: String) throws(RealtimeRefusal) -> Bool {
        switch value {
        case nil, .null?: false
        case .bool(let flag)?: flag
        default: throw RealtimeRefusal("\"\(name)\" must be true or false")
        }
    }
}
