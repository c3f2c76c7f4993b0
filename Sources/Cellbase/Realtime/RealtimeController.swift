import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// `/realtime/v1`: the HTTP side of realtime. The WebSocket itself is upgraded before routing
/// (`RealtimeServerChannel`); a request to its path that was not upgraded is answered here with
/// why. Besides it: the REST broadcast endpoints and `postgres_changes` as Server-Sent Events.
struct RealtimeController {
    let services: RealtimeConnection.Services

    func addRoutes(to group: RouterGroup<ProjectRequestContext>) {
        group.get("/websocket", use: notUpgraded)
        group.post("/api/broadcast", use: broadcastBatch)
        group.post("/api/broadcast/{channel}/events/{event}", use: broadcast)
        group.get("/sse", use: serverSentEvents)
    }

    /// The protocol version the Supabase clients speak: JSON objects in text frames.
    static let version = "1.0.0"

    /// Whether an upgrade request names a protocol version this node speaks (absent means 1.0.0).
    static func acceptsVersion(of uri: URI) -> Bool {
        uri.queryParameters["vsn"].map { $0 == Self.version } ?? true
    }

    /// A request with a valid key that reached the router was not a WebSocket upgrade, or asked
    /// for a protocol version other than 1.0.0.
    @Sendable func notUpgraded(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        guard Self.acceptsVersion(of: request.uri) else {
            throw APIError.badRequest("unsupported_version", "Only vsn=\(Self.version) (JSON object messages) is served")
        }
        throw APIError(
            .upgradeRequired, code: "websocket_upgrade_required",
            message: "GET /realtime/v1/websocket?apikey=...&vsn=\(Self.version) is a WebSocket: send it as an upgrade request",
            headers: [.upgrade: "websocket", .connection: "Upgrade"]
        )
    }

    // MARK: - Broadcast over HTTP

    /// `POST /realtime/v1/api/broadcast/<channel>/events/<event>`: the body (a JSON object) is
    /// broadcast to `realtime:<channel>` on every node. 202, as Supabase answers.
    @Sendable func broadcast(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        let channel = context.parameters.get("channel") ?? ""
        let event = context.parameters.get("event") ?? ""
        try Self.refusePrivate(request.uri.queryParameters["private"].map { $0 == "true" } ?? false)
        let payload = try await body(of: request)
        guard case .object = payload else {
            throw APIError.badRequest("invalid_payload", "The body is the broadcast's payload: a JSON object")
        }
        try await publish(topic: RealtimeTopic.prefix + channel, event: event, payload: payload, project: context.project)
        return Response(status: .accepted)
    }

    /// `POST /realtime/v1/api/broadcast` with `{"messages":[{"topic","event","payload"}]}`, as
    /// Supabase's own REST clients send it. A topic without the `realtime:` prefix gets it.
    @Sendable func broadcastBatch(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        guard case .array(let messages)? = try await body(of: request)["messages"] else {
            throw APIError.badRequest("invalid_payload", "The body is {\"messages\": [{\"topic\", \"event\", \"payload\"}]}")
        }
        var checked: [(topic: String, event: String, payload: JSONValue)] = []
        for message in messages {
            guard case .string(let topic)? = message["topic"], case .string(let event)? = message["event"],
                  case .object? = message["payload"], let payload = message["payload"]
            else {
                throw APIError.badRequest("invalid_payload", "Each message is {\"topic\": string, \"event\": string, \"payload\": object}")
            }
            if case .bool(true)? = message["private"] { try Self.refusePrivate(true) }
            checked.append((topic.hasPrefix(RealtimeTopic.prefix) ? topic : RealtimeTopic.prefix + topic, event, payload))
        }
        for message in checked {
            try await publish(topic: message.topic, event: message.event, payload: message.payload, project: context.project)
        }
        return Response(status: .accepted)
    }

    private func body(of request: Request) async throws -> JSONValue {
        // The body carries one payload (or a batch of them): a few times the payload limit is plenty.
        let bytes: [UInt8]
        do {
            bytes = try await DataAPIController.collectBody(request, limit: services.configuration.maxPayloadBytes * 4)
        } catch let error as RESTError {
            throw APIError(.contentTooLarge, code: error.code, message: error.message)
        }
        do {
            return try JSONParser.parse(bytes, maxDepth: PhoenixMessage.maxDepth)
        } catch {
            throw APIError.badRequest("invalid_json", "The body is not JSON: \(error.message) at offset \(error.offset)")
        }
    }

    private func publish(topic: String, event: String, payload: JSONValue, project: Project) async throws {
        guard topic.utf8.count <= RealtimeTopic.maxLength, topic != RealtimeTopic.prefix else {
            throw APIError.badRequest("invalid_topic", "A topic is 1 to \(RealtimeTopic.maxLength) bytes")
        }
        let limit = services.configuration.maxPayloadBytes
        guard payload.serialized.utf8.count <= limit else {
            throw APIError(.contentTooLarge, code: "PayloadTooLarge", message: RealtimeLimitReason.payload(limit))
        }
        guard services.limiter.admitEvent(project.ref) else {
            throw APIError(.tooManyRequests, code: "MessagePerSecondRateLimitReached", message: RealtimeLimitReason.events)
        }
        await services.hub.broadcast(project: project.ref, topic: topic, event: event, payload: payload, excluding: nil)
    }

    private static func refusePrivate(_ isPrivate: Bool) throws {
        guard isPrivate else { return }
        throw APIError.badRequest("private_channels_unsupported", "Private channels are not supported: send to a public channel")
    }

    // MARK: - Server-Sent Events

    /// `GET /realtime/v1/sse?table=t[&filter=col=eq.v][&event=INSERT][&schema=public]`: the table's
    /// changes as Server-Sent Events, `event: postgres_changes` with the same payload a WebSocket
    /// channel receives (`{"ids","data"}`), and a comment every `sseKeepAlive`.
    @Sendable func serverSentEvents(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        guard let table = query["table"].map(String.init) else {
            throw APIError.badRequest("invalid_subscription", "GET /realtime/v1/sse needs ?table=<table>")
        }
        guard services.hub.servesChanges else {
            throw APIError(.serviceUnavailable, code: "UnableToSubscribeToPostgres", message: "This node does not read change feeds")
        }
        var members = [
            JSONMember(key: "event", value: .string(query["event"].map(String.init) ?? "*")),
            JSONMember(key: "schema", value: .string(query["schema"].map(String.init) ?? PostgresChangesBinding.schema)),
            JSONMember(key: "table", value: .string(table)),
        ]
        if let filter = query["filter"] { members.append(JSONMember(key: "filter", value: .string(String(filter)))) }
        let project = context.project
        let binding: PostgresChangesBinding
        do {
            binding = try PostgresChangesBinding(.object(members), id: services.hub.newBindingID(), schema: try await services.projects.catalog(for: project).schema)
        } catch let refusal as RealtimeRefusal {
            throw APIError.badRequest("invalid_subscription", refusal.reason)
        }
        guard services.limiter.acquireConnection(project.ref) else {
            throw APIError(.tooManyRequests, code: "ConnectionRateLimitReached", message: RealtimeLimitReason.connections)
        }
        let access = context.access
        let expiresAt = context.role == .authenticated ? context.claims["exp"]?.numberValue : nil
        let services = self.services
        let channel = context.channel
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                defer { services.limiter.releaseConnection(project.ref) }
                try await Self.stream(binding, access: access, expiresAt: expiresAt, project: project, services: services, channel: channel, to: &writer)
                try await writer.finish(nil)
            }
        )
    }

    private static func stream(
        _ binding: PostgresChangesBinding, access: RESTAccess, expiresAt: Double?, project: Project,
        services: RealtimeConnection.Services, channel: any Channel, to writer: inout any ResponseBodyWriter
    ) async throws {
        let hub = services.hub
        let socket = hub.newSocketID()
        let outbox = RealtimeOutbox(maxPendingBytes: services.configuration.maxPendingBytes) {
            services.metrics?.slowConsumerDisconnected()
            // A write waiting on a client that does not read ends only with its connection.
            channel.close(promise: nil)
        }
        let topic = "sse:\(socket)"
        _ = hub.join(project: project, topic: topic, socket: socket, member: nil, subscriber: RealtimeHub.ChangeSubscriber(
            bindings: [binding], access: access,
            deliver: { ids, data in
                outbox.send("event: postgres_changes\ndata: {\"ids\":[\(ids.map(String.init).joined(separator: ","))],\"data\":\(data)}\n\n")
            },
            feedFailed: { reason in
                outbox.send("event: system\ndata: \(JSONValue.object([JSONMember(key: "status", value: .string("error")), JSONMember(key: "message", value: .string(reason))]).serialized)\n\n")
                outbox.finish()
            }
        ))
        services.metrics?.connectionOpened()
        defer { services.metrics?.connectionClosed() }
        // Ended, as the project's WebSockets are closed, when the project moves (another shard,
        // node or cell): the stream's change feed reads the shard it opened on. The client opens
        // a new stream, through the gateway to where the project is served now.
        hub.opened(socket: socket, project: project.ref, shard: project.shard) {
            outbox.send("event: system\ndata: {\"status\":\"error\",\"message\":\"The project moved; reconnect\"}\n\n")
            outbox.finish()
        }
        defer { hub.closed(socket: socket, project: project.ref) }
        // The stream ends when the node shuts down, so that its connection can close.
        try? await channel.pipeline.handler(type: QuiesceObserver.self).get().onQuiesce {
            outbox.send("event: system\ndata: {\"status\":\"error\",\"message\":\"Server shutting down\"}\n\n")
            outbox.finish()
        }
        outbox.send(": subscribed\n\n")
        let keepAlive = services.configuration.sseKeepAlive
        // The body writer stays with this task; the keep-alive task only feeds the outbox or ends it.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    try await Task.sleep(for: keepAlive)
                    if let expiresAt, expiresAt <= Date().timeIntervalSince1970 {
                        outbox.send("event: system\ndata: {\"status\":\"error\",\"message\":\"Token has expired\"}\n\n")
                        outbox.finish()
                        return
                    }
                    outbox.send(": keep-alive\n\n")
                }
            }
            for await text in outbox.messages {
                try await writer.write(ByteBuffer(string: text))
                outbox.written(text)
                services.metrics?.sent()
            }
            group.cancelAll()
        }
        await hub.leave(project: project.ref, topic: topic, socket: socket)
    }
}
