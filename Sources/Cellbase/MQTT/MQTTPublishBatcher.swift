import Logging
import NIOCore
import Synchronization

/// Group commit for telemetry publishes: connections on every event loop queue their publishes here,
/// and one loop hands whatever has gathered — up to `maxBatchSize` — to a single `DeviceBackend.store`
/// call. While one call runs the next batch gathers, so under load each call carries many publishes
/// and a QoS 1 PUBACK costs a share of one commit rather than a commit of its own.
final class MQTTPublishBatcher: Sendable {
    /// Called once with the publish's outcome, or with the error that failed its whole batch.
    typealias Completion = @Sendable (Result<DevicePublishOutcome, any Error>) -> Void

    private struct Queued: Sendable {
        var publish: DevicePublish
        var completion: Completion?
    }

    private let backend: any DeviceBackend
    private let maxBatchSize: Int
    private let maxQueued: Int
    private let metrics: MQTTMetrics?
    private let logger: Logger
    private let queue = Mutex(CircularBuffer<Queued>())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(backend: any DeviceBackend, maxBatchSize: Int, maxQueued: Int, metrics: MQTTMetrics?, logger: Logger) {
        self.backend = backend
        self.maxBatchSize = maxBatchSize
        self.maxQueued = maxQueued
        self.metrics = metrics
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a publish. One without a completion (QoS 0, a will) is dropped, returning `false`, when
    /// the queue is full; one with a completion is always queued, as its connection's receive maximum
    /// already bounds how many it has waiting.
    @discardableResult
    func submit(_ publish: DevicePublish, completion: Completion?) -> Bool {
        let queued = queue.withLock { queue in
            guard completion != nil || queue.count < maxQueued else { return false }
            queue.append(Queued(publish: publish, completion: completion))
            return true
        }
        if queued { wake.yield() } else { metrics?.publishDropped() }
        return queued
    }

    /// Stores batches until cancelled.
    func run() async {
        for await _ in wakeups {
            while true {
                let batch = queue.withLock { queue in
                    var batch: [Queued] = []
                    batch.reserveCapacity(min(queue.count, maxBatchSize))
                    while batch.count < maxBatchSize, let next = queue.popFirst() { batch.append(next) }
                    return batch
                }
                guard !batch.isEmpty else { break }
                await store(batch)
            }
        }
    }

    private func store(_ batch: [Queued]) async {
        let result: Result<[DevicePublishOutcome], any Error>
        do {
            let outcomes = try await backend.store(batch.map(\.publish))
            guard outcomes.count == batch.count else { throw OutcomeCountMismatch(expected: batch.count, got: outcomes.count) }
            result = .success(outcomes)
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let outcomes):
            metrics?.batchStored(size: batch.count, stored: outcomes.count { $0 == .stored })
            for (queued, outcome) in zip(batch, outcomes) { queued.completion?(.success(outcome)) }
        case .failure(let error):
            // QoS 0 publishes and wills are lost with the batch; QoS 1 ones go unacknowledged and are sent again.
            logger.error("MQTT publishes not stored", metadata: ["error": "\(error)", "publishes": "\(batch.count)"])
            for queued in batch { queued.completion?(.failure(error)) }
        }
    }

    /// The backend broke `store`'s contract of one outcome per publish.
    struct OutcomeCountMismatch: Error {
        var expected: Int
        var got: Int
    }
}
