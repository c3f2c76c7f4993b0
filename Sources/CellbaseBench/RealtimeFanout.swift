import Histogram
import NIOCore
import NIOPosix
import Synchronization

/// The shape of a `realtime-fanout` run.
public struct FanoutPlan: Sendable {
    public var url: NodeURL
    public var apiKey: String
    public var topic: String
    public var subscribers: Int
    /// Broadcasts per second of the publisher (open loop).
    public var rate: Double
    public var warmup: Duration
    public var duration: Duration
    /// Only hold the subscribers for `duration`, publishing nothing.
    public var idle: Bool
    public var sourceAddresses: SourceAddresses?

    public init(
        url: NodeURL, apiKey: String, topic: String, subscribers: Int, rate: Double,
        warmup: Duration, duration: Duration, idle: Bool, sourceAddresses: SourceAddresses?
    ) {
        self.url = url
        self.apiKey = apiKey
        self.topic = topic
        self.subscribers = subscribers
        self.rate = rate
        self.warmup = warmup
        self.duration = duration
        self.idle = idle
        self.sourceAddresses = sourceAddresses
    }
}

/// What a `realtime-fanout` run measured.
public struct FanoutResult: Sendable {
    public var idle: Bool
    /// Subscriber sockets asked for.
    public var subscribers: Int
    /// Of those, joined the topic before publishing started.
    public var joined: Int
    /// Joins the node answered with an error (such as its connection limit).
    public var refused: Int
    /// Sockets that did not connect, upgrade or get an answer to their join.
    public var failed: Int
    /// Subscribers still joined at the end.
    public var stillJoined: Int
    /// Broadcasts sent that were due within the measured window.
    public var messages: Int
    /// Deliveries of those messages to subscribers.
    public var deliveries: Int
    /// Delivery latency in microseconds: arrival at a subscriber minus the moment the message was due.
    public var latency: Histogram<UInt64>
    public var seconds: Double

    public init(
        idle: Bool, subscribers: Int, joined: Int, refused: Int, failed: Int, stillJoined: Int,
        messages: Int, deliveries: Int, latency: Histogram<UInt64>, seconds: Double
    ) {
        self.idle = idle
        self.subscribers = subscribers
        self.joined = joined
        self.refused = refused
        self.failed = failed
        self.stillJoined = stillJoined
        self.messages = messages
        self.deliveries = deliveries
        self.latency = latency
        self.seconds = seconds
    }

    /// Every measured message to every subscriber that joined.
    public var expectedDeliveries: Int { messages * joined }
    public var missingDeliveries: Int { max(0, expectedDeliveries - deliveries) }
    public var deliveriesPerSecond: Double { seconds > 0 ? Double(deliveries) / seconds : 0 }
    public var summary: LatencySummary { LatencySummary(latency) }
}

/// `realtime-fanout`: subscriber sockets join one topic, a publisher socket broadcasts to it, and
/// each subscriber records how long every message took to reach it.
public enum RealtimeFanout {
    /// Sockets connecting and joining at the same time while the subscribers are opened.
    static let openingConcurrency = 256
    /// How long a socket may take to connect, upgrade and be answered its join.
    static let joinTimeout = TimeAmount.seconds(30)
    /// How long after the window the run waits for deliveries still on their way.
    static let drainTimeout = Duration.seconds(5)

    public static func run(_ plan: FanoutPlan, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FanoutResult {
        let endpoint = RealtimeEndpoint(
            host: plan.url.host, port: plan.url.port, authority: plan.url.authority,
            path: "/realtime/v1/websocket?apikey=\(plan.apiKey)&vsn=1.0.0"
        )
        let counters = FanoutCounters()
        let loops = Array(group.makeIterator())
        var latencies: [NIOLoopBound<LoopLatencies>] = []
        for loop in loops {
            latencies.append(try await loop.submit { NIOLoopBound(LoopLatencies(), eventLoop: loop) }.get())
        }

        var channels: [any Channel] = []
        var refused = 0
        var failed = 0
        await withTaskGroup(of: (outcome: JoinOutcome, channel: (any Channel)?).self) { tasks in
            var next = 0
            func addSubscriber() {
                let index = next
                next += 1
                let loop = loops[index % loops.count]
                let loopLatencies = latencies[index % loops.count]
                let source = plan.sourceAddresses?.address(for: index)
                tasks.addTask {
                    await join(endpoint, on: loop, bindingTo: source) { outcome in
                        SubscriberHandler(topic: plan.topic, joinOutcome: outcome, counters: counters, latencies: loopLatencies.value)
                    }
                }
            }
            while next < min(plan.subscribers, openingConcurrency) { addSubscriber() }
            for await opened in tasks {
                if let channel = opened.channel { channels.append(channel) }
                switch opened.outcome {
                case .joined: break
                case .refused: refused += 1
                case .failed: failed += 1
                }
                if next < plan.subscribers { addSubscriber() }
            }
        }
        let joined = counters.joined.load(ordering: .relaxed)
        do {
            let result = try await measure(plan, endpoint: endpoint, on: loops[0], counters: counters, latencies: latencies, joined: joined)
            await closeAll(channels)
            return FanoutResult(
                idle: plan.idle, subscribers: plan.subscribers, joined: joined, refused: refused, failed: failed,
                stillJoined: result.stillJoined, messages: result.messages, deliveries: result.deliveries,
                latency: result.latency, seconds: Double(plan.duration / .milliseconds(1)) / 1000
            )
        } catch {
            await closeAll(channels)
            throw error
        }
    }

    /// After the subscribers joined: holds them (idle), or publishes and counts deliveries until
    /// every measured message has reached every subscriber or the drain timeout passed.
    private static func measure(
        _ plan: FanoutPlan, endpoint: RealtimeEndpoint, on publisherLoop: any EventLoop, counters: FanoutCounters,
        latencies: [NIOLoopBound<LoopLatencies>], joined: Int
    ) async throws -> (stillJoined: Int, messages: Int, deliveries: Int, latency: Histogram<UInt64>) {
        var latency = LoadResult.makeHistogram()
        if plan.idle {
            try await Task.sleep(for: plan.duration)
            return (counters.joined.load(ordering: .relaxed), 0, 0, latency)
        }
        let publisher = await join(endpoint, on: publisherLoop, bindingTo: nil) { outcome in
            PublisherHandler(topic: plan.topic, joinOutcome: outcome, counters: counters)
        }
        guard publisher.outcome == .joined, let publisherChannel = publisher.channel else {
            throw BenchSetupError("the publisher could not join realtime:\(plan.topic)")
        }
        defer { publisherChannel.close(promise: nil) }

        let start = NIODeadline.now()
        let windowStart = start + TimeAmount(plan.warmup)
        let windowEnd = windowStart + TimeAmount(plan.duration)
        counters.windowEnd.store(windowEnd.uptimeNanoseconds, ordering: .relaxed)
        counters.windowStart.store(windowStart.uptimeNanoseconds, ordering: .relaxed)
        publisherChannel.pipeline.fireUserInboundEventTriggered(StartPublishing(start: start, rate: plan.rate, end: windowEnd))

        try await Task.sleep(for: plan.warmup + plan.duration)
        let drainDeadline = ContinuousClock.now + drainTimeout
        while counters.deliveries.load(ordering: .relaxed) < counters.measuredMessages.load(ordering: .relaxed) * joined,
              ContinuousClock.now < drainDeadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        for loopLatencies in latencies {
            latency.add(try await loopLatencies.eventLoop.submit { loopLatencies.value.histogram }.get())
        }
        // Deliveries are counted from the histograms, so the two agree even if messages still
        // arrive while the histograms are collected.
        return (counters.joined.load(ordering: .relaxed), counters.measuredMessages.load(ordering: .relaxed), Int(latency.totalCount), latency)
    }

    /// Opens one socket and waits for its join's answer; a socket that did not join is closed.
    private static func join(
        _ endpoint: RealtimeEndpoint, on loop: any EventLoop, bindingTo source: String?,
        makeHandler: @escaping @Sendable (EventLoopPromise<JoinOutcome>) -> RealtimeChannelHandler
    ) async -> (outcome: JoinOutcome, channel: (any Channel)?) {
        let outcome = loop.makePromise(of: JoinOutcome.self)
        loop.scheduleTask(in: joinTimeout) { outcome.succeed(.failed) }
        let channel: any Channel
        do {
            channel = try await RealtimeSocket.open(endpoint, on: loop, bindingTo: source) { makeHandler(outcome) }
        } catch {
            outcome.succeed(.failed)
            return (.failed, nil)
        }
        channel.closeFuture.whenComplete { _ in outcome.succeed(.failed) }
        let result = (try? await outcome.futureResult.get()) ?? .failed
        guard result == .joined else {
            channel.close(promise: nil)
            return (result, nil)
        }
        return (result, channel)
    }

    private static func closeAll(_ channels: [any Channel]) async {
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
    }
}
