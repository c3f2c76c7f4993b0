import NIOCore

extension ByteBuffer {
    /// Writes a command the way clients send them: an array of bulk strings. Returns the bytes written.
    @discardableResult
    public mutating func writeRESPCommand(_ arguments: some Collection<ByteBuffer>) -> Int {
        var written = self.writeRESPHeader(UInt8(ascii: "*"), arguments.count)
        for argument in arguments {
            written += self.writeRESPBulkString(argument)
        }
        return written
    }

    /// Writes any RESP2 value. Simple strings and errors must not contain CR or LF: RESP2 cannot carry them.
    @discardableResult
    public mutating func writeRESPValue(_ value: RESPValue) -> Int {
        switch value {
        case .simpleString(let text):
            return self.writeRESPLine(UInt8(ascii: "+"), text)
        case .error(let text):
            return self.writeRESPLine(UInt8(ascii: "-"), text)
        case .integer(let integer):
            return self.writeRESPHeader(UInt8(ascii: ":"), integer)
        case .bulkString(let bytes?):
            return self.writeRESPBulkString(bytes)
        case .bulkString(nil):
            return self.writeRESPHeader(UInt8(ascii: "$"), -1)
        case .array(let elements?):
            var written = self.writeRESPHeader(UInt8(ascii: "*"), elements.count)
            for element in elements {
                written += self.writeRESPValue(element)
            }
            return written
        case .array(nil):
            return self.writeRESPHeader(UInt8(ascii: "*"), -1)
        }
    }

    private mutating func writeRESPBulkString(_ bytes: ByteBuffer) -> Int {
        var bytes = bytes
        return self.writeRESPHeader(UInt8(ascii: "$"), bytes.readableBytes)
            + self.writeBuffer(&bytes)
            + self.writeStaticString("\r\n")
    }

    private mutating func writeRESPHeader(_ type: UInt8, _ number: Int) -> Int {
        self.writeRESPLine(type, String(number))
    }

    private mutating func writeRESPLine(_ type: UInt8, _ text: String) -> Int {
        self.writeInteger(type) + self.writeString(text) + self.writeStaticString("\r\n")
    }
}
