import NIOCore
import Synchronization

/// Tells the long-lived responses of one HTTP connection that the server is shutting down.
///
/// On a graceful shutdown the server asks each connection to quiesce and waits for the response
/// in progress to end before closing it. An event stream never ends on its own, so without this
/// the node would wait for its clients to hang up.
final class QuiesceObserver: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    private let state = Mutex<(quiescing: Bool, handlers: [@Sendable () -> Void])>((false, []))

    /// Runs `handler` when the connection is asked to quiesce, at once if it already was.
    func onQuiesce(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if !state.quiescing { state.handlers.append(handler) }
            return state.quiescing
        }
        if now { handler() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            let handlers = state.withLock { state in
                state.quiescing = true
                defer { state.handlers.removeAll() }
                return state.handlers
            }
            for handler in handlers { handler() }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
