@testable import CellbaseRedis
import NIOCore
import NIOEmbedded
import Testing

/// The reply-matching handler, driven without a socket: what a pipelined connection does, byte for byte.
@Suite struct RedisCommandHandlerTests {
    final class Harness {
        let channel: EmbeddedChannel
        let loop: EmbeddedEventLoop

        init() throws {
            self.loop = EmbeddedEventLoop()
            self.channel = EmbeddedChannel(loop: self.loop)
            try self.channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(RESPDecoder()),
                MessageToByteHandler(RESPCommandEncoder()),
                RedisCommandHandler()
            )
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        }

        func send(_ arguments: String..., timeout: TimeAmount = .seconds(1)) -> EventLoopFuture<RESPValue> {
            let promise = self.loop.makePromise(of: RESPValue.self)
            let request = RedisCommandHandler.Request(
                command: arguments.map { ByteBuffer(string: $0) }, promise: promise, timeout: timeout
            )
            self.channel.writeAndFlush(request, promise: nil)
            return promise.futureResult
        }

        func written() throws -> String? {
            try self.channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) }
        }

        func reply(_ text: String) throws {
            try self.channel.writeInbound(ByteBuffer(string: text))
        }
    }

    static func result(_ future: EventLoopFuture<RESPValue>) -> Result<RESPValue, RedisError>? {
        var result: Result<RESPValue, RedisError>?
        future.assumeIsolated().whenComplete { completed in
            result = completed.mapError { $0 as? RedisError ?? RedisError(.protocolViolation, "unexpected \($0)") }
        }
        return result
    }

    @Test func repliesCompleteCommandsInOrder() throws {
        let harness = try Harness()
        let first = harness.send("GET", "a")
        let second = harness.send("INCR", "b")
        let third = harness.send("PING")
        #expect(try harness.written() == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        #expect(try harness.written() == "*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n")
        #expect(try harness.written() == "*1\r\n$4\r\nPING\r\n")
        #expect(Self.result(first) == nil)
        try harness.reply("$-1\r\n:7\r")
        #expect(Self.result(first) == .success(.bulkString(nil)))
        #expect(Self.result(second) == nil)
        try harness.reply("\n+PONG\r\n")
        #expect(Self.result(second) == .success(.integer(7)))
        #expect(Self.result(third) == .success(.simpleString("PONG")))
    }

    @Test func errorReplyFailsOnlyItsCommand() throws {
        let harness = try Harness()
        let failing = harness.send("INCR", "text")
        let next = harness.send("PING")
        try harness.reply("-ERR value is not an integer or out of range\r\n+PONG\r\n")
        #expect(Self.result(failing) == .failure(.server("ERR value is not an integer or out of range")))
        #expect(Self.result(next) == .success(.simpleString("PONG")))
        #expect(harness.channel.isActive)
    }

    @Test func closingFailsEveryPendingCommand() throws {
        let harness = try Harness()
        let first = harness.send("GET", "a")
        let second = harness.send("GET", "b")
        try harness.channel.close().wait()
        #expect(Self.result(first) == .failure(.connectionClosed))
        #expect(Self.result(second) == .failure(.connectionClosed))
        #expect(Self.result(harness.send("PING")) == .failure(.connectionClosed))
    }

    @Test func overdueReplyFailsTheCommandAndClosesTheConnection() throws {
        let harness = try Harness()
        let slow = harness.send("BLPOP", "q", "0", timeout: .milliseconds(100))
        let later = harness.send("PING", timeout: .seconds(10))
        harness.loop.advanceTime(by: .milliseconds(99))
        #expect(Self.result(slow) == nil)
        harness.loop.advanceTime(by: .milliseconds(1))
        #expect(Self.result(slow) == .failure(.timeout))
        #expect(Self.result(later) == .failure(.connectionClosed))
        #expect(!harness.channel.isActive)
    }

    @Test func replyWithoutACommandClosesTheConnection() throws {
        let harness = try Harness()
        #expect(throws: RedisError.self) {
            try harness.reply("+OK\r\n")
        }
        #expect(!harness.channel.isActive)
    }

    @Test func malformedReplyFailsPendingCommandsAsAProtocolViolation() throws {
        let harness = try Harness()
        let pending = harness.send("GET", "a")
        #expect(throws: RESPError.self) {
            try harness.reply("$-7\r\n")
        }
        guard case .failure(let error) = Self.result(pending) else {
            Issue.record("the pending command was not failed")
            return
        }
        #expect(error.code == .protocolViolation)
        #expect(!harness.channel.isActive)
    }
}
