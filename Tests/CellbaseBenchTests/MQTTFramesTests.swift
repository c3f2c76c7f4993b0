@testable import CellbaseBench
import NIOCore
import Testing

@Suite("bench MQTT frames")
struct MQTTFramesTests {
    static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    @Test func connectIsWrittenAsTheSpecificationLaysItOut() {
        let v311 = MQTTFrames.connect(clientID: "d1", username: "u", password: "p", keepAlive: 60, version: .v311)
        #expect(Self.bytes(v311) == [
            0x10, 20,
            0, 4, 0x4D, 0x51, 0x54, 0x54, // "MQTT"
            4, 0xC2, 0, 60, // level 4; username, password, clean session; keep-alive 60
            0, 2, 0x64, 0x31, // client id "d1"
            0, 1, 0x75, // username
            0, 1, 0x70, // password
        ])
        let v5 = MQTTFrames.connect(clientID: "d1", username: nil, password: nil, keepAlive: 0, version: .v5)
        #expect(Self.bytes(v5) == [0x10, 15, 0, 4, 0x4D, 0x51, 0x54, 0x54, 5, 0x02, 0, 0, 0, 0, 2, 0x64, 0x31])
    }

    @Test func publishAndSubscribeCarryTheirPacketIDs() {
        let publish = MQTTFrames.publish(topic: "a/b", packetID: 0x0102, payload: ByteBuffer(string: "{}"), version: .v311)
        #expect(Self.bytes(publish) == [0x32, 9, 0, 3, 0x61, 0x2F, 0x62, 1, 2, 0x7B, 0x7D])
        let publish5 = MQTTFrames.publish(topic: "a", packetID: 7, payload: ByteBuffer(), version: .v5)
        #expect(Self.bytes(publish5) == [0x32, 6, 0, 1, 0x61, 0, 7, 0])
        let subscribe = MQTTFrames.subscribe(filter: "d/+", packetID: 1, version: .v5)
        #expect(Self.bytes(subscribe) == [0x82, 9, 0, 1, 0, 0, 3, 0x64, 0x2F, 0x2B, 1])
        #expect(Self.bytes(MQTTFrames.puback(packetID: 258)) == [0x40, 2, 1, 2])
        #expect(Self.bytes(MQTTFrames.disconnect()) == [0xE0, 0])
    }

    @Test func aLongPayloadTakesAMultiByteRemainingLength() throws {
        let payload = ByteBuffer(repeating: 0x41, count: 200)
        let publish = MQTTFrames.publish(topic: "t", packetID: 1, payload: payload, version: .v311)
        // 2 + 1 + 2 + 200 = 205 = 0x4D + 1 × 128
        #expect(Array(Self.bytes(publish).prefix(3)) == [0x32, 0xCD, 0x01])
        var splitter = MQTTFrameSplitter()
        var buffer = publish
        let frame = try #require(try splitter.next(from: &buffer))
        #expect(frame.type == MQTTFrame.publish && frame.body.readableBytes == 205 && frame.packetID == 1)
    }

    /// CONNACK, PUBACK (both forms), SUBACK of both versions, PINGRESP, as a server sends them.
    static let serverBytes: [UInt8] = [
        0x20, 2, 0, 0, // CONNACK accepted
        0x40, 2, 0, 9, // PUBACK 9, success
        0x40, 4, 0, 10, 0x87, 0, // PUBACK 10, not authorized (5.0)
        0x90, 3, 0, 1, 1, // SUBACK 3.1.1, QoS 1 granted
        0xD0, 0, // PINGRESP
        0x20, 3, 0, 0x86, 0, // CONNACK 5.0, bad user name or password
    ]

    @Test(arguments: [1, 2, 3, 5, 100])
    func framesComeOutWholeHoweverTheBytesArrive(step: Int) throws {
        var splitter = MQTTFrameSplitter()
        var buffer = ByteBuffer()
        var frames: [MQTTFrame] = []
        var offset = 0
        while offset < Self.serverBytes.count {
            let end = min(offset + step, Self.serverBytes.count)
            buffer.writeBytes(Self.serverBytes[offset..<end])
            offset = end
            while let frame = try splitter.next(from: &buffer) { frames.append(frame) }
        }
        #expect(buffer.readableBytes == 0)
        #expect(frames.map(\.type) == [2, 4, 4, 9, 13, 2])
        #expect(frames[0].connackCode == 0 && frames[5].connackCode == 0x86)
        #expect(frames[1].packetID == 9 && frames[1].pubackReason == 0)
        #expect(frames[2].packetID == 10 && frames[2].pubackReason == 0x87)
        #expect(frames[3].packetID == 1 && frames[3].subackCode(version: .v311) == 1)
        #expect(frames[4].connackCode == nil && frames[4].packetID == nil)
    }

    @Test func aVersion5SubackSkipsItsProperties() throws {
        var splitter = MQTTFrameSplitter()
        var buffer = ByteBuffer(bytes: [0x90, 8, 0, 1, 4, 0x1F, 0, 1, 0x78, 0x87])
        let frame = try #require(try splitter.next(from: &buffer))
        #expect(frame.subackCode(version: .v5) == 0x87)
    }

    @Test func aQoS1PublishFromTheBrokerNamesItsPacketID() throws {
        var splitter = MQTTFrameSplitter()
        var buffer = ByteBuffer(bytes: [0x32, 7, 0, 1, 0x74, 0x12, 0x34, 0x7B, 0x7D])
        let frame = try #require(try splitter.next(from: &buffer))
        #expect(frame.packetID == 0x1234)
        var qos0 = ByteBuffer(bytes: [0x30, 3, 0, 1, 0x74])
        #expect(try splitter.next(from: &qos0)?.packetID == nil)
    }

    @Test func malformedAndOversizedPacketsAreRefused() throws {
        var splitter = MQTTFrameSplitter(maximumPacketSize: 100)
        var fiveLengthBytes = ByteBuffer(bytes: [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: MQTTFrameError.self) { try splitter.next(from: &fiveLengthBytes) }
        var fourContinuations = ByteBuffer(bytes: [0x30, 0x80, 0x80, 0x80, 0x80])
        #expect(throws: MQTTFrameError.self) { try splitter.next(from: &fourContinuations) }
        var tooLarge = ByteBuffer(bytes: [0x30, 0x80, 0x01])
        #expect(throws: MQTTFrameError(description: "a packet of 128 bytes is larger than 100")) { try splitter.next(from: &tooLarge) }
        var incomplete = ByteBuffer(bytes: [0x30, 0x80])
        #expect(try splitter.next(from: &incomplete) == nil)
        #expect(incomplete.readableBytes == 2)
    }
}
