import CellbaseSQL
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization

/// The node's workers: for each project with work in its queue, one task that claims due jobs up
/// to the concurrency limit, runs them under a renewed lease and records how they ended, and
/// performs the project's duties (webhooks, schedules) each time it wakes.
///
/// A worker wakes when this node enqueues into its project, when one of its jobs finishes, and
/// at least once per poll interval (for retries coming due and for jobs other nodes enqueued on a
/// shared PostgreSQL shard). It stops once its project has nothing left to do; enqueuing starts
/// it again, and on PostgreSQL shards a sweep every `discoveryInterval` finds projects other nodes
/// gave work to.
///
/// Delivery is at least once: a job whose node dies keeps its lease until the lease runs out and
/// then runs again. While a worker is alive it renews the leases of its running jobs; a job
/// whose lease could not be renewed is cancelled rather than left running beside a second copy.
final class JobRunner: Service {
    struct Dependencies: Sendable {
        var directory: ProjectDirectory
        var databases: [String: any AuthDatabase]
        var handlers: [JobKind: any JobHandler]
        var duties: [any ProjectDuty]
    }

    private struct Worker {
        var wake: AsyncStream<Void>.Continuation
        /// Bumped by every enqueue: a worker that found nothing to do stops only if nobody
        /// enqueued since it looked.
        var pokes: Int
    }

    private struct State {
        var workers: [String: Worker] = [:]
        var isShutDown = false
    }

    let configuration: JobsConfiguration
    let owner: String
    private let dependencies: Dependencies
    private let metrics: JobMetrics?
    private let logger: Logger
    private let state = Mutex(State())
    private let starts: (stream: AsyncStream<Project>, continuation: AsyncStream<Project>.Continuation)
    static let discoveryInterval: Duration = .seconds(30)

    init(configuration: JobsConfiguration, owner: String, dependencies: Dependencies, metrics: JobMetrics?, logger: Logger) {
        self.configuration = configuration
        self.owner = owner
        self.dependencies = dependencies
        self.metrics = metrics
        self.logger = logger
        self.starts = AsyncStream.makeStream()
    }

    func store(for project: Project) throws -> JobStore {
        guard let database = dependencies.databases[project.shard] else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' of project \(project.ref) is not configured on this node")
        }
        return JobStore(database: database, ref: project.ref)
    }

    /// The project has new work: its worker on this node starts, or wakes.
    func poke(_ project: Project) {
        guard configuration.workerEnabled, dependencies.databases[project.shard] != nil else { return }
        let start = state.withLock { state -> Bool in
            if state.isShutDown { return false }
            if var worker = state.workers[project.ref] {
                worker.pokes += 1
                state.workers[project.ref] = worker
                worker.wake.yield()
                return false
            }
            return true
        }
        if start { starts.continuation.yield(project) }
    }

    // MARK: Running

    func run() async throws {
        guard configuration.workerEnabled else {
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                // The control store may still be setting up its tables as the node starts: look
                // again each second until the first full look succeeds.
                var attempt = 0
                while await !self.discover(everyProject: true, quietly: attempt < 5) {
                    attempt += 1
                    guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
                }
            }
            group.addTask { [configuration] in
                while (try? await Task.sleep(for: configuration.pollInterval)) != nil {
                    for worker in self.state.withLock({ Array($0.workers.values) }) { worker.wake.yield() }
                }
            }
            group.addTask {
                while (try? await Task.sleep(for: Self.discoveryInterval)) != nil {
                    await self.discover(everyProject: false, quietly: false)
                }
            }
            for await project in starts.stream.cancelOnGracefulShutdown() {
                let wakes = state.withLock { state -> AsyncStream<Void>? in
                    guard !state.isShutDown, state.workers[project.ref] == nil else { return nil }
                    let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
                    state.workers[project.ref] = Worker(wake: wake, pokes: 0)
                    wake.yield()
                    return wakes
                }
                guard let wakes else { continue }
                group.addTask { await self.work(project, wakes: wakes) }
            }
            state.withLock { state in
                state.isShutDown = true
                for worker in state.workers.values { worker.wake.finish() }
            }
            group.cancelAll()
        }
    }

    /// Starts workers for projects with work. At start every project of every shard is looked at;
    /// later sweeps look only at PostgreSQL shards, where other nodes may have enqueued (a SQLite
    /// file is written by this node alone, which pokes its worker itself).
    /// `false` when the projects could not be listed; `quietly` leaves that unlogged.
    @discardableResult
    private func discover(everyProject: Bool, quietly: Bool) async -> Bool {
        do {
            try await dependencies.directory.reload()
        } catch {
            if !quietly { logger.warning("listing projects for their queues failed", metadata: ["error": "\(String(reflecting: error))"]) }
            return false
        }
        let running = state.withLock { Set($0.workers.keys) }
        for project in dependencies.directory.projects where !running.contains(project.ref) {
            guard let database = dependencies.databases[project.shard], everyProject || database.namespace(for: project.ref).dialect == .postgres else { continue }
            let store = JobStore(database: database, ref: project.ref)
            do {
                if try await store.exists(), try await store.hasWork() { poke(project) }
            } catch {
                logger.warning("looking at a project's queue failed", metadata: ["project": .string(project.ref), "error": "\(String(reflecting: error))"])
            }
        }
        return true
    }

    private func work(_ project: Project, wakes: AsyncStream<Void>) async {
        let store: JobStore
        do { store = try self.store(for: project) } catch { return }
        let inFlight = InFlightCount()
        var lastPurge = ContinuousClock.now
        var lastObserved = ContinuousClock.now - .seconds(60)
        var failures = 0
        var watched = Set<Int>()
        await withDiscardingTaskGroup { group in
            for await _ in wakes {
                let pokes = state.withLock { $0.workers[project.ref]?.pokes ?? 0 }
                do {
                    for (index, duty) in dependencies.duties.enumerated() where !watched.contains(index) {
                        guard let extraWakes = try await duty.wakeUps(for: project, store: store) else { continue }
                        watched.insert(index)
                        group.addTask {
                            for await _ in extraWakes { self.state.withLock { $0.workers[project.ref]?.wake }?.yield() }
                        }
                    }
                    for duty in dependencies.duties { try await duty.perform(for: project, store: store) }
                    var claimedAny = false
                    while !Task.isCancelled {
                        let free = configuration.concurrency - inFlight.value
                        guard free > 0 else { break }
                        let claimed = try await store.claim(limit: free, owner: owner, leaseMilliseconds: configuration.leaseMilliseconds)
                        for job in claimed {
                            inFlight.add(1)
                            group.addTask {
                                await self.execute(job, project: project, store: store)
                                inFlight.add(-1)
                                self.state.withLock { $0.workers[project.ref]?.wake }?.yield()
                            }
                        }
                        claimedAny = claimedAny || !claimed.isEmpty
                        if claimed.count < free { break }
                    }
                    if let metrics, lastObserved.duration(to: .now) > .seconds(5) {
                        lastObserved = .now
                        for queue in try await store.queues() { metrics.observe(project: project.ref, queue) }
                    }
                    if lastPurge.duration(to: .now) > .seconds(60) {
                        lastPurge = .now
                        try await store.purgeCompleted(olderThanMilliseconds: configuration.completedRetentionMilliseconds)
                    }
                    failures = 0
                    if !claimedAny, inFlight.value == 0, try await !store.hasWork(), stopIfUnpoked(project.ref, since: pokes) {
                        break
                    }
                } catch {
                    if Task.isCancelled { break }
                    failures += 1
                    // Every wake-up after the first failure would repeat it: say it once per streak.
                    if failures == 1 {
                        logger.warning("a project's queue could not be read; retrying at each poll", metadata: ["project": .string(project.ref), "error": "\(String(reflecting: error))"])
                    }
                }
            }
            // The worker stopped: idle (no job runs) or shutting down. Its change watch ends too.
            group.cancelAll()
        }
    }

    /// Removes the worker unless someone enqueued since `pokes` was read.
    private func stopIfUnpoked(_ ref: String, since pokes: Int) -> Bool {
        state.withLock { state in
            guard let worker = state.workers[ref], worker.pokes == pokes else { return false }
            state.workers[ref] = nil
            worker.wake.finish()
            return true
        }
    }

    private enum Ending: Sendable {
        case finished(String?)
        case failed(any Error)
        case leaseLost
    }

    /// Runs one claimed job beside its lease renewals, and records how it ended.
    private func execute(_ job: ClaimedJob, project: Project, store: JobStore) async {
        let started = ContinuousClock.now
        let lease = configuration.leaseMilliseconds
        let ending: Ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                guard let handler = JobKind(rawValue: job.kind).flatMap({ self.dependencies.handlers[$0] }) else {
                    return .failed(JobFailure.permanent("no handler for jobs of kind '\(job.kind)' on this node"))
                }
                do {
                    return .finished(try await handler.run(job, project: project))
                } catch {
                    return .failed(error)
                }
            }
            group.addTask {
                while (try? await Task.sleep(for: .milliseconds(lease / 3))) != nil {
                    do {
                        if try await !store.renew(job, leaseMilliseconds: lease) { return .leaseLost }
                    } catch {
                        // One missed renewal leaves two thirds of the lease; the next may succeed.
                        self.logger.notice("renewing a job's lease failed", metadata: ["project": .string(project.ref), "job": .string(job.id), "error": "\(String(reflecting: error))"])
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .leaseLost
        }
        let kind = job.kind
        do {
            switch ending {
            case .finished(let result):
                if try await store.complete(job, result: result) {
                    metrics?.finished(project: project.ref, kind: kind, outcome: "completed", duration: started.duration(to: .now))
                } else {
                    logger.warning("a job finished after its lease was lost; its result was not recorded", metadata: ["project": .string(project.ref), "job": .string(job.id)])
                }
            case .failed(let error):
                let failure = error as? JobFailure ?? JobFailure.retry(Task.isCancelled ? "the node stopped while the job ran" : String(describing: error))
                let delay = configuration.retry.delay(afterAttempt: job.attempt)
                let state = try await store.fail(job, error: failure.message, retryAfterMilliseconds: delay, permanent: failure.isPermanent)
                metrics?.finished(project: project.ref, kind: kind, outcome: state == .dead ? "dead" : "failed", duration: started.duration(to: .now))
                if state == .dead {
                    logger.notice("a job is dead", metadata: ["project": .string(project.ref), "job": .string(job.id), "kind": .string(kind), "attempts": "\(job.attempt)", "error": .string(failure.message)])
                }
            case .leaseLost:
                metrics?.finished(project: project.ref, kind: kind, outcome: "lease_lost", duration: started.duration(to: .now))
                logger.warning("a job's lease was lost while it ran; it was cancelled", metadata: ["project": .string(project.ref), "job": .string(job.id)])
            }
        } catch {
            // The lease runs out by itself and the job runs again: at least once.
            logger.warning("recording a job's end failed; it will run again when its lease ends", metadata: ["project": .string(project.ref), "job": .string(job.id), "error": "\(String(reflecting: error))"])
        }
    }
}

/// How many jobs a worker has running, read by its claim loop and changed by the jobs' tasks.
private final class InFlightCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ delta: Int) { count.add(delta, ordering: .relaxed) }
}
