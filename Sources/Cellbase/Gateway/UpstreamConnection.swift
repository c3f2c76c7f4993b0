import NIOCore
import NIOHTTP1
import NIOPosix

/// What an upstream connection reports to the exchange it carries.
protocol UpstreamDelegate: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    func upstreamBody(_ body: ByteBuffer)
    func upstreamEnd()
    func upstreamReadComplete()
    func upstreamWritabilityChanged(_ writable: Bool)
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ error: any Error)
}

/// One keep-alive HTTP/1.1 connection to a node. It carries one exchange at a time for its
/// delegate; between exchanges it waits in its event loop's pool, and leaves it when the node closes it.
final class UpstreamConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    weak var delegate: (any UpstreamDelegate)?
    /// Called when the channel closes while idle in the pool.
    var onIdleClose: (() -> Void)?
    private(set) var isClosed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): delegate?.upstreamHead(head)
        case .body(let body): delegate?.upstreamBody(body)
        case .end:
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(ChannelError.eof)
        } else {
            onIdleClose?()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(error)
        }
        context.close(promise: nil)
    }
}

/// A connection to a node with its handler; used on its event loop only.
struct UpstreamConnection {
    let node: GatewayRoutes.Upstream
    let channel: any Channel
    let handler: UpstreamConnectionHandler
}

/// The idle keep-alive connections of one event loop, by node. Client connections of that loop
/// borrow them, so a request and its upstream share a thread and hand bytes over without hops.
final class UpstreamPool {
    let eventLoop: any EventLoop
    let connectTimeout: TimeAmount
    private var idle: [String: [UpstreamConnection]] = [:]
    /// After the gateway's shutdown: connections given back are closed, not kept.
    private var isClosed = false
    static let maxIdlePerNode = 64

    init(eventLoop: any EventLoop, connectTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
    }

    /// An idle connection to `node`, or a new one. A WebSocket upgrade asks for a `fresh` one: a
    /// node upgrades a connection on its first request only (it answers `426` on one that has
    /// carried a request before), and an upgraded connection never comes back to the pool anyway.
    func acquire(_ node: GatewayRoutes.Upstream, fresh: Bool = false) -> EventLoopFuture<UpstreamConnection> {
        eventLoop.assertInEventLoop()
        while !fresh, var list = idle[node.id], let connection = list.popLast() {
            idle[node.id] = list
            if connection.channel.isActive, !connection.handler.isClosed {
                connection.handler.onIdleClose = nil
                return eventLoop.makeSucceededFuture(connection)
            }
        }
        let handler = UpstreamConnectionHandler()
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder(), name: GatewayPipeline.upstreamEncoder)
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)), name: GatewayPipeline.upstreamDecoder
                    )
                }
            }
            .connect(host: node.host, port: node.port)
            .flatMapThrowing { channel in
                try channel.pipeline.syncOperations.addHandler(handler, name: GatewayPipeline.upstreamHandler)
                return UpstreamConnection(node: node, channel: channel, handler: handler)
            }
    }

    /// Takes back a connection whose exchange ended cleanly with keep-alive on both sides.
    func release(_ connection: UpstreamConnection) {
        eventLoop.assertInEventLoop()
        guard connection.channel.isActive, !connection.handler.isClosed else { return }
        var list = idle[connection.node.id] ?? []
        guard list.count < Self.maxIdlePerNode, !isClosed else {
            connection.channel.close(promise: nil)
            return
        }
        let id = connection.node.id
        let channel = connection.channel
        connection.handler.onIdleClose = { [weak self] in
            self?.idle[id]?.removeAll { $0.channel === channel }
        }
        list.append(connection)
        idle[id] = list
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }

    /// Closes the idle connections, and from now on every connection given back.
    func close() {
        eventLoop.assertInEventLoop()
        isClosed = true
        let connections = idle.values.joined()
        idle = [:]
        for connection in connections {
            connection.handler.onIdleClose = nil
            connection.channel.close(promise: nil)
        }
    }
}

/// One pool per event loop of the gateway's group.
final class UpstreamPools: Sendable {
    /// A pool made off its loop and used only on it (`pool(for:)` checks).
    private final class Box: @unchecked Sendable {
        let pool: UpstreamPool
        init(_ pool: UpstreamPool) { self.pool = pool }
    }

    private let pools: [ObjectIdentifier: Box]

    init(group: any EventLoopGroup, connectTimeout: TimeAmount) {
        var pools: [ObjectIdentifier: Box] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = Box(UpstreamPool(eventLoop: loop, connectTimeout: connectTimeout))
        }
        self.pools = pools
    }

    /// Closes every pool's idle connections, each on its loop.
    func close() async {
        for box in pools.values {
            try? await box.pool.eventLoop.submit { box.pool.close() }.get()
        }
    }

    /// The pool of `eventLoop`; call on that loop.
    func pool(for eventLoop: any EventLoop) -> UpstreamPool? {
        eventLoop.preconditionInEventLoop()
        return pools[ObjectIdentifier(eventLoop)]?.pool
    }
}

/// Names of the handlers the gateway installs, so that an upgrade can take the HTTP ones out.
enum GatewayPipeline {
    static let serverDecoder = "gateway.http-decoder"
    static let serverEncoder = "gateway.http-encoder"
    static let serverPipelining = "gateway.http-pipelining"
    static let serverHandler = "gateway.client"
    static let upstreamEncoder = "gateway.upstream-encoder"
    static let upstreamDecoder = "gateway.upstream-decoder"
    static let upstreamHandler = "gateway.upstream"
}

/// After a WebSocket upgrade: the bytes of one side written to the other, with backpressure
/// (a side that cannot write fast enough stops the other from reading).
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func pair() -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    private func partnerWrite(_ data: NIOAny) { context?.write(data, promise: nil) }

    private func partnerFlush() { context?.flush() }
    private func partnerClose() { context?.close(promise: nil) }
    private var partnerWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(wrapOutboundOut(unwrapInboundIn(data)))
    }
    func channelReadComplete(context: ChannelHandlerContext) { partner?.partnerFlush() }
    func channelInactive(context: ChannelHandlerContext) { partner?.partnerClose() }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.partnerWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
