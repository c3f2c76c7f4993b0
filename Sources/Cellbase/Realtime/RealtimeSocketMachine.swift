import CellbaseSQL

/// The Phoenix channel protocol of one socket: which channels it has joined and what each
/// client message asks for. Messages in, actions out, no I/O: the socket that owns it performs
/// the actions (authorising a join, publishing a broadcast, tracking presence) and reports the
/// outcome of the ones that take time back to it.
///
/// The owner hands it one message at a time and finishes an `authorizeJoin` or `reauthorize`
/// before the next, so a channel is never half-joined here.
struct RealtimeSocketMachine: Sendable {
    struct Channel: Sendable, Hashable {
        /// The `ref` of the join that opened it, sent back as `join_ref` on `phx_close`.
        var joinRef: String?
        var broadcastSelf: Bool
        var broadcastAck: Bool
        var presenceKey: String
        /// When the access token in use expires, in seconds since 1970; `nil` for the API key
        /// (keys are checked when the socket connects).
        var tokenExpiresAt: Double?
    }

    enum Action: Sendable, Hashable {
        /// Send this message to the client.
        case send(PhoenixMessage)
        /// Check the join's token and bindings, then call `joined` or `refused`.
        case authorizeJoin(PhoenixMessage, ChannelJoin)
        /// The channel is gone: remove its presence and subscriptions from the node.
        case unsubscribe(topic: String)
        /// Publish a client broadcast to the topic; `request` is answered when `ack` is set.
        case broadcast(request: PhoenixMessage, event: String, payload: JSONValue, includeSelf: Bool, ack: Bool)
        /// Track `state` under `key` (replacing what the socket tracked there), then reply.
        case track(request: PhoenixMessage, key: String, state: JSONValue)
        /// Stop tracking `key`, then reply.
        case untrack(request: PhoenixMessage, key: String)
        /// Verify the new token, then call `reauthorized` or `close`.
        case reauthorize(PhoenixMessage, token: String)
    }

    private(set) var channels: [String: Channel] = [:]
    let maxChannels: Int

    init(maxChannels: Int) {
        self.maxChannels = maxChannels
    }

    /// A frame from the client, or why it could not be read.
    mutating func received(_ frame: Result<PhoenixMessage, PhoenixDecodingError>) -> [Action] {
        let message: PhoenixMessage
        switch frame {
        case .success(let decoded):
            message = decoded
        case .failure(let error):
            // Nothing to route the answer by: it goes to the socket's own topic, which the
            // clients ignore, so a bad frame costs the client nothing but is not passed over.
            return [.send(PhoenixMessage(
                topic: PhoenixEvent.socketTopic, event: PhoenixEvent.reply,
                payload: .object([
                    JSONMember(key: "status", value: .string("error")),
                    JSONMember(key: "response", value: .object([JSONMember(key: "reason", value: .string(error.reason))])),
                ])
            ))]
        }
        if message.topic == PhoenixEvent.socketTopic {
            guard message.event == PhoenixEvent.heartbeat else {
                return [.send(.reply(to: message, error: "unknown event '\(message.event)' on topic phoenix"))]
            }
            return [.send(.reply(to: message))]
        }
        if message.event == PhoenixEvent.join {
            return join(message)
        }
        guard let channel = channels[message.topic] else {
            return [.send(.reply(to: message, error: "unmatched topic"))]
        }
        switch message.event {
        case PhoenixEvent.leave:
            channels[message.topic] = nil
            return [.unsubscribe(topic: message.topic), .send(.reply(to: message)), .send(.close(topic: message.topic, joinRef: channel.joinRef))]
        case PhoenixEvent.accessToken:
            guard case .string(let token)? = message.payload["access_token"], !token.isEmpty else {
                return [.send(.reply(to: message, error: "\"access_token\" must be a non-empty string"))]
            }
            return [.reauthorize(message, token: token)]
        case PhoenixEvent.broadcast:
            guard case .string(let event)? = message.payload["event"] else {
                return [.send(.reply(to: message, error: "a broadcast needs \"event\", a string"))]
            }
            let payload = message.payload["payload"] ?? .object([])
            guard case .object = payload else {
                return [.send(.reply(to: message, error: "a broadcast's \"payload\" must be an object"))]
            }
            return [.broadcast(request: message, event: event, payload: payload, includeSelf: channel.broadcastSelf, ack: channel.broadcastAck)]
        case PhoenixEvent.presence:
            switch message.payload["event"] {
            case .string("track")?:
                let state = message.payload["payload"] ?? .object([])
                guard case .object = state else {
                    return [.send(.reply(to: message, error: "a presence state must be an object"))]
                }
                return [.track(request: message, key: channel.presenceKey, state: state)]
            case .string("untrack")?:
                return [.untrack(request: message, key: channel.presenceKey)]
            default:
                return [.send(.reply(to: message, error: "a presence message's \"event\" is track or untrack"))]
            }
        default:
            return [.send(.reply(to: message, error: "unknown event '\(message.event)'"))]
        }
    }

    private mutating func join(_ message: PhoenixMessage) -> [Action] {
        guard !message.topic.isEmpty, message.topic.utf8.count <= RealtimeTopic.maxLength else {
            return [.send(.reply(to: message, error: "a topic is 1 to \(RealtimeTopic.maxLength) bytes"))]
        }
        var actions: [Action] = []
        // A join to a topic already joined replaces that channel, as Phoenix does on a rejoin.
        if channels.removeValue(forKey: message.topic) != nil {
            actions.append(.unsubscribe(topic: message.topic))
        }
        guard channels.count < maxChannels else {
            return actions + [.send(.reply(to: message, error: RealtimeLimitReason.channels(maxChannels)))]
        }
        do {
            return actions + [.authorizeJoin(message, try ChannelJoin(payload: message.payload))]
        } catch {
            return actions + [.send(.reply(to: message, error: error.reason))]
        }
    }

    /// The join was authorised: reply with the bindings' ids, and tell a channel with
    /// `postgres_changes` bindings that it is subscribed.
    mutating func joined(_ request: PhoenixMessage, _ join: ChannelJoin, bindings: [PostgresChangesBinding], presenceKey: String, tokenExpiresAt: Double?) -> [Action] {
        channels[request.topic] = Channel(
            joinRef: request.ref, broadcastSelf: join.broadcastSelf, broadcastAck: join.broadcastAck,
            presenceKey: presenceKey, tokenExpiresAt: tokenExpiresAt
        )
        var actions: [Action] = [.send(.reply(to: request, ok: .object([
            JSONMember(key: "postgres_changes", value: .array(bindings.map(\.reply)))
        ])))]
        if !bindings.isEmpty {
            actions.append(.send(.system(topic: request.topic, extension: "postgres_changes", status: "ok", message: "Subscribed to PostgreSQL")))
        }
        return actions
    }

    func refused(_ request: PhoenixMessage, _ refusal: RealtimeRefusal) -> [Action] {
        [.send(.reply(to: request, error: refusal.reason))]
    }

    /// A new token was verified for the channel of `topic`.
    mutating func reauthorized(topic: String, tokenExpiresAt: Double?) {
        channels[topic]?.tokenExpiresAt = tokenExpiresAt
    }

    /// Closes the channel of `topic` with a system error the client reports, as Supabase does
    /// when a token is refused or runs out.
    mutating func close(topic: String, reason: String) -> [Action] {
        guard let channel = channels.removeValue(forKey: topic) else { return [] }
        return [
            .unsubscribe(topic: topic),
            .send(.system(topic: topic, extension: "system", status: "error", message: reason)),
            .send(.close(topic: topic, joinRef: channel.joinRef)),
        ]
    }

    /// When the first of the channels' access tokens expires, in seconds since 1970.
    var earliestTokenExpiry: Double? {
        channels.values.lazy.compactMap(\.tokenExpiresAt).min()
    }

    /// Closes every channel whose token has expired by `now` (seconds since 1970).
    mutating func expireTokens(now: Double) -> [Action] {
        let expired = channels.filter { ($0.value.tokenExpiresAt ?? .infinity) <= now }.keys.sorted()
        return expired.flatMap { topic in
            let ago = Int(now - (channels[topic]?.tokenExpiresAt ?? now))
            return close(topic: topic, reason: "Token has expired \(ago) seconds ago")
        }
    }
}
