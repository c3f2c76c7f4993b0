import CellbaseSQL
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Relays broadcast and presence between the nodes that share a PostgreSQL control database,
/// through `NOTIFY cellbase_realtime`.
///
/// A message travels as compact JSON in the notification's payload. PostgreSQL limits that to
/// under 8000 bytes, so a larger message is written to an unlogged spool table and the
/// notification carries only its id; spooled messages older than a minute are removed as new ones
/// are written. Notifications are not stored: a node that is disconnected from the database when
/// one is sent misses it, as a Phoenix node missing from the cluster would.
final class PostgresRealtimeBus: RealtimeBus, Service {
    static let channel = "cellbase_realtime"
    static let spoolTable = "cellbase_realtime_spool"
    /// Below PostgreSQL's 8000-byte payload limit, with room for its framing.
    static let maxInlineBytes = 7_900

    private let client: PostgresClient
    private let logger: Logger
    private let subscribers = Mutex<[String: AsyncStream<RealtimeBusMessage>.Continuation]>([:])

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Sending

    func publish(_ message: RealtimeBusMessage, from node: String) async {
        let text = Self.encode(message, from: node).serialized
        do {
            if text.utf8.count <= Self.maxInlineBytes {
                try await notify(text)
            } else {
                try await spool(text)
            }
        } catch {
            logger.warning("relaying a realtime message to other nodes failed", metadata: ["topic": .string(message.topic), "error": "\(String(reflecting: error))"])
        }
    }

    private func notify(_ payload: String) async throws {
        var binds = PostgresBindings()
        binds.append(Self.channel)
        binds.append(payload)
        try await client.query(PostgresQuery(unsafeSQL: "SELECT pg_notify($1, $2)", binds: binds), logger: logger)
    }

    private func spool(_ text: String) async throws {
        try await client.withConnection { connection in
            var binds = PostgresBindings()
            binds.append(text)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                WITH trimmed AS (DELETE FROM \(Self.spoolTable) WHERE created_at < now() - interval '1 minute')
                INSERT INTO \(Self.spoolTable) (body) VALUES ($1) RETURNING id
                """, binds: binds), logger: logger)
            for try await id in rows.decode(Int64.self) {
                var notifyBinds = PostgresBindings()
                notifyBinds.append(Self.channel)
                notifyBinds.append("@\(id)")
                try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_notify($1, $2)", binds: notifyBinds), logger: logger)
            }
        }
    }

    // MARK: Receiving

    func messages(for node: String) -> AsyncStream<RealtimeBusMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: RealtimeBusMessage.self, bufferingPolicy: .bufferingNewest(InProcessRealtimeBus.maxQueued))
        subscribers.withLock { $0[node] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { _ = $0.removeValue(forKey: node) }
        }
        return stream
    }

    /// Listens on one connection until the node shuts down, reconnecting after a failure.
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var hasSpool = false
            while !Task.isCancelled {
                do {
                    if !hasSpool {
                        try await self.createSpool()
                        hasSpool = true
                    }
                    try await self.client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            for try await notification in notifications {
                                await self.received(notification.payload)
                            }
                        }
                    }
                } catch where !Task.isCancelled {
                    self.logger.warning("listening for realtime messages of other nodes failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
        // Finished outside the lock: a finished stream's termination handler takes it.
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.finish() }
    }

    /// Nodes starting together would collide on the catalog with IF NOT EXISTS alone; once the
    /// table is there, a starting node takes no lock.
    private func createSpool() async throws {
        try await client.withConnection { connection in
            let exists = try await connection.query(PostgresQuery(unsafeSQL: "SELECT to_regclass('\(Self.spoolTable)') IS NOT NULL"), logger: logger)
            for try await found in exists.decode(Bool.self) where found { return }
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('cellbase:realtime-spool'))", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: """
                    CREATE UNLOGGED TABLE IF NOT EXISTS \(Self.spoolTable) (id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())
                    """), logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    private func received(_ payload: String) async {
        var text = payload
        if payload.hasPrefix("@"), let id = Int64(payload.dropFirst()) {
            do {
                var binds = PostgresBindings()
                binds.append(id)
                let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT body FROM \(Self.spoolTable) WHERE id = $1", binds: binds), logger: logger)
                var body: String?
                for try await value in rows.decode(String.self) { body = value }
                guard let body else { return }
                text = body
            } catch {
                logger.warning("reading a spooled realtime message failed", metadata: ["error": "\(String(reflecting: error))"])
                return
            }
        }
        guard let (origin, message) = Self.decode(text) else {
            logger.warning("ignored a malformed realtime relay message")
            return
        }
        for (node, continuation) in subscribers.withLock({ Array($0) }) where node != origin {
            continuation.yield(message)
        }
    }

    // MARK: Encoding

    static func encode(_ message: RealtimeBusMessage, from node: String) -> JSONValue {
        var members = [
            JSONMember(key: "node", value: .string(node)),
            JSONMember(key: "project", value: .string(message.project)),
            JSONMember(key: "topic", value: .string(message.topic)),
        ]
        switch message.kind {
        case .broadcast(let event, let payload):
            members += [JSONMember(key: "kind", value: .string("broadcast")), JSONMember(key: "event", value: .string(event)), JSONMember(key: "payload", value: payload)]
        case .presenceJoin(let key, let ref, let state):
            members += [JSONMember(key: "kind", value: .string("join")), JSONMember(key: "key", value: .string(key)), JSONMember(key: "ref", value: .string(ref)), JSONMember(key: "state", value: state)]
        case .presenceLeave(let key, let ref):
            members += [JSONMember(key: "kind", value: .string("leave")), JSONMember(key: "key", value: .string(key)), JSONMember(key: "ref", value: .string(ref))]
        }
        return .object(members)
    }

    static func decode(_ text: String) -> (origin: String, message: RealtimeBusMessage)? {
        guard let json = try? JSONParser.parse(text.utf8, maxDepth: 512),
              case .string(let origin)? = json["node"], case .string(let project)? = json["project"],
              case .string(let topic)? = json["topic"], case .string(let kind)? = json["kind"]
        else { return nil }
        let decoded: RealtimeBusMessage.Kind
        switch kind {
        case "broadcast":
            guard case .string(let event)? = json["event"], let payload = json["payload"] else { return nil }
            decoded = .broadcast(event: event, payload: payload)
        case "join":
            guard case .string(let key)? = json["key"], case .string(let ref)? = json["ref"], let state = json["state"] else { return nil }
            decoded = .presenceJoin(key: key, ref: ref, state: state)
        case "leave":
            guard case .string(let key)? = json["key"], case .string(let ref)? = json["ref"] else { return nil }
            decoded = .presenceLeave(key: key, ref: ref)
        default:
            return nil
        }
        return (origin, RealtimeBusMessage(project: project, topic: topic, kind: decoded))
    }
}
