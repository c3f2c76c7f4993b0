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

/// Where a connection of a run stands in it: its slot, the run's pacing and window, and where
/// its slot's open-loop schedule has got to.
struct LoadSlot: Sendable {
    var index: Int
    var pacing: Pacing
    var window: MeasurementWindow
    var progress: LoadProgress
    var nextSequence: Int

    /// Calls `send` with the moment the connection's next message counts from: at once in a closed
    /// loop; in an open loop when it is due, or at once if it is overdue. A message due after the
    /// window is not sent. Returns the scheduled send, if it had to wait, so it can be cancelled.
    func sendNext(
        _ tally: inout ConnectionTally, on loop: NIOIsolatedEventLoop, send: @escaping (_ origin: NIODeadline) -> Void
    ) -> Scheduled<Void>? {
        switch pacing {
        case .closedLoop:
            send(.now())
            return nil
        case .openLoop(let schedule, let start):
            let due = start + .nanoseconds(schedule.dueOffset(connection: index, sequence: tally.nextSequence))
            tally.nextSequence += 1
            guard due < window.end else { return nil }
            guard due > .now() else {
                send(due)
                return nil
            }
            return loop.scheduleTask(deadline: due) { send(due) }
        }
    }
}

/// The bytes of a read that did not make a whole message yet, kept for the next read.
struct PartialRead {
    private var leftover: ByteBuffer?

    /// `bytes`, after what the previous read left over.
    mutating func joined(with bytes: ByteBuffer) -> ByteBuffer {
        guard var buffered = leftover.take() else { return bytes }
        var bytes = bytes
        buffered.writeBuffer(&bytes)
        return buffered
    }

    /// Keeps what the parser did not consume of `bytes` for the next read.
    mutating func keep(_ bytes: inout ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        bytes.discardReadBytes()
        leftover = bytes
    }
}

/// What a connection hands back when it ends: its tally, and the state the next connection of
/// its slot carries on with.
struct ConnectionOutcome<State: Sendable>: Sendable {
    var tally: ConnectionTally
    var state: State
}

/// One keep-alive connection of a run: sends a request, reads its answer, records it, sends the
/// next — everything on the channel's event loop, with no task or allocation per request beyond
/// what the socket needs. It closes itself at the end of the window and then reports its tally.
final class LoadConnection<Source: RequestSource>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var source: Source
    private let slot: LoadSlot
    private let finished: EventLoopPromise<ConnectionOutcome<Source>>
    private var parser: HTTPResponseParser
    private var received = PartialRead()
    private var tally: ConnectionTally
    /// When the request awaiting its answer counts from: when it was due (open loop) or sent.
    private var outstanding: NIODeadline?
    private var pending: Scheduled<Void>?
    private var closing: Scheduled<Void>?

    init(source: Source, slot: LoadSlot, finished: EventLoopPromise<ConnectionOutcome<Source>>) {
        self.source = source
        self.slot = slot
        self.finished = finished
        self.parser = HTTPResponseParser(keepsBodies: source.readsBodies)
        self.tally = ConnectionTally(nextSequence: slot.nextSequence)
    }

    func channelActive(context: ChannelHandlerContext) {
        let loop = context.eventLoop.assumeIsolated()
        closing = loop.scheduleTask(deadline: slot.window.end) { context.close(promise: nil) }
        sendWhenDue(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = received.joined(with: unwrapInboundIn(data))
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
        received.keep(&bytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if outstanding != nil, NIODeadline.now() < slot.window.end { fail(.socket) }
        outstanding = nil
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        closing?.cancel()
        if outstanding != nil, NIODeadline.now() < slot.window.end { fail(.closed) }
        outstanding = nil
    }

    /// Called however the channel ends — closed, reset, or never connected — so the run always
    /// gets this connection's tally, and the source's state for a connection that follows it.
    func handlerRemoved(context: ChannelHandlerContext) {
        finished.succeed(ConnectionOutcome(tally: tally, state: source))
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
        if origin >= slot.window.start && now <= slot.window.end {
            tally.latency.record(UInt64(max((now - origin).nanoseconds / 1000, 1)))
            tally.answered += 1
            if succeeded { tally.succeeded += 1 } else { tally.failures[.status(response.status), default: 0] += 1 }
        }
        slot.progress.answer(failed: !succeeded)
        source.answered(status: response.status, body: response.body)
        if response.closesConnection {
            context.close(promise: nil)
        } else {
            sendWhenDue(context: context)
        }
    }

    private func sendWhenDue(context: ChannelHandlerContext) {
        pending = slot.sendNext(&tally, on: context.eventLoop.assumeIsolated()) { [self] origin in
            send(origin: origin, context: context)
        }
    }

    private func send(origin: NIODeadline, context: ChannelHandlerContext) {
        guard origin < slot.window.end, context.channel.isActive else { return }
        outstanding = origin
        context.writeAndFlush(wrapOutboundOut(source.next()), promise: nil)
    }

    /// Failures count from the end of the warm-up, as answers do.
    private func fail(_ kind: FailureKind) {
        if NIODeadline.now() >= slot.window.start { tally.failures[kind, default: 0] += 1 }
        slot.progress.failure()
    }
}
