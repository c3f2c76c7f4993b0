import CellbaseMQTT
import NIOCore
import Testing

private typealias Machine = MQTTConnectionStateMachine

private func at(_ seconds: Double) -> NIODeadline { .uptimeNanoseconds(UInt64(seconds * 1_000_000_000)) }

private let limits = MQTTServerLimits(
    maximumPacketSize: 4096, topicAliasMaximum: 4, receiveMaximum: 2, outboundInflightMaximum: 2,
    maximumSessionExpiry: 600, maximumKeepAlive: 120, connectTimeout: .seconds(10)
)

private let password = ByteBuffer(string: "secret")
private let payload = ByteBuffer(string: #"{"temp":1}"#)

private func connectPacket(
    _ version: MQTTProtocolVersion, cleanStart: Bool = true, keepAlive: UInt16 = 60, clientIdentifier: String = "c1",
    will: MQTTWill? = nil, properties: MQTTProperties = MQTTProperties()
) -> MQTTPacket {
    .connect(MQTTConnect(
        version: version, cleanStart: cleanStart, keepAlive: keepAlive, clientIdentifier: clientIdentifier, will: will,
        userName: "proj:d1", password: password, properties: properties
    ))
}

/// A machine past CONNACK for device `d1`.
private func connected(
    _ version: MQTTProtocolVersion, cleanStart: Bool = true, keepAlive: UInt16 = 60, will: MQTTWill? = nil,
    properties: MQTTProperties = MQTTProperties(), restoring: MQTTSessionState? = nil
) -> Machine {
    var machine = Machine(limits: limits, now: at(0))
    _ = machine.received(connectPacket(version, cleanStart: cleanStart, keepAlive: keepAlive, will: will, properties: properties), now: at(0))
    _ = machine.authenticated(deviceID: "d1", restoring: restoring, now: at(0))
    return machine
}

private func publish(_ topic: String, qos: MQTTQoS = .atMostOnce, id: UInt16? = nil, alias: UInt16? = nil) -> MQTTPacket {
    var properties = MQTTProperties()
    properties.topicAlias = alias
    return .publish(MQTTPublish(topic: topic, payload: payload, qos: qos, packetIdentifier: id, properties: properties))
}

private func subscribe(_ filters: [String], id: UInt16 = 1, qos: MQTTQoS = .atLeastOnce) -> MQTTPacket {
    .subscribe(MQTTSubscribe(packetIdentifier: id, subscriptions: filters.map { MQTTSubscription(topicFilter: $0, qos: qos) }))
}

private func disconnect(_ reasonCode: MQTTReasonCode) -> Machine.Action { .close(sending: .disconnect(MQTTDisconnect(reasonCode: reasonCode))) }

private let telemetry = "devices/d1/telemetry"
private let commands = "devices/d1/commands"

@Suite struct MQTTConnectionStateMachineTests {
    @Test func mqtt5ConnectAuthenticatesAndAnnouncesTheServerLimits() {
        var machine = Machine(limits: limits, now: at(0))
        #expect(machine.received(connectPacket(.v5, clientIdentifier: ""), now: at(1)) == [.authenticate(userName: "proj:d1", password: password)])
        var expected = MQTTProperties()
        expected.maximumQoS = 1
        expected.maximumPacketSize = 4096
        expected.topicAliasMaximum = 4
        expected.receiveMaximum = 2
        expected.sharedSubscriptionAvailable = 0
        expected.subscriptionIdentifierAvailable = 0
        expected.assignedClientIdentifier = "d1"
        #expect(machine.authenticated(deviceID: "d1", restoring: nil, now: at(1)) == [.send(.connAck(MQTTConnAck(properties: expected)))])
        #expect(machine.version == .v5)
    }

    @Test func mqtt311ConnectGetsAPlainConnAck() {
        var machine = Machine(limits: limits, now: at(0))
        _ = machine.received(connectPacket(.v3_1_1), now: at(0))
        #expect(machine.authenticated(deviceID: "d1", restoring: nil, now: at(0)) == [.send(.connAck(MQTTConnAck()))])
    }

    @Test(arguments: [MQTTReasonCode.badUserNameOrPassword, .notAuthorized, .serverUnavailable])
    func refusedCredentialsCloseAfterConnAck(reasonCode: MQTTReasonCode) {
        var machine = Machine(limits: limits, now: at(0))
        _ = machine.received(connectPacket(.v5), now: at(0))
        #expect(machine.authenticationRefused(reasonCode) == [.close(sending: .connAck(MQTTConnAck(reasonCode: reasonCode)))])
        #expect(machine.received(.pingReq, now: at(1)) == [])
    }

    @Test func connectsThatCannotBeAcceptedAreRefusedBeforeAuthentication() {
        var noCredentials = Machine(limits: limits, now: at(0))
        #expect(noCredentials.received(.connect(MQTTConnect(version: .v5, clientIdentifier: "c")), now: at(0))
            == [.close(sending: .connAck(MQTTConnAck(reasonCode: .badUserNameOrPassword)))])

        var persistentWithoutIdentifier = Machine(limits: limits, now: at(0))
        #expect(persistentWithoutIdentifier.received(connectPacket(.v3_1_1, cleanStart: false, clientIdentifier: ""), now: at(0))
            == [.close(sending: .connAck(MQTTConnAck(reasonCode: .clientIdentifierNotValid)))])

        var enhancedAuthentication = Machine(limits: limits, now: at(0))
        var properties = MQTTProperties()
        properties.authenticationMethod = "SCRAM-SHA-1"
        #expect(enhancedAuthentication.received(connectPacket(.v5, properties: properties), now: at(0))
            == [.close(sending: .connAck(MQTTConnAck(reasonCode: .badAuthenticationMethod)))])

        var qos2Will = Machine(limits: limits, now: at(0))
        let will = MQTTWill(topic: telemetry, payload: payload, qos: .exactlyOnce)
        #expect(qos2Will.received(connectPacket(.v5, will: will), now: at(0)) == [.close(sending: .connAck(MQTTConnAck(reasonCode: .qosNotSupported)))])
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func anythingBeforeConnectClosesSilently(version: MQTTProtocolVersion) {
        var machine = Machine(limits: limits, now: at(0))
        #expect(machine.received(publish(telemetry), now: at(0)) == [.close(sending: nil)])
        #expect(machine.received(connectPacket(version), now: at(0)) == [])
    }

    @Test func secondConnectIsAProtocolError() {
        var v5 = connected(.v5)
        #expect(v5.received(connectPacket(.v5), now: at(1)) == [disconnect(.protocolError)])
        var v311 = connected(.v3_1_1)
        #expect(v311.received(connectPacket(.v3_1_1), now: at(1)) == [.close(sending: nil)])
    }

    @Test func decoderErrorsAnswerPerVersion() {
        var fresh = Machine(limits: limits, now: at(0))
        #expect(fresh.received(MQTTProtocolError(.unsupportedProtocolVersion, reasonCode: .unsupportedProtocolVersion))
            == [.close(sending: .connAck(MQTTConnAck(reasonCode: .unsupportedProtocolVersion)))])
        var garbage = Machine(limits: limits, now: at(0))
        #expect(garbage.received(MQTTProtocolError(.expectedConnect, reasonCode: .protocolError)) == [.close(sending: nil)])
        var v5 = connected(.v5)
        #expect(v5.received(MQTTProtocolError(.packetTooLarge, reasonCode: .packetTooLarge)) == [disconnect(.packetTooLarge)])
        var v311 = connected(.v3_1_1)
        #expect(v311.received(MQTTProtocolError(.invalidUTF8, reasonCode: .malformedPacket)) == [.close(sending: nil)])
    }

    @Test func connectTimeout() {
        var machine = Machine(limits: limits, now: at(0))
        #expect(machine.nextDeadline == at(10))
        #expect(machine.timerFired(now: at(9.9)) == [])
        #expect(machine.timerFired(now: at(10)) == [.close(sending: nil)])
    }

    @Test func keepAliveIsOneAndAHalfIntervalsAfterTheLastPacket() {
        var machine = connected(.v5, keepAlive: 10)
        #expect(machine.nextDeadline == at(15))
        #expect(machine.received(.pingReq, now: at(12)) == [.send(.pingResp)])
        #expect(machine.nextDeadline == at(27))
        #expect(machine.timerFired(now: at(26.9)) == [])
        #expect(machine.timerFired(now: at(27)) == [disconnect(.keepAliveTimeout)])

        var v311 = connected(.v3_1_1, keepAlive: 4)
        #expect(v311.timerFired(now: at(6)) == [.close(sending: nil)])
    }

    @Test func keepAliveOffOrTooLongIsLoweredOnMQTT5() {
        var machine = Machine(limits: limits, now: at(0))
        _ = machine.received(connectPacket(.v5, keepAlive: 0), now: at(0))
        guard case .send(.connAck(let connAck)) = machine.authenticated(deviceID: "d1", restoring: nil, now: at(0)).first else {
            Issue.record("no CONNACK")
            return
        }
        #expect(connAck.properties.serverKeepAlive == 120)
        #expect(machine.nextDeadline == at(180))
        var v311 = connected(.v3_1_1, keepAlive: 0)
        #expect(v311.nextDeadline == nil)
    }

    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func qos1IsAcknowledgedOnlyOnceStoredAndInOrder(version: MQTTProtocolVersion) {
        var machine = connected(version)
        #expect(machine.received(publish(telemetry, qos: .atLeastOnce, id: 7), now: at(1)) == [.store(topic: telemetry, payload: payload, packetIdentifier: 7)])
        #expect(machine.received(publish(telemetry + "/x", qos: .atLeastOnce, id: 8), now: at(1))
            == [.store(topic: telemetry + "/x", payload: payload, packetIdentifier: 8)])
        #expect(machine.stored(packetIdentifier: 8, accepted: false) == [])
        let refusal: MQTTReasonCode = version == .v5 ? .payloadFormatInvalid : .success
        #expect(machine.stored(packetIdentifier: 7, accepted: true) == [
            .send(.pubAck(MQTTAcknowledgement(packetIdentifier: 7))),
            .send(.pubAck(MQTTAcknowledgement(packetIdentifier: 8, reasonCode: refusal))),
        ])
        #expect(machine.stored(packetIdentifier: 7, accepted: true) == [])
        #expect(machine.received(publish(telemetry), now: at(2)) == [.store(topic: telemetry, payload: payload, packetIdentifier: nil)])
    }

    @Test func aResentPublishStillBeingStoredIsNotStoredTwice() {
        var machine = connected(.v5)
        _ = machine.received(publish(telemetry, qos: .atLeastOnce, id: 3), now: at(1))
        #expect(machine.received(publish(telemetry, qos: .atLeastOnce, id: 3), now: at(1)) == [])
        #expect(machine.stored(packetIdentifier: 3, accepted: true) == [.send(.pubAck(MQTTAcknowledgement(packetIdentifier: 3)))])
    }

    @Test func moreUnacknowledgedPublishesThanTheReceiveMaximumDisconnect() {
        var machine = connected(.v5)
        _ = machine.received(publish(telemetry, qos: .atLeastOnce, id: 1), now: at(1))
        _ = machine.received(publish(telemetry, qos: .atLeastOnce, id: 2), now: at(1))
        #expect(machine.received(publish(telemetry, qos: .atLeastOnce, id: 3), now: at(1)) == [disconnect(.receiveMaximumExceeded)])
    }

    @Test func qos2IsRefused() {
        var v5 = connected(.v5)
        #expect(v5.received(publish(telemetry, qos: .exactlyOnce, id: 1), now: at(1)) == [disconnect(.qosNotSupported)])
        var v311 = connected(.v3_1_1)
        #expect(v311.received(publish(telemetry, qos: .exactlyOnce, id: 1), now: at(1)) == [.close(sending: nil)])
        var pubRel = connected(.v5)
        #expect(pubRel.received(.pubRel(MQTTAcknowledgement(packetIdentifier: 1)), now: at(1)) == [disconnect(.protocolError)])
    }

    @Test func publishingOutsideTheDevicesTopicsIsRefusedPerVersion() {
        var v5 = connected(.v5)
        #expect(v5.received(publish("devices/d2/telemetry", qos: .atLeastOnce, id: 4), now: at(1))
            == [.send(.pubAck(MQTTAcknowledgement(packetIdentifier: 4, reasonCode: .notAuthorized)))])
        #expect(v5.received(publish(commands), now: at(1)) == [])
        var v311 = connected(.v3_1_1)
        #expect(v311.received(publish("devices/d2/telemetry", qos: .atLeastOnce, id: 4), now: at(1)) == [.close(sending: nil)])
    }

    @Test func aRefusedPublishIsAcknowledgedInTurn() {
        var machine = connected(.v5)
        _ = machine.received(publish(telemetry, qos: .atLeastOnce, id: 1), now: at(1))
        #expect(machine.received(publish("devices/d2/telemetry", qos: .atLeastOnce, id: 2), now: at(1)) == [])
        #expect(machine.stored(packetIdentifier: 1, accepted: true) == [
            .send(.pubAck(MQTTAcknowledgement(packetIdentifier: 1))),
            .send(.pubAck(MQTTAcknowledgement(packetIdentifier: 2, reasonCode: .notAuthorized))),
        ])
    }

    @Test func topicAliases() {
        var machine = connected(.v5)
        #expect(machine.received(publish(telemetry, alias: 1), now: at(1)) == [.store(topic: telemetry, payload: payload, packetIdentifier: nil)])
        #expect(machine.received(publish("", alias: 1), now: at(1)) == [.store(topic: telemetry, payload: payload, packetIdentifier: nil)])
        #expect(machine.received(publish(telemetry + "/b", alias: 1), now: at(1))
            == [.store(topic: telemetry + "/b", payload: payload, packetIdentifier: nil)])
        #expect(machine.received(publish("", alias: 1), now: at(1)) == [.store(topic: telemetry + "/b", payload: payload, packetIdentifier: nil)])

        var unknown = connected(.v5)
        #expect(unknown.received(publish("", alias: 2), now: at(1)) == [disconnect(.protocolError)])
        var zero = connected(.v5)
        #expect(zero.received(publish(telemetry, alias: 0), now: at(1)) == [disconnect(.topicAliasInvalid)])
        var aboveMaximum = connected(.v5)
        #expect(aboveMaximum.received(publish(telemetry, alias: 5), now: at(1)) == [disconnect(.topicAliasInvalid)])
        var highest = connected(.v5)
        #expect(highest.received(publish(telemetry, alias: 65535), now: at(1)) == [disconnect(.topicAliasInvalid)])
        var noTopic = connected(.v5)
        #expect(noTopic.received(publish(""), now: at(1)) == [disconnect(.protocolError)])
    }

    @Test func subscribingIsLimitedToTheDevicesCommandTopics() {
        var v311 = connected(.v3_1_1)
        #expect(v311.received(subscribe([commands + "/#", "devices/d2/commands", "#"], qos: .exactlyOnce), now: at(1)) == [
            .send(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1, .notAuthorized, .notAuthorized]))),
            .fetchCommands,
        ])
        var v5 = connected(.v5)
        #expect(v5.received(subscribe(["devices/+/commands", "$share/g/" + commands], qos: .atMostOnce), now: at(1)) == [
            .send(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.notAuthorized, .sharedSubscriptionsNotSupported]))),
        ])
        #expect(v5.received(subscribe([commands], qos: .atMostOnce), now: at(1))
            == [.send(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.success]))), .fetchCommands])
        var withIdentifier = connected(.v5)
        var properties = MQTTProperties()
        properties.subscriptionIdentifiers = [1]
        let packet = MQTTPacket.subscribe(MQTTSubscribe(packetIdentifier: 2, subscriptions: [MQTTSubscription(topicFilter: commands)], properties: properties))
        #expect(withIdentifier.received(packet, now: at(1)) == [disconnect(.subscriptionIdentifiersNotSupported)])
    }

    @Test func unsubscribe() {
        var machine = connected(.v5)
        _ = machine.received(subscribe([commands]), now: at(1))
        #expect(machine.received(.unsubscribe(MQTTUnsubscribe(packetIdentifier: 3, topicFilters: [commands, "x"])), now: at(1))
            == [.send(.unsubAck(MQTTUnsubAck(packetIdentifier: 3, reasonCodes: [.success, .noSubscriptionExisted])))])
        #expect(machine.deliver([MQTTOutboundCommand(id: "a", topic: commands, payload: payload)]) == [])
        var v311 = connected(.v3_1_1)
        #expect(v311.received(.unsubscribe(MQTTUnsubscribe(packetIdentifier: 3, topicFilters: [commands])), now: at(1))
            == [.send(.unsubAck(MQTTUnsubAck(packetIdentifier: 3)))])
    }

    @Test func commandsAreSentWithinTheInflightWindowAndAcknowledged() {
        var machine = connected(.v5)
        _ = machine.received(subscribe([commands + "/#"]), now: at(1))
        let pending = ["a", "b", "c"].map { MQTTOutboundCommand(id: $0, topic: commands + "/" + $0, payload: payload) }
        #expect(machine.deliver(pending) == [
            .send(.publish(MQTTPublish(topic: commands + "/a", payload: payload, qos: .atLeastOnce, packetIdentifier: 1))),
            .send(.publish(MQTTPublish(topic: commands + "/b", payload: payload, qos: .atLeastOnce, packetIdentifier: 2))),
        ])
        #expect(machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 1)), now: at(2)) == [.commandDelivered(id: "a"), .fetchCommands])
        // The backend may still list "a" (its delivery is being recorded) and "b" (in flight): only "c" goes out.
        #expect(machine.deliver(pending) == [
            .send(.publish(MQTTPublish(topic: commands + "/c", payload: payload, qos: .atLeastOnce, packetIdentifier: 3))),
        ])
        #expect(machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 3)), now: at(2)) == [.commandDelivered(id: "c")])
        #expect(machine.received(.pubAck(MQTTAcknowledgement(packetIdentifier: 9)), now: at(2)) == [])
    }

    @Test func commandsNobodySubscribedToOrTooLargeForTheClientWait() {
        var machine = connected(.v5)
        #expect(machine.deliver([MQTTOutboundCommand(id: "a", topic: commands, payload: payload)]) == [])
        var properties = MQTTProperties()
        properties.maximumPacketSize = 40
        var small = connected(.v5, properties: properties)
        _ = small.received(subscribe([commands]), now: at(1))
        let large = MQTTOutboundCommand(id: "big", topic: commands, payload: ByteBuffer(repeating: 1, count: 100))
        let fits = MQTTOutboundCommand(id: "ok", topic: commands, payload: ByteBuffer(repeating: 1, count: 4))
        #expect(small.deliver([large, fits]) == [
            .send(.publish(MQTTPublish(topic: commands, payload: fits.payload, qos: .atLeastOnce, packetIdentifier: 1))),
        ])
    }

    @Test func qos0SubscriptionsGetCommandsAtMostOnce() {
        var machine = connected(.v3_1_1)
        _ = machine.received(subscribe([commands], qos: .atMostOnce), now: at(1))
        let command = MQTTOutboundCommand(id: "a", topic: commands, payload: payload)
        #expect(machine.deliver([command]) == [.send(.publish(MQTTPublish(topic: commands, payload: payload))), .commandDelivered(id: "a")])
        #expect(machine.deliver([command]) == [])
    }

    @Test func willIsStoredOnAbnormalCloseOnly() {
        let will = MQTTWill(topic: telemetry + "/status", payload: ByteBuffer(string: "offline"))
        let stored = Machine.Action.store(topic: telemetry + "/status", payload: will.payload, packetIdentifier: nil)

        var dropped = connected(.v3_1_1, will: will)
        #expect(dropped.connectionClosed() == [stored])
        #expect(dropped.connectionClosed() == [])

        var clean = connected(.v5, will: will)
        #expect(clean.received(.disconnect(MQTTDisconnect()), now: at(1)) == [.close(sending: nil)])

        var withWill = connected(.v5, will: will)
        #expect(withWill.received(.disconnect(MQTTDisconnect(reasonCode: .disconnectWithWillMessage)), now: at(1)) == [stored, .close(sending: nil)])

        var timedOut = connected(.v5, keepAlive: 2, will: will)
        #expect(timedOut.timerFired(now: at(3)) == [stored, disconnect(.keepAliveTimeout)])

        var elsewhere = connected(.v5, will: MQTTWill(topic: "devices/d2/telemetry", payload: payload))
        #expect(elsewhere.connectionClosed() == [])
    }

    @Test func sessionsOutliveTheConnectionWhileTheyHaveNotExpired() {
        var persistent = connected(.v3_1_1, cleanStart: false)
        _ = persistent.received(subscribe([commands]), now: at(1))
        let session = MQTTSessionState(subscriptions: [commands: .atLeastOnce])
        #expect(persistent.connectionClosed() == [.keepSession(session, expiry: 600)])

        var resumed = Machine(limits: limits, now: at(5))
        _ = resumed.received(connectPacket(.v3_1_1, cleanStart: false), now: at(5))
        #expect(resumed.authenticated(deviceID: "d1", restoring: session, now: at(5))
            == [.send(.connAck(MQTTConnAck(sessionPresent: true))), .fetchCommands])
        #expect(resumed.deliver([MQTTOutboundCommand(id: "a", topic: commands, payload: payload)])
            == [.send(.publish(MQTTPublish(topic: commands, payload: payload, qos: .atLeastOnce, packetIdentifier: 1)))])

        var cleanStart = Machine(limits: limits, now: at(5))
        _ = cleanStart.received(connectPacket(.v3_1_1, cleanStart: true), now: at(5))
        #expect(cleanStart.authenticated(deviceID: "d1", restoring: session, now: at(5)) == [.send(.connAck(MQTTConnAck()))])
        #expect(cleanStart.connectionClosed() == [])

        var expiring = MQTTProperties()
        expiring.sessionExpiryInterval = 30
        var v5 = connected(.v5, properties: expiring)
        #expect(v5.received(.disconnect(MQTTDisconnect()), now: at(1)) == [.keepSession(MQTTSessionState(), expiry: 30), .close(sending: nil)])
    }

    @Test func takeOverHandsTheSessionOn() {
        let will = MQTTWill(topic: telemetry, payload: ByteBuffer(string: "gone"))
        var v5 = connected(.v5, will: will)
        #expect(v5.takenOver() == [.store(topic: telemetry, payload: will.payload, packetIdentifier: nil), disconnect(.sessionTakenOver)])
        #expect(v5.takenOver() == [])
        var v311 = connected(.v3_1_1, cleanStart: false)
        _ = v311.received(subscribe([commands]), now: at(1))
        #expect(v311.takenOver() == [.keepSession(MQTTSessionState(subscriptions: [commands: .atLeastOnce]), expiry: 600), .close(sending: nil)])
        var authenticating = Machine(limits: limits, now: at(0))
        _ = authenticating.received(connectPacket(.v5), now: at(0))
        #expect(authenticating.takenOver() == [])
    }

    @Test func sessionExpiryIsCappedAndCannotBeRaisedFromZeroAtDisconnect() {
        var machine = Machine(limits: limits, now: at(0))
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = UInt32.max
        _ = machine.received(connectPacket(.v5, properties: properties), now: at(0))
        guard case .send(.connAck(let connAck)) = machine.authenticated(deviceID: "d1", restoring: nil, now: at(0)).first else {
            Issue.record("no CONNACK")
            return
        }
        #expect(connAck.properties.sessionExpiryInterval == 600)

        var zero = connected(.v5)
        var raise = MQTTProperties()
        raise.sessionExpiryInterval = 60
        #expect(zero.received(.disconnect(MQTTDisconnect(properties: raise)), now: at(1)) == [disconnect(.protocolError)])
    }

    @Test func packetsOnlyAServerSendsAreProtocolErrors() {
        for packet: MQTTPacket in [.connAck(MQTTConnAck()), .pingResp, .subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.success])), .auth(MQTTAuth())] {
            var machine = connected(.v5)
            #expect(machine.received(packet, now: at(1)) == [disconnect(.protocolError)], "\(packet.kind)")
        }
    }
}
