import CellbaseSQL
import Foundation
import Synchronization
import Testing

@testable import Cellbase

/// The realtime protocol without sockets: message codec, the per-socket machine, bindings and
/// filters, change messages, quotas, visibility and the outbox.
@Suite("Realtime protocol")
struct RealtimeProtocolTests {
    /// JSON as written: numbers keep their text, as change records carry them.
    static func raw(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: 64)
    }

    static func message(_ text: String) throws -> PhoenixMessage {
        try PhoenixMessage(decoding: Array(text.utf8))
    }

    static func decoded(_ text: String) -> Result<PhoenixMessage, PhoenixDecodingError> {
        Result { () throws(PhoenixDecodingError) in try PhoenixMessage(decoding: Array(text.utf8)) }
    }

    // MARK: - Codec

    @Test func clientMessagesDecodeWithStringNumberOrNullRefs() throws {
        let join = try Self.message(#"{"event":"phx_join","topic":"realtime:room1","ref":"1","join_ref":"1","payload":{"config":{}}}"#)
        #expect(join == PhoenixMessage(topic: "realtime:room1", event: "phx_join", payload: try Self.raw(#"{"config":{}}"#), ref: "1", joinRef: "1"))
        let heartbeat = try Self.message(#"{"event":"heartbeat","payload":{},"topic":"phoenix","ref":null,"join_ref":null}"#)
        #expect(heartbeat.ref == nil && heartbeat.joinRef == nil)
        #expect(try Self.message(#"{"event":"e","topic":"t","ref":7}"#).ref == "7")
        #expect(try Self.message(#"{"event":"e","topic":"t"}"#).payload == .object([]))
    }

    @Test(arguments: [
        ("not json", "malformed JSON"),
        ("[null,null,\"phoenix\",\"heartbeat\",{}]", "a message is a JSON object"),
        (#"{"event":"e","payload":{}}"#, "\"topic\" must be a string"),
        (#"{"topic":"t","event":1}"#, "\"event\" must be a string"),
        (#"{"topic":"t","event":"e","payload":[1]}"#, "\"payload\" must be an object"),
        (#"{"topic":"t","event":"e","ref":{}}"#, "\"ref\" must be a string or null"),
        ("", "malformed JSON"),
    ])
    func framesThatAreNoMessagesSayWhy(text: String, reason: String) {
        guard case .failure(let error) = Self.decoded(text) else {
            Issue.record("decoded \(text)")
            return
        }
        #expect(error.reason.hasPrefix(reason))
    }

    @Test func deeplyNestedFramesAreRefusedWithoutRecursion() {
        let text = String(repeating: "[", count: 100_000)
        guard case .failure(let error) = Self.decoded(text) else {
            Issue.record("decoded")
            return
        }
        #expect(error.reason.hasPrefix("malformed JSON"))
    }

    @Test func serverMessagesAlwaysCarryRef() throws {
        let broadcast = PhoenixMessage.broadcast(topic: "realtime:room1", event: "ping", payload: .object([]))
        #expect(try Self.raw(broadcast.serialized) == Self.raw(#"{"event":"broadcast","topic":"realtime:room1","payload":{"type":"broadcast","event":"ping","payload":{}},"ref":null}"#))
        let request = try Self.message(#"{"event":"phx_join","topic":"realtime:a","ref":"3","join_ref":"3","payload":{}}"#)
        #expect(try Self.raw(PhoenixMessage.reply(to: request, error: "nope").serialized) == Self.raw(
            #"{"event":"phx_reply","topic":"realtime:a","payload":{"status":"error","response":{"reason":"nope"}},"ref":"3","join_ref":"3"}"#
        ))
        let system = PhoenixMessage.system(topic: "realtime:a", extension: "postgres_changes", status: "ok", message: "Subscribed to PostgreSQL")
        #expect(try Self.raw(system.serialized) == Self.raw(
            #"{"event":"system","topic":"realtime:a","payload":{"channel":"a","extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL"},"ref":null}"#
        ))
    }

    // MARK: - Machine

    static let join = #"{"event":"phx_join","topic":"realtime:room1","ref":"1","join_ref":"1","payload":{"config":{"broadcast":{"ack":true,"self":false},"presence":{"key":"ada","enabled":true},"private":false,"postgres_changes":[]},"access_token":"tok"}}"#

    /// A machine with `realtime:room1` joined, as the transcript of `join` leaves it.
    static func joinedMachine(maxChannels: Int = 10, expiresAt: Double? = nil) throws -> RealtimeSocketMachine {
        var machine = RealtimeSocketMachine(maxChannels: maxChannels)
        let request = try message(join)
        guard case .authorizeJoin(_, let options)? = machine.received(.success(request)).first else { throw JoinNotAsked() }
        _ = machine.joined(request, options, bindings: [], presenceKey: options.presenceKey ?? "generated", tokenExpiresAt: expiresAt)
        return machine
    }

    struct JoinNotAsked: Error {}

    @Test func heartbeatsAreAnsweredOnTheSocketTopic() throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        let heartbeat = try Self.message(#"{"event":"heartbeat","payload":{},"topic":"phoenix","ref":null,"join_ref":null}"#)
        #expect(machine.received(.success(heartbeat)) == [.send(PhoenixMessage(
            topic: "phoenix", event: "phx_reply", payload: try Self.raw(#"{"status":"ok","response":{}}"#)
        ))])
        let other = try Self.message(#"{"event":"ping","payload":{},"topic":"phoenix","ref":"2"}"#)
        #expect(machine.received(.success(other)) == [.send(.reply(to: other, error: "unknown event 'ping' on topic phoenix"))])
    }

    @Test func aJoinIsAuthorisedThenRepliedWithItsBindings() throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        let request = try Self.message(Self.join)
        let actions = machine.received(.success(request))
        var expected = try ChannelJoin(payload: request.payload)
        #expect(expected.broadcastAck && !expected.broadcastSelf && expected.presenceEnabled && expected.presenceKey == "ada" && expected.accessToken == "tok")
        #expect(actions == [.authorizeJoin(request, expected)])
        #expect(machine.channels.isEmpty)

        let table = Self.todos(published: true)
        let binding = try PostgresChangesBinding(try Self.raw(#"{"event":"INSERT","schema":"public","table":"todos"}"#), id: 5, schema: Schema(tables: [table]))
        expected.postgresChanges = []
        let joined = machine.joined(request, expected, bindings: [binding], presenceKey: "ada", tokenExpiresAt: nil)
        #expect(joined == [
            .send(.reply(to: request, ok: try Self.raw(#"{"postgres_changes":[{"id":5,"event":"INSERT","schema":"public","table":"todos"}]}"#))),
            .send(.system(topic: "realtime:room1", extension: "postgres_changes", status: "ok", message: "Subscribed to PostgreSQL")),
        ])
        #expect(machine.channels["realtime:room1"]?.presenceKey == "ada")
        #expect(machine.channels["realtime:room1"]?.joinRef == "1")
    }

    @Test func aJoinWithoutBindingsGetsNoSystemMessage() throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        let request = try Self.message(#"{"event":"phx_join","topic":"realtime:b","ref":"4","join_ref":"4","payload":{}}"#)
        let joined = machine.joined(request, try ChannelJoin(payload: request.payload), bindings: [], presenceKey: "k", tokenExpiresAt: nil)
        #expect(joined == [.send(.reply(to: request, ok: try Self.raw(#"{"postgres_changes":[]}"#)))])
    }

    @Test func refusedJoinsLeaveNoChannel() throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        let request = try Self.message(Self.join)
        _ = machine.received(.success(request))
        #expect(machine.refused(request, RealtimeRefusal("bad")) == [.send(.reply(to: request, error: "bad"))])
        #expect(machine.channels.isEmpty)
    }

    @Test(arguments: [
        (#"{"config":[]}"#, "\"config\" must be an object"),
        (#"{"config":{"broadcast":{"self":"yes"}}}"#, "\"config.broadcast.self\" must be true or false"),
        (#"{"config":{"private":true}}"#, "private channels are not supported"),
        (#"{"config":{"postgres_changes":{}}}"#, "\"config.postgres_changes\" must be an array"),
        (#"{"config":{"presence":{"key":7}}}"#, "\"config.presence.key\" must be a string"),
        (#"{"access_token":5}"#, "\"access_token\" must be a string"),
    ])
    func malformedJoinsAreRefusedWithTheReason(payload: String, reason: String) throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        let request = PhoenixMessage(topic: "realtime:x", event: "phx_join", payload: try Self.raw(payload), ref: "1", joinRef: "1")
        let actions = machine.received(.success(request))
        guard case .send(let reply)? = actions.first, actions.count == 1, case .string(let given)? = reply.payload["response"]?["reason"] else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(given.hasPrefix(reason))
        #expect(reply.ref == "1")
    }

    @Test func channelsPastTheLimitAreRefusedWithSupabasesReason() throws {
        var machine = try Self.joinedMachine(maxChannels: 1)
        let second = PhoenixMessage(topic: "realtime:room2", event: "phx_join", payload: .object([]), ref: "2", joinRef: "2")
        #expect(machine.received(.success(second)) == [.send(.reply(to: second, error: "ChannelRateLimitReached: Too many channels (at most 1 per connection)"))])
        // Joining the same topic again replaces its channel rather than adding one.
        let again = PhoenixMessage(topic: "realtime:room1", event: "phx_join", payload: .object([]), ref: "3", joinRef: "3")
        #expect(machine.received(.success(again)) == [.unsubscribe(topic: "realtime:room1"), .authorizeJoin(again, try ChannelJoin(payload: .object([])))])
    }

    @Test func messagesToTopicsNotJoinedAreRefused() throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        for event in ["broadcast", "presence", "phx_leave", "access_token", "whatever"] {
            let request = PhoenixMessage(topic: "realtime:other", event: event, payload: .object([]), ref: "9", joinRef: "1")
            #expect(machine.received(.success(request)) == [.send(.reply(to: request, error: "unmatched topic"))])
        }
    }

    @Test func joinedChannelsRouteBroadcastPresenceTokensAndLeave() throws {
        var machine = try Self.joinedMachine()
        let broadcast = try Self.message(#"{"event":"broadcast","topic":"realtime:room1","ref":"2","join_ref":"1","payload":{"type":"broadcast","event":"ping","payload":{"n":1}}}"#)
        #expect(machine.received(.success(broadcast)) == [.broadcast(request: broadcast, event: "ping", payload: try Self.raw(#"{"n":1}"#), includeSelf: false, ack: true)])

        let badBroadcast = try Self.message(#"{"event":"broadcast","topic":"realtime:room1","ref":"3","payload":{"type":"broadcast","event":"ping","payload":[1]}}"#)
        #expect(machine.received(.success(badBroadcast)) == [.send(.reply(to: badBroadcast, error: "a broadcast's \"payload\" must be an object"))])

        let track = try Self.message(#"{"event":"presence","topic":"realtime:room1","ref":"4","payload":{"type":"presence","event":"track","payload":{"user":"u1"}}}"#)
        #expect(machine.received(.success(track)) == [.track(request: track, key: "ada", state: try Self.raw(#"{"user":"u1"}"#))])
        let untrack = try Self.message(#"{"event":"presence","topic":"realtime:room1","ref":"5","payload":{"type":"presence","event":"untrack"}}"#)
        #expect(machine.received(.success(untrack)) == [.untrack(request: untrack, key: "ada")])

        let token = try Self.message(#"{"event":"access_token","topic":"realtime:room1","ref":"6","payload":{"access_token":"new"}}"#)
        #expect(machine.received(.success(token)) == [.reauthorize(token, token: "new")])

        let unknown = try Self.message(#"{"event":"shout","topic":"realtime:room1","ref":"7","payload":{}}"#)
        #expect(machine.received(.success(unknown)) == [.send(.reply(to: unknown, error: "unknown event 'shout'"))])

        let leave = try Self.message(#"{"event":"phx_leave","topic":"realtime:room1","ref":"8","join_ref":"1","payload":{}}"#)
        #expect(machine.received(.success(leave)) == [
            .unsubscribe(topic: "realtime:room1"), .send(.reply(to: leave)), .send(.close(topic: "realtime:room1", joinRef: "1")),
        ])
        #expect(machine.channels.isEmpty)
    }

    @Test func unreadableFramesAreAnsweredOnTheSocketTopic() throws {
        var machine = RealtimeSocketMachine(maxChannels: 10)
        let actions = machine.received(.failure(PhoenixDecodingError(reason: "malformed JSON")))
        #expect(actions == [.send(PhoenixMessage(topic: "phoenix", event: "phx_reply", payload: try Self.raw(#"{"status":"error","response":{"reason":"malformed JSON"}}"#)))])
    }

    @Test func expiredTokensCloseTheirChannelsWithASystemError() throws {
        var machine = try Self.joinedMachine(expiresAt: 1000)
        #expect(machine.expireTokens(now: 999).isEmpty)
        #expect(machine.expireTokens(now: 1005) == [
            .unsubscribe(topic: "realtime:room1"),
            .send(.system(topic: "realtime:room1", extension: "system", status: "error", message: "Token has expired 5 seconds ago")),
            .send(.close(topic: "realtime:room1", joinRef: "1")),
        ])
        #expect(machine.channels.isEmpty)
        #expect(machine.close(topic: "realtime:room1", reason: "again").isEmpty)
    }

    @Test func aNewTokenMovesTheExpiry() throws {
        var machine = try Self.joinedMachine(expiresAt: 1000)
        #expect(machine.earliestTokenExpiry == 1000)
        machine.reauthorized(topic: "realtime:room1", tokenExpiresAt: 2000)
        #expect(machine.earliestTokenExpiry == 2000)
        #expect(machine.expireTokens(now: 1500).isEmpty)
        machine.reauthorized(topic: "realtime:room1", tokenExpiresAt: nil)
        #expect(machine.earliestTokenExpiry == nil)
        #expect(machine.expireTokens(now: 1e12).isEmpty)
    }

    // MARK: - Bindings and filters

    static func todos(published: Bool) -> Table {
        var table = Table(name: "todos", columns: [
            Column(name: "id", type: .bigint, isNullable: false),
            Column(name: "title", type: .text),
            Column(name: "done", type: .boolean),
            Column(name: "owner", type: .uuid),
            Column(name: "score", type: .numeric(precision: nil, scale: nil)),
            Column(name: "due", type: .timestamptz),
            Column(name: "meta", type: .jsonb),
        ], primaryKey: ["id"])
        table.isPublished = published
        return table
    }

    static let schema = Schema(tables: [todos(published: true), Table(name: "secret", columns: [Column(name: "id", type: .bigint)])])

    static func binding(_ text: String) throws(RealtimeRefusal) -> PostgresChangesBinding {
        let value: JSONValue
        do { value = try Self.raw(text) } catch { throw RealtimeRefusal("test input is not JSON") }
        return try PostgresChangesBinding(value, id: 1, schema: schema)
    }

    @Test(arguments: [
        (#"{"event":"UPSERT","schema":"public","table":"todos"}"#, "invalid postgres_changes event 'UPSERT'"),
        (#"{"schema":"public","table":"todos"}"#, "postgres_changes binding needs \"event\""),
        (#"{"event":"*","schema":"auth","table":"users"}"#, "invalid postgres_changes schema 'auth'"),
        (#"{"event":"*","schema":"public","table":"missing"}"#, "invalid postgres_changes table 'missing'"),
        (#"{"event":"*","schema":"public","table":"secret"}"#, "table 'secret' is not in the supabase_realtime publication"),
        (#"{"event":"*","schema":"public","filter":"id=eq.1"}"#, "a postgres_changes filter needs a single \"table\""),
        (#"{"event":"*","schema":"public","table":"todos","filter":"nope=eq.1"}"#, "invalid filter 'nope=eq.1': table 'todos' has no column 'nope'"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"id"}"#, "invalid filter 'id': expected column=operator.value"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"id=like.1"}"#, "invalid filter 'id=like.1': the operator is one of"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"id=not.eq.1"}"#, "invalid filter 'id=not.eq.1': the operator is one of"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"id=eq.1;drop table todos"}"#, "invalid filter 'id=eq.1;drop table todos': invalid input syntax for type bigint"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"owner=eq.x' or '1'='1"}"#, "invalid filter 'owner=eq.x' or '1'='1': invalid input syntax for type uuid"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"meta=eq.{}"}"#, "invalid filter 'meta=eq.{}': columns of type jsonb cannot be filtered"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"id=in.1"}"#, "invalid filter 'id=in.1'"),
        (#"{"event":"*","schema":"public","table":"todos","filter":"meta->>a=eq.1"}"#, "invalid filter 'meta->>a=eq.1': the operator is one of"),
        (#"{"event":"*","schema":"public","table":7}"#, "postgres_changes \"table\" must be a string"),
        ("[1]", "each postgres_changes binding is an object"),
    ])
    func badBindingsAreRefusedWithAClearReason(text: String, reason: String) {
        #expect(throws: RealtimeRefusal.self) { try Self.binding(text) }
        do {
            _ = try Self.binding(text)
        } catch {
            #expect(error.reason.hasPrefix(reason), "\(error.reason)")
        }
    }

    @Test func bindingsEchoWhatWasSentAfterTheirId() throws {
        #expect(try Self.binding(#"{"event":"*","schema":"public","table":"todos","filter":"done=eq.true"}"#).reply
            == Self.raw(#"{"id":1,"event":"*","schema":"public","table":"todos","filter":"done=eq.true"}"#))
        #expect(try Self.binding(#"{"event":"insert","schema":"public"}"#).reply == Self.raw(#"{"id":1,"event":"insert","schema":"public"}"#))
        #expect(try Self.binding(#"{"event":"DELETE","schema":"public","table":"*"}"#).reply == Self.raw(#"{"id":1,"event":"DELETE","schema":"public","table":"*"}"#))
    }

    static func change(_ operation: RowChange.Operation, table: String = "todos", record: String?, old: String? = nil) throws -> RowChange {
        RowChange(sequence: 1, table: table, operation: operation, record: try record.map(Self.raw), oldRecord: try old.map(Self.raw), committedAt: "2024-05-01T12:00:00.123Z")
    }

    @Test func bindingsMatchByEventTableAndFilter() throws {
        let table = Self.todos(published: true)
        let insert = try Self.change(.insert, record: #"{"id":7,"title":"x","done":true}"#)
        let delete = try Self.change(.delete, record: nil, old: #"{"id":7}"#)
        #expect(try Self.binding(#"{"event":"*","schema":"public","table":"todos"}"#).matches(insert, in: table))
        #expect(try Self.binding(#"{"event":"*","schema":"public"}"#).matches(insert, in: table))
        #expect(try !Self.binding(#"{"event":"UPDATE","schema":"public","table":"todos"}"#).matches(insert, in: table))
        #expect(try Self.binding(#"{"event":"DELETE","schema":"public","table":"todos","filter":"id=eq.7"}"#).matches(delete, in: table))
        #expect(try !Self.binding(#"{"event":"DELETE","schema":"public","table":"todos","filter":"title=eq.x"}"#).matches(delete, in: table))
        #expect(try !Self.binding(#"{"event":"*","schema":"public"}"#).matches(insert, in: Self.todos(published: false)))
        #expect(try !Self.binding(#"{"event":"*","schema":"public","table":"todos"}"#).matches(try Self.change(.insert, table: "other", record: "{}"), in: table))
    }

    @Test(arguments: [
        ("id=eq.7", true), ("id=eq.07", true), ("id=neq.7", false), ("id=lt.8", true), ("id=lte.7", true), ("id=gt.7", false),
        ("id=gte.7", true), ("id=in.(1,7)", true), ("id=in.(1,2)", false), ("title=eq.a b", true), ("title=in.(\"a b\",c)", true),
        ("title=lt.b", true), ("done=eq.true", true), ("done=eq.f", false), ("owner=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", true),
        ("score=eq.12.50", true), ("score=gt.12.4", true), ("due=eq.2024-05-01 12:00:00Z", true), ("due=lt.2024-05-01T13:00:00+00:00", true),
        ("title=in.(null)", false),
    ])
    func filtersCompareInTheColumnsType(filter: String, expected: Bool) throws {
        let parsed = try ChangeFilter(parsing: filter, table: Self.todos(published: true))
        let row = try Self.raw(#"{"id":7,"title":"a b","done":true,"owner":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","score":12.5,"due":"2024-05-01T12:00:00+00:00"}"#)
        #expect(parsed.matches(row) == expected)
    }

    @Test func nullsAndMissingColumnsNeverMatch() throws {
        let table = Self.todos(published: true)
        for filter in ["title=eq.x", "title=neq.x", "id=lt.100"] {
            let parsed = try ChangeFilter(parsing: filter, table: table)
            #expect(!parsed.matches(try Self.raw(#"{"title":null}"#)))
            #expect(!parsed.matches(try Self.raw(#"{}"#)))
        }
        // A value the column's type cannot read never matches either.
        #expect(!(try ChangeFilter(parsing: "id=eq.1", table: table).matches(try Self.raw(#"{"id":"one"}"#))))
    }

    // MARK: - Change messages

    @Test func changeDataHasEveryKeyTheClientRequiresAndNoNullOldRecord() throws {
        let table = Self.todos(published: true)
        let insert = ChangeMessage.data(of: try Self.change(.insert, record: #"{"id":1}"#), in: table)
        #expect(insert["errors"] == .null)
        #expect(insert["old_record"] == nil)
        #expect(insert["record"] == (try Self.raw(#"{"id":1}"#)))
        #expect(insert["columns"]?.serialized.hasPrefix(#"[{"name":"id","type":"int8"},{"name":"title","type":"text"},{"name":"done","type":"bool"},{"name":"owner","type":"uuid"}"#) == true)
        #expect(insert["type"] == .string("INSERT") && insert["schema"] == .string("public") && insert["commit_timestamp"] == .string("2024-05-01T12:00:00.123Z"))

        let update = ChangeMessage.data(of: try Self.change(.update, record: #"{"id":1,"title":"y"}"#, old: #"{"id":1}"#), in: table)
        let oldKey = try Self.raw(#"{"id":1}"#)
        #expect(update["old_record"] == oldKey && update["record"] != nil)
        let updateWithoutOld = ChangeMessage.data(of: try Self.change(.update, record: #"{"id":1}"#, old: nil), in: table)
        #expect(updateWithoutOld["old_record"] == nil)

        let delete = ChangeMessage.data(of: try Self.change(.delete, record: nil, old: #"{"id":1}"#), in: table)
        let key = try Self.raw(#"{"id":1}"#)
        #expect(delete["record"] == nil && delete["old_record"] == key)

        let frame = try Self.raw(ChangeMessage.frame(topic: "realtime:\"q\"", ids: [3, 9], data: delete.serialized))
        #expect(frame == (try Self.raw(#"{"event":"postgres_changes","topic":"realtime:\"q\"","payload":{"ids":[3,9],"data":\#(delete.serialized)},"ref":null}"#)))
    }

    // MARK: - Quotas, visibility, outbox

    @Test func rateWindowsAdmitTheLimitPerSecond() {
        var window = RateWindow(limit: 2)
        let start = ContinuousClock.now
        let admitted = [0, 500, 999, 1000, 1001, 1002].map { window.admit(at: start.advanced(by: .milliseconds($0))) }
        #expect(admitted == [true, true, false, true, true, false])
        var closed = RateWindow(limit: 0)
        let admittedWhenClosed = closed.admit(at: start)
        #expect(!admittedWhenClosed)
    }

    @Test func connectionSlotsAreCountedPerProject() {
        let limiter = RealtimeLimiter(configuration: RealtimeConfiguration(maxConnections: 1))
        #expect(limiter.acquireConnection("a"))
        #expect(!limiter.acquireConnection("a"))
        #expect(limiter.acquireConnection("b"))
        limiter.releaseConnection("a")
        #expect(limiter.acquireConnection("a"))
        #expect(limiter.connections(of: "a") == 1)
    }

    @Test func visibilityNeedsNoPoliciesForOpenTablesAndTheServiceRole() {
        var table = Self.todos(published: true)
        let user = RESTAccess.role("authenticated", claims: .object([]))
        let row = JSONValue.object([JSONMember(key: "id", value: .number("1"))])
        #expect(RowPolicyEvaluator.canSelect(row, in: table, access: user) == .visible)
        table.rowLevelSecurity = true
        #expect(RowPolicyEvaluator.canSelect(row, in: table, access: .serviceRole) == .visible)
        #expect(RowPolicyEvaluator.canSelect(row, in: table, access: user) == .hidden)
        table.policies = [Policy(name: "mine", table: "todos", command: .select, roles: ["authenticated"], using: .literal(.bool(true)), withCheck: nil)]
        #expect(RowPolicyEvaluator.canSelect(row, in: table, access: user) == .visible)
        #expect(RowPolicyEvaluator.canSelect(row, in: table, access: .anon) == .hidden)
        table.policies = [Policy(name: "narrow", table: "todos", isPermissive: false, roles: ["public"], using: .literal(.bool(true)), withCheck: nil)]
        #expect(RowPolicyEvaluator.canSelect(row, in: table, access: user) == .hidden)
    }

    @Test func anOutboxPastItsBoundEndsOnceAndKeepsNoMore() async {
        let overflows = Counter()
        let outbox = RealtimeOutbox(maxPendingBytes: 10) { overflows.add() }
        #expect(outbox.send("12345"))
        #expect(outbox.send("67890"))
        #expect(outbox.bytesPending == 10)
        #expect(!outbox.send("x"))
        #expect(!outbox.send("y"))
        #expect(overflows.value == 1 && outbox.overflowed)
        #expect(outbox.bytesPending == 10)
        var read: [String] = []
        for await text in outbox.messages {
            read.append(text)
            outbox.written(text)
        }
        #expect(read == ["12345", "67890"])
        #expect(outbox.bytesPending == 0)
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }
}
