import NIOCore
import NIOHTTPTypes

/// Carries a graceful shutdown across the first request of a connection.
///
/// Until a connection's first request has been read, the upgrade handler owns its pipeline and
/// the handler that closes idle connections on a shutdown (`HTTPConnectionStateHandler`) is not
/// there yet: without this, the server's request to quiesce is lost on a connection that was
/// accepted but had not sent (all of) its first request, and the shutdown waits for the client
/// to hang up, which a keep-alive client that keeps sending never does.
///
/// It sits first in the pipeline. A quiesce that arrives before any byte is closed at once (no
/// request is lost); one that arrives while the first request is being read is kept and replayed
/// once that request has reached the connection state handler, which then closes the connection
/// after the response.
final class NegotiationQuiesceHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case waitingForBytes
        case negotiating(quiesced: Bool)
        case negotiated
    }

    private var state = State.waitingForBytes

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .waitingForBytes = state { state = .negotiating(quiesced: false) }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        switch state {
        case .waitingForBytes:
            context.close(promise: nil)
        case .negotiating:
            state = .negotiating(quiesced: true)
        case .negotiated:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The first request has been handed to the HTTP handlers (`true`) or the connection became a
    /// WebSocket (whose session stops on the shutdown by itself): whether a quiesce was kept back
    /// for it. Later quiesce events pass through.
    func negotiationEnded() -> Bool {
        defer { state = .negotiated }
        if case .negotiating(quiesced: true) = state { return true }
        return false
    }
}

/// Replays a quiesce that arrived while a connection's first request was being read, once that
/// request has passed the connection state handler, so the connection closes after its response.
final class QuiesceReplayHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let negotiation: NegotiationQuiesceHandler

    init(negotiation: NegotiationQuiesceHandler) {
        self.negotiation = negotiation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let replay = negotiation.negotiationEnded()
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        if replay { context.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }
}
