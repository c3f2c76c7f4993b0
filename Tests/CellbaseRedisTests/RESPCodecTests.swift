import CellbaseRedis
import NIOCore
import NIOEmbedded
import Testing

/// One of each kind of value, including both nulls, empty values, binary payloads holding CRLF and nesting.
let sampleValues: [RESPValue] = [
    .simpleString("OK"),
    .simpleString(""),
    .error("ERR unknown command 'FOO'"),
    .integer(0),
    .integer(-1),
    .integer(Int.max),
    .integer(Int.min),
    .bulkString("hello"),
    .bulkString(ByteBuffer()),
    .bulkString(nil),
    .bulkString(ByteBuffer(bytes: [0, 13, 10, 255, 36, 42])),
    .array([]),
    .array(nil),
    .array([.integer(1), .bulkString("a"), .array([.bulkString(nil), .array(nil), .array([])]), .simpleString("x"), .error("E")]),
]

func encoded(_ values: [RESPValue]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for value in values {
        buffer.writeRESPValue(value)
    }
    return buffer
}

/// Decodes `chunks`, fed one after the other, through the real channel handler.
func decode(_ chunks: [ByteBuffer], limits: RESPParser.Limits = RESPParser.Limits()) throws -> [RESPValue] {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder(limits: limits)))
    var values: [RESPValue] = []
    for chunk in chunks {
        try channel.writeInbound(chunk)
        while let value = try channel.readInbound(as: RESPValue.self) {
            values.append(value)
        }
    }
    return values
}

@Suite struct RESPCodecTests {
    @Test(arguments: sampleValues)
    func roundTrip(value: RESPValue) throws {
        var buffer = encoded([value])
        let parsed = try RESPParser().parse(&buffer)
        #expect(parsed == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test func wireFormat() {
        #expect(encoded([.simpleString("OK")]) == ByteBuffer(string: "+OK\r\n"))
        #expect(encoded([.error("ERR x")]) == ByteBuffer(string: "-ERR x\r\n"))
        #expect(encoded([.integer(-42)]) == ByteBuffer(string: ":-42\r\n"))
        #expect(encoded([.bulkString("hi")]) == ByteBuffer(string: "$2\r\nhi\r\n"))
        #expect(encoded([.bulkString(nil)]) == ByteBuffer(string: "$-1\r\n"))
        #expect(encoded([.array(nil)]) == ByteBuffer(string: "*-1\r\n"))
        #expect(encoded([.array([.integer(1)])]) == ByteBuffer(string: "*1\r\n:1\r\n"))
    }

    @Test func commandIsAnArrayOfBulkStrings() {
        var buffer = ByteBuffer()
        let written = buffer.writeRESPCommand([ByteBuffer(string: "SET"), ByteBuffer(string: "k"), ByteBuffer(string: "")])
        #expect(buffer == ByteBuffer(string: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"))
        #expect(written == buffer.readableBytes)
    }

    @Test func commandEncoderInAPipeline() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(RESPCommandEncoder()))
        try channel.writeOutbound([ByteBuffer(string: "PING")])
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "*1\r\n$4\r\nPING\r\n"))
    }

    @Test func streamOfValuesDecodesInOneChunk() throws {
        #expect(try decode([encoded(sampleValues)]) == sampleValues)
    }

    @Test func streamFedOneByteAtATime() throws {
        let stream = encoded(sampleValues)
        let bytes = stream.readableBytesView.map { ByteBuffer(bytes: [$0]) }
        #expect(try decode(bytes) == sampleValues)
    }

    @Test func streamSplitAtEveryBoundary() throws {
        let stream = encoded(sampleValues)
        for split in 0...stream.readableBytes {
            let head = stream.getSlice(at: stream.readerIndex, length: split) ?? ByteBuffer()
            let tail = stream.getSlice(at: stream.readerIndex + split, length: stream.readableBytes - split) ?? ByteBuffer()
            #expect(try decode([head, tail]) == sampleValues, "split at \(split)")
        }
    }

    @Test(arguments: sampleValues)
    func everyProperPrefixNeedsMoreDataAndConsumesNothing(value: RESPValue) throws {
        let full = encoded([value])
        for length in 0..<full.readableBytes {
            var prefix = full.getSlice(at: full.readerIndex, length: length) ?? ByteBuffer()
            #expect(try RESPParser().parse(&prefix) == nil, "prefix of \(length) bytes")
            #expect(prefix.readableBytes == length)
        }
    }

    @Test func nestingUpToTheLimitParses() throws {
        var buffer = ByteBuffer(string: String(repeating: "*1\r\n", count: 32) + ":1\r\n")
        var expected = RESPValue.integer(1)
        for _ in 0..<32 {
            expected = .array([expected])
        }
        #expect(try RESPParser().parse(&buffer) == expected)
    }

    @Test func limitsAreInclusive() throws {
        let limits = RESPParser.Limits(maxBulkLength: 3, maxArrayElements: 2, maxLineLength: 4)
        var bulk = ByteBuffer(string: "$3\r\nabc\r\n")
        #expect(try RESPParser(limits: limits).parse(&bulk) == .bulkString("abc"))
        var array = ByteBuffer(string: "*2\r\n:1\r\n:2\r\n")
        #expect(try RESPParser(limits: limits).parse(&array) == .array([.integer(1), .integer(2)]))
        var line = ByteBuffer(string: "+abcd\r\n")
        #expect(try RESPParser(limits: limits).parse(&line) == .simpleString("abcd"))
    }

    @Test func bulkPayloadMayHoldAnyBytes() throws {
        var buffer = ByteBuffer(string: "$7\r\n\r\n$-1\r\n\r\n+")
        #expect(try RESPParser().parse(&buffer) == .bulkString("\r\n$-1\r\n"))
        #expect(buffer.readableBytes == 1)
    }
}

struct MalformedRESP: CustomTestStringConvertible, Sendable {
    var name: String
    var input: String
    var code: RESPError.Code
    var limits = RESPParser.Limits()

    var testDescription: String { self.name }
}

let malformedRESP: [MalformedRESP] = [
    MalformedRESP(name: "bad type byte", input: "?OK\r\n", code: .unknownType),
    MalformedRESP(name: "RESP3 null", input: "_\r\n", code: .unknownType),
    MalformedRESP(name: "bare CRLF", input: "\r\n", code: .unknownType),
    MalformedRESP(name: "non-numeric bulk length", input: "$abc\r\n", code: .invalidLength),
    MalformedRESP(name: "empty bulk length", input: "$\r\n", code: .invalidLength),
    MalformedRESP(name: "bulk length with a plus sign", input: "$+3\r\nabc\r\n", code: .invalidLength),
    MalformedRESP(name: "bulk length -2", input: "$-2\r\n", code: .invalidLength),
    MalformedRESP(name: "array length -5", input: "*-5\r\n", code: .invalidLength),
    MalformedRESP(name: "non-numeric array length", input: "*x\r\n", code: .invalidLength),
    MalformedRESP(name: "array length overflowing Int", input: "*99999999999999999999\r\n", code: .invalidLength),
    MalformedRESP(name: "CR without LF", input: "+OK\rX", code: .missingCRLF),
    MalformedRESP(name: "LF without CR", input: "+OK\n", code: .missingCRLF),
    MalformedRESP(name: "length line with LF only", input: "$3\nabc\r\n", code: .missingCRLF),
    MalformedRESP(name: "bulk without trailing CRLF", input: "$3\r\nabcXY", code: .missingCRLF),
    MalformedRESP(name: "bulk longer than declared", input: "$2\r\nabc\r\n", code: .missingCRLF),
    MalformedRESP(name: "bulk length over the limit", input: "$17\r\n", code: .bulkTooLong, limits: .init(maxBulkLength: 16)),
    MalformedRESP(name: "bulk length over the default limit", input: "$16777217\r\n", code: .bulkTooLong),
    MalformedRESP(name: "bulk length of 512 MiB", input: "$536870912\r\n", code: .bulkTooLong),
    MalformedRESP(name: "array over the element limit", input: "*3\r\n", code: .tooManyElements, limits: .init(maxArrayElements: 2)),
    MalformedRESP(name: "nesting deeper than 32", input: String(repeating: "*1\r\n", count: 33) + ":1\r\n", code: .nestingTooDeep),
    MalformedRESP(name: "nesting deeper than 2", input: "*1\r\n*1\r\n*1\r\n:1\r\n", code: .nestingTooDeep, limits: .init(maxDepth: 2)),
    MalformedRESP(name: "integer with a trailing letter", input: ":12x\r\n", code: .invalidInteger),
    MalformedRESP(name: "empty integer", input: ":\r\n", code: .invalidInteger),
    MalformedRESP(name: "lone minus", input: ":-\r\n", code: .invalidInteger),
    MalformedRESP(name: "integer overflowing Int", input: ":9223372036854775808\r\n", code: .invalidInteger),
    MalformedRESP(name: "integer with spaces", input: ": 1\r\n", code: .invalidInteger),
    MalformedRESP(name: "simple string over the line limit", input: "+" + String(repeating: "a", count: 11), code: .lineTooLong,
                  limits: .init(maxLineLength: 10)),
    MalformedRESP(name: "endless length line", input: "$" + String(repeating: "1", count: 150), code: .lineTooLong,
                  limits: .init(maxLineLength: 100)),
    MalformedRESP(name: "malformed element inside an array", input: "*2\r\n:1\r\n$x\r\n", code: .invalidLength),
    MalformedRESP(name: "bad type byte inside an array", input: "*1\r\n!\r\n", code: .unknownType),
]

@Suite struct RESPMalformedTests {
    @Test(arguments: malformedRESP)
    func parserThrows(_ malformed: MalformedRESP) {
        var buffer = ByteBuffer(string: malformed.input)
        let error = #expect(throws: RESPError.self) {
            try RESPParser(limits: malformed.limits).parse(&buffer)
        }
        #expect(error?.code == malformed.code)
        #expect(error?.message.isEmpty == false)
    }

    @Test(arguments: malformedRESP)
    func decoderFedOneByteAtATimeThrows(_ malformed: MalformedRESP) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder(limits: malformed.limits)))
        var thrown: (any Error)?
        for byte in ByteBuffer(string: malformed.input).readableBytesView {
            do {
                try channel.writeInbound(ByteBuffer(bytes: [byte]))
            } catch {
                thrown = error
                break
            }
        }
        #expect((thrown as? RESPError)?.code == malformed.code)
    }

    @Test func valuesBeforeMalformedInputAreDelivered() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
        #expect(throws: RESPError.self) {
            try channel.writeInbound(ByteBuffer(string: "+OK\r\n:1\r\n:x\r\n"))
        }
        #expect(try channel.readInbound(as: RESPValue.self) == .simpleString("OK"))
        #expect(try channel.readInbound(as: RESPValue.self) == .integer(1))
        #expect(try channel.readInbound(as: RESPValue.self) == nil)
    }
}
