import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization
import WSCore

/// The node's side of one realtime WebSocket: reads client messages into the socket's protocol
/// machine, performs its actions against the hub, and writes what the hub and the machine send
/// through a bounded outbox.
///
/// Four tasks run while the socket is open — reading, writing, the heartbeat watch and the
/// hub's notices — and the first to finish ends the others: the client closing, the client not
/// reading (outbox overflow), or the client going silent past the heartbeat timeout.
struct RealtimeConnection: Sendable {
    /// What every connection of the node shares.
    struct Services: Sendable {
        var hub: RealtimeHub
        var limiter: RealtimeLimiter
        var directory: ProjectDirectory
        var projects: ProjectService
        var configuration: RealtimeConfiguration
        var metrics: RealtimeMetrics?
    }

    /// Something the hub tells a socket outside of a client message.
    enum Notice: Sendable {
        case closeChannel(topic: String, reason: String)
    }

    fileprivate struct Session {
        var machine: RealtimeSocketMachine
        var holdsConnectionSlot = false
        var lastHeard = ContinuousClock.now
        /// The watch's current sleep and when it ends, so a token that expires sooner can cut it short.
        var watch: (wake: ContinuousClock.Instant, sleep: Task<Void, Never>)?
    }

    let key: ResolvedKey
    let services: Services
    let logger: Logger

    var project: Project { key.project }

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel) async throws {
        let hub = services.hub
        let metrics = services.metrics
        let socket = hub.newSocketID()
        let outbox = RealtimeOutbox(maxPendingBytes: services.configuration.maxPendingBytes) {
            metrics?.slowConsumerDisconnected()
            channel.close(promise: nil)
        }
        let (notices, noticeContinuation) = AsyncStream.makeStream(of: Notice.self, bufferingPolicy: .bufferingNewest(1024))
        let context = SocketContext(connection: self, socket: socket, outbox: outbox, notices: noticeContinuation)
        metrics?.connectionOpened()
        // Closed by the hub when the project moves (another shard, node or cell); the client reconnects.
        hub.opened(socket: socket, project: project.ref, shard: project.shard) { channel.close(promise: nil) }
        defer { hub.closed(socket: socket, project: project.ref) }

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: RealtimeConfiguration.maxFrameBytes) {
                        metrics?.received()
                        context.session.withLock { $0.lastHeard = .now }
                        let frame: Result<PhoenixMessage, PhoenixDecodingError>
                        switch message {
                        case .text(let text): frame = Result { () throws(PhoenixDecodingError) in try PhoenixMessage(decoding: text.utf8) }
                        case .binary: frame = .failure(PhoenixDecodingError(reason: "binary frames are not read: send JSON text frames (vsn 1.0.0)"))
                        }
                        let expired = context.session.withLock { $0.machine.expireTokens(now: Date().timeIntervalSince1970) }
                        await context.perform(expired)
                        let actions = context.session.withLock { $0.machine.received(frame) }
                        await context.perform(actions)
                    }
                } catch {
                    logger.debug("realtime socket read ended", metadata: ["error": .string("\(error)")])
                }
            }
            group.addTask {
                do {
                    for await text in outbox.messages {
                        try await outbound.write(.text(text))
                        outbox.written(text)
                        metrics?.sent()
                    }
                } catch {
                    logger.debug("realtime socket write ended", metadata: ["error": .string("\(error)")])
                }
            }
            group.addTask {
                // Sleeps until the socket's silence would reach the timeout or a channel's token
                // expires, whichever is first. A client heard from meanwhile moves the heartbeat
                // deadline on; a token that expires sooner than the sleep ends cuts it short.
                let timeout = services.configuration.heartbeatTimeout
                while !Task.isCancelled {
                    let now = ContinuousClock.now
                    let (heartbeatDeadline, tokenDeadline) = context.session.withLock { ($0.lastHeard + timeout, $0.machine.earliestTokenExpiry) }
                    guard now < heartbeatDeadline else {
                        logger.debug("realtime socket closed after the heartbeat timeout")
                        channel.close(promise: nil)
                        return
                    }
                    var wake = heartbeatDeadline
                    if let tokenDeadline {
                        let untilExpiry = tokenDeadline - Date().timeIntervalSince1970
                        guard untilExpiry > 0 else {
                            await context.perform(context.session.withLock { $0.machine.expireTokens(now: Date().timeIntervalSince1970) })
                            continue
                        }
                        wake = min(wake, now + .seconds(untilExpiry))
                    }
                    let sleep = Task<Void, Never> { [wake] in _ = try? await Task.sleep(until: wake, clock: .continuous) }
                    context.session.withLock { $0.watch = (wake, sleep) }
                    await withTaskCancellationHandler { await sleep.value } onCancel: { sleep.cancel() }
                }
            }
            group.addTask {
                for await notice in notices {
                    switch notice {
                    case .closeChannel(let topic, let reason):
                        await context.perform(context.session.withLock { $0.machine.close(topic: topic, reason: reason) })
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }

        noticeContinuation.finish()
        outbox.finish()
        let (topics, heldSlot) = context.session.withLock { ($0.machine.channels.keys.sorted(), $0.holdsConnectionSlot) }
        for topic in topics {
            await hub.leave(project: project.ref, topic: topic, socket: socket)
            metrics?.channelLeft()
        }
        if heldSlot { services.limiter.releaseConnection(project.ref) }
        metrics?.connectionClosed()
    }
}

extension RealtimeConnection {
    /// One socket's state and the performing of its machine's actions.
    fileprivate final class SocketContext: Sendable {
        let connection: RealtimeConnection
        let socket: Int
        let outbox: RealtimeOutbox
        let session: Mutex<Session>
        let notices: AsyncStream<Notice>.Continuation

        init(connection: RealtimeConnection, socket: Int, outbox: RealtimeOutbox, notices: AsyncStream<Notice>.Continuation) {
            self.connection = connection
            self.socket = socket
            self.outbox = outbox
            self.notices = notices
            self.session = Mutex(Session(machine: RealtimeSocketMachine(maxChannels: connection.services.configuration.maxChannelsPerConnection)))
        }

        var services: Services { connection.services }
        var project: Project { connection.project }

        func perform(_ actions: [RealtimeSocketMachine.Action]) async {
            for action in actions {
                switch action {
                case .send(let message):
                    outbox.send(message.serialized)
                case .authorizeJoin(let request, let join):
                    await perform(await authorize(request, join))
                case .unsubscribe(let topic):
                    await services.hub.leave(project: project.ref, topic: topic, socket: socket)
                    services.metrics?.channelLeft()
                case .broadcast(let request, let event, let payload, let includeSelf, let ack):
                    if let refusal = admitEvent(payload) {
                        outbox.send(PhoenixMessage.reply(to: request, error: refusal.reason).serialized)
                        continue
                    }
                    await services.hub.broadcast(project: project.ref, topic: request.topic, event: event, payload: payload, excluding: includeSelf ? nil : socket)
                    if ack { outbox.send(PhoenixMessage.reply(to: request).serialized) }
                case .track(let request, let key, let state):
                    if let refusal = admitEvent(state) {
                        outbox.send(PhoenixMessage.reply(to: request, error: refusal.reason).serialized)
                        continue
                    }
                    await services.hub.track(project: project.ref, topic: request.topic, socket: socket, key: key, state: state)
                    outbox.send(PhoenixMessage.reply(to: request).serialized)
                case .untrack(let request, _):
                    await services.hub.untrack(project: project.ref, topic: request.topic, socket: socket)
                    outbox.send(PhoenixMessage.reply(to: request).serialized)
                case .reauthorize(let request, let token):
                    do {
                        let (access, expiresAt) = try await connection.access(for: token)
                        session.withLock {
                            $0.machine.reauthorized(topic: request.topic, tokenExpiresAt: expiresAt)
                            Self.wakeWatchIfTokenExpiresSooner(&$0)
                        }
                        services.hub.updateAccess(project: project.ref, topic: request.topic, socket: socket, access: access)
                    } catch {
                        await perform(session.withLock { $0.machine.close(topic: request.topic, reason: error.reason) })
                    }
                }
            }
        }

        /// Ends the watch's sleep early when a channel's token now expires before it would wake,
        /// so the channel is closed when its token expires, not at the next heartbeat.
        private static func wakeWatchIfTokenExpiresSooner(_ session: inout Session) {
            guard let watch = session.watch, let expiry = session.machine.earliestTokenExpiry else { return }
            if ContinuousClock.now + .seconds(expiry - Date().timeIntervalSince1970) < watch.wake {
                watch.sleep.cancel()
            }
        }

        /// A broadcast or presence update within the payload size and the project's event rate;
        /// otherwise the refusal to answer it with.
        private func admitEvent(_ payload: JSONValue) -> RealtimeRefusal? {
            let limit = services.configuration.maxPayloadBytes
            if payload.serialized.utf8.count > limit { return RealtimeRefusal(RealtimeLimitReason.payload(limit)) }
            if !services.limiter.admitEvent(project.ref) { return RealtimeRefusal(RealtimeLimitReason.events) }
            return nil
        }

        /// Checks a join against the project's quotas, its token and its bindings, and joins.
        private func authorize(_ request: PhoenixMessage, _ join: ChannelJoin) async -> [RealtimeSocketMachine.Action] {
            let machine = session.withLock { $0.machine }
            do throws(RealtimeRefusal) {
                try acquireConnectionSlot()
                guard services.limiter.admitJoin(project.ref) else { throw RealtimeRefusal(RealtimeLimitReason.joins) }
                let (access, expiresAt) = try await connection.access(for: join.accessToken)
                let bindings = try await bindings(of: join)
                let presenceKey = join.presenceKey ?? UUID().uuidString.lowercased()
                let actions = session.withLock {
                    let actions = $0.machine.joined(request, join, bindings: bindings, presenceKey: presenceKey, tokenExpiresAt: expiresAt)
                    Self.wakeWatchIfTokenExpiresSooner(&$0)
                    return actions
                }
                let topic = request.topic
                let subscriber = bindings.isEmpty ? nil : RealtimeHub.ChangeSubscriber(
                    bindings: bindings, access: access,
                    deliver: { [outbox] ids, data in outbox.send(ChangeMessage.frame(topic: topic, ids: ids, data: data)) },
                    feedFailed: { [notices] reason in notices.yield(.closeChannel(topic: topic, reason: reason)) }
                )
                // The reply goes out before anything the hub delivers to the new member.
                await perform(actions)
                let presence = services.hub.join(project: project, topic: topic, socket: socket, member: .init(outbox: outbox), subscriber: subscriber)
                services.metrics?.channelJoined()
                if join.presenceEnabled {
                    outbox.send(PhoenixMessage(topic: topic, event: PhoenixEvent.presenceState, payload: presence).serialized)
                }
                return []
            } catch {
                return machine.refused(request, error)
            }
        }

        /// A socket counts against the project's connections from its first join on.
        private func acquireConnectionSlot() throws(RealtimeRefusal) {
            let held = session.withLock { $0.holdsConnectionSlot }
            guard !held else { return }
            guard services.limiter.acquireConnection(project.ref) else { throw RealtimeRefusal(RealtimeLimitReason.connections) }
            session.withLock { $0.holdsConnectionSlot = true }
        }

        private func bindings(of join: ChannelJoin) async throws(RealtimeRefusal) -> [PostgresChangesBinding] {
            guard !join.postgresChanges.isEmpty else { return [] }
            guard services.hub.servesChanges else {
                throw RealtimeRefusal("UnableToSubscribeToPostgres: this node does not read change feeds")
            }
            let schema: Schema
            do {
                schema = try await services.projects.catalog(for: project).schema
            } catch {
                throw RealtimeRefusal("UnableToSubscribeToPostgres: the project's catalog could not be read")
            }
            var bindings: [PostgresChangesBinding] = []
            for value in join.postgresChanges {
                bindings.append(try PostgresChangesBinding(value, id: services.hub.newBindingID(), schema: schema))
            }
            return bindings
        }
    }

    /// Who a channel runs as: the service role, or a role with claims for row-level security,
    /// and when its token expires. No token, or one of the project's keys, means that key;
    /// anything else must be an access token of this project.
    func access(for token: String?) async throws(RealtimeRefusal) -> (RESTAccess, expiresAt: Double?) {
        let role: KeyRole
        let claims: JSONValue
        var expiresAt: Double?
        if let token, !BearerToken.isKey(token, of: project) {
            do {
                let verified = try await services.directory.verifyAccessToken(token, of: project)
                (role, claims, expiresAt) = (verified.role, verified.claims, verified.claims["exp"]?.numberValue)
            } catch {
                throw RealtimeRefusal(Self.reason(error))
            }
        } else {
            let resolved = token.map { BearerToken.isServiceRoleKey($0, of: project) ? ResolvedKey(project: project, role: .serviceRole) : ResolvedKey(project: project, role: .anon) } ?? key
            (role, claims) = (resolved.role, resolved.claims)
        }
        return (role == .serviceRole ? .serviceRole : .role(role.rawValue, claims: claims), expiresAt)
    }

    static func reason(_ rejection: AccessTokenRejection) -> String {
        switch rejection {
        case .invalid: "InvalidJWTToken: the token is malformed, not HS256, or not signed with this project's secret"
        case .expired: "InvalidJWTToken: Token has expired"
        case .notYetValid: "InvalidJWTToken: the token is issued in the future"
        case .claim(let name): "InvalidJWTToken: claim '\(name)' is missing or invalid"
        }
    }
}

extension RealtimeConnection {
    static let path = "/realtime/v1/websocket"

    /// Decides an upgrade request: `GET /realtime/v1/websocket?apikey=...&vsn=1.0.0` with a key
    /// of a known project this node serves becomes a realtime session. Anything else is left to
    /// the router, which answers it with the reason in JSON (421 for another cell's project).
    static func accept(_ request: HTTPRequest, services: Services, logger: Logger) async -> RealtimeServerChannel.Session? {
        let uri = URI(request.path ?? "")
        guard uri.path == path, RealtimeController.acceptsVersion(of: uri) else { return nil }
        guard let token = request.headerFields[APIKeyMiddleware.apiKeyField] ?? uri.queryParameters["apikey"].map(String.init), !token.isEmpty,
              let key = try? await services.directory.resolve(apiKey: token),
              services.directory.misplacement(of: key.project) == nil
        else { return nil }
        var logger = logger
        logger[metadataKey: "project"] = .string(key.project.ref)
        let connection = RealtimeConnection(key: key, services: services, logger: logger)
        return { inbound, outbound, channel in
            try await connection.run(inbound: inbound, outbound: outbound, channel: channel)
        }
    }
}
