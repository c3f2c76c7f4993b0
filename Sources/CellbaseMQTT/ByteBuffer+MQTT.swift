import NIOCore

/// Reads and writes of the MQTT data representations (§1.5). Reads throw a protocol error instead of
/// returning `nil`, because inside a packet whose length is known a short read is a malformed packet.
extension ByteBuffer {
    mutating func readMQTTByte() throws(MQTTProtocolError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .malformed(.truncatedPacket) }
        return value
    }

    mutating func readMQTTTwoByteInteger() throws(MQTTProtocolError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .malformed(.truncatedPacket) }
        return value
    }

    mutating func readMQTTFourByteInteger() throws(MQTTProtocolError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .malformed(.truncatedPacket) }
        return value
    }

    /// A packet identifier, which MQTT requires to be non-zero (§2.2.1).
    mutating func readMQTTPacketIdentifier() throws(MQTTProtocolError) -> UInt16 {
        let identifier = try readMQTTTwoByteInteger()
        guard identifier != 0 else { throw .protocolError(.zeroPacketIdentifier) }
        return identifier
    }

    /// A Variable Byte Integer inside a packet body, where running out of bytes is malformed.
    mutating func readMQTTVariableByteInteger() throws(MQTTProtocolError) -> Int {
        switch try peekMQTTVariableByteInteger() {
        case .value(let value, let length):
            moveReaderIndex(forwardBy: length)
            return value
        case .needMoreData:
            throw .malformed(.truncatedPacket)
        }
    }

    enum VariableByteIntegerPeek {
        case value(Int, length: Int)
        case needMoreData
    }

    /// Decodes a Variable Byte Integer at the reader index without consuming it. More than four bytes,
    /// or a longer encoding than the value needs (§1.5.5), is malformed.
    func peekMQTTVariableByteInteger(at offset: Int = 0) throws(MQTTProtocolError) -> VariableByteIntegerPeek {
        var value = 0
        for position in 0..<4 {
            guard let byte = getInteger(at: readerIndex + offset + position, as: UInt8.self) else { return .needMoreData }
            value |= Int(byte & 0x7F) << (7 * position)
            if byte & 0x80 == 0 {
                if position > 0 && byte == 0 { throw .malformed(.malformedVariableByteInteger) }
                return .value(value, length: position + 1)
            }
        }
        throw .malformed(.malformedVariableByteInteger)
    }

    /// A UTF-8 Encoded String: well-formed UTF-8 without U+0000 (§1.5.4).
    mutating func readMQTTString() throws(MQTTProtocolError) -> String {
        let length = Int(try readMQTTTwoByteInteger())
        guard let bytes = readSlice(length: length) else { throw .malformed(.truncatedPacket) }
        let view = bytes.readableBytesView
        guard !view.contains(0) else { throw .malformed(.nullCharacter) }
        guard let string = String(validating: view, as: UTF8.self) else { throw .malformed(.invalidUTF8) }
        return string
    }

    mutating func readMQTTBinaryData() throws(MQTTProtocolError) -> ByteBuffer {
        let length = Int(try readMQTTTwoByteInteger())
        guard let bytes = readSlice(length: length) else { throw .malformed(.truncatedPacket) }
        return bytes
    }

    @discardableResult
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= MQTTLimits.maximumVariableByteInteger)
        var remaining = value
        var written = 0
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            written += writeInteger(byte)
        } while remaining > 0
        return written
    }

    mutating func writeMQTTString(_ string: String) throws(MQTTEncodingError) {
        let count = string.utf8.count
        guard count <= Int(UInt16.max) else { throw MQTTEncodingError.fieldTooLong }
        writeInteger(UInt16(count))
        writeString(string)
    }

    mutating func writeMQTTBinaryData(_ data: ByteBuffer) throws(MQTTEncodingError) {
        guard data.readableBytes <= Int(UInt16.max) else { throw MQTTEncodingError.fieldTooLong }
        writeInteger(UInt16(data.readableBytes))
        writeImmutableBuffer(data)
    }
}

/// Sizes fixed by the specification.
public enum MQTTLimits {
    /// The largest value a Variable Byte Integer holds, and so the largest remaining length: 256 MB − 1.
    public static let maximumVariableByteInteger = 268_435_455
    /// The largest whole packet: one type byte, four length bytes and the largest remaining length.
    public static let maximumPacketSize = 1 + 4 + maximumVariableByteInteger
}

/// A packet that cannot be put on the wire: a string or binary field over 65,535 bytes, or a packet over
/// the largest remaining length.
public struct MQTTEncodingError: Error, Hashable, Sendable {
    private enum Base: Hashable, Sendable { case fieldTooLong, packetTooLarge }
    private let base: Base

    public static let fieldTooLong = MQTTEncodingError(base: .fieldTooLong)
    public static let packetTooLarge = MQTTEncodingError(base: .packetTooLarge)
}
