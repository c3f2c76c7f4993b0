import CellbaseMQTT
import NIOCore
import Testing

@testable import Cellbase

/// The upstream client's connection, as transcripts: what it sends and does for each thing the broker sends.
@Suite struct MQTTUpstreamStateMachineTests {
    typealias Machine = MQTTUpstreamStateMachine
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func settings(receiveMaximum: UInt16 = 10, maxQueuedCommands: Int = 100) -> Machine.Settings {
        Machine.Settings(
            clientIdentifier: "cellbase-node", userName: "user", password: ByteBuffer(string: "secret"),
            topicFilter: "$share/cellbase/devices/+/telemetry/#", keepAlive: 30, sessionExpiry: 3600, receiveMaximum: receiveMaximum,
            maximumPacketSize: 1 << 20, maxQueuedCommands: maxQueuedCommands
        )
    }

    /// A machine that has connected and been granted its subscription.
    func subscribed(
        receiveMaximum: UInt16 = 10, brokerReceiveMaximum: UInt16? = nil, carrying: [MQTTUpstreamCommand] = [], sessionPresent: Bool = false
    ) -> (Machine, [Machine.Action]) {
        var machine = Machine(settings: settings(receiveMaximum: receiveMaximum), carrying: carrying, now: start)
        _ = machine.connected(now: start)
        var properties = MQTTProperties()
        properties.receiveMaximum = brokerReceiveMaximum
        var actions = machine.received(.connAck(MQTTConnAck(sessionPresent: sessionPresent, properties: properties)), now: start)
        actions += machine.received(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])), now: start)
        return (machine, actions)
    }

    func command(_ id: String, device: String = "d1") -> MQTTUpstreamCommand {
        MQTTUpstreamCommand(id: id, deviceID: device, topic: "devices/\(device)/commands", payload: ByteBuffer(string: #"{"cmd":"\#(id)"}"#))
    }

    func publish(_ topic: String, id: UInt16?, qos: MQTTQoS = .atLeastOnce, payload: String = #"{"ts":1,"v":1}"#) -> MQTTPacket {
        .publish(MQTTPublish(topic: topic, payload: ByteBuffer(string: payload), qos: qos, packetIdentifier: id))
    }

    static func closing(_ actions: [Machine.Action]) -> (packet: MQTTPacket?, error: MQTTUpstreamError?)? {
        for case .close(let packet, let error) in actions { return (packet, error) }
        return nil
    }

    @Test func connectsWithAPersistentSessionThenSubscribesToTheSharedFilter() {
        var machine = Machine(settings: settings(), now: start)
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 3600
        properties.receiveMaximum = 10
        properties.maximumPacketSize = 1 << 20
        #expect(machine.connected(now: start) == [.send(.connect(MQTTConnect(
            version: .v5, cleanStart: false, keepAlive: 30, clientIdentifier: "cellbase-node", userName: "user",
            password: ByteBuffer(string: "secret"), properties: properties
        )))])
        #expect(machine.received(.connAck(MQTTConnAck()), now: start) == [.send(.subscribe(MQTTSubscribe(
            packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "$share/cellbase/devices/+/telemetry/#", qos: .atLeastOnce)]
        )))])
        #expect(machine.received(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1])), now: start) == [.fetchCommands])
    }

    @Test func acknowledgesAQoS1PublishOnlyOnceStoredAndOnlyOnce() {
        var (machine, _) = subscribed()
        #expect(machine.received(publish("devices/d1/telemetry/engine", id: 7), now: start) == [
            .store(deviceID: "d1", topic: "devices/d1/telemetry/engine", payload: ByteBuffer(string: #"{"ts":1,"v":1}"#), packetIdentifier: 7),
        ])
        #expect(machine.stored(packetIdentifier: 7, accepted: true, now: start) == [.send(.pubAck(MQTTAcknowledgement(packetIdentifier: 7)))])
        #expect(machine.stored(packetIdentifier: 7, accepted: true, now: start) == [])
    }

    @Test func acknowledgesARejectedPayloadAsInvalid() {
        var (machine, _) = subscribed()
        _ = machine.received(publish("devices/d1/telemetry", id: 3, payload: "nope"), now: start)
        #expect(machine.stored(packetIdentifier: 3, accepted: false, now: start) == [
            .send(.pubAck(MQTTAcknowledgement(packetIdentifier: 3, reasonCode: .payloadFormatInvalid))),
        ])
    }

    @Test func storesQoS0WithoutAcknowledging() {
        var (machine, _) = subscribed()
        #expect(machine.received(publish("devices/d2/telemetry", id: nil, qos: .atMostOnce), now: start) == [
            .store(deviceID: "d2", topic: "devices/d2/telemetry", payload: ByteBuffer(string: #"{"ts":1,"v":1}"#), packetIdentifier: nil),
        ])
    }

    @Test(arguments: [
        ("devices/d1/telemetry", "d1"),
        ("devices/d-1_X/telemetry/a/b", "d-1_X"),
        ("devices/d1/telemetry/", "d1"),
        ("devices/d.1/telemetry", nil),
        ("devices/d:1/telemetry", nil),
        ("devices//telemetry", nil),
        ("devices/d1/telemetryx", nil),
        ("devices/d1/commands", nil),
        ("device/d1/telemetry", nil),
        ("devices/d1", nil),
        ("devices/\(String(repeating: "a", count: 65))/telemetry", nil),
    ] as [(String, String?)])
    func mapsTelemetryTopicsToDevices(topic: String, device: String?) {
        #expect(Machine.deviceID(inTelemetryTopic: topic) == device)
    }

    @Test func acknowledgesAndDiscardsAPublishNamingNoDevice() {
        var (machine, _) = subscribed()
        #expect(machine.received(publish("devices/bad.id/telemetry", id: 4), now: start) == [
            .discard(topic: "devices/bad.id/telemetry"),
            .send(.pubAck(MQTTAcknowledgement(packetIdentifier: 4, reasonCode: .topicNameInvalid))),
        ])
        #expect(machine.received(publish("devices/bad.id/telemetry", id: nil, qos: .atMostOnce), now: start) == [.discard(topic: "devices/bad.id/telemetry")])
    }

    @Test func holdsTheBrokerToOurReceiveMaximum() {
        var (machine, _) = subscribed(receiveMaximum: 2)
        _ = machine.received(publish("devices/d1/telemetry", id: 1), now: start)
        _ = machine.received(publish("devices/d1/telemetry", id: 2), now: start)
        let actions = machine.received(publish("devices/d1/telemetry", id: 3), now: start)
        #expect(Self.closing(actions)?.packet == .disconnect(MQTTDisconnect(reasonCode: .receiveMaximumExceeded)))
        #expect(Self.closing(actions)?.error?.code == .protocolViolation)
    }

    @Test func acknowledgingMakesRoomWithinOurReceiveMaximum() {
        var (machine, _) = subscribed(receiveMaximum: 1)
        _ = machine.received(publish("devices/d1/telemetry", id: 1), now: start)
        _ = machine.stored(packetIdentifier: 1, accepted: true, now: start)
        #expect(Self.closing(machine.received(publish("devices/d1/telemetry", id: 2), now: start)) == nil)
    }

    @Test func refusesAPacketIdentifierStillInUse() {
        var (machine, _) = subscribed()
        _ = machine.received(publish("devices/d1/telemetry", id: 9), now: start)
        #expect(Self.closing(machine.received(publish("devices/d1/telemetry", id: 9), now: start))?.packet
            == .disconnect(MQTTDisconnect(reasonCode: .packetIdentifierInUse)))
    }

    @Test(arguments: [
        MQTTPacket.publish(MQTTPublish(topic: "devices/d1/telemetry", payload: ByteBuffer(), qos: .exactlyOnce, packetIdentifier: 1)),
        .publish(MQTTPublish(topic: "devices/d1/telemetry", payload: ByteBuffer(), qos: .atLeastOnce, packetIdentifier: 1, properties: {
            var properties = MQTTProperties()
            properties.topicAlias = 1
            return properties
        }())),
        .publish(MQTTPublish(topic: "", payload: ByteBuffer(), qos: .atLeastOnce, packetIdentifier: 1)),
        .connect(MQTTConnect(version: .v5, clientIdentifier: "x")),
        .connAck(MQTTConnAck()),
        .subscribe(MQTTSubscribe(packetIdentifier: 2, subscriptions: [MQTTSubscription(topicFilter: "#")])),
        .pubRel(MQTTAcknowledgement(packetIdentifier: 1)),
        .pingReq,
        .auth(MQTTAuth()),
        .pubAck(MQTTAcknowledgement(packetIdentifier: 42)),
    ])
    func closesOnWhatTheBrokerMayNotSend(packet: MQTTPacket) {
        var (machine, _) = subscribed()
        let actions = machine.received(packet, now: start)
        #expect(Self.closing(actions)?.error?.code == .protocolViolation)
        #expect(actions.count == 1)
        #expect(machine.received(publish("devices/d1/telemetry", id: 5), now: start) == [])
    }

    @Test func closesOnAPacketBeforeConnAck() {
        var machine = Machine(settings: settings(), now: start)
        _ = machine.connected(now: start)
        #expect(Self.closing(machine.received(publish("devices/d1/telemetry", id: 1), now: start))?.error?.code == .protocolViolation)
    }

    @Test func closesOnMalformedBytes() {
        var (machine, _) = subscribed()
        let actions = machine.received(MQTTProtocolError(.reservedFlags, reasonCode: .malformedPacket))
        #expect(Self.closing(actions)?.packet == .disconnect(MQTTDisconnect(reasonCode: .malformedPacket)))
    }

    @Test func reportsARefusedConnection() {
        var machine = Machine(settings: settings(), now: start)
        _ = machine.connected(now: start)
        let actions = machine.received(.connAck(MQTTConnAck(reasonCode: .badUserNameOrPassword)), now: start)
        #expect(actions == [.close(sending: nil, error: MQTTUpstreamError(code: .connectionRefused, reasonCode: .badUserNameOrPassword))])
    }

    @Test func refusesABrokerWithoutSharedSubscriptionsOrQoS1() {
        for (property, reason) in [(\MQTTProperties.sharedSubscriptionAvailable, MQTTReasonCode.sharedSubscriptionsNotSupported), (\.maximumQoS, .qosNotSupported)] {
            var machine = Machine(settings: settings(), now: start)
            _ = machine.connected(now: start)
            var properties = MQTTProperties()
            properties[keyPath: property] = 0
            #expect(machine.received(.connAck(MQTTConnAck(properties: properties)), now: start) == [
                .close(sending: .disconnect(MQTTDisconnect(reasonCode: reason)), error: MQTTUpstreamError(code: .brokerUnsuitable, reasonCode: reason)),
            ])
        }
    }

    @Test(arguments: [MQTTReasonCode.sharedSubscriptionsNotSupported, .notAuthorized, .success])
    func reportsARefusedOrDowngradedSubscription(code: MQTTReasonCode) {
        var machine = Machine(settings: settings(), now: start)
        _ = machine.connected(now: start)
        _ = machine.received(.connAck(MQTTConnAck()), now: start)
        #expect(machine.received(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [code])), now: start) == [
            .close(sending: nil, error: MQTTUpstreamError(code: .subscriptionRefused, reasonCode: code)),
        ])
    }

    @Test func reportsTheBrokersDisconnect() {
        var (machine, _) = subscribed()
        #expect(machine.received(.disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver)), now: start) == [
            .close(sending: nil, error: MQTTUpstreamError(code: .disconnected, reasonCode: .sessionTakenOver)),
        ])
    }

    @Test func pingsAfterAKeepAliveOfSilenceAndGivesUpWhenUnanswered() {
        var (machine, _) = subscribed()
        #expect(machine.nextDeadline == start + .seconds(30))
        #expect(machine.timerFired(now: start + .seconds(29)) == [])
        #expect(machine.timerFired(now: start + .seconds(30)) == [.send(.pingReq)])
        #expect(machine.nextDeadline == start + .seconds(60))
        #expect(machine.received(.pingResp, now: start + .seconds(31)) == [])
        #expect(machine.timerFired(now: start + .seconds(60)) == [.send(.pingReq)])
        #expect(machine.timerFired(now: start + .seconds(90)) == [
            .close(sending: nil, error: MQTTUpstreamError(code: .timeout, reasonCode: .keepAliveTimeout)),
        ])
        #expect(machine.nextDeadline == nil)
    }

    @Test func followsTheServerKeepAlive() {
        var machine = Machine(settings: settings(), now: start)
        _ = machine.connected(now: start)
        var properties = MQTTProperties()
        properties.serverKeepAlive = 5
        _ = machine.received(.connAck(MQTTConnAck(properties: properties)), now: start)
        #expect(machine.nextDeadline == start + .seconds(5))
    }

    @Test func givesUpWithoutConnAck() {
        var machine = Machine(settings: settings(), now: start)
        _ = machine.connected(now: start)
        #expect(machine.timerFired(now: start + .seconds(29)) == [])
        #expect(Self.closing(machine.timerFired(now: start + .seconds(30)))?.error?.code == .timeout)
    }

    @Test func publishesCommandsWithinTheBrokersReceiveMaximumAndReportsTheirAcknowledgement() {
        var (machine, _) = subscribed(brokerReceiveMaximum: 1)
        let (first, second) = (command("c1"), command("c2"))
        #expect(machine.publish([first, second], now: start) == [
            .send(.publish(MQTTPublish(topic: first.topic, payload: first.payload, qos: .atLeastOnce, packetIdentifier: 2))),
        ])
        // Fetched again before the broker answered: nothing is sent twice.
        #expect(machine.publish([first, second], now: start) == [])
        #expect(machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 2)), now: start) == [
            .commandDelivered(first),
            .send(.publish(MQTTPublish(topic: second.topic, payload: second.payload, qos: .atLeastOnce, packetIdentifier: 3))),
        ])
        #expect(machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 3, reasonCode: .notAuthorized)), now: start) == [
            .commandRefused(second, .notAuthorized),
        ])
        #expect(machine.unacknowledgedCommands.isEmpty)
    }

    @Test func countsNoMatchingSubscribersAsAccepted() {
        var (machine, _) = subscribed()
        let first = command("c1")
        _ = machine.publish([first], now: start)
        #expect(machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 2, reasonCode: .noMatchingSubscribers)), now: start) == [.commandDelivered(first)])
    }

    @Test func boundsTheCommandQueue() {
        var machine = Machine(settings: settings(maxQueuedCommands: 2), now: start)
        #expect(machine.publish([command("a"), command("b"), command("c")], now: start) == [])
        #expect(machine.unacknowledgedCommands.map(\.id) == ["a", "b"])
    }

    @Test func carriesUnacknowledgedCommandsIntoTheNextSession() {
        var (machine, _) = subscribed()
        _ = machine.publish([command("c1"), command("c2")], now: start)
        _ = machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 2)), now: start)
        machine.connectionClosed()
        let carried = machine.unacknowledgedCommands
        #expect(carried == [command("c2")])

        let (_, actions) = subscribed(carrying: carried, sessionPresent: true)
        #expect(actions.contains(.send(.publish(MQTTPublish(
            topic: "devices/d1/commands", payload: command("c2").payload, qos: .atLeastOnce, duplicate: true, packetIdentifier: 2
        )))))
        #expect(actions.last == .fetchCommands)
    }

    @Test func disconnectsNormallyOnShutdown() {
        var (machine, _) = subscribed()
        #expect(machine.shutdown() == [.close(sending: .disconnect(MQTTDisconnect()), error: nil)])
        #expect(machine.shutdown() == [])
        #expect(machine.received(publish("devices/d1/telemetry", id: 1), now: start) == [])
    }

    @Test(arguments: [
        ("mqtt://broker", "broker", 1883),
        ("mqtt://broker:1884", "broker", 1884),
        ("mqtt://10.0.0.1:1", "10.0.0.1", 1),
        ("mqtt://[::1]:1885", "::1", 1885),
        ("mqtt://[::1]", "::1", 1883),
    ])
    func parsesBrokerAddresses(url: String, host: String, port: Int) {
        let address = MQTTUpstreamConfiguration.brokerAddress(url)
        #expect(address?.host == host)
        #expect(address?.port == port)
    }

    @Test(arguments: ["broker:1883", "mqtts://broker", "mqtt://", "mqtt://broker:0", "mqtt://broker:65536", "mqtt://broker:x",
                      "mqtt://u:p@broker", "mqtt://broker/path", "mqtt://:1883", "mqtt://a:1:2", "mqtt://[::1", "mqtt://[]:1883"])
    func refusesOtherURLs(url: String) {
        #expect(MQTTUpstreamConfiguration.brokerAddress(url) == nil)
    }

    @Test func backsOffExponentiallyWithinTheCapAndJitters() {
        let base = Duration.milliseconds(100)
        let cap = Duration.seconds(3)
        for failures in 1...40 {
            let ceiling = min(base * (1 << min(failures - 1, 20)), cap)
            let delay = MQTTUpstream.backoff(failures: failures, base: base, cap: cap)
            #expect(delay >= ceiling / 2 && delay <= ceiling, "failures \(failures): \(delay)")
        }
        let delays = Set((0..<50).map { _ in MQTTUpstream.backoff(failures: 10, base: base, cap: cap) })
        #expect(delays.count > 1)
    }
}
