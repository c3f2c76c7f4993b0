import CellbaseSQL
import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1

/// One client connection of the gateway: each request is routed to a node of its project's cell
/// and its response streamed back; a WebSocket upgrade turns the connection into a byte pipe to
/// the node. Runs on the connection's event loop, as does the upstream connection it borrows.
final class GatewayClientHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Exchange {
        var head: HTTPRequestHead
        var body: [ByteBuffer] = []
        var bodyBytes = 0
        var ended = false
        /// Whether the request may be sent again to another node after it reached one.
        var idempotent: Bool
        var cell: String
        var pinned: String?
        var tried: Set<String> = []
        var node: GatewayRoutes.Upstream?
        var connection: UpstreamConnection?
        var responseStarted = false
        var rateLimit: TokenBucket.Decision?
        var isUpgrade: Bool
        var keepAlive: Bool
        var upstreamKeepAlive = true
        var failuresAfterSending = 0
        /// Times the request was sent again because a node answered that the project is not its.
        var redirects = 0
        /// The node's answer is being read and dropped: the request goes to another node.
        var discarding = false
        var started: NIODeadline
    }

    private enum State {
        case idle
        /// Answered by the gateway itself; the rest of the request is read and dropped.
        case answered
        /// Waiting for the placements to be read again; `ended` once the request has been read.
        case resolving(ended: Bool, body: [ByteBuffer])
        case proxying(Exchange)
        /// The node answered 101; the pipes are joined once its response has ended.
        case upgrading(Exchange, HTTPResponseHead)
        case upgraded
    }

    private let core: GatewayCore
    private let pool: UpstreamPool
    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var clientAddress: String?

    /// Request bodies up to this size are kept until the response starts, so that an idempotent
    /// request can be sent again to another node.
    static let retryBufferLimit = 64 * 1024
    /// Sends of a request that reached a node and failed there.
    static let maxAttempts = 3
    /// Resends of a request after `421` answers: the placement may have moved twice meanwhile.
    static let maxRedirects = 2
    /// Nodes tried for one request: a node that cannot be connected to costs only a connect, so
    /// every node of a cell (up to this many) is tried before the client hears of it.
    static let maxNodesTried = 16

    init(core: GatewayCore, pool: UpstreamPool) {
        self.core = core
        self.pool = pool
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientAddress = context.channel.remoteAddress?.ipAddress
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): receive(head, context: context)
        case .body(let body):
            if case .resolving(let ended, var parts) = state {
                parts.append(body)
                state = .resolving(ended: ended, body: parts)
                return
            }
            guard case .proxying(var exchange) = state else { return }
            if exchange.connection != nil, exchange.bodyBytes > Self.retryBufferLimit || exchange.responseStarted {
                exchange.idempotent = false
                state = .proxying(exchange)
                write(body: body, to: exchange)
                return
            }
            exchange.body.append(body)
            exchange.bodyBytes += body.readableBytes
            if exchange.bodyBytes > Self.retryBufferLimit { exchange.idempotent = false }
            state = .proxying(exchange)
            write(body: body, to: exchange)
        case .end:
            switch state {
            case .answered: state = .idle
            case .resolving(_, let body): state = .resolving(ended: true, body: body)
            case .proxying(var exchange):
                exchange.ended = true
                state = .proxying(exchange)
                if let connection = exchange.connection {
                    connection.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            case .idle, .upgraded, .upgrading: break
            }
        }
    }

    private func write(body: ByteBuffer, to exchange: Exchange) {
        guard let connection = exchange.connection else { return }
        connection.channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        if !connection.channel.isWritable { context?.channel.setOption(.autoRead, value: false).whenFailure { _ in } }
    }

    private func receive(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let started = NIODeadline.now()
        // Only origin-form targets: an absolute URL (or anything else) must not name the upstream.
        guard head.uri.utf8.first == UInt8(ascii: "/") else {
            return answer(head, .badRequest, code: "invalid_request_target", message: "The request target must be a path (origin-form)", started: started)
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/health/live":
            return answer(head, .ok, json: #"{"status":"ok"}"#, started: started)
        case "/health/ready":
            return core.routes.isLoaded
                ? answer(head, .ok, json: #"{"status":"ready"}"#, started: started)
                : answer(head, .serviceUnavailable, code: "not_ready", message: "The routing table has not been read from the control plane yet", started: started)
        case "/metrics" where core.metrics != nil:
            return answer(head, .ok, body: core.metrics?.exposition() ?? "", contentType: "text/plain; version=0.0.4", started: started)
        default: break
        }

        let target: GatewayTarget
        switch GatewayTarget.identify(head, routes: core.routes) {
        case .project(let route, let proven):
            target = GatewayTarget(cell: route.cell, pinned: route.node, route: route, proven: proven)
        case .admin(let cell):
            target = GatewayTarget(cell: cell, pinned: nil, route: nil, proven: false)
        case .unknownProject(let ref):
            // A project created a moment ago, or a made-up ref: read the placements once more, then decide.
            let loop = context.eventLoop
            core.refreshNow().hop(to: loop).assumeIsolated().whenComplete { [self] _ in
                guard let context = self.context, case .resolving(let ended, let body) = self.state else { return }
                if case .project(let route, let proven)? = GatewayTarget.identify(head, routes: self.core.routes) {
                    let target = GatewayTarget(cell: route.cell, pinned: route.node, route: route, proven: proven)
                    self.forward(head, target: target, started: started, ended: ended, body: body, context: context)
                } else {
                    self.state = ended ? .idle : .answered
                    self.answer(head, .notFound, code: "project_not_found", message: "No project with ref '\(ref)'", started: started, stateAlreadySet: true)
                }
            }
            state = .resolving(ended: false, body: [])
            return
        case .none:
            return answer(
                head, .notFound, code: "project_not_identified",
                message: "The gateway finds a request's project from its apikey header or parameter, or a <ref>. host prefix",
                started: started
            )
        }
        forward(head, target: target, started: started, ended: false, body: [], context: context)
    }

    private func forward(_ head: HTTPRequestHead, target: GatewayTarget, started: NIODeadline, ended: Bool, body: [ByteBuffer], context: ChannelHandlerContext) {
        let now = core.clock()
        let plan = core.routes.plan(named: target.route?.plan)
        let verdict = core.limiter.decide(project: target.proven ? target.route?.ref : nil, plan: plan, address: clientAddress, now: now)
        if let scope = verdict.refusedBy, let decision = verdict.decision {
            core.metrics?.rateLimited(scope)
            var headers = HTTPHeaders()
            Self.addRateLimitHeaders(decision, to: &headers)
            headers.add(name: "Retry-After", value: String(max(1, Int(decision.retryAfter.rounded(.up)))))
            if ended { state = .idle } else { state = .answered }
            return answer(
                head, .tooManyRequests, code: "rate_limited",
                message: scope == .project ? "Too many requests for this project" : "Too many requests from this address",
                headers: headers, started: started, stateAlreadySet: true
            )
        }
        var exchange = Exchange(
            head: forwardedHead(head, version: target.route?.version),
            idempotent: [.GET, .HEAD, .OPTIONS, .PUT, .DELETE].contains(head.method),
            cell: target.cell, pinned: target.pinned, rateLimit: verdict.decision,
            isUpgrade: head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" },
            keepAlive: head.isKeepAlive, started: started
        )
        exchange.ended = ended
        exchange.body = body
        exchange.bodyBytes = body.reduce(0) { $0 + $1.readableBytes }
        if exchange.bodyBytes > Self.retryBufferLimit { exchange.idempotent = false }
        state = .proxying(exchange)
        attempt()
    }

    /// Sends the exchange to the next node of its cell, or answers 502/503 when none is left.
    private func attempt() {
        guard case .proxying(var exchange) = state, let context else { return }
        guard exchange.tried.count < Self.maxNodesTried, exchange.failuresAfterSending < Self.maxAttempts,
              let node = core.routes.pick(cell: exchange.cell, node: exchange.pinned, excluding: exchange.tried, now: core.clock())
        else {
            let head = exchange.head
            let tried = !exchange.tried.isEmpty
            state = exchange.ended ? .idle : .answered
            return answer(
                head, tried ? .badGateway : .serviceUnavailable, code: tried ? "upstream_unreachable" : "no_healthy_node",
                message: tried ? "No node of cell '\(exchange.cell)' answered" : "No healthy node serves cell '\(exchange.cell)'",
                started: exchange.started, stateAlreadySet: true
            )
        }
        if !exchange.tried.isEmpty { core.metrics?.retried() }
        exchange.tried.insert(node.id)
        exchange.node = node
        state = .proxying(exchange)
        pool.acquire(node, fresh: exchange.isUpgrade).hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let connection): self.connected(connection)
            case .failure:
                self.core.routes.finished(node.id, failed: true, now: self.core.clock())
                self.core.metrics?.upstreamFailed()
                self.attempt()
            }
        }
    }

    private func connected(_ connection: UpstreamConnection) {
        guard case .proxying(var exchange) = state, context != nil else {
            // The client went away meanwhile.
            core.routes.finished(connection.node.id, failed: false, now: core.clock())
            pool.release(connection)
            return
        }
        exchange.connection = connection
        connection.handler.delegate = self
        state = .proxying(exchange)
        let channel = connection.channel
        channel.write(HTTPClientRequestPart.head(exchange.head), promise: nil)
        for part in exchange.body { channel.write(HTTPClientRequestPart.body(.byteBuffer(part)), promise: nil) }
        if exchange.ended { channel.write(HTTPClientRequestPart.end(nil), promise: nil) }
        channel.flush()
    }

    /// The request as the node gets it: hop-by-hop headers dropped, the client's own
    /// `X-Forwarded-*` and placement claims replaced by the gateway's, a request id kept or made.
    private func forwardedHead(_ head: HTTPRequestHead, version: Int64?) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        let connectionTokens = Set(head.headers[canonicalForm: "connection"].map { $0.lowercased() })
        let isUpgrade = head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if Self.droppedHeaders.contains(lower) || connectionTokens.contains(lower) { continue }
            headers.add(name: name, value: value)
        }
        if isUpgrade {
            headers.add(name: "Connection", value: "Upgrade")
            headers.add(name: "Upgrade", value: "websocket")
        }
        if let clientAddress { headers.add(name: "X-Forwarded-For", value: clientAddress) }
        headers.add(name: "X-Forwarded-Proto", value: "http")
        if let host = head.headers.first(name: "host") { headers.add(name: "X-Forwarded-Host", value: host) }
        if let version { headers.add(name: "Cellbase-Placement-Version", value: String(version)) }
        if !headers.contains(name: "x-request-id") { headers.add(name: "X-Request-Id", value: Self.requestID()) }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
    }

    static let droppedHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade",
        "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "forwarded", "x-real-ip",
        "cellbase-placement-version",
    ]

    /// Sixteen hex digits, like the node's own request ids.
    static func requestID() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: Responses

    func upstreamHead(_ head: HTTPResponseHead) {
        guard case .proxying(var exchange) = state, let context else { return }
        exchange.upstreamKeepAlive = head.isKeepAlive
        if head.status.code == 421, head.headers.contains(name: "cellbase-cell") || head.headers.contains(name: "cellbase-node") {
            // The project was moved (to another node's SQLite shard, or another cell) after the
            // routing table was read. The node refused before doing anything, so the request —
            // whatever its method — goes again, once the placements are read anew, if it is whole.
            if exchange.ended, exchange.bodyBytes <= Self.retryBufferLimit, !exchange.isUpgrade, exchange.redirects < Self.maxRedirects {
                exchange.redirects += 1
                exchange.discarding = true
                state = .proxying(exchange)
                core.metrics?.retried()
                return
            }
            core.refreshSoon()
        }
        exchange.responseStarted = true
        exchange.body = []
        state = .proxying(exchange)
        var response = HTTPResponseHead(version: .http1_1, status: head.status, headers: head.headers)
        response.headers.remove(name: "connection")
        response.headers.remove(name: "keep-alive")
        if let decision = exchange.rateLimit { Self.addRateLimitHeaders(decision, to: &response.headers) }
        core.metrics?.answered(cell: exchange.cell, status: head.status.code)
        if head.status == .switchingProtocols, exchange.isUpgrade {
            response.headers.add(name: "Connection", value: "Upgrade")
            state = .upgrading(exchange, response)
            return
        }
        if !exchange.keepAlive { response.headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func upstreamBody(_ body: ByteBuffer) {
        guard case .proxying(let exchange) = state, let context, !exchange.discarding else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if !context.channel.isWritable { exchange.connection?.channel.setOption(.autoRead, value: false).whenFailure { _ in } }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamEnd() {
        if case .upgrading(let exchange, let response) = state, let context {
            return upgrade(response, exchange: exchange, context: context)
        }
        guard case .proxying(var exchange) = state, let context else { return }
        if let node = exchange.node { core.routes.finished(node.id, failed: false, now: core.clock()) }
        // A connection that carried an upgrade request the node refused is closed, not pooled: an
        // HTTP/1.1 server may treat the rest of such a connection as no longer HTTP.
        let reusable = exchange.upstreamKeepAlive && !exchange.isUpgrade
        if exchange.discarding {
            if let connection = exchange.connection {
                if reusable { pool.release(connection) } else { connection.channel.close(promise: nil) }
            }
            exchange.connection = nil
            state = .proxying(exchange)
            return redirect(context: context)
        }
        if let connection = exchange.connection {
            if reusable, exchange.ended { pool.release(connection) } else { connection.channel.close(promise: nil) }
        }
        state = exchange.ended ? .idle : .answered
        let keepAlive = exchange.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] _ in
            if !keepAlive { self.context?.close(promise: nil) }
        }
        context.channel.setOption(.autoRead, value: true).whenFailure { _ in }
    }

    /// Reads the placements again and sends the exchange to a node of the project's cell as it is now.
    private func redirect(context: ChannelHandlerContext) {
        core.refreshNow().hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] _ in
            guard case .proxying(var exchange) = self.state, self.context != nil else { return }
            guard case .project(let route, _)? = GatewayTarget.identify(exchange.head, routes: self.core.routes) else {
                let head = exchange.head
                self.state = .idle
                return self.answer(head, .notFound, code: "project_not_found", message: "The project is no longer placed anywhere", started: exchange.started, stateAlreadySet: true)
            }
            exchange.cell = route.cell
            exchange.pinned = route.node
            exchange.head.headers.replaceOrAdd(name: "Cellbase-Placement-Version", value: String(route.version))
            exchange.tried = []
            exchange.node = nil
            exchange.discarding = false
            self.state = .proxying(exchange)
            self.attempt()
        }
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { context?.channel.setOption(.autoRead, value: true).whenFailure { _ in } }
    }

    func upstreamFailed(_ error: any Error) {
        guard case .proxying(var exchange) = state, let context else { return }
        if let node = exchange.node { core.routes.finished(node.id, failed: true, now: core.clock()) }
        core.metrics?.upstreamFailed()
        exchange.connection?.channel.close(promise: nil)
        exchange.connection = nil
        if exchange.responseStarted {
            // Part of the answer is out: the client must see the break.
            state = .idle
            context.close(promise: nil)
            return
        }
        exchange.failuresAfterSending += 1
        guard exchange.idempotent else {
            let head = exchange.head
            state = exchange.ended ? .idle : .answered
            return answer(
                head, .badGateway, code: "upstream_failed",
                message: "The node closed the connection before answering; the request was not retried as it may have taken effect",
                started: exchange.started, stateAlreadySet: true
            )
        }
        state = .proxying(exchange)
        attempt()
    }

    private func upgrade(_ response: HTTPResponseHead, exchange: Exchange, context: ChannelHandlerContext) {
        guard let connection = exchange.connection else { return }
        if let node = exchange.node { core.routes.finished(node.id, failed: false, now: core.clock()) }
        state = .upgraded
        connection.handler.delegate = nil
        context.writeAndFlush(wrapOutboundOut(.head(response))).assumeIsolated().whenComplete { [self] result in
            guard case .success = result, let context = self.context else {
                connection.channel.close(promise: nil)
                return
            }
            do {
                // Both channels are on this event loop: the pipelines change at once. Each side's
                // glue goes in before its HTTP decoder leaves, so the bytes the decoder held after the
                // upgrade (the first frames) reach the glue.
                let (clientGlue, upstreamGlue) = GlueHandler.pair()
                let upstream = connection.channel.pipeline.syncOperations
                try upstream.addHandler(upstreamGlue)
                _ = upstream.removeHandler(name: GatewayPipeline.upstreamHandler)
                _ = upstream.removeHandler(name: GatewayPipeline.upstreamEncoder)
                _ = upstream.removeHandler(name: GatewayPipeline.upstreamDecoder)
                let client = context.pipeline.syncOperations
                try client.addHandler(clientGlue)
                _ = client.removeHandler(name: GatewayPipeline.serverHandler)
                _ = client.removeHandler(name: GatewayPipeline.serverEncoder)
                _ = client.removeHandler(name: GatewayPipeline.serverPipelining)
                _ = client.removeHandler(name: GatewayPipeline.serverDecoder)
                context.channel.setOption(.autoRead, value: true).whenFailure { _ in }
            } catch {
                connection.channel.close(promise: nil)
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .upgrading(let exchange, _) = state { exchange.connection?.channel.close(promise: nil) }
        if case .proxying(let exchange) = state {
            exchange.connection?.handler.delegate = nil
            exchange.connection?.channel.close(promise: nil)
            if let node = exchange.node, exchange.connection != nil { core.routes.finished(node.id, failed: false, now: core.clock()) }
        }
        state = .idle
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .proxying(let exchange) = state {
            exchange.connection?.channel.setOption(.autoRead, value: true).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError, case .idle = state {
            // A request that does not parse as HTTP/1.1: say so, then hang up.
            let body = #"{"code":"malformed_request","message":"The request is not valid HTTP/1.1"}"#
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.close(promise: nil)
    }

    // MARK: The gateway's own answers

    private func answer(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, code: String, message: String,
        headers: HTTPHeaders = HTTPHeaders(), started: NIODeadline, stateAlreadySet: Bool = false
    ) {
        var json = JSONWriter()
        json.beginObject()
        json.key("code"); json.string(code)
        json.key("message"); json.string(message)
        json.endObject()
        answer(request, status, body: json.output, contentType: "application/json; charset=utf-8", headers: headers, started: started, stateAlreadySet: stateAlreadySet)
    }

    private func answer(_ request: HTTPRequestHead, _ status: HTTPResponseStatus, json: String, started: NIODeadline) {
        answer(request, status, body: json, contentType: "application/json", started: started)
    }

    private func answer(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, body: String, contentType: String,
        headers extra: HTTPHeaders = HTTPHeaders(), started: NIODeadline, stateAlreadySet: Bool = false
    ) {
        guard let context else { return }
        if !stateAlreadySet { state = .answered }
        var headers = extra
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        core.metrics?.answered(cell: "", status: status.code)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil) }
        let keepAlive = request.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] _ in
            if !keepAlive { self.context?.close(promise: nil) }
        }
    }

    static func addRateLimitHeaders(_ decision: TokenBucket.Decision, to headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: "RateLimit-Limit", value: String(decision.limit))
        headers.replaceOrAdd(name: "RateLimit-Remaining", value: String(decision.remaining))
        headers.replaceOrAdd(name: "RateLimit-Reset", value: String(Int(decision.reset.rounded(.up))))
    }
}
