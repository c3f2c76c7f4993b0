import ArgumentParser
import NIOCore

/// The MQTT protocol version a bench client speaks.
public enum MQTTVersion: String, Sendable, CaseIterable, ExpressibleByArgument {
    case v311 = "3.1.1"
    case v5 = "5"

    /// The protocol level byte of CONNECT.
    var level: UInt8 {
        switch self {
        case .v311: 4
        case .v5: 5
        }
    }
}

/// The few MQTT packets a load generator sends, written out byte by byte.
///
/// The bench stays apart from the node's own MQTT codec on purpose: it measures the node, so it
/// must not share the node's idea of the protocol. Only what a QoS 1 publisher and one subscriber
/// need is here.
enum MQTTFrames {
    /// CONNECT with clean start, the given keep-alive, and a username and password when given.
    static func connect(clientID: String, username: String?, password: String?, keepAlive: UInt16, version: MQTTVersion) -> ByteBuffer {
        var body = ByteBuffer()
        writeString("MQTT", to: &body)
        body.writeInteger(version.level)
        var flags: UInt8 = 0x02
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        body.writeInteger(flags)
        body.writeInteger(keepAlive)
        if version == .v5 { body.writeInteger(UInt8(0)) }
        writeString(clientID, to: &body)
        if let username { writeString(username, to: &body) }
        if let password { writeString(password, to: &body) }
        return packet(0x10, body)
    }

    /// PUBLISH at QoS 1, not retained.
    static func publish(topic: String, packetID: UInt16, payload: ByteBuffer, version: MQTTVersion) -> ByteBuffer {
        var body = ByteBuffer()
        writeString(topic, to: &body)
        body.writeInteger(packetID)
        if version == .v5 { body.writeInteger(UInt8(0)) }
        var payload = payload
        body.writeBuffer(&payload)
        return packet(0x32, body)
    }

    /// SUBSCRIBE to one filter at QoS 1.
    static func subscribe(filter: String, packetID: UInt16, version: MQTTVersion) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(packetID)
        if version == .v5 { body.writeInteger(UInt8(0)) }
        writeString(filter, to: &body)
        body.writeInteger(UInt8(1))
        return packet(0x82, body)
    }

    /// PUBACK with success; in both versions the two-byte form means success.
    static func puback(packetID: UInt16) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(packetID)
        return packet(0x40, body)
    }

    static func pingreq() -> ByteBuffer {
        packet(0xC0, ByteBuffer())
    }

    static func disconnect() -> ByteBuffer {
        packet(0xE0, ByteBuffer())
    }

    private static func packet(_ firstByte: UInt8, _ body: ByteBuffer) -> ByteBuffer {
        var body = body
        var buffer = ByteBuffer()
        buffer.reserveCapacity(body.readableBytes + 5)
        buffer.writeInteger(firstByte)
        var length = body.readableBytes
        repeat {
            var digit = UInt8(length % 128)
            length /= 128
            if length > 0 { digit |= 0x80 }
            buffer.writeInteger(digit)
        } while length > 0
        buffer.writeBuffer(&body)
        return buffer
    }

    private static func writeString(_ string: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(string.utf8.count))
        buffer.writeString(string)
    }
}

/// A packet the server sent, cut out of the byte stream: its type, the flags of its first byte,
/// and what follows the fixed header.
struct MQTTFrame: Sendable, Equatable {
    var type: UInt8
    var flags: UInt8
    var body: ByteBuffer

    static let connack: UInt8 = 2
    static let publish: UInt8 = 3
    static let puback: UInt8 = 4
    static let suback: UInt8 = 9
    static let pingresp: UInt8 = 13
    static let disconnect: UInt8 = 14

    /// CONNACK's return code (3.1.1) or reason code (5.0): 0 is success.
    var connackCode: UInt8? {
        guard type == Self.connack, body.readableBytes >= 2 else { return nil }
        return body.getInteger(at: body.readerIndex + 1)
    }

    /// The packet id of a PUBACK or SUBACK, or of a QoS 1 PUBLISH.
    var packetID: UInt16? {
        switch type {
        case Self.puback, Self.suback:
            return body.getInteger(at: body.readerIndex)
        case Self.publish where flags & 0x06 != 0:
            guard let topicLength: UInt16 = body.getInteger(at: body.readerIndex) else { return nil }
            return body.getInteger(at: body.readerIndex + 2 + Int(topicLength))
        default:
            return nil
        }
    }

    /// PUBACK's reason code: absent (two-byte PUBACK) means success.
    var pubackReason: UInt8? {
        guard type == Self.puback else { return nil }
        return body.readableBytes > 2 ? body.getInteger(at: body.readerIndex + 2) : 0
    }

    /// The return code of SUBACK's one subscription: 0–2 granted QoS, 0x80 and above refused.
    func subackCode(version: MQTTVersion) -> UInt8? {
        guard type == Self.suback else { return nil }
        var offset = 2
        if version == .v5 {
            guard let length = MQTTFrameSplitter.variableInteger(in: body, at: body.readerIndex + 2) else { return nil }
            offset += length.size + length.value
        }
        return body.getInteger(at: body.readerIndex + offset)
    }
}

struct MQTTFrameError: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String
}

/// Cuts whole MQTT packets out of the bytes a socket delivers, however they are split.
struct MQTTFrameSplitter {
    /// Larger packets are refused rather than buffered: the bench never asks for big ones.
    let maximumPacketSize: Int

    init(maximumPacketSize: Int = 1 << 20) {
        self.maximumPacketSize = maximumPacketSize
    }

    mutating func next(from buffer: inout ByteBuffer) throws(MQTTFrameError) -> MQTTFrame? {
        guard let first: UInt8 = buffer.getInteger(at: buffer.readerIndex) else { return nil }
        guard let length = Self.variableInteger(in: buffer, at: buffer.readerIndex + 1) else {
            if buffer.readableBytes >= 5 { throw MQTTFrameError(description: "malformed remaining length") }
            return nil
        }
        guard length.value <= maximumPacketSize else {
            throw MQTTFrameError(description: "a packet of \(length.value) bytes is larger than \(maximumPacketSize)")
        }
        guard buffer.readableBytes >= 1 + length.size + length.value else { return nil }
        buffer.moveReaderIndex(forwardBy: 1 + length.size)
        let body = buffer.readSlice(length: length.value)!
        return MQTTFrame(type: first >> 4, flags: first & 0x0F, body: body)
    }

    /// A variable byte integer at `index`: its value and how many bytes it took, or `nil` when
    /// incomplete or longer than the four bytes MQTT allows.
    static func variableInteger(in buffer: ByteBuffer, at index: Int) -> (value: Int, size: Int)? {
        var value = 0
        var multiplier = 1
        for size in 1...4 {
            guard let digit: UInt8 = buffer.getInteger(at: index + size - 1) else { return nil }
            value += Int(digit & 0x7F) * multiplier
            if digit & 0x80 == 0 { return (value, size) }
            multiplier *= 128
        }
        return nil
    }
}
