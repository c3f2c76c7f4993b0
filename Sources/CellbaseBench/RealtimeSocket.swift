import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// Where the realtime sockets of a run connect: the node's address and the upgrade request's target.
struct RealtimeEndpoint: Sendable {
    var host: String
    var port: Int
    /// The `Host` header.
    var authority: String
    /// `/realtime/v1/websocket?apikey=...&vsn=1.0.0`
    var path: String
}

/// How a socket's join ended.
enum JoinOutcome: Sendable {
    case joined
    /// The node answered the join with an error, such as a connection limit.
    case refused
    /// The socket did not connect, was not upgraded, closed, or got no answer in time.
    case failed
}

/// Counters of the whole run, shared by every socket.
final class FanoutCounters: Sendable {
    /// The measured window in uptime nanoseconds; a delivery counts when its message was due
    /// within it. Zero until the publisher starts.
    let windowStart = Atomic<UInt64>(0)
    let windowEnd = Atomic<UInt64>(0)
    /// Subscribers joined right now: joins add one, a channel or socket closed by the node takes it away.
    let joined = Atomic<Int>(0)
    /// Deliveries of messages due within the window, read while waiting for the last of them.
    let deliveries = Atomic<Int>(0)
    /// Messages sent that were due within the window.
    let measuredMessages = Atomic<Int>(0)

    func isMeasured(_ nanoseconds: UInt64) -> Bool {
        let start = windowStart.load(ordering: .relaxed)
        return start != 0 && nanoseconds >= start && nanoseconds < windowEnd.load(ordering: .relaxed)
    }
}

/// The delivery latencies of the subscribers on one event loop, in microseconds: one histogram per
/// loop rather than per socket, since tens of thousands of histograms would outweigh the sockets.
/// Only touched on its loop.
final class LoopLatencies {
    var histogram = LoadResult.makeHistogram()
}

/// Opens a WebSocket to the node's realtime endpoint, upgrading an HTTP/1.1 connection, and puts
/// `makeHandler`'s handler on it once upgraded. `makeHandler` runs on `loop`.
enum RealtimeSocket {
    static func open(
        _ endpoint: RealtimeEndpoint, on loop: any EventLoop, bindingTo source: String?,
        makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> any Channel {
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
        if let source {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
        }
        return try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let request = UpgradeRequestHandler(endpoint: endpoint)
                let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 20, automaticErrorHandling: true) { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(makeHandler())
                    }
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers(withClientUpgrade: (
                    upgraders: [upgrader],
                    completionHandler: { context in context.pipeline.removeHandler(name: UpgradeRequestHandler.name, promise: nil) }
                ))
                try channel.pipeline.syncOperations.addHandler(request, name: UpgradeRequestHandler.name)
            }
        }
        .connect(host: endpoint.host, port: endpoint.port)
        .get()
    }

    /// A masked text frame, as a client must send.
    static func textFrame(_ bytes: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: bytes)
    }
}

/// Sends the upgrade request once connected; the upgrade handler adds the WebSocket headers.
/// A refused upgrade closes the connection.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Its name in the pipeline, by which it is removed once the upgrade is done.
    static let name = "cellbase-bench-upgrade-request"

    private let endpoint: RealtimeEndpoint

    init(endpoint: RealtimeEndpoint) {
        self.endpoint = endpoint
    }

    func channelActive(context: ChannelHandlerContext) {
        let headers = HTTPHeaders([("Host", endpoint.authority), ("Content-Length", "0")])
        context.write(wrapOutboundOut(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only an answer that is not an upgrade reaches here.
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// What the subscribers and the publisher have in common: they join the topic, send a heartbeat
/// every 25 s as the clients do, answer pings and report how the join went.
class RealtimeChannelHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    static let heartbeatInterval = TimeAmount.seconds(25)

    let topic: String
    let joinOutcome: EventLoopPromise<JoinOutcome>
    private var heartbeats = 0
    private var nextHeartbeat: Scheduled<Void>?

    init(topic: String, joinOutcome: EventLoopPromise<JoinOutcome>) {
        self.topic = topic
        self.joinOutcome = joinOutcome
    }

    func handlerAdded(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(RealtimeSocket.textFrame(PhoenixFrames.join(topic: topic))), promise: nil)
        scheduleHeartbeat(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        nextHeartbeat?.cancel()
        joinOutcome.succeed(.failed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            received(frame.unmaskedData.withUnsafeReadableBytes { PhoenixFrames.classify($0) }, context: context)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Declared here so that subclasses can override it: the protocol's requirements are
    /// witnessed by this class.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
    }

    /// A frame from the node, classified. Subclasses add what they count.
    func received(_ inbound: PhoenixFrames.Inbound, context: ChannelHandlerContext) {
        if case .joinReply(let ok) = inbound {
            joinOutcome.succeed(ok ? .joined : .refused)
        }
    }

    private func scheduleHeartbeat(context: ChannelHandlerContext) {
        nextHeartbeat = context.eventLoop.assumeIsolated().scheduleTask(in: Self.heartbeatInterval) { [self] in
            heartbeats += 1
            context.writeAndFlush(wrapOutboundOut(RealtimeSocket.textFrame(PhoenixFrames.heartbeat(ref: heartbeats))), promise: nil)
            scheduleHeartbeat(context: context)
        }
    }
}

/// A subscriber: counts itself among the joined while its channel is open, and records the
/// latency of every delivery of a message due within the measured window.
final class SubscriberHandler: RealtimeChannelHandler {
    private let counters: FanoutCounters
    private let latencies: LoopLatencies
    private var isJoined = false

    init(topic: String, joinOutcome: EventLoopPromise<JoinOutcome>, counters: FanoutCounters, latencies: LoopLatencies) {
        self.counters = counters
        self.latencies = latencies
        super.init(topic: topic, joinOutcome: joinOutcome)
    }

    override func received(_ inbound: PhoenixFrames.Inbound, context: ChannelHandlerContext) {
        switch inbound {
        case .delivery(let stamp):
            guard counters.isMeasured(stamp.sentNanoseconds) else { return }
            let now = NIODeadline.now().uptimeNanoseconds
            let microseconds = now > stamp.sentNanoseconds ? (now - stamp.sentNanoseconds) / 1000 : 0
            latencies.histogram.record(max(microseconds, 1))
            counters.deliveries.wrappingAdd(1, ordering: .relaxed)
        case .joinReply(let ok):
            if ok && !isJoined {
                isJoined = true
                counters.joined.wrappingAdd(1, ordering: .relaxed)
            }
        case .channelClosed:
            leave()
        case .other:
            break
        }
        super.received(inbound, context: context)
    }

    override func handlerRemoved(context: ChannelHandlerContext) {
        leave()
        super.handlerRemoved(context: context)
    }

    private func leave() {
        guard isJoined else { return }
        isJoined = false
        counters.joined.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// Tells the publisher to start: message `k` is due at `start + k / rate`, the last before `end`.
struct StartPublishing: Sendable {
    var start: NIODeadline
    var rate: Double
    var end: NIODeadline
}

/// The publisher: once told to start, broadcasts to the topic on an open-loop schedule, each
/// message stamped with its sequence number and the moment it was due.
final class PublisherHandler: RealtimeChannelHandler {
    private let counters: FanoutCounters
    private var sequence: UInt64 = 0
    private var pending: Scheduled<Void>?

    init(topic: String, joinOutcome: EventLoopPromise<JoinOutcome>, counters: FanoutCounters) {
        self.counters = counters
        super.init(topic: topic, joinOutcome: joinOutcome)
    }

    override func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let start = event as? StartPublishing else {
            super.userInboundEventTriggered(context: context, event: event)
            return
        }
        publishWhenDue(start, context: context)
    }

    override func handlerRemoved(context: ChannelHandlerContext) {
        pending?.cancel()
        super.handlerRemoved(context: context)
    }

    /// Sends every message that is due (all of them at once if the loop fell behind), then waits
    /// for the next.
    private func publishWhenDue(_ schedule: StartPublishing, context: ChannelHandlerContext) {
        while context.channel.isActive {
            let due = schedule.start + .nanoseconds(Int64((Double(sequence) * 1e9 / schedule.rate).rounded()))
            guard due < schedule.end else { return }
            guard due <= .now() else {
                pending = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
                    publishWhenDue(schedule, context: context)
                }
                return
            }
            let stamp = BroadcastStamp(sequence: sequence, sentNanoseconds: due.uptimeNanoseconds)
            sequence += 1
            if counters.isMeasured(stamp.sentNanoseconds) {
                counters.measuredMessages.wrappingAdd(1, ordering: .relaxed)
            }
            context.writeAndFlush(wrapOutboundOut(RealtimeSocket.textFrame(PhoenixFrames.broadcast(topic: topic, stamp: stamp))), promise: nil)
        }
    }
}
