import HTTPTypes
import CellbaseSQL
import Foundation
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import Logging
import Synchronization
import Testing

@testable import Cellbase

/// A change feed the tests write to: every subscription of a project receives the batches
/// `emit` is given, in order.
final class TestChangeFeed: ChangeSource {
    private struct State {
        var subscribers: [String: [AsyncStream<[RowChange]>.Continuation]] = [:]
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())

    func changes(of project: Project) async throws -> ChangeSubscription {
        let (stream, continuation) = AsyncStream.makeStream(of: [RowChange].self)
        let waiting = state.withLock { state in
            state.subscribers[project.ref, default: []].append(continuation)
            return state.waiting.removeValue(forKey: project.ref) ?? []
        }
        waiting.forEach { $0.resume() }
        return stream
    }

    /// Returns once the node has subscribed to the project's feed.
    func subscribed(_ ref: String) async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                guard state.subscribers[ref]?.isEmpty == false else {
                    state.waiting[ref, default: []].append(continuation)
                    return false
                }
                return true
            }
            if ready { continuation.resume() }
        }
    }

    func emit(_ ref: String, _ batch: [RowChange]) {
        for continuation in state.withLock({ $0.subscribers[ref] ?? [] }) {
            continuation.yield(batch)
        }
    }

    /// Ends the project's subscriptions, as a failing feed would.
    func fail(_ ref: String) {
        for continuation in state.withLock({ $0.subscribers.removeValue(forKey: ref) ?? [] }) {
            continuation.finish()
        }
    }
}

/// A node served on an ephemeral port, for WebSocket tests.
struct RealtimeTestNode {
    var node: TestNode
    var feed = TestChangeFeed()
    var realtime = RealtimeConfiguration()

    init(backend: Backend) {
        node = TestNode(backend: backend)
    }

    func run(_ test: @Sendable (TestClient) async throws -> Void) async throws {
        defer { node.removeData() }
        var configuration = try node.configuration()
        configuration.realtime = realtime
        let (app, cellbase) = try await CellbaseBuilder.build(configuration, logger: node.logger, realtime: .init(changeSource: feed))
        try await app.test(.live) { client in
            try await test(TestClient(client: client, node: cellbase))
        }
    }
}

/// One side of a realtime WebSocket in a test: push messages, read what the node sends.
final class TestSocket {
    /// What the node sent and the test has not read yet, and whether the socket closed.
    private final class Inbox: Sendable {
        let state = Mutex<(messages: [String], closed: Bool)>(([], false))
    }

    private let inbox = Inbox()
    private let reader: Task<Void, Never>
    private let outgoing: AsyncStream<String>.Continuation
    private var ref = 0
    /// A message that does not come within this is a failure, not a hang.
    static let patience: Duration = .seconds(20)

    init(incoming: AsyncStream<String>, outgoing: AsyncStream<String>.Continuation) {
        let inbox = self.inbox
        reader = Task {
            for await text in incoming { inbox.state.withLock { $0.messages.append(text) } }
            inbox.state.withLock { $0.closed = true }
        }
        self.outgoing = outgoing
    }

    deinit { reader.cancel() }

    /// The next message the node sent, `nil` once the socket closed; fails after `patience`.
    private func nextText() async throws -> String? {
        let deadline = ContinuousClock.now + Self.patience
        while true {
            let (text, closed) = inbox.state.withLock { state -> (String?, Bool) in
                state.messages.isEmpty ? (nil, state.closed) : (state.messages.removeFirst(), false)
            }
            if let text { return text }
            if closed { return nil }
            guard ContinuousClock.now < deadline else { throw NothingArrived() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    struct NothingArrived: Error {}

    func sendText(_ text: String) {
        outgoing.yield(text)
    }

    /// Pushes a message as the Supabase clients write it, with the next `ref`; returns the ref.
    @discardableResult
    func push(_ topic: String, _ event: String, _ payload: String = "{}", joinRef: String? = nil) -> String {
        ref += 1
        let joinRefText = joinRef.map { "\"\($0)\"" } ?? "null"
        sendText(#"{"topic":"\#(topic)","event":"\#(event)","payload":\#(payload),"ref":"\#(ref)","join_ref":\#(joinRefText)}"#)
        return String(ref)
    }

    /// Joins `realtime:<channel>` and returns the reply.
    func join(_ channel: String, config: String = "{}", accessToken: String? = nil) async throws -> JSONValue {
        let token = accessToken.map { #","access_token":"\#($0)""# } ?? ""
        let ref = push("realtime:\(channel)", "phx_join", #"{"config":\#(config)\#(token)}"#, joinRef: String(self.ref + 1))
        let reply = try await next()
        #expect(reply["event"] == .string("phx_reply") && reply["ref"] == .string(ref), "\(reply.serialized)")
        return reply
    }

    /// The next message from the node; fails the test when the socket closed instead.
    func next() async throws -> JSONValue {
        guard let text = try await nextText() else { throw Closed() }
        let value = try JSONParser.parse(Array(text.utf8), maxDepth: 256)
        // The clients drop any message without a `ref` key: every one must have it.
        #expect(value["ref"] != nil, "no ref in \(text)")
        return value
    }

    /// Whether the node closed the socket; reads and drops anything it still sent.
    func closed() async throws -> Bool {
        while try await nextText() != nil {}
        return true
    }

    struct Closed: Error {}
}

extension TestClient {
    /// Opens `path` as a WebSocket, runs `body` with it, then closes it; returns the close frame.
    @discardableResult
    func socket(path: String, _ body: (TestSocket) async throws -> Void) async throws -> WebSocketCloseFrame? {
        let (incoming, incomingContinuation) = AsyncStream.makeStream(of: String.self)
        let (outgoing, outgoingContinuation) = AsyncStream.makeStream(of: String.self)
        let client = self.client
        return try await withThrowingTaskGroup(of: WebSocketCloseFrame?.self) { group in
            group.addTask {
                defer { incomingContinuation.finish() }
                return try await client.ws(path, configuration: .init(maxFrameSize: 1 << 24)) { inbound, outbound, _ in
                    // Reads until the node closes; writes until the test is done, then closes.
                    try await withThrowingTaskGroup(of: Void.self) { reader in
                        reader.addTask {
                            defer { incomingContinuation.finish() }
                            for try await message in inbound.messages(maxSize: 1 << 24) {
                                if case .text(let text) = message { incomingContinuation.yield(text) }
                            }
                        }
                        for await text in outgoing { try await outbound.write(.text(text)) }
                        reader.cancelAll()
                    }
                }
            }
            try await body(TestSocket(incoming: incoming, outgoing: outgoingContinuation))
            outgoingContinuation.finish()
            return try await group.next() ?? nil
        }
    }

    func socket(_ project: TestProject, key: String? = nil, _ body: (TestSocket) async throws -> Void) async throws {
        try await socket(path: "/realtime/v1/websocket?apikey=\(key ?? project.anonKey)&vsn=1.0.0", body)
    }

    /// Adds `table` to the project's `supabase_realtime` publication with the admin API's switch.
    func publish(_ table: String, of project: TestProject) async throws {
        let answer = try await admin(.put, "/admin/v1/projects/\(project.ref)/realtime/tables/\(table)", body: #"{"enabled":true}"#)
        guard answer.status == .ok else { throw UnexpectedAnswer(answer: answer) }
    }
}
