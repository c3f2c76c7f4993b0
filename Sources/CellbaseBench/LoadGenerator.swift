import Histogram
import NIOCore
import NIOPosix

/// The shape of a load: where it goes, over how many connections, at what pace, for how long.
public struct LoadPlan: Sendable {
    public var host: String
    public var port: Int
    public var connections: Int
    /// Requests per second over all connections (open loop); `nil` for as fast as answers come (closed loop).
    public var rate: Double?
    /// Load that is sent but not counted, so connections, caches and the JIT-less but lazy parts
    /// of the server are warm when measuring starts.
    public var warmup: Duration
    public var duration: Duration

    public init(host: String, port: Int, connections: Int, rate: Double? = nil, warmup: Duration, duration: Duration) {
        self.host = host
        self.port = port
        self.connections = connections
        self.rate = rate
        self.warmup = warmup
        self.duration = duration
    }
}

/// A once-a-second look at a running load.
public struct ProgressSample: Sendable {
    public var elapsedSeconds: Int
    public var warmingUp: Bool
    /// Answers in the last second, any status.
    public var answeredLastSecond: Int
    /// Failures so far, warm-up included.
    public var failed: Int
}

/// Runs a load over keep-alive HTTP/1.1 connections, one channel each, spread over the event
/// loops of `group`.
public enum LoadGenerator {
    public static func run<Source: RequestSource>(
        _ plan: LoadPlan,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        progress report: (@Sendable (ProgressSample) -> Void)? = nil,
        source: @Sendable (_ connection: Int) -> Source
    ) async -> LoadResult {
        await runSlots(plan, group: group, progress: report, initialState: source) { slot, source, finished in
            LoadConnection(source: source, slot: slot, finished: finished)
        }
    }

    /// Runs `plan.connections` connection slots over the socket handlers `makeHandler` makes, and
    /// adds up their tallies. A handler reports its tally, and the state a connection replacing
    /// it carries on with, through `finished` once it is removed from its channel.
    static func runSlots<State: Sendable>(
        _ plan: LoadPlan,
        group: any EventLoopGroup,
        progress report: (@Sendable (ProgressSample) -> Void)?,
        initialState: (_ connection: Int) -> State,
        makeHandler: @escaping @Sendable (LoadSlot, State, EventLoopPromise<ConnectionOutcome<State>>) -> any ChannelHandler
    ) async -> LoadResult {
        precondition(plan.connections > 0, "a load needs a connection")
        let start = NIODeadline.now()
        let window = MeasurementWindow(start: start + TimeAmount(plan.warmup), end: start + TimeAmount(plan.warmup + plan.duration))
        let pacing = plan.rate.map { Pacing.openLoop(OpenLoopSchedule(rate: $0, connections: plan.connections), start: start) } ?? .closedLoop
        let progress = LoadProgress()
        var result = LoadResult(seconds: Double(plan.duration / .milliseconds(1)) / 1000)
        await withTaskGroup(of: ConnectionTally?.self) { tasks in
            if let report {
                tasks.addTask {
                    await reportProgress(progress, start: start, warmupEnd: window.start, report: report)
                    return nil
                }
            }
            for index in 0..<plan.connections {
                let state = initialState(index)
                let slot = LoadSlot(index: index, pacing: pacing, window: window, progress: progress, nextSequence: 0)
                tasks.addTask {
                    await runSlot(slot, state: state, plan: plan, group: group, makeHandler: makeHandler)
                }
            }
            var remaining = plan.connections
            for await tally in tasks {
                guard let tally else { continue }
                result.add(tally)
                remaining -= 1
                if remaining == 0 { tasks.cancelAll() }
            }
        }
        return result
    }

    /// One connection slot for the whole run: a connection, and a new one whenever the server
    /// closes it before the end.
    private static func runSlot<State: Sendable>(
        _ slot: LoadSlot, state: State, plan: LoadPlan, group: any EventLoopGroup,
        makeHandler: @escaping @Sendable (LoadSlot, State, EventLoopPromise<ConnectionOutcome<State>>) -> any ChannelHandler
    ) async -> ConnectionTally {
        var total = ConnectionTally()
        var state = state
        while NIODeadline.now() < slot.window.end {
            let loop = group.next()
            let finished = loop.makePromise(of: ConnectionOutcome<State>.self)
            var connectionSlot = slot
            connectionSlot.nextSequence = total.nextSequence
            let carried = state
            do {
                _ = try await ClientBootstrap(group: loop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connectTimeout(.seconds(5))
                    .channelInitializer { [connectionSlot] channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(makeHandler(connectionSlot, carried, finished))
                        }
                    }
                    .connect(host: plan.host, port: plan.port)
                    .get()
                let outcome = try await finished.futureResult.get()
                total.add(outcome.tally)
                state = outcome.state
            } catch {
                // Whether or not the handler was ever added, the promise ends here.
                finished.fail(error)
                slot.progress.failure()
                if NIODeadline.now() >= slot.window.start { total.failures[.connect, default: 0] += 1 }
                // A node that refuses connections is not hammered: try again shortly.
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return total
    }

    private static func reportProgress(_ progress: LoadProgress, start: NIODeadline, warmupEnd: NIODeadline, report: @Sendable (ProgressSample) -> Void) async {
        var elapsed = 0
        var answeredBefore = 0
        while true {
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return
            }
            elapsed += 1
            let answered = progress.answered
            report(ProgressSample(
                elapsedSeconds: elapsed, warmingUp: NIODeadline.now() < warmupEnd,
                answeredLastSecond: answered - answeredBefore, failed: progress.failed
            ))
            answeredBefore = answered
        }
    }
}

extension ConnectionTally {
    /// Adds the tally of a later connection in the same slot, which carries on its schedule.
    mutating func add(_ later: ConnectionTally) {
        latency.add(later.latency)
        answered += later.answered
        succeeded += later.succeeded
        failures.merge(later.failures, uniquingKeysWith: +)
        nextSequence = later.nextSequence
    }
}
