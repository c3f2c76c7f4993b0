import CellbaseSQL

/// One Phoenix channel message in the JSON object form of protocol version 1.0.0, the form the
/// Supabase clients speak: `{"topic","event","payload","ref","join_ref"}`.
///
/// The clients drop a server message that is off by a key without a word, so encoding is
/// strict: every message carries `ref`, null or a string, and `payload` is always an object.
struct PhoenixMessage: Sendable, Hashable {
    var topic: String
    var event: String
    var payload: JSONValue
    /// The push this message answers (`phx_reply`), or the client's counter on a client push.
    var ref: String?
    /// The `ref` of the `phx_join` that opened the channel the message belongs to.
    var joinRef: String?

    init(topic: String, event: String, payload: JSONValue, ref: String? = nil, joinRef: String? = nil) {
        self.topic = topic
        self.event = event
        self.payload = payload
        self.ref = ref
        self.joinRef = joinRef
    }

    /// The compact JSON text sent in one WebSocket text frame. `join_ref` is written only when
    /// known; `ref` always, as the clients require.
    var serialized: String {
        var members = [
            JSONMember(key: "event", value: .string(event)),
            JSONMember(key: "topic", value: .string(topic)),
            JSONMember(key: "payload", value: payload),
            JSONMember(key: "ref", value: ref.map(JSONValue.string) ?? .null),
        ]
        if let joinRef { members.append(JSONMember(key: "join_ref", value: .string(joinRef))) }
        return JSONValue.object(members).serialized
    }
}

/// Why a client frame is not a Phoenix message.
struct PhoenixDecodingError: Error, Sendable, Hashable {
    var reason: String
}

extension PhoenixMessage {
    /// Deepest nesting accepted in a client frame: presence states and broadcast payloads are
    /// application JSON, but nothing a client sends needs more.
    static let maxDepth = 64

    /// Reads a client frame. `ref` and `join_ref` may be strings, numbers (kept as their text) or
    /// null; heartbeats of the Supabase clients carry a null `ref`.
    init(decoding bytes: some Collection<UInt8>) throws(PhoenixDecodingError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, maxDepth: Self.maxDepth)
        } catch {
            throw PhoenixDecodingError(reason: "malformed JSON: \(error.message) at offset \(error.offset)")
        }
        guard case .object = value else {
            throw PhoenixDecodingError(reason: "a message is a JSON object {\"topic\",\"event\",\"payload\",\"ref\"}")
        }
        guard case .string(let topic)? = value["topic"] else { throw PhoenixDecodingError(reason: "\"topic\" must be a string") }
        guard case .string(let event)? = value["event"] else { throw PhoenixDecodingError(reason: "\"event\" must be a string") }
        let payload = value["payload"] ?? .object([])
        guard case .object = payload else { throw PhoenixDecodingError(reason: "\"payload\" must be an object") }
        self.init(
            topic: topic, event: event, payload: payload,
            ref: try Self.reference(value["ref"], name: "ref"),
            joinRef: try Self.reference(value["join_ref"], name: "join_ref")
        )
    }

    private static func reference(_ value: JSONValue?, name: String) throws(PhoenixDecodingError) -> String? {
        switch value {
        case nil, .null?: nil
        case .string(let text)?: text
        case .number(let text)?: text
        default: throw PhoenixDecodingError(reason: "\"\(name)\" must be a string or null")
        }
    }
}

/// The events of the protocol.
enum PhoenixEvent {
    static let join = "phx_join"
    static let leave = "phx_leave"
    static let reply = "phx_reply"
    static let close = "phx_close"
    static let error = "phx_error"
    static let heartbeat = "heartbeat"
    static let accessToken = "access_token"
    static let broadcast = "broadcast"
    static let presence = "presence"
    static let presenceState = "presence_state"
    static let presenceDiff = "presence_diff"
    static let postgresChanges = "postgres_changes"
    static let system = "system"
    /// The topic of heartbeats, which belong to the socket rather than to a channel.
    static let socketTopic = "phoenix"
}

extension PhoenixMessage {
    /// `phx_reply` to `request`: same topic, `ref` and `join_ref`.
    static func reply(to request: PhoenixMessage, ok response: JSONValue = .object([])) -> PhoenixMessage {
        reply(to: request, status: "ok", response: response)
    }

    /// An error reply whose `reason` the client reports; reasons that start with a rate-limit
    /// code make it wait 30 s before rejoining.
    static func reply(to request: PhoenixMessage, error reason: String) -> PhoenixMessage {
        reply(to: request, status: "error", response: .object([JSONMember(key: "reason", value: .string(reason))]))
    }

    private static func reply(to request: PhoenixMessage, status: String, response: JSONValue) -> PhoenixMessage {
        PhoenixMessage(
            topic: request.topic, event: PhoenixEvent.reply,
            payload: .object([JSONMember(key: "status", value: .string(status)), JSONMember(key: "response", value: response)]),
            ref: request.ref, joinRef: request.joinRef
        )
    }

    /// The channel is closed by the server; the client removes it.
    static func close(topic: String, joinRef: String?) -> PhoenixMessage {
        PhoenixMessage(topic: topic, event: PhoenixEvent.close, payload: .object([]), ref: joinRef, joinRef: joinRef)
    }

    /// A `system` message about a channel (`ref` null, as the clients require). `channel` is the
    /// topic without its `realtime:` prefix.
    static func system(topic: String, extension name: String, status: String, message: String) -> PhoenixMessage {
        PhoenixMessage(topic: topic, event: PhoenixEvent.system, payload: .object([
            JSONMember(key: "channel", value: .string(RealtimeTopic.channelName(of: topic))),
            JSONMember(key: "extension", value: .string(name)),
            JSONMember(key: "status", value: .string(status)),
            JSONMember(key: "message", value: .string(message)),
        ]))
    }

    /// A broadcast as the clients receive it: `{"type":"broadcast","event","payload"}`, `ref` null.
    static func broadcast(topic: String, event: String, payload: JSONValue) -> PhoenixMessage {
        PhoenixMessage(topic: topic, event: PhoenixEvent.broadcast, payload: .object([
            JSONMember(key: "type", value: .string("broadcast")),
            JSONMember(key: "event", value: .string(event)),
            JSONMember(key: "payload", value: payload),
        ]))
    }
}

/// Topic names: `realtime:<channel>` for channels the Supabase clients open.
enum RealtimeTopic {
    static let prefix = "realtime:"

    static func channelName(of topic: String) -> String {
        topic.hasPrefix(prefix) ? String(topic.dropFirst(prefix.count)) : topic
    }

    /// Longest topic accepted: topics are keys of the node's registry and appear in every frame.
    static let maxLength = 255
}
