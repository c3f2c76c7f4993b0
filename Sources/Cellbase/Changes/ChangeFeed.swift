import CellbaseSQL
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization

/// The node's reader of project change logs.
///
/// A project with at least one subscriber has one tail: a task that reads the log from where it
/// left off whenever the project's shard reports a commit, and at least once per poll interval
/// (for commits whose notification was lost, or that came from a process that does not notify),
/// and hands every batch to each subscriber. Subscribers share the read: a thousand subscribers
/// of one project cost one query per wake-up.
///
/// A subscriber that does not keep up is cut off rather than buffered without bound: when its
/// buffer of `subscriberBuffer` batches is full its stream ends.
final class ChangeFeed: ChangeSource, Service {
    struct Configuration: Sendable {
        var pollInterval: Duration = .seconds(1)
        var batchSize = 500
        var subscriberBuffer = 256
    }

    private typealias Subscriber = AsyncStream<[RowChange]>.Continuation

    private struct Tail {
        var subscribers: [Int: Subscriber] = [:]
        var wake: AsyncStream<Void>.Continuation
    }

    private struct State {
        var tails: [String: Tail] = [:]
        var nextID = 0
        var isShutDown = false
    }

    private struct Follow: Sendable {
        var ref: String
        var log: any ChangeLog
        var wakes: AsyncStream<Void>
        var cursor: Int64
    }

    private let logs: [String: any ChangeLog]
    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())
    private let follows: (stream: AsyncStream<Follow>, continuation: AsyncStream<Follow>.Continuation)

    init(logs: [String: any ChangeLog], configuration: Configuration = .init(), logger: Logger) {
        self.logs = logs
        self.configuration = configuration
        self.logger = logger
        self.follows = AsyncStream.makeStream()
    }

    // MARK: Subscribing

    func changes(of project: Project) async throws -> ChangeSubscription {
        guard let log = logs[project.shard] else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' of project \(project.ref) is not configured on this node")
        }
        let ref = project.ref
        let (stream, subscriber) = ChangeSubscription.makeStream(bufferingPolicy: .bufferingOldest(configuration.subscriberBuffer))
        if let id = join(ref, subscriber, startingAt: nil, log: log) {
            subscriber.onTermination = { [weak self] _ in self?.leave(ref, id) }
            return stream
        }
        // The first subscriber: the tail starts at the log's current end.
        let head = try await log.changeLogHead(ref: ref)
        guard let id = join(ref, subscriber, startingAt: head, log: log) else {
            subscriber.finish()
            return stream
        }
        subscriber.onTermination = { [weak self] _ in self?.leave(ref, id) }
        return stream
    }

    /// Adds the subscriber to the project's tail. Without a tail it starts one at `head`, or, when
    /// no head is known yet, returns nil so the caller reads one.
    private func join(_ ref: String, _ subscriber: Subscriber, startingAt head: Int64?, log: any ChangeLog) -> Int? {
        let result: (id: Int?, follow: Follow?) = state.withLock { state in
            if state.isShutDown { return (nil, nil) }
            state.nextID += 1
            let id = state.nextID
            if state.tails[ref] != nil {
                state.tails[ref]!.subscribers[id] = subscriber
                return (id, nil)
            }
            guard let head else { return (nil, nil) }
            let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            state.tails[ref] = Tail(subscribers: [id: subscriber], wake: wake)
            // Commits between reading the head and now sent no wake-up to anyone: look once.
            wake.yield()
            return (id, Follow(ref: ref, log: log, wakes: wakes, cursor: head))
        }
        if let follow = result.follow { follows.continuation.yield(follow) }
        return result.id
    }

    private func leave(_ ref: String, _ id: Int) {
        let wake = state.withLock { state -> AsyncStream<Void>.Continuation? in
            guard var tail = state.tails[ref], tail.subscribers.removeValue(forKey: id) != nil else { return nil }
            if tail.subscribers.isEmpty {
                state.tails[ref] = nil
                return tail.wake
            }
            state.tails[ref] = tail
            return nil
        }
        wake?.finish()
    }

    /// A commit in the project may have recorded changes.
    func wake(_ ref: String) {
        state.withLock { $0.tails[ref]?.wake }?.yield()
    }

    // MARK: Running

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for (shard, log) in logs {
                group.addTask {
                    do {
                        try await log.watchCommits { [weak self] ref in self?.wake(ref) }
                    } catch where !Task.isCancelled {
                        self.logger.error("watching commits stopped", metadata: ["shard": .string(shard), "error": "\(String(reflecting: error))"])
                    } catch {}
                }
            }
            group.addTask { [configuration] in
                while (try? await Task.sleep(for: configuration.pollInterval)) != nil {
                    for wake in self.state.withLock({ $0.tails.values.map(\.wake) }) { wake.yield() }
                }
            }
            for await follow in follows.stream.cancelOnGracefulShutdown() {
                group.addTask { await self.follow(follow) }
            }
            group.cancelAll()
        }
        let subscribers = state.withLock { state -> [Subscriber] in
            state.isShutDown = true
            defer { state.tails.removeAll() }
            for tail in state.tails.values { tail.wake.finish() }
            return state.tails.values.flatMap(\.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    /// Reads the project's log after each wake-up until the tail's last subscriber leaves.
    private func follow(_ follow: Follow) async {
        var cursor = follow.cursor
        for await _ in follow.wakes {
            do {
                while !Task.isCancelled {
                    let batch = try await follow.log.changes(ref: follow.ref, after: cursor, limit: configuration.batchSize)
                    guard let last = batch.last else { break }
                    cursor = last.sequence
                    deliver(batch, of: follow.ref)
                    if batch.count < configuration.batchSize { break }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("reading the change log failed; retrying at the next wake-up", metadata: ["project": .string(follow.ref), "error": "\(String(reflecting: error))"])
            }
        }
    }

    private func deliver(_ batch: [RowChange], of ref: String) {
        let subscribers = state.withLock { Array(($0.tails[ref]?.subscribers ?? [:]).values) }
        for subscriber in subscribers {
            if case .dropped = subscriber.yield(batch) {
                logger.notice("a change subscriber fell behind and was cut off", metadata: ["project": .string(ref)])
                subscriber.finish()
            }
        }
    }
}
