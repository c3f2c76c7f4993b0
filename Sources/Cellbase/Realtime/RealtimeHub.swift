import CellbaseSQL
import FoundationEssentials
import Logging
import ServiceLifecycle
import Synchronization

/// Who receives what on this node: the members of every topic, their presences, and the
/// `postgres_changes` subscribers of every project.
///
/// For each project with at least one change subscriber the hub holds one subscription to the
/// project's change feed and fans each change out to the matching channels, asking the
/// visibility check once per distinct subscriber access. Broadcast and presence are delivered
/// to this node's members at once and relayed to the other nodes through the bus.
final class RealtimeHub: Service {
    /// One socket's (or event stream's) membership of a topic.
    struct Member: Sendable {
        var outbox: RealtimeOutbox
    }

    /// Where a change subscriber's messages go, and what to do when its feed fails.
    struct ChangeSubscriber: Sendable {
        var bindings: [PostgresChangesBinding]
        var access: RESTAccess
        /// Sends one change to the subscriber: the ids of its matching bindings and the
        /// serialised `data`.
        var deliver: @Sendable (_ ids: [Int], _ data: String) -> Void
        /// The feed ended: the subscriber is removed, and told why.
        var feedFailed: @Sendable (_ reason: String) -> Void
    }

    private struct TopicKey: Hashable {
        var project: String
        var topic: String
    }

    private struct SubscriberKey: Hashable {
        var socket: Int
        var topic: String
    }

    /// A tracked presence. `socket` is set for this node's own sockets; others came over the bus.
    private struct Presence: Sendable {
        var key: String
        var ref: String
        var state: JSONValue
        var socket: Int?

        var meta: JSONValue {
            guard case .object(let members) = state else { return .object([JSONMember(key: "phx_ref", value: .string(ref))]) }
            return .object([JSONMember(key: "phx_ref", value: .string(ref))] + members.filter { $0.key != "phx_ref" })
        }
    }

    private struct Feed {
        var stop: AsyncStream<Void>.Continuation
    }

    private struct State {
        var members: [TopicKey: [Int: Member]] = [:]
        var presences: [TopicKey: [Presence]] = [:]
        var subscribers: [String: [SubscriberKey: ChangeSubscriber]] = [:]
        var feeds: [String: Feed] = [:]
        /// This node's open sockets by project, each with the shard the project was served from
        /// when it opened, and what closes it.
        var sockets: [String: [Int: (shard: String, close: @Sendable () -> Void)]] = [:]
        var nextSocket = 0
        var nextBinding = 0
        var nextPresence = 0
    }

    private enum Command: Sendable {
        case startFeed(Project, stop: AsyncStream<Void>)
    }

    let nodeID: String
    private let bus: any RealtimeBus
    private let changeSource: (any ChangeSource)?
    private let visibility: any ChangeVisibility
    private let projects: ProjectService
    private let logger: Logger
    private let state = Mutex(State())
    private let commands: AsyncStream<Command>
    private let commandContinuation: AsyncStream<Command>.Continuation

    init(bus: any RealtimeBus, changeSource: (any ChangeSource)?, visibility: any ChangeVisibility, projects: ProjectService, logger: Logger) {
        self.nodeID = UUID().uuidString.lowercased()
        self.bus = bus
        self.changeSource = changeSource
        self.visibility = visibility
        self.projects = projects
        self.logger = logger
        (commands, commandContinuation) = AsyncStream.makeStream(of: Command.self)
    }

    /// Whether `postgres_changes` can be served: the node reads a change feed.
    var servesChanges: Bool { changeSource != nil }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await message in self.bus.messages(for: self.nodeID) {
                        self.deliver(message)
                    }
                }
                for await command in self.commands {
                    switch command {
                    case .startFeed(let project, let stop):
                        group.addTask { await self.runFeed(of: project, until: stop) }
                    }
                }
                group.cancelAll()
            }
        }
        commandContinuation.finish()
    }

    // MARK: - Sockets and topics

    /// A new id for a socket or event stream, unique on this node.
    func newSocketID() -> Int {
        state.withLock { state in
            state.nextSocket += 1
            return state.nextSocket
        }
    }

    /// Records an open socket of `project` (served from `shard`) and how to close it.
    func opened(socket: Int, project: String, shard: String, close: @escaping @Sendable () -> Void) {
        state.withLock { $0.sockets[project, default: [:]][socket] = (shard, close) }
    }

    func closed(socket: Int, project: String) {
        state.withLock { state in
            state.sockets[project]?[socket] = nil
            if state.sockets[project]?.isEmpty == true { state.sockets[project] = nil }
        }
    }

    /// Closes the open sockets of these projects that were opened while the project was on
    /// another shard than `servedFrom` says now (`nil`: not served by this node any more). A
    /// socket's change feed reads the shard it opened on; the clients reconnect and join again,
    /// through the gateway to wherever the project is served now.
    func closeMovedSockets(of projects: [String], servedFrom: (String) -> String?) {
        let closers = state.withLock { state in
            projects.flatMap { ref -> [@Sendable () -> Void] in
                let now = servedFrom(ref)
                return (state.sockets[ref] ?? [:]).values.filter { $0.shard != now }.map(\.close)
            }
        }
        if !closers.isEmpty {
            logger.info("closing the realtime sockets of moved projects", metadata: ["projects": "\(projects)", "sockets": "\(closers.count)"])
        }
        for close in closers { close() }
    }

    /// A new id for a `postgres_changes` binding: never zero (the clients treat 0 as no id) and
    /// unique on this node.
    func newBindingID() -> Int {
        state.withLock { state in
            state.nextBinding += 1
            return state.nextBinding
        }
    }

    /// Adds `socket` to `topic` (and its bindings to the project's change subscribers) and
    /// returns the topic's presence state for the joiner. An event stream subscribes to changes
    /// only: it is no member of its topic.
    func join(project: Project, topic: String, socket: Int, member: Member?, subscriber: ChangeSubscriber?) -> JSONValue {
        let key = TopicKey(project: project.ref, topic: topic)
        let (presences, stop) = state.withLock { state -> ([Presence], AsyncStream<Void>?) in
            if let member { state.members[key, default: [:]][socket] = member }
            var stop: AsyncStream<Void>?
            if let subscriber, !subscriber.bindings.isEmpty {
                state.subscribers[project.ref, default: [:]][SubscriberKey(socket: socket, topic: topic)] = subscriber
                if state.feeds[project.ref] == nil {
                    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
                    state.feeds[project.ref] = Feed(stop: continuation)
                    stop = stream
                }
            }
            return (state.presences[key] ?? [], stop)
        }
        if let stop {
            commandContinuation.yield(.startFeed(project, stop: stop))
        }
        return Self.presenceState(presences)
    }

    /// Removes `socket` from `topic`: its presences leave, its change bindings go.
    func leave(project: String, topic: String, socket: Int) async {
        let key = TopicKey(project: project, topic: topic)
        let left = state.withLock { state -> [Presence] in
            state.members[key]?[socket] = nil
            if state.members[key]?.isEmpty == true { state.members[key] = nil }
            removeSubscriber(SubscriberKey(socket: socket, topic: topic), of: project, in: &state)
            return removePresences(of: socket, at: key, in: &state)
        }
        await announceLeaves(left, at: key)
    }

    private func removeSubscriber(_ subscriber: SubscriberKey, of project: String, in state: inout State) {
        guard state.subscribers[project]?.removeValue(forKey: subscriber) != nil else { return }
        if state.subscribers[project]?.isEmpty == true {
            state.subscribers[project] = nil
            state.feeds.removeValue(forKey: project)?.stop.finish()
        }
    }

    /// The channel's access changed (a new token): later changes are checked against it.
    func updateAccess(project: String, topic: String, socket: Int, access: RESTAccess) {
        state.withLock { state in
            state.subscribers[project]?[SubscriberKey(socket: socket, topic: topic)]?.access = access
        }
    }

    // MARK: - Broadcast

    /// Delivers a broadcast to the topic's members on every node; `sender`, when given, is
    /// left out here (a socket that did not ask to hear itself).
    func broadcast(project: String, topic: String, event: String, payload: JSONValue, excluding sender: Int?) async {
        let message = RealtimeBusMessage(project: project, topic: topic, kind: .broadcast(event: event, payload: payload))
        deliver(message, excluding: sender)
        await bus.publish(message, from: nodeID)
    }

    // MARK: - Presence

    /// Tracks `state` for `socket` under `key`, replacing what the socket tracked on the topic.
    func track(project: String, topic: String, socket: Int, key presenceKey: String, state presenceState: JSONValue) async {
        let key = TopicKey(project: project, topic: topic)
        let (left, joined) = state.withLock { state -> ([Presence], Presence) in
            let left = removePresences(of: socket, at: key, in: &state)
            state.nextPresence += 1
            let joined = Presence(key: presenceKey, ref: "\(nodeID.prefix(8))-\(state.nextPresence)", state: presenceState, socket: socket)
            state.presences[key, default: []].append(joined)
            return (left, joined)
        }
        send(PhoenixMessage(topic: topic, event: PhoenixEvent.presenceDiff, payload: Self.diff(joins: [joined], leaves: left)).serialized, to: key, excluding: nil)
        for presence in left {
            await bus.publish(RealtimeBusMessage(project: project, topic: topic, kind: .presenceLeave(key: presence.key, ref: presence.ref)), from: nodeID)
        }
        await bus.publish(RealtimeBusMessage(project: project, topic: topic, kind: .presenceJoin(key: joined.key, ref: joined.ref, state: joined.state)), from: nodeID)
    }

    func untrack(project: String, topic: String, socket: Int) async {
        let key = TopicKey(project: project, topic: topic)
        let left = state.withLock { removePresences(of: socket, at: key, in: &$0) }
        await announceLeaves(left, at: key)
    }

    private func removePresences(of socket: Int, at key: TopicKey, in state: inout State) -> [Presence] {
        guard let all = state.presences[key] else { return [] }
        let left = all.filter { $0.socket == socket }
        guard !left.isEmpty else { return [] }
        let kept = all.filter { $0.socket != socket }
        state.presences[key] = kept.isEmpty ? nil : kept
        return left
    }

    /// Tells the topic's remaining members that `left` is gone, here and on the other nodes.
    private func announceLeaves(_ left: [Presence], at key: TopicKey) async {
        guard !left.isEmpty else { return }
        send(PhoenixMessage(topic: key.topic, event: PhoenixEvent.presenceDiff, payload: Self.diff(joins: [], leaves: left)).serialized, to: key, excluding: nil)
        for presence in left {
            await bus.publish(RealtimeBusMessage(project: key.project, topic: key.topic, kind: .presenceLeave(key: presence.key, ref: presence.ref)), from: nodeID)
        }
    }

    /// `{"<key>":{"metas":[{"phx_ref":...,...}]}}`, keys in the order first tracked.
    private static func presenceState(_ presences: [Presence]) -> JSONValue {
        var order: [String] = []
        var metas: [String: [JSONValue]] = [:]
        for presence in presences {
            if metas[presence.key] == nil { order.append(presence.key) }
            metas[presence.key, default: []].append(presence.meta)
        }
        return .object(order.map { JSONMember(key: $0, value: .object([JSONMember(key: "metas", value: .array(metas[$0] ?? []))])) })
    }

    private static func diff(joins: [Presence], leaves: [Presence]) -> JSONValue {
        .object([JSONMember(key: "joins", value: presenceState(joins)), JSONMember(key: "leaves", value: presenceState(leaves))])
    }

    // MARK: - Delivery

    /// A message from another node (or this one's own broadcast) to this node's members.
    private func deliver(_ message: RealtimeBusMessage, excluding sender: Int? = nil) {
        let key = TopicKey(project: message.project, topic: message.topic)
        switch message.kind {
        case .broadcast(let event, let payload):
            send(PhoenixMessage.broadcast(topic: message.topic, event: event, payload: payload).serialized, to: key, excluding: sender)
        case .presenceJoin(let presenceKey, let ref, let presenceState):
            let joined = Presence(key: presenceKey, ref: ref, state: presenceState, socket: nil)
            state.withLock { $0.presences[key, default: []].append(joined) }
            send(PhoenixMessage(topic: message.topic, event: PhoenixEvent.presenceDiff, payload: Self.diff(joins: [joined], leaves: [])).serialized, to: key, excluding: nil)
        case .presenceLeave(_, let ref):
            let left = state.withLock { state -> [Presence] in
                guard let all = state.presences[key] else { return [] }
                state.presences[key] = all.filter { $0.ref != ref || $0.socket != nil }
                return all.filter { $0.ref == ref && $0.socket == nil }
            }
            guard !left.isEmpty else { return }
            send(PhoenixMessage(topic: message.topic, event: PhoenixEvent.presenceDiff, payload: Self.diff(joins: [], leaves: left)).serialized, to: key, excluding: nil)
        }
    }

    private func send(_ text: String, to key: TopicKey, excluding sender: Int?) {
        let outboxes = state.withLock { state in
            (state.members[key] ?? [:]).compactMap { $0.key == sender ? nil : $0.value.outbox }
        }
        for outbox in outboxes {
            outbox.send(text)
        }
    }

    // MARK: - Changes

    /// Reads the project's change feed until `stop` ends (its last subscriber left) or the feed
    /// fails, in which case its subscribers are told and removed, so that they can join again.
    private func runFeed(of project: Project, until stop: AsyncStream<Void>) async {
        guard let changeSource else { return }
        let failure: String? = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    for await batch in try await changeSource.changes(of: project) {
                        await self.fanOut(batch, of: project)
                    }
                    return Task.isCancelled ? nil : "the change feed ended"
                } catch {
                    self.logger.error("realtime change feed failed", metadata: ["project": .string(project.ref), "error": .string("\(error)")])
                    return "the change feed could not be read"
                }
            }
            group.addTask {
                for await _ in stop {}
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let failure else { return }
        let dropped = state.withLock { state -> [ChangeSubscriber] in
            state.feeds[project.ref] = nil
            return Array((state.subscribers.removeValue(forKey: project.ref) ?? [:]).values)
        }
        for subscriber in dropped {
            subscriber.feedFailed("UnableToSubscribeToPostgres: \(failure)")
        }
    }

    /// Sends each change to the channels with a matching binding that may see its row. The
    /// visibility check runs once per change for each distinct access among those channels.
    func fanOut(_ batch: [RowChange], of project: Project) async {
        let schema: Schema
        do {
            schema = try await projects.catalog(for: project).schema
        } catch {
            logger.error("realtime change fan-out has no catalog", metadata: ["project": .string(project.ref), "error": .string("\(error)")])
            return
        }
        for change in batch {
            guard let table = schema.table(named: change.table), table.isPublished else { continue }
            let subscribers = state.withLock { Array(($0.subscribers[project.ref] ?? [:]).values) }
            var matched: [(subscriber: ChangeSubscriber, ids: [Int])] = []
            for subscriber in subscribers {
                let ids = subscriber.bindings.filter { $0.matches(change, in: table) }.map(\.id)
                if !ids.isEmpty { matched.append((subscriber, ids)) }
            }
            guard !matched.isEmpty else { continue }
            var visible: [RESTAccess: Bool] = [:]
            for (subscriber, _) in matched where visible[subscriber.access] == nil {
                visible[subscriber.access] = await visibility.isVisible(change, in: table, to: subscriber.access, project: project)
            }
            let data = ChangeMessage.data(of: change, in: table).serialized
            // A delete reaches subscribers held to policies with only the deleted row's key.
            let redacted = change.operation == .delete && table.rowLevelSecurity
                ? ChangeMessage.data(of: PolicyChangeVisibility.redacted(change, in: table), in: table).serialized
                : data
            for (subscriber, ids) in matched where visible[subscriber.access] == true {
                subscriber.deliver(ids, subscriber.access.policyRole == nil ? data : redacted)
            }
        }
    }
}
