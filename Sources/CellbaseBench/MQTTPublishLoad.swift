import Histogram
import NIOCore
import NIOPosix
import Synchronization

/// Who one MQTT connection of a run is, and where it publishes.
public struct MQTTClientIdentity: Sendable, Equatable {
    public var clientID: String
    public var username: String?
    public var password: String?
    public var topic: String

    public init(clientID: String, username: String? = nil, password: String? = nil, topic: String) {
        self.clientID = clientID
        self.username = username
        self.password = password
        self.topic = topic
    }
}

/// The shape of an `mqtt-publish` run: QoS 1 publishes over one connection per client, each
/// waiting for its PUBACK before the next, paced like the HTTP scenarios.
public struct MQTTPublishPlan: Sendable {
    public var load: LoadPlan
    public var clients: [MQTTClientIdentity]
    public var version: MQTTVersion
    public var payload: ByteBuffer
    /// A subscriber that must receive every publish: a broker's PUBACK says nothing about
    /// delivery, so a relay run checks it. `nil` when the target stores rather than relays.
    public var relay: MQTTClientIdentity?
    /// Connect and hold the connections, pinging, without publishing.
    public var idle: Bool

    public init(load: LoadPlan, clients: [MQTTClientIdentity], version: MQTTVersion, payload: ByteBuffer, relay: MQTTClientIdentity?, idle: Bool = false) {
        precondition(clients.count == load.connections, "one client identity per connection")
        self.load = load
        self.clients = clients
        self.version = version
        self.payload = payload
        self.relay = relay
        self.idle = idle
    }
}

/// What an `mqtt-publish` run measured: the PUBACKs (as answers, with their latencies) and, with
/// a relay subscriber, how many of the acknowledged publishes reached it.
public struct MQTTPublishResult: Sendable {
    public var load: LoadResult
    /// Publishes acknowledged with success over the whole run, warm-up included.
    public var acknowledged: Int
    /// Publishes the relay subscriber received over the whole run; `nil` without one.
    public var relayed: Int?
    /// CONNECTs accepted over the whole run.
    public var connected: Int
    /// Connections still open at the end of the window.
    public var stillConnected: Int
}

/// `mqtt-publish`: every connection publishes QoS 1 telemetry and times each publish to its PUBACK.
public enum MQTTPublishLoad {
    /// How long after the run the relay subscriber may take to receive the last publishes.
    static let drainTimeout = Duration.seconds(5)
    static let keepAlive: UInt16 = 60

    public static func run(
        _ plan: MQTTPublishPlan, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        progress: (@Sendable (ProgressSample) -> Void)? = nil
    ) async throws -> MQTTPublishResult {
        let counts = MQTTCounts()
        var relayChannel: (any Channel)?
        if let relay = plan.relay {
            relayChannel = try await subscribe(relay, plan: plan, counts: counts, group: group)
        }
        defer { relayChannel?.close(promise: nil) }
        let load = await LoadGenerator.runSlots(plan.load, group: group, progress: progress, initialState: { plan.clients[$0] }) { slot, client, finished in
            MQTTPublisher(client: client, version: plan.version, payload: plan.payload, idle: plan.idle, slot: slot, counts: counts, finished: finished)
        }
        var relayed: Int?
        if relayChannel != nil {
            let deadline = ContinuousClock.now + drainTimeout
            while counts.relayed.load(ordering: .relaxed) < counts.acknowledged.load(ordering: .relaxed), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            relayed = counts.relayed.load(ordering: .relaxed)
        }
        return MQTTPublishResult(
            load: load, acknowledged: counts.acknowledged.load(ordering: .relaxed), relayed: relayed,
            connected: counts.connected.load(ordering: .relaxed), stillConnected: counts.stillConnected.load(ordering: .relaxed)
        )
    }

    /// Connects the relay subscriber and returns once its subscription is granted.
    private static func subscribe(_ client: MQTTClientIdentity, plan: MQTTPublishPlan, counts: MQTTCounts, group: any EventLoopGroup) async throws -> any Channel {
        let loop = group.next()
        let subscribed = loop.makePromise(of: Void.self)
        loop.scheduleTask(in: .seconds(10)) { subscribed.fail(BenchSetupError("the relay subscriber was not subscribed within 10 s")) }
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        MQTTRelaySubscriber(client: client, version: plan.version, counts: counts, subscribed: subscribed)
                    )
                }
            }
            .connect(host: plan.load.host, port: plan.load.port)
            .get()
        channel.closeFuture.whenComplete { _ in subscribed.fail(BenchSetupError("the relay subscriber's connection closed")) }
        do {
            try await subscribed.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return channel
    }
}

/// Totals of a run shared by its connections.
final class MQTTCounts: Sendable {
    let acknowledged = Atomic<Int>(0)
    let relayed = Atomic<Int>(0)
    let connected = Atomic<Int>(0)
    let stillConnected = Atomic<Int>(0)
}

/// One publishing connection: CONNECT, then a QoS 1 PUBLISH at a time, each timed to its PUBACK —
/// or, idle, only a PINGREQ every half keep-alive. At the end of the window it disconnects and
/// reports its tally.
final class MQTTPublisher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let client: MQTTClientIdentity
    private let version: MQTTVersion
    private let payload: ByteBuffer
    private let idle: Bool
    private let slot: LoadSlot
    private let counts: MQTTCounts
    private let finished: EventLoopPromise<ConnectionOutcome<MQTTClientIdentity>>
    private var splitter = MQTTFrameSplitter()
    private var received = PartialRead()
    private var tally: ConnectionTally
    private var connected = false
    /// When the publish awaiting its PUBACK counts from, and its packet id.
    private var outstanding: (origin: NIODeadline, packetID: UInt16)?
    private var lastPacketID: UInt16 = 0
    /// The next publish, when it waits for its time; idle, the next PINGREQ.
    private var pending: Scheduled<Void>?
    private var closing: Scheduled<Void>?

    init(
        client: MQTTClientIdentity, version: MQTTVersion, payload: ByteBuffer, idle: Bool, slot: LoadSlot, counts: MQTTCounts,
        finished: EventLoopPromise<ConnectionOutcome<MQTTClientIdentity>>
    ) {
        self.client = client
        self.version = version
        self.payload = payload
        self.idle = idle
        self.slot = slot
        self.counts = counts
        self.finished = finished
        self.tally = ConnectionTally(nextSequence: slot.nextSequence)
    }

    func channelActive(context: ChannelHandlerContext) {
        closing = context.eventLoop.assumeIsolated().scheduleTask(deadline: slot.window.end) { [self] in
            if connected { counts.stillConnected.wrappingAdd(1, ordering: .relaxed) }
            context.writeAndFlush(wrapOutboundOut(MQTTFrames.disconnect())).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        let connect = MQTTFrames.connect(
            clientID: client.clientID, username: client.username, password: client.password,
            keepAlive: MQTTPublishLoad.keepAlive, version: version
        )
        context.writeAndFlush(wrapOutboundOut(connect), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = received.joined(with: unwrapInboundIn(data))
        do {
            while let frame = try splitter.next(from: &bytes) {
                handle(frame, context: context)
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
        if outstanding != nil || !connected, NIODeadline.now() < slot.window.end { fail(.closed) }
        outstanding = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finished.succeed(ConnectionOutcome(tally: tally, state: client))
    }

    private func handle(_ frame: MQTTFrame, context: ChannelHandlerContext) {
        switch frame.type {
        case MQTTFrame.connack:
            guard !connected, let code = frame.connackCode else { return protocolViolation(context: context) }
            guard code == 0 else {
                fail(.mqtt(code))
                context.close(promise: nil)
                return
            }
            connected = true
            counts.connected.wrappingAdd(1, ordering: .relaxed)
            if idle {
                pingLater(context: context)
            } else {
                sendWhenDue(context: context)
            }
        case MQTTFrame.puback:
            guard let (origin, packetID) = outstanding.map({ ($0.origin, $0.packetID) }), frame.packetID == packetID, let reason = frame.pubackReason else {
                return protocolViolation(context: context)
            }
            outstanding = nil
            let now = NIODeadline.now()
            let succeeded = reason < 0x80
            if origin >= slot.window.start && now <= slot.window.end {
                tally.latency.record(UInt64(max((now - origin).nanoseconds / 1000, 1)))
                tally.answered += 1
                if succeeded { tally.succeeded += 1 } else { tally.failures[.mqtt(reason), default: 0] += 1 }
            }
            if succeeded { counts.acknowledged.wrappingAdd(1, ordering: .relaxed) }
            slot.progress.answer(failed: !succeeded)
            sendWhenDue(context: context)
        case MQTTFrame.pingresp:
            break
        case MQTTFrame.disconnect:
            context.close(promise: nil)
        default:
            protocolViolation(context: context)
        }
    }

    private func pingLater(context: ChannelHandlerContext) {
        pending = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(MQTTPublishLoad.keepAlive / 2))) { [self] in
            context.writeAndFlush(wrapOutboundOut(MQTTFrames.pingreq()), promise: nil)
            pingLater(context: context)
        }
    }

    private func protocolViolation(context: ChannelHandlerContext) {
        fail(.invalidResponse)
        context.close(promise: nil)
    }

    private func sendWhenDue(context: ChannelHandlerContext) {
        pending = slot.sendNext(&tally, on: context.eventLoop.assumeIsolated()) { [self] origin in
            send(origin: origin, context: context)
        }
    }

    private func send(origin: NIODeadline, context: ChannelHandlerContext) {
        guard origin < slot.window.end, context.channel.isActive else { return }
        lastPacketID = lastPacketID == .max ? 1 : lastPacketID + 1
        outstanding = (origin, lastPacketID)
        context.writeAndFlush(wrapOutboundOut(MQTTFrames.publish(topic: client.topic, packetID: lastPacketID, payload: payload, version: version)), promise: nil)
    }

    private func fail(_ kind: FailureKind) {
        if NIODeadline.now() >= slot.window.start { tally.failures[kind, default: 0] += 1 }
        slot.progress.failure()
    }
}

/// The relay run's subscriber: subscribes at QoS 1, then counts and acknowledges every publish.
final class MQTTRelaySubscriber: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let subscribePacketID: UInt16 = 1

    private let client: MQTTClientIdentity
    private let version: MQTTVersion
    private let counts: MQTTCounts
    private let subscribed: EventLoopPromise<Void>
    private var splitter = MQTTFrameSplitter()
    private var received = PartialRead()

    init(client: MQTTClientIdentity, version: MQTTVersion, counts: MQTTCounts, subscribed: EventLoopPromise<Void>) {
        self.client = client
        self.version = version
        self.counts = counts
        self.subscribed = subscribed
    }

    func channelActive(context: ChannelHandlerContext) {
        let connect = MQTTFrames.connect(
            clientID: client.clientID, username: client.username, password: client.password,
            keepAlive: 0, version: version
        )
        context.writeAndFlush(wrapOutboundOut(connect), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = received.joined(with: unwrapInboundIn(data))
        var acknowledgements = 0
        do {
            while let frame = try splitter.next(from: &bytes) {
                switch frame.type {
                case MQTTFrame.connack:
                    guard frame.connackCode == 0 else {
                        return refuse("the relay subscriber's CONNECT was refused (code \(frame.connackCode ?? 0))", context: context)
                    }
                    let subscribe = MQTTFrames.subscribe(filter: client.topic, packetID: Self.subscribePacketID, version: version)
                    context.writeAndFlush(wrapOutboundOut(subscribe), promise: nil)
                case MQTTFrame.suback:
                    guard let code = frame.subackCode(version: version), code < 0x80 else {
                        return refuse("the relay subscription to \(client.topic) was refused", context: context)
                    }
                    subscribed.succeed()
                case MQTTFrame.publish:
                    counts.relayed.wrappingAdd(1, ordering: .relaxed)
                    if let packetID = frame.packetID {
                        context.write(wrapOutboundOut(MQTTFrames.puback(packetID: packetID)), promise: nil)
                        acknowledgements += 1
                    }
                default:
                    break
                }
            }
        } catch {
            return refuse("the relay subscriber received a malformed packet: \(error)", context: context)
        }
        if acknowledgements > 0 { context.flush() }
        received.keep(&bytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func refuse(_ reason: String, context: ChannelHandlerContext) {
        subscribed.fail(BenchSetupError(reason))
        context.close(promise: nil)
    }
}
