import Logging
import NIOCore
import Synchronization
import Testing

@testable import Cellbase

@Suite("MQTT publish batcher", .timeLimit(.minutes(1)))
struct MQTTPublishBatcherTests {
    private static let device = DeviceIdentity(projectRef: "p1", deviceID: "d1")

    private static func publish(_ payload: String) -> DevicePublish {
        DevicePublish(device: device, topic: "devices/d1/telemetry", payload: ByteBuffer(string: payload), receivedAtMillis: 0)
    }

    @Test func queuedPublishesAreStoredInBatchesOfAtMostTheBatchSize() async throws {
        let backend = InMemoryDeviceBackend()
        let batcher = MQTTPublishBatcher(backend: backend, maxBatchSize: 2, maxQueued: 100, metrics: nil, logger: Logger(label: "test"))
        let (outcomes, outcome) = AsyncStream.makeStream(of: DevicePublishOutcome.self)
        for payload in [#"{"a":1}"#, "x", #"{"a":3}"#, #"{"a":4}"#, #"{"a":5}"#] {
            batcher.submit(Self.publish(payload)) { result in
                if case .success(let value) = result { outcome.yield(value) }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await batcher.run() }
            var sizes = backend.storesStarted.makeAsyncIterator()
            #expect([await sizes.next(), await sizes.next(), await sizes.next()] == [2, 2, 1])
            var results: [DevicePublishOutcome] = []
            for await value in outcomes {
                results.append(value)
                if results.count == 5 { break }
            }
            #expect(results == [.stored, .rejected(reason: "not a JSON object"), .stored, .stored, .stored])
            group.cancelAll()
        }
    }

    @Test func publishesWithoutAcknowledgementAreDroppedWhenTheQueueIsFull() {
        let batcher = MQTTPublishBatcher(backend: InMemoryDeviceBackend(), maxBatchSize: 10, maxQueued: 1, metrics: nil, logger: Logger(label: "test"))
        #expect(batcher.submit(Self.publish("{}"), completion: nil))
        #expect(!batcher.submit(Self.publish("{}"), completion: nil))
        // A QoS 1 publish is bounded by its connection's receive maximum instead, and always queued.
        #expect(batcher.submit(Self.publish("{}")) { _ in })
    }
}
