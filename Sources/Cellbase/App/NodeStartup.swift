import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Something that happens once during start-up and that tasks wait for: every PostgreSQL pool
/// running, the control plane ready. A countdown from `count`; waiters resume when it reaches zero,
/// or when their task is cancelled.
final class StartupEvent: Sendable {
    private struct State {
        var remaining: Int
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state: Mutex<State>

    init(count: Int = 1) {
        state = Mutex(State(remaining: max(count, 0)))
    }

    var hasHappened: Bool { state.withLock { $0.remaining == 0 } }

    /// Counts one of the things waited for; the last one resumes the waiters.
    func signal() {
        let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.remaining > 0 else { return [] }
            state.remaining -= 1
            guard state.remaining == 0 else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in resumed { waiter.resume() }
    }

    /// Returns once the event has happened, or when the task is cancelled (check `hasHappened`).
    func wait() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    if state.remaining == 0 || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Runs a PostgreSQL pool and counts it in `started`, so that nothing leases a connection from the
/// pool before it runs (PostgresNIO queues such a lease, but warns about it).
///
/// `PostgresClient.run()` marks the pool running before its first suspension, and this service
/// calls it straight after the signal without suspending; a waiter resumed by the signal is
/// scheduled as a new job and reaches its first lease well after that.
struct PostgresClientService: Service {
    let client: PostgresClient
    let started: StartupEvent

    func run() async throws {
        started.signal()
        await client.run()
    }
}

/// Runs `service` once `event` has happened: services that read the databases as they start wait
/// until the node has set the databases up. A shutdown before then ends the wait and skips the run.
struct StartsAfter: Service {
    let event: StartupEvent
    let service: any Service

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await event.wait() }
        guard event.hasHappened else { return }
        try await service.run()
    }
}
