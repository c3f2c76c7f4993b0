import Cellbase
import CellbaseMQTT
import NIOCore
import Testing

private let telemetry = "devices/d1/telemetry"
private let commands = "devices/d1/commands"
private let device = DeviceIdentity(projectRef: "p1", deviceID: "d1")

private func backendWithDevices() -> InMemoryDeviceBackend {
    let backend = InMemoryDeviceBackend()
    backend.addDevice(project: "p1", id: "d1", password: "secret")
    backend.addDevice(project: "p1", id: "d2", password: "other")
    return backend
}

private func publish(_ topic: String, _ payload: String, qos: MQTTQoS = .atLeastOnce, id: UInt16? = 1) -> MQTTPacket {
    .publish(MQTTPublish(topic: topic, payload: ByteBuffer(string: payload), qos: qos, packetIdentifier: qos == .atMostOnce ? nil : id))
}

/// The listener over real TCP sockets, against an in-memory device backend.
@Suite("MQTT listener", .timeLimit(.minutes(1)))
struct MQTTListenerTests {
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func devicesAuthenticateWithTheirToken(version: MQTTProtocolVersion) async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: version) { client in
                let connAck = try #require(try await client.connect(device: "d1", password: "secret"))
                #expect(connAck.reasonCode == .success)
                try await client.send(.pingReq)
                #expect(try await client.receive() == .pingResp)
            }
            try await MQTTTestClient.with(port: port, version: version) { client in
                let connAck = try #require(try await client.connect(device: "d1", password: "wrong"))
                #expect(connAck.reasonCode == .badUserNameOrPassword)
                #expect(await client.isClosedByServer())
            }
            try await MQTTTestClient.with(port: port, version: version) { client in
                // Another project's device of the same id does not exist for these credentials.
                try await client.send(.connect(MQTTConnect(
                    version: version, clientIdentifier: "x", userName: "p2:d1", password: ByteBuffer(string: "secret")
                )))
                guard case .connAck(let connAck) = try await client.receive() else {
                    Issue.record("no CONNACK")
                    return
                }
                #expect(connAck.reasonCode == .badUserNameOrPassword)
            }
        }
    }

    @Test func qos1IsAcknowledgedOnlyAfterTheStoreReturns() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                backend.holdStores(true)
                try await client.send(publish(telemetry, #"{"temp":21.5}"#, id: 5))
                try await client.send(.pingReq)
                // The commit is still held: the PINGREQ sent after the PUBLISH is answered first.
                #expect(try await client.receive() == .pingResp)
                #expect(backend.stored.isEmpty)
                backend.releaseStores()
                #expect(try await client.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 5)))
                #expect(backend.stored.map(\.topic) == [telemetry])
                #expect(backend.stored.first?.device == device)

                try await client.send(publish(telemetry + "/engine", "not json", id: 6))
                #expect(try await client.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 6, reasonCode: .payloadFormatInvalid)))
            }
        }
    }

    @Test func publishesFromManyConnectionsAreCommittedTogether() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            var started = backend.storesStarted.makeAsyncIterator()
            try await MQTTTestClient.with(port: port, version: .v5) { first in
                try await MQTTTestClient.with(port: port, version: .v3_1_1) { second in
                    _ = try await first.connect(device: "d1", password: "secret")
                    _ = try await second.connect(device: "d2", password: "other")
                    backend.holdStores(true)
                    try await first.send(publish(telemetry, #"{"n":1}"#, id: 1))
                    #expect(await started.next() == 1)
                    // While that commit is held, both connections publish; a PINGRESP shows each was queued.
                    try await second.send(publish("devices/d2/telemetry", #"{"n":2}"#, id: 1))
                    try await second.send(.pingReq)
                    #expect(try await second.receive() == .pingResp)
                    try await first.send(publish(telemetry, #"{"n":3}"#, id: 2))
                    try await first.send(.pingReq)
                    #expect(try await first.receive() == .pingResp)
                    backend.releaseStores()
                    #expect(await started.next() == 2)
                    #expect(try await first.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 1)))
                    #expect(try await first.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 2)))
                    #expect(try await second.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 1)))
                    #expect(backend.stored.map { String(buffer: $0.payload) } == [#"{"n":1}"#, #"{"n":2}"#, #"{"n":3}"#])
                }
            }
        }
    }

    @Test func mqtt311AcknowledgesRefusedPayloadsAnyway() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                try await client.send(publish(telemetry, "not json", id: 9))
                #expect(try await client.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 9)))
                #expect(backend.stored.isEmpty)
            }
        }
    }

    @Test func anotherDevicesTopicsAreRefusedPerVersion() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                try await client.send(publish("devices/d2/telemetry", "{}", id: 3))
                #expect(try await client.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 3, reasonCode: .notAuthorized)))
                try await client.send(.subscribe(MQTTSubscribe(packetIdentifier: 4, subscriptions: [
                    MQTTSubscription(topicFilter: "devices/d2/commands", qos: .atLeastOnce),
                    MQTTSubscription(topicFilter: "devices/+/commands", qos: .atLeastOnce),
                ])))
                #expect(try await client.receive() == .subAck(MQTTSubAck(packetIdentifier: 4, reasonCodes: [.notAuthorized, .notAuthorized])))
            }
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                try await client.send(.subscribe(MQTTSubscribe(packetIdentifier: 4, subscriptions: [MQTTSubscription(topicFilter: "#")])))
                #expect(try await client.receive() == .subAck(MQTTSubAck(packetIdentifier: 4, reasonCodes: [.unspecifiedError])))
                try await client.send(publish("devices/d2/telemetry", "{}", id: 3))
                #expect(await client.isClosedByServer())
            }
            #expect(backend.stored.isEmpty)
        }
    }

    @Test func wildcardPublishDisconnects() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                // PUBLISH QoS 0 to "a#", which no encoder would write.
                try await client.send(bytes: ByteBuffer(bytes: [0x30, 0x05, 0x00, 0x02, UInt8(ascii: "a"), UInt8(ascii: "#"), 0x00]))
                #expect(try await client.receive() == .disconnect(MQTTDisconnect(reasonCode: .malformedPacket)))
                #expect(await client.isClosedByServer())
            }
        }
    }

    @Test func commandsReachTheSubscribedDeviceAndAreMarkedDelivered() async throws {
        let backend = backendWithDevices()
        backend.post(DeviceCommand(id: "c1", topic: commands + "/reboot", payload: ByteBuffer(string: "now"), expiresAtMillis: .max), to: device)
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                try await client.send(.subscribe(MQTTSubscribe(
                    packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: commands + "/#", qos: .atLeastOnce)]
                )))
                #expect(try await client.receive() == .subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])))
                guard case .publish(let first) = try await client.receive() else {
                    Issue.record("no command")
                    return
                }
                #expect(first.topic == commands + "/reboot")
                #expect(first.payload == ByteBuffer(string: "now"))
                #expect(first.qos == .atLeastOnce)
                var deliveries = backend.deliveries.makeAsyncIterator()
                try await client.send(.pubAck(MQTTAcknowledgement(packetIdentifier: try #require(first.packetIdentifier))))
                #expect(await deliveries.next() == "c1")

                // Posted while connected: the backend's notification brings it.
                backend.post(DeviceCommand(id: "c2", topic: commands, payload: ByteBuffer(string: "led"), expiresAtMillis: .max), to: device)
                guard case .publish(let second) = try await client.receive() else {
                    Issue.record("no second command")
                    return
                }
                #expect(second.topic == commands)
                try await client.send(.pubAck(MQTTAcknowledgement(packetIdentifier: try #require(second.packetIdentifier))))
                #expect(await deliveries.next() == "c2")
            }
        }
    }

    @Test func keepAliveTimeoutDisconnects() async throws {
        let backend = backendWithDevices()
        // What is tested is the keep-alive, not the CONNECT deadline: in the run's opening burst the
        // CONNECT's task can wait for a thread longer than the default 10 s.
        var configuration = MQTTConfiguration(port: 0)
        configuration.limits.connectTimeout = .seconds(120)
        try await withMQTTListener(backend: backend, configuration: configuration) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                let connAck = try #require(try await client.connect(device: "d1", password: "secret", keepAlive: 1))
                #expect(connAck.reasonCode == .success)
                let received = try await client.receive()
                #expect(received == .disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)), "\(String(describing: received))")
                #expect(await client.isClosedByServer())
            }
        }
    }

    @Test func socketsThatSendNoConnectAreClosedAndBounded() async throws {
        var configuration = MQTTConfiguration(port: 0, maxPendingConnections: 2)
        configuration.limits.connectTimeout = .seconds(1)
        try await withMQTTListener(backend: backendWithDevices(), configuration: configuration) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { first in
                try await MQTTTestClient.with(port: port, version: .v5) { second in
                    // A third silent socket is over the bound: it is closed at once.
                    try await MQTTTestClient.with(port: port, version: .v5) { third in
                        #expect(await third.isClosedByServer())
                    }
                    #expect(await second.isClosedByServer())
                }
                #expect(await first.isClosedByServer())
            }
            // The timed-out sockets no longer count against the bound.
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                let connAck = try await client.connect(device: "d1", password: "secret")
                #expect(connAck?.reasonCode == .success)
            }
        }
    }

    @Test func aClientThatDoesNotReadIsDisconnected() async throws {
        let backend = backendWithDevices()
        // 25 MB of QoS 0 commands: far more than the sockets' buffers hold, so most must wait in the node.
        let payload = ByteBuffer(repeating: 0x2A, count: 64 * 1024)
        for index in 0..<400 {
            backend.post(DeviceCommand(id: "c\(index)", topic: commands, payload: payload, expiresAtMillis: .max), to: device)
        }
        try await withMQTTListener(backend: backend, configuration: MQTTConfiguration(port: 0, maxPendingBytes: 256 * 1024)) { port in
            var stored = backend.storedEvents.makeAsyncIterator()
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { client in
                try await client.send(.connect(MQTTConnect(
                    version: .v3_1_1, clientIdentifier: "c", will: MQTTWill(topic: telemetry, payload: ByteBuffer(string: #"{"gone":true}"#)),
                    userName: "p1:d1", password: ByteBuffer(string: "secret")
                )))
                #expect(try await client.receive() == .connAck(MQTTConnAck()))
                try await client.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: commands)])))
                // Without reading anything, the client sees the node give up on it: its will is stored.
                #expect(await stored.next()?.map(\.topic) == [telemetry])
                var commandsReceived = 0
                while true {
                    do {
                        guard let packet = try await client.receive() else { break }
                        if packet.kind == .publish { commandsReceived += 1 }
                    } catch {
                        break
                    }
                }
                #expect(commandsReceived < 400)
                // Those never written stay pending for the next connection.
                #expect(backend.pendingCount(for: device) > 0)
            }
        }
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func secondConnectIsAProtocolError(version: MQTTProtocolVersion) async throws {
        try await withMQTTListener(backend: backendWithDevices()) { port in
            try await MQTTTestClient.with(port: port, version: version) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                try await client.send(.connect(MQTTConnect(version: version, clientIdentifier: "again", userName: "p1:d1", password: ByteBuffer(string: "secret"))))
                if version == .v5 {
                    #expect(try await client.receive() == .disconnect(MQTTDisconnect(reasonCode: .protocolError)))
                }
                #expect(await client.isClosedByServer())
            }
        }
    }

    @Test func publishBeforeConnectClosesSilently() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { client in
                try await client.send(publish(telemetry, "{}", qos: .atMostOnce))
                #expect(await client.isClosedByServer())
            }
            #expect(backend.stored.isEmpty)
        }
    }

    @Test func packetsFedByteByByteAreServed() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                var stream = ByteBuffer()
                try MQTTPacket.connect(MQTTConnect(version: .v5, clientIdentifier: "c", userName: "p1:d1", password: ByteBuffer(string: "secret")))
                    .write(to: &stream, version: .v5)
                try publish(telemetry, #"{"rpm":1200}"#, id: 77).write(to: &stream, version: .v5)
                while let byte = stream.readSlice(length: 1) { try await client.send(bytes: byte) }
                #expect(try await client.receive().map { $0.kind } == .connAck)
                #expect(try await client.receive() == .pubAck(MQTTAcknowledgement(packetIdentifier: 77)))
                #expect(backend.stored.map { String(buffer: $0.payload) } == [#"{"rpm":1200}"#])
            }
        }
    }

    @Test func aQuarterGigabyteRemainingLengthIsRefusedAtOnce() async throws {
        try await withMQTTListener(backend: backendWithDevices()) { port in
            try await MQTTTestClient.with(port: port, version: .v5) { client in
                _ = try await client.connect(device: "d1", password: "secret")
                try await client.send(bytes: ByteBuffer(bytes: [0x30, 0xFF, 0xFF, 0xFF, 0x7F]))
                #expect(try await client.receive() == .disconnect(MQTTDisconnect(reasonCode: .packetTooLarge)))
                #expect(await client.isClosedByServer())
            }
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { client in
                try await client.send(bytes: ByteBuffer(bytes: [0x10, 0xFF, 0xFF, 0xFF, 0x7F]))
                #expect(await client.isClosedByServer())
            }
        }
    }

    @Test func aSecondConnectionOfTheSameClientTakesTheSessionOver() async throws {
        try await withMQTTListener(backend: backendWithDevices()) { port in
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { first in
                _ = try await first.connect(device: "d1", password: "secret", cleanStart: false)
                try await first.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: commands, qos: .atLeastOnce)])))
                #expect(try await first.receive() == .subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])))
                try await MQTTTestClient.with(port: port, version: .v3_1_1) { second in
                    let connAck = try await second.connect(device: "d1", password: "secret", cleanStart: false)
                    #expect(connAck == MQTTConnAck(sessionPresent: true))
                    #expect(await first.isClosedByServer())
                }
            }
        }
    }

    @Test func willOnTheTelemetryTopicIsStoredWhenTheConnectionDrops() async throws {
        let backend = backendWithDevices()
        try await withMQTTListener(backend: backend) { port in
            var stored = backend.storedEvents.makeAsyncIterator()
            try await MQTTTestClient.with(port: port, version: .v3_1_1) { client in
                try await client.send(.connect(MQTTConnect(
                    version: .v3_1_1, clientIdentifier: "c", will: MQTTWill(topic: telemetry + "/status", payload: ByteBuffer(string: #"{"online":false}"#)),
                    userName: "p1:d1", password: ByteBuffer(string: "secret")
                )))
                #expect(try await client.receive() == .connAck(MQTTConnAck()))
            }
            #expect(await stored.next()?.map(\.topic) == [telemetry + "/status"])
        }
    }
}
