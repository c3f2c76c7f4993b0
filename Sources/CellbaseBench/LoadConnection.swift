import Histogram
import NIOCore
import Synchronization

/// How requests are paced on a connection.
enum Pacing: Sendable {
    /// The next request goes as soon as the previous one is answered.
    case closedLoop
    /// Each request goes when the schedule says it is due, or at once if it is overdue.
    case openLoop(OpenLoopSchedule, start: NIODeadline)
}

/// The span of a run whose answers count: after the warm-up, up to the end.
struct MeasurementWindow: Sendable {
    var start: NIODeadline
    var end: NIODeadline
}

/// Answers and failures of the whole run so far, for the progress line while it runs.
final class LoadProgress: Sendable {
    private let answeredCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)

    var answered: Int { answeredCount.load(ordering: .relaxed) }
    var failed: Int { failedCount.load(ordering: .relaxed) }

    func answer(failed: Bool) {
        answeredCount.wrappingAdd(1, ordering: .relaxed)
        if failed { failedCount.wrappingAdd(1, ordering: .relaxed) }
    }

    func failure() {
        failedCount.wrappingAdd(1, ordering: .relaxed)
    }
}

struct ConnectionOutcome<Source: RequestSource>: Sendable {
    var tally: ConnectionTally
    var source: Source
}

/// One keep-alive connection of a run: sends a request, reads its answer, records it, sends the
/// next — everything on the channel's event loop, with no task or allocation per request beyond
/// what the socket needs. It closes itself at the end of the window and then reports its tally.
final class LoadConnection<Source: RequestSource>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var source: Source
    private let index: Int
    private let pacing: Pacing
    private let window: MeasurementWindow
    private let progress: LoadProgress
    private let finished: EventLoopPromise<ConnectionOutcome<Source>>
    private var parser: HTTPResponseParser
    private var received: ByteBuffer?
    private var tally: ConnectionTally
    /// When the request awaiting its answer counts from: when it was due (open loop) or sent.
    private var outstanding: NIODeadline?
    private var pending: Scheduled<Void>?
    private var closing: Scheduled<Void>?

    init(source: Source, index: Int, pacing: Pacing, window: MeasurementWindow, progress: LoadProgress, nextSequence: Int, finished: EventLoopPromise<ConnectionOutcome<Source>>) {
        self.source = source
        self.index = index
        self.pacing = pacing
        self.window = window
        self.progress = progress
        self.finished = finished
        self.parser = HTTPResponseParser(keepsBodies: source.readsBodies)
        self.tally = ConnectionTally(nextSequence: nextSequence)
    }

    func channelActive(context: ChannelHandlerContext) {
        let loop = context.eventLoop.assumeIsolated()
        closing = loop.scheduleTask(deadline: window.end) { context.close(promise: nil) }
        sendWhenDue(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var buffered = received.take() {
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        do {
            while let response = try parser.next(from: &bytes) {
                answered(response, context: context)
                guard context.channel.isActive else { return }
            }
        } catch {
            fail(.invalidResponse)
            context.close(promise: nil)
            return
        }
        if bytes.readableBytes > 0 {
            bytes.discardReadBytes()
            received = bytes
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if outstanding != nil, NIODeadline.now() < window.end { fail(.socket) }
        outstanding = nil
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        closing?.cancel()
        if outstanding != nil, NIODeadline.now() < window.end { fail(.closed) }
        outstanding = nil
    }

    /// Called however the channel ends — closed, reset, or never connected — so the run always
    /// gets this connection's tally, and the source's state for a connection that follows it.
    func handlerRemoved(context: ChannelHandlerContext) {
        finished.succeed(ConnectionOutcome(tally: tally, source: source))
    }

    private func answered(_ response: ParsedResponse, context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        guard let origin = outstanding else {
            fail(.invalidResponse)
            context.close(promise: nil)
            return
        }
        outstanding = nil
        let succeeded = (200..<300).contains(response.status)
        if origin >= window.start && now <= window.end {
            tally.latency.record(UInt64(max((now - origin).nanoseconds / 1000, 1)))
            tally.answered += 1
            if succeeded { tally.succeeded += 1 } else { tally.failures[.status(response.status), default: 0] += 1 }
        }
        progress.answer(failed: !succeeded)
        source.answered(status: response.status, body: response.body)
        if response.closesConnection {
            context.close(promise: nil)
        } else {
            sendWhenDue(context: context)
        }
    }

    private func sendWhenDue(context: ChannelHandlerContext) {
        switch pacing {
        case .closedLoop:
            send(origin: .now(), context: context)
        case .openLoop(let schedule, let start):
            let due = start + .nanoseconds(schedule.dueOffset(connection: index, sequence: tally.nextSequence))
            tally.nextSequence += 1
            guard due < window.end else { return }
            if due <= .now() {
                send(origin: due, context: context)
            } else {
                pending = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
                    send(origin: due, context: context)
                }
            }
        }
    }

    private func send(origin: NIODeadline, context: ChannelHandlerContext) {
        guard origin < window.end, context.channel.isActive else { return }
        outstanding = origin
        context.writeAndFlush(wrapOutboundOut(source.next()), promise: nil)
    }

    /// Failures count from the end of the warm-up, as answers do.
    private func fail(_ kind: FailureKind) {
        if NIODeadline.now() >= window.start { tally.failures[kind, default: 0] += 1 }
        progress.failure()
    }
}
