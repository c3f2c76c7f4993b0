import NIOCore
import NIOSSL

/// One command for `SMTPClientHandler`: the bytes to send and the promise its reply completes.
struct SMTPRequest: Sendable {
    var bytes: ByteBuffer
    /// A name for errors: the command's verb, never its arguments.
    var name: String
    var reply: EventLoopPromise<SMTPReply>
}

/// Pairs each request with the next reply, one at a time, and fails the waiting request when the
/// server is silent for `timeout`, sends a reply nobody asked for, or the connection fails.
///
/// The first reply is the server's greeting and completes `greeting`, whether or not the
/// connection is still open by the time anyone looks (a server that is busy or refuses service
/// says 421 or 554 and closes at once). After it, the client sends a command only once the previous
/// reply arrived, so at most one request waits; one reply that comes unasked is kept for the next
/// request, and a second one is a server talking out of turn.
final class SMTPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = SMTPReply
    typealias OutboundIn = SMTPRequest
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let greeting: EventLoopPromise<SMTPReply>
    private var greeted = false
    private var greetingDeadline: Scheduled<Void>?
    private var waiting: (request: SMTPRequest, deadline: Scheduled<Void>)?
    private var early: SMTPReply?
    /// Set once the connection failed; later requests fail at once with it.
    private var failure: SMTPError?

    init(timeout: TimeAmount, greeting: EventLoopPromise<SMTPReply>) {
        self.timeout = timeout
        self.greeting = greeting
    }

    func channelActive(context: ChannelHandlerContext) {
        greetingDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            fail(context: context, SMTPError(.timedOut, "no greeting within \(timeout.nanoseconds / 1_000_000_000) s", command: "greeting"))
        }
        context.fireChannelActive()
    }

    /// Whatever happened, the greeting's promise is completed once the handler goes.
    func handlerRemoved(context: ChannelHandlerContext) {
        greetingDeadline?.cancel()
        greeting.fail(failure ?? SMTPError(.connectionClosed, "the connection closed before the greeting", command: "greeting"))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        // A reply that came unasked answers whatever is asked next (a 421 the server sent before
        // closing), so that the command fails as the server said rather than as a closed connection.
        if let early {
            self.early = nil
            promise?.succeed()
            request.reply.succeed(early)
            return
        }
        if let failure {
            request.reply.fail(failure)
            promise?.fail(failure)
            return
        }
        guard waiting == nil else {
            let error = SMTPError(.malformedReply, "a command was sent before the previous reply", command: request.name)
            request.reply.fail(error)
            promise?.fail(error)
            return
        }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            fail(context: context, SMTPError(.timedOut, "no reply within \(timeout.nanoseconds / 1_000_000_000) s", command: request.name))
        }
        waiting = (request, deadline)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if !greeted {
            greeted = true
            greetingDeadline?.cancel()
            greeting.succeed(reply)
            return
        }
        guard let waiting else {
            guard early == nil else {
                fail(context: context, .malformedReply("the server sent a reply nobody asked for"))
                return
            }
            early = reply
            return
        }
        self.waiting = nil
        waiting.deadline.cancel()
        waiting.request.reply.succeed(reply)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, Self.smtpError(error, command: waiting?.request.name))
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context: context, SMTPError(.connectionClosed, "the server closed the connection", command: waiting?.request.name))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: SMTPError) {
        if failure == nil { failure = error }
        greetingDeadline?.cancel()
        greeting.fail(error)
        if let waiting {
            self.waiting = nil
            waiting.deadline.cancel()
            waiting.request.reply.fail(error)
        }
        context.close(promise: nil)
    }

    static func smtpError(_ error: any Error, command: String?) -> SMTPError {
        switch error {
        case let error as SMTPError:
            var error = error
            error.command = error.command ?? command
            return error
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            return SMTPError(.tls, "TLS failed: \(error)", command: command)
        default:
            return SMTPError(.connectionClosed, "the connection failed: \(error)", command: command)
        }
    }
}
