import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOEmbedded
import NIOPosix
import ServiceLifecycle
import Testing

@testable import Cellbase

/// A node's graceful shutdown does not wait on connections that were accepted before it and had
/// not finished their first request.
@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    /// Records what reaches the end of a pipeline, in order.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        var seen: [String] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) { seen.append("read") }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            seen.append(event is ChannelShouldQuiesceEvent ? "quiesce" : "event")
        }
    }

    static func connectedChannel(_ handlers: [any ChannelHandler]) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(handlers)
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aConnectionThatSentNothingIsClosedOnQuiesce() throws {
        let recorder = Recorder()
        let channel = try Self.connectedChannel([NegotiationQuiesceHandler(), recorder])
        #expect(channel.isActive)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!channel.isActive)
        #expect(recorder.seen.isEmpty)
    }

    @Test func aQuiesceDuringTheFirstRequestIsReplayedAfterIt() throws {
        let negotiation = NegotiationQuiesceHandler()
        let recorder = Recorder()
        let channel = try Self.connectedChannel([negotiation, recorder])
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(string: "GET /health/live HT"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        // Kept back: nothing would close the connection after its response yet.
        #expect(channel.isActive)
        #expect(recorder.seen == ["read"])
        // The HTTP handlers are in place (as the upgrade handler's not-upgrading path adds them);
        // the request goes on, and the quiesce follows it.
        try channel.pipeline.syncOperations.addHandler(QuiesceReplayHandler(negotiation: negotiation), position: .before(recorder))
        try channel.writeInbound(ByteBuffer(string: "TP/1.1\r\n\r\n"))
        #expect(recorder.seen == ["read", "read", "quiesce"])
        #expect(channel.isActive)
        // The replay is done once; later events pass through as they come.
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(recorder.seen == ["read", "read", "quiesce", "read", "quiesce"])
    }

    @Test func aFirstRequestWithoutAQuiesceIsNotFollowedByOne() throws {
        let negotiation = NegotiationQuiesceHandler()
        let recorder = Recorder()
        let channel = try Self.connectedChannel([negotiation, recorder])
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        try channel.pipeline.syncOperations.addHandler(QuiesceReplayHandler(negotiation: negotiation), position: .before(recorder))
        try channel.writeInbound(ByteBuffer(string: "\r\n"))
        #expect(recorder.seen == ["read", "read"])
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(recorder.seen == ["read", "read", "quiesce"])
    }

    /// A client that opened a connection and has not sent a byte yet (a keep-alive pool filling
    /// up, a health checker) does not hold the node's shutdown; nor does an idle keep-alive one.
    @Test func connectionsWithoutARequestInProgressDoNotHoldTheShutdown() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        let ready = AsyncStream<Int>.makeStream()
        let (app, _) = try await CellbaseBuilder.build(try node.configuration(), logger: node.logger) { _, port in ready.continuation.yield(port) }
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: node.logger)
        try await Self.expectShutdownEnds(group, listeningOn: ready.stream)
    }

    /// Runs `group` (a server reporting its port on `ports`), opens a connection that sends
    /// nothing and one that gets an answer to `GET /health/live` and stays open, then shuts the
    /// group down: both connections must be closed by the server (without a byte more) and its run
    /// must end — within a bound, so a server that keeps waiting fails the test instead of hanging it.
    static func expectShutdownEnds(_ group: ServiceGroup, listeningOn ports: AsyncStream<Int>) async throws {
        var ports = ports.makeAsyncIterator()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try #require(await ports.next())
            tasks.addTask {
                let silent = try await connect(port: port)
                let idle = try await connect(port: port)
                let answered = try await idle.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "GET /health/live HTTP/1.1\r\nHost: server\r\n\r\n"))
                    var received = ""
                    var chunks = inbound.makeAsyncIterator()
                    while !received.contains(#"{"status":"ok"}"#), let chunk = try await chunks.next() { received += String(buffer: chunk) }
                    await group.triggerGracefulShutdown()
                    var rest = ""
                    while let chunk = try await chunks.next() { rest += String(buffer: chunk) }
                    return (received, rest)
                }
                #expect(answered.0.hasPrefix("HTTP/1.1 200"))
                #expect(answered.1.isEmpty)
                let heard = try await silent.executeThenClose { inbound, _ in
                    var received = ""
                    for try await chunk in inbound { received += String(buffer: chunk) }
                    return received
                }
                #expect(heard.isEmpty)
            }
            tasks.addTask {
                try await Task.sleep(for: .seconds(60))
                throw ShutdownDidNotEnd()
            }
            // The server's run and the clients end; the bound does not.
            try await tasks.next()
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    struct ShutdownDidNotEnd: Error {}

    static func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    }
}
