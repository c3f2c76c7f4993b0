import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// What every connection of the gateway shares: the routing table, the rate limiter, the
/// upstream pools, the metrics, and the refresh of the routing table on demand.
final class GatewayCore: Sendable {
    let routes: GatewayRoutes
    let limiter: GatewayRateLimiter
    let pools: UpstreamPools
    let metrics: GatewayMetrics?
    let store: any ControlStore
    let logger: Logger
    private struct PendingRefresh {
        var future: EventLoopFuture<Void>?
        var lastStart: ContinuousClock.Instant?
    }

    private let pendingRefresh = Mutex(PendingRefresh())
    private let eventLoop: any EventLoop
    private let started = ContinuousClock.now

    init(routes: GatewayRoutes, limiter: GatewayRateLimiter, pools: UpstreamPools, metrics: GatewayMetrics?, store: any ControlStore, eventLoop: any EventLoop, logger: Logger) {
        self.routes = routes
        self.limiter = limiter
        self.pools = pools
        self.metrics = metrics
        self.store = store
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Monotonic seconds, for rate limits and ejections.
    func clock() -> Double {
        let elapsed = started.duration(to: .now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Reads the placements again for a request that named a project the table does not have
    /// (created a moment ago, or made up). Callers share one read, and reads start at most every
    /// `PlacementRefreshes.minimumInterval`: a flood of made-up refs costs the control plane ten
    /// reads a second, and each of those requests waits at most that long plus the read.
    func refreshNow() -> EventLoopFuture<Void> {
        let now = ContinuousClock.now
        let (future, start, delay) = pendingRefresh.withLock { pending -> (EventLoopFuture<Void>, EventLoopPromise<Void>?, Duration) in
            if let future = pending.future { return (future, nil, .zero) }
            let earliest = pending.lastStart.map { $0 + PlacementRefreshes.minimumInterval } ?? now
            let delay = earliest > now ? now.duration(to: earliest) : .zero
            let promise = eventLoop.makePromise(of: Void.self)
            pending.future = promise.futureResult
            pending.lastStart = now + delay
            return (promise.futureResult, promise, delay)
        }
        if let start {
            let routes = self.routes
            let store = self.store
            let logger = self.logger
            eventLoop.scheduleTask(in: .nanoseconds(delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                start.completeWithTask {
                    do { try await routes.refresh(from: store) } catch { logger.warning("reading the placements failed", metadata: ["error": "\(error)"]) }
                }
            }
            future.whenComplete { _ in self.pendingRefresh.withLock { $0.future = nil } }
        }
        return future
    }

    /// A node said a placement moved: refresh, unless one ran a moment ago.
    func refreshSoon() {
        _ = refreshNow()
    }
}
