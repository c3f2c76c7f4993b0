import CellbaseMQTT
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Cellbase

/// Debian's Mosquitto 2, started on a free loopback port with a configuration of the test's own.
/// A missing `mosquitto` fails the test: scripts/test installs it.
final class MosquittoBroker: Sendable {
    let port: Int
    private let process: Process
    private let directory: URL

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "mosquitto is not installed (apt-get install mosquitto); scripts/test installs it" }
    }

    static func with<Value: Sendable>(_ body: (MosquittoBroker) async throws -> Value) async throws -> Value {
        let broker = try await start()
        defer { broker.stop() }
        return try await body(broker)
    }

    private static func start() async throws -> MosquittoBroker {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/mosquitto" } + ["/usr/sbin/mosquitto"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { throw Missing() }
        // A port the kernel just handed out and took back is free for the broker to bind.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cellbase-mosquitto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("mosquitto.conf")
        try "listener \(port) 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n".write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", config.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let broker = MosquittoBroker(port: port, process: process, directory: directory)
        for _ in 0..<200 {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return broker
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        broker.stop()
        throw BrokerDidNotStart(port: port)
    }

    struct BrokerDidNotStart: Error {
        var port: Int
    }

    /// Kills the broker and reaps it. SIGKILL, because the spawned broker inherits a mask that blocks
    /// SIGTERM; it keeps nothing on disk that a clean stop would save.
    func stop() {
        let pid = process.processIdentifier
        if pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A device-side MQTT 5 client of the broker, on the codec's raw test client.
extension MQTTTestClient {
    func connectToBroker(clientIdentifier: String) async throws {
        try await send(.connect(MQTTConnect(version: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: clientIdentifier)))
        guard case .connAck(let connAck)? = try await receive(), connAck.reasonCode == .success else { throw UnexpectedPacket() }
    }

    /// Publishes each payload at QoS 1 to its device's telemetry topic, ten in flight at a time, and
    /// returns once the broker acknowledged all of them.
    func publishTelemetry(_ messages: [(device: String, payload: String)]) async throws {
        var identifier: UInt16 = 0
        for window in stride(from: 0, to: messages.count, by: 10) {
            let slice = messages[window..<min(window + 10, messages.count)]
            for message in slice {
                identifier += 1
                try await send(.publish(MQTTPublish(
                    topic: "devices/\(message.device)/telemetry", payload: ByteBuffer(string: message.payload), qos: .atLeastOnce, packetIdentifier: identifier
                )))
            }
            for _ in slice {
                guard case .pubAck? = try await receive() else { throw UnexpectedPacket() }
            }
        }
    }

    struct UnexpectedPacket: Error {}
}

/// Runs an upstream consumer of the broker with `backend`, for the duration of `body`. Leaving `body`
/// cancels the consumer, which closes its socket without DISCONNECT, as a crashed node would;
/// `dropped` runs once that socket is closed, while the consumer may still be finishing a store.
func withUpstream<Value: Sendable>(
    port: Int, clientIdentifier: String, backend: any DeviceBackend, project: String = "p1",
    dropped: @Sendable () -> Void = {}, _ body: (MQTTUpstream) async throws -> Value
) async throws -> Value {
    var logger = Logger(label: "cellbase.test.upstream")
    logger.logLevel = .warning
    let upstream = MQTTUpstream(
        configuration: MQTTUpstreamConfiguration(host: "127.0.0.1", port: port, reconnectDelay: .milliseconds(50), maxReconnectDelay: .milliseconds(500)),
        clientIdentifier: clientIdentifier, backend: backend, resolveProject: { project }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        metrics: nil, logger: logger
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await upstream.run() }
        defer { group.cancelAll() }
        try await waitFor("\(clientIdentifier) subscribed") { upstream.isConnected }
        let value = try await body(upstream)
        group.cancelAll()
        try await waitFor("\(clientIdentifier) disconnected") { !upstream.isConnected }
        dropped()
        return value
    }
}

/// Waits, up to a minute, for a condition that the system under test makes true on its own.
func waitFor(_ what: String, _ condition: () -> Bool) async throws {
    for _ in 0..<1200 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("gave up waiting for \(what)")
    throw WaitedInVain()
}

struct WaitedInVain: Error {}

/// What the real storage keys a point by: the device and the reading's own timestamp.
func pointKeys(_ publishes: [DevicePublish]) -> [String] {
    publishes.map { "\($0.device.projectRef):\($0.device.deviceID):\(String(buffer: $0.payload))" }
}

@Suite(.serialized) struct MQTTUpstreamTests {
    static func telemetry(count: Int) -> [(device: String, payload: String)] {
        (0..<count).map { ("d\($0 % 3)", #"{"ts":\#(1_700_000_000 + $0),"temp":\#($0)}"#) }
    }

    static func expectedKeys(_ messages: [(device: String, payload: String)]) -> Set<String> {
        Set(messages.map { "p1:\($0.device):\($0.payload)" })
    }

    @Test func twoConsumersSplitTheStreamAndStoreEachMessageOnce() async throws {
        let messages = Self.telemetry(count: 300)
        try await MosquittoBroker.with { broker in
            let (first, second) = (InMemoryDeviceBackend(), InMemoryDeviceBackend())
            try await withUpstream(port: broker.port, clientIdentifier: "node-a", backend: first) { _ in
                try await withUpstream(port: broker.port, clientIdentifier: "node-b", backend: second) { _ in
                    try await MQTTTestClient.with(port: broker.port, version: .v5) { publisher in
                        try await publisher.connectToBroker(clientIdentifier: "publisher")
                        try await publisher.publishTelemetry(messages)
                    }
                    try await waitFor("every message stored") { first.stored.count + second.stored.count >= messages.count }
                }
            }
            let stored = pointKeys(first.stored) + pointKeys(second.stored)
            #expect(stored.count == messages.count)
            #expect(Set(stored) == Self.expectedKeys(messages))
            #expect(!first.stored.isEmpty && !second.stored.isEmpty, "the shared subscription splits the stream")
        }
    }

    @Test func aConsumerDroppedMidStreamLosesNothingOnceRestarted() async throws {
        let messages = Self.telemetry(count: 300)
        try await MosquittoBroker.with { broker in
            let (first, second) = (InMemoryDeviceBackend(), InMemoryDeviceBackend())
            try await withUpstream(port: broker.port, clientIdentifier: "node-b", backend: second) { _ in
                // node-a takes its share and stores nothing of it before its socket is dropped.
                first.holdStores(true)
                // Once its socket is closed, the held store commits, unacknowledged: the broker sends those messages again.
                try await withUpstream(port: broker.port, clientIdentifier: "node-a", backend: first, dropped: { first.releaseStores() }) { _ in
                    try await MQTTTestClient.with(port: broker.port, version: .v5) { publisher in
                        try await publisher.connectToBroker(clientIdentifier: "publisher")
                        try await publisher.publishTelemetry(messages)
                    }
                    var started = first.storesStarted.makeAsyncIterator()
                    #expect(await started.next() != nil)
                }
                #expect(first.stored.count < messages.count)
                try await withUpstream(port: broker.port, clientIdentifier: "node-a", backend: first) { _ in
                    try await waitFor("every message stored") {
                        Set(pointKeys(first.stored) + pointKeys(second.stored)).count >= messages.count
                    }
                }
            }
            #expect(Set(pointKeys(first.stored) + pointKeys(second.stored)) == Self.expectedKeys(messages))
        }
    }

    @Test func commandsGoOutThroughTheBrokerAndAreDeliveredOnItsAcknowledgement() async throws {
        try await MosquittoBroker.with { broker in
            let backend = InMemoryDeviceBackend()
            let device = DeviceIdentity(projectRef: "p1", deviceID: "d1")
            try await withUpstream(port: broker.port, clientIdentifier: "node-a", backend: backend) { _ in
                try await MQTTTestClient.with(port: broker.port, version: .v5) { subscriber in
                    try await subscriber.connectToBroker(clientIdentifier: "device-d1")
                    try await subscriber.send(.subscribe(MQTTSubscribe(
                        packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "devices/d1/commands/#", qos: .atLeastOnce)]
                    )))
                    guard case .subAck? = try await subscriber.receive() else { throw MQTTTestClient.UnexpectedPacket() }
                    var deliveries = backend.deliveries.makeAsyncIterator()
                    backend.post(
                        DeviceCommand(id: "c1", topic: "devices/d1/commands/reboot", payload: ByteBuffer(string: #"{"delay":5}"#), expiresAtMillis: .max),
                        to: device
                    )
                    guard case .publish(let publish)? = try await subscriber.receive() else { throw MQTTTestClient.UnexpectedPacket() }
                    #expect(publish.topic == "devices/d1/commands/reboot")
                    #expect(String(buffer: publish.payload) == #"{"delay":5}"#)
                    #expect(await deliveries.next() == "c1")
                    #expect(backend.pendingCount(for: device) == 0)
                }
            }
        }
    }

    @Test func aRejectedPayloadIsAcknowledgedAndNotSentAgain() async throws {
        try await MosquittoBroker.with { broker in
            let backend = InMemoryDeviceBackend()
            var batches = backend.storedEvents.makeAsyncIterator()
            try await withUpstream(port: broker.port, clientIdentifier: "node-a", backend: backend) { _ in
                try await MQTTTestClient.with(port: broker.port, version: .v5) { publisher in
                    try await publisher.connectToBroker(clientIdentifier: "publisher")
                    try await publisher.publishTelemetry([("d1", "not json")])
                }
                #expect(await batches.next()?.count == 1)
            }
            // Reconnected under the same session, the node is sent nothing more: the refusal was acknowledged.
            try await withUpstream(port: broker.port, clientIdentifier: "node-a", backend: backend) { _ in
                try await MQTTTestClient.with(port: broker.port, version: .v5) { publisher in
                    try await publisher.connectToBroker(clientIdentifier: "publisher")
                    try await publisher.publishTelemetry([("d1", #"{"ts":1700000000,"temp":1}"#)])
                }
                let next = await batches.next()
                #expect(next.map { $0.map { String(buffer: $0.payload) } } == [#"{"ts":1700000000,"temp":1}"#])
            }
            #expect(backend.stored.count == 1)
        }
    }
}

/// Two real nodes sharing the PostgreSQL control plane and shard, both consuming from one Mosquitto.
@Suite(.serialized) struct MQTTUpstreamNodesTests {
    @Test func twoNodesStoreEveryReadingOnceInTheProjectsSeries() async throws {
        try await MosquittoBroker.with { broker in
            let first = TestNode(backend: .postgres)
            let second = TestNode(backend: .postgres)
            defer {
                first.removeData()
                second.removeData()
            }
            let name = "upstream\(UInt32.random(in: 0...UInt32.max))"
            func configuration(_ node: TestNode, client: String) throws -> CellbaseConfiguration {
                var configuration = try node.sharingControlPlane()
                configuration.mqtt.enabled = false
                configuration.mqttUpstream = MQTTUpstreamConfiguration(
                    host: "127.0.0.1", port: broker.port, clientIdentifier: client, project: name,
                    reconnectDelay: .milliseconds(50), maxReconnectDelay: .milliseconds(500)
                )
                return configuration
            }
            let (firstApp, firstNode) = try await CellbaseBuilder.build(try configuration(first, client: "\(name)-a"), logger: first.logger)
            let (secondApp, secondNode) = try await CellbaseBuilder.build(try configuration(second, client: "\(name)-b"), logger: second.logger)
            // Within the project's retention, so the readings are stored rather than refused as too old.
            let start = Int64(Date().timeIntervalSince1970) * 1000 - 3_600_000
            let readings = (0..<120).map { #"{"ts":\#(start + Int64($0) * 1000),"temp":\#($0)}"# }
            try await firstApp.test(.router) { firstRouter in
                try await secondApp.test(.router) { _ in
                    let client = TestClient(client: firstRouter, node: firstNode)
                    let project = try await client.project(name)
                    _ = try await client.createDevice("pump-1", in: project)
                    try await waitFor("both nodes subscribed") {
                        firstNode.mqttUpstream?.isConnected == true && secondNode.mqttUpstream?.isConnected == true
                    }
                    try await MQTTTestClient.with(port: broker.port, version: .v5) { publisher in
                        try await publisher.connectToBroker(clientIdentifier: "\(name)-device")
                        try await publisher.publishTelemetry(readings.map { ("pump-1", $0) })
                    }
                    let window = ISO8601DateFormatter()
                    let from = window.string(from: Date(timeIntervalSince1970: Double(start / 1000 - 60)))
                    let to = window.string(from: Date(timeIntervalSince1970: Double(start / 1000 + 600)))
                    let path = "/series?device=pump-1&metric=temp&from=\(from)&to=\(to)"
                    var points: [(String, Double)] = []
                    for _ in 0..<600 {
                        points = try await client.telemetry(.get, path, key: project.serviceRoleKey).json().points
                        if points.count >= readings.count { break }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    #expect(points.count == readings.count)
                    #expect(points.map(\.1) == (0..<120).map(Double.init))
                }
            }
        }
    }
}
