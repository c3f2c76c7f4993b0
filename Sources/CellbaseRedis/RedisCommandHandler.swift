import NIOCore

/// Matches replies to commands on one pipelined connection: Redis answers in the order it was
/// asked, so each written command's promise joins a FIFO queue and each reply completes the oldest.
///
/// Anything that leaves the queue out of step with the server closes the channel: a reply with no
/// command waiting, undecodable input, a failed write, or a command whose reply is overdue (the
/// connection may be half-open, and reconnecting is the only way to find out). Closing fails every
/// waiting command, so no caller waits forever.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = Request
    typealias OutboundOut = [ByteBuffer]

    /// A command to send and the promise its reply completes.
    struct Request: Sendable {
        var command: [ByteBuffer]
        var promise: EventLoopPromise<RESPValue>
        var timeout: TimeAmount
    }

    private struct Pending {
        var promise: EventLoopPromise<RESPValue>
        var timeout: Scheduled<Void>
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var closed = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise writePromise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        guard !self.closed else {
            request.promise.fail(RedisError.connectionClosed)
            writePromise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) { [self] in
            self.timedOut(request.promise, context: context)
        }
        self.pending.append(Pending(promise: request.promise, timeout: timeout))
        let written = writePromise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenFailure { [self] error in
            self.failAll(with: RedisError(.connectionClosed, "writing a command failed: \(error)"))
            context.close(promise: nil)
        }
        context.write(Self.wrapOutboundOut(request.command), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Bytes already decoded when the connection was given up on are of no use to anyone.
        guard !self.closed else { return }
        let reply = Self.unwrapInboundIn(data)
        guard let next = self.pending.popFirst() else {
            self.closed = true
            context.fireErrorCaught(RedisError(.protocolViolation, "a reply arrived with no command waiting for it"))
            context.close(promise: nil)
            return
        }
        next.timeout.cancel()
        if case .error(let message) = reply {
            next.promise.fail(RedisError.server(message))
        } else {
            next.promise.succeed(reply)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = if let respError = error as? RESPError {
            RedisError(.protocolViolation, respError.description)
        } else {
            RedisError(.connectionClosed, "the connection failed: \(error)")
        }
        self.failAll(with: failure)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(with: .connectionClosed)
        context.fireChannelInactive()
    }

    private func timedOut(_ promise: EventLoopPromise<RESPValue>, context: ChannelHandlerContext) {
        guard let index = self.pending.firstIndex(where: { $0.promise == promise }) else { return }
        self.pending.remove(at: index).promise.fail(RedisError.timeout)
        self.failAll(with: .connectionClosed)
        context.close(promise: nil)
    }

    private func failAll(with error: RedisError) {
        self.closed = true
        while let next = self.pending.popFirst() {
            next.timeout.cancel()
            next.promise.fail(error)
        }
    }
}
