import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// A webhook receiver on an ephemeral loopback port, straight on SwiftNIO so that it can misbehave:
/// it counts connections, keeps every request, and answers each one as told.
final class WebhookReceiver: Sendable {
    enum Answer: Sendable {
        /// A complete response.
        case respond(HTTPResponseStatus, headers: HTTPHeaders = [:], body: String = "")
        /// Reads the request and never answers.
        case silence
        /// The status, then a chunked body of 1 MiB chunks of `x` for as long as the client reads.
        case endless(HTTPResponseStatus)
    }

    struct Request: Sendable {
        var uri: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    private struct State {
        var connections = 0
        var requests: [Request] = []
        /// The connections being served, closed when the receiver stops.
        var open: [ObjectIdentifier: any Channel] = [:]
        var stopping = false
    }

    private let answer: Answer
    private let state = Mutex(State())
    /// One element each time the client goes away while an endless body is being written.
    let closedMidBody: AsyncStream<Void>
    private let closedMidBodyContinuation: AsyncStream<Void>.Continuation

    init(_ answer: Answer) {
        self.answer = answer
        (closedMidBody, closedMidBodyContinuation) = AsyncStream.makeStream()
    }

    /// Connections accepted so far.
    var connections: Int { state.withLock { $0.connections } }
    /// Requests received so far, complete with their bodies.
    var requests: [Request] { state.withLock { $0.requests } }

    /// Runs `body` with the receiver listening on `host`; `body` gets its port.
    func run<T: Sendable>(host: String = "127.0.0.1", _ body: (Int) async throws -> T) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let port = try #require(server.channel.localAddress?.port)
        // The receiver stops by closing its listening socket and every connection, never by
        // cancelling the accept loop: a connection still queued in a cancelled loop is dropped
        // unclosed, which SwiftNIO traps on.
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            let stopping = self.state.withLock { state in
                                if !state.stopping {
                                    state.connections += 1
                                    state.open[ObjectIdentifier(connection.channel)] = connection.channel
                                }
                                return state.stopping
                            }
                            if stopping {
                                try? await connection.executeThenClose { _, _ in }
                                continue
                            }
                            connections.addTask {
                                try? await self.serve(connection)
                                self.state.withLock { _ = $0.open.removeValue(forKey: ObjectIdentifier(connection.channel)) }
                            }
                        }
                    }
                }
            }
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body(port)) } catch { outcome = .failure(error) }
            let open = state.withLock { state in
                state.stopping = true
                return Array(state.open.values)
            }
            server.channel.close(promise: nil)
            for channel in open { channel.close(promise: nil) }
            try? await group.waitForAll()
            return try outcome.get()
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let received):
                    head = received
                    body = []
                case .body(let chunk):
                    body += chunk.readableBytesView
                case .end:
                    guard let head else { continue }
                    state.withLock { $0.requests.append(Request(uri: head.uri, headers: head.headers, body: body)) }
                    try await respond(to: head, outbound)
                }
            }
        }
    }

    private func respond(to request: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        switch answer {
        case .respond(let status, var headers, let body):
            headers.replaceOrAdd(name: "content-length", value: String(body.utf8.count))
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
            try await outbound.write(.end(nil))
        case .silence:
            break
        case .endless(let status):
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status)))
            let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 1 << 20)
            do {
                // The writer waits while the socket is full, so this holds one chunk at a time.
                while true { try await outbound.write(.body(.byteBuffer(chunk))) }
            } catch {
                closedMidBodyContinuation.yield()
                throw error
            }
        }
    }
}
