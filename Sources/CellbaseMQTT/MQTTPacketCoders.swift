import NIOCore

/// Turns inbound bytes into ``MQTTPacket``s: a thin shell around ``MQTTPacketParser``. A protocol error
/// is thrown into the pipeline as an ``MQTTProtocolError``; the handler after it decides how to answer.
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    public private(set) var parser: MQTTPacketParser

    public init(parser: MQTTPacketParser) {
        self.parser = parser
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        try parser.parse(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        try parser.parse(&buffer)
    }
}

/// Writes ``MQTTPacket``s in one protocol version, for a peer whose version is known up front (a
/// client). The server learns the version from CONNECT and encodes through ``MQTTPacket/write(to:version:)``.
public struct MQTTPacketEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public let version: MQTTProtocolVersion

    public init(version: MQTTProtocolVersion) {
        self.version = version
    }

    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try data.write(to: &out, version: version)
    }
}
