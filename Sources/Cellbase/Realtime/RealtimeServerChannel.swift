import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization
@_spi(WSInternal) import WSCore

/// HTTP/1.1 with the realtime WebSocket upgrade on the same port.
///
/// Hummingbird's WebSocket channel answers a refused upgrade with an empty 400 of its own; here a
/// refused upgrade request is handed to the router like any other request, so a missing or
/// wrong API key gets the same JSON error, request id and metrics as on every other route.
/// (NIO's upgrade handler keeps the refused request's head to itself, so it is kept here.)
struct RealtimeServerChannel: ServerChildChannel, HTTPChannelHandler {
    /// What to run on an accepted WebSocket: the inbound frames, the writer, and the channel
    /// itself, which a connection closes outright when its client stops reading.
    typealias Session = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, any Channel) async throws -> Void
    /// Decides an upgrade request: the session to run, or `nil` to answer it as plain HTTP.
    typealias Accept = @Sendable (HTTPRequest, Logger) async -> Session?

    enum Negotiated: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade request that was refused: it is answered, then the connection closes.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPRequest)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Session)
    }

    /// The decision on a connection's upgrade request, from the upgrader to the pipeline setup.
    private enum Decision {
        case accepted(Session)
        case refused(HTTPRequest)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    /// Largest WebSocket frame and message read; larger ones close the connection with 1009.
    let maxFrameSize: Int
    /// How long a closing WebSocket waits for the client's close frame.
    let closeTimeout: Duration = .seconds(5)
    let accept: Accept

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let decision = Mutex<Decision?>(nil)
            let negotiation = NIOLoopBound(NegotiationQuiesceHandler(), eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(negotiation.value, position: .first)
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    let request: HTTPRequest
                    do {
                        request = try HTTPRequest(head, secure: false, splitCookie: false)
                    } catch {
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        guard let session = await accept(request, logger) else {
                            decision.withLock { $0 = .refused(request) }
                            return nil
                        }
                        decision.withLock { $0 = .accepted(session) }
                        return [:]
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard case .accepted(let session)? = decision.withLock({ $0 }) else { throw ChannelError.inappropriateOperationForState }
                        _ = negotiation.value.negotiationEnded()
                        let frames = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return Negotiated.webSocket(frames, session)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Negotiated>(upgradeConfiguration: .init(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(QuiesceObserver())
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(logger: logger))
                        try channel.pipeline.syncOperations.addHandler(QuiesceReplayHandler(negotiation: negotiation.value))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if case .refused(let request)? = decision.withLock({ $0 }) { return Negotiated.refused(http, request) }
                        return Negotiated.http(http)
                    }
                }
            ))
            // Hummingbird pipelines and validates HTTP itself.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, var request):
                request.headerFields[.connection] = "close"
                let head = request
                try await http.executeThenClose { _, outbound in
                    try await responder(Request(head: head, body: RequestBody(buffer: ByteBuffer())), ResponseWriter(outbound: outbound), http.channel)
                }
            case .webSocket(let frames, let session):
                let channel = frames.channel
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(extensions: [], autoPing: .disabled, closeTimeout: closeTimeout, validateUTF8: true, maxFrameSize: maxFrameSize),
                    asyncChannel: frames,
                    context: RealtimeWebSocketContext(logger: logger),
                    handler: { inbound, outbound, _ in try await session(inbound, outbound, channel) }
                )
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": .string("\(error)")])
        }
    }
}

struct RealtimeWebSocketContext: WebSocketContext {
    let logger: Logger
}
