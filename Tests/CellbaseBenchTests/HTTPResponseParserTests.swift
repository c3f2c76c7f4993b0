import CellbaseBench
import NIOCore
import Testing

@Suite("HTTP response parser")
struct HTTPResponseParserTests {
    /// Parses `input` in pieces of `step` bytes, as a socket might deliver it.
    static func parse(_ input: String, keepsBodies: Bool = true, step: Int) throws -> [ParsedResponse] {
        var parser = HTTPResponseParser(keepsBodies: keepsBodies)
        var buffer = ByteBuffer()
        var responses: [ParsedResponse] = []
        let bytes = Array(input.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + step, bytes.count)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            while let response = try parser.next(from: &buffer) { responses.append(response) }
        }
        #expect(buffer.readableBytes == 0, "bytes left over")
        return responses
    }

    static let keepAlive = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 13\r\n\r\n[{\"id\":1}]   "
    static let chunked = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;name=x\r\nhello\r\nA\r\n, world..!\r\n0\r\nX-Trailer: 1\r\n\r\n"
    static let continued = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"

    @Test(arguments: [1, 2, 7, 64, 100_000])
    func responsesComeOutWholeHoweverTheBytesArrive(step: Int) throws {
        let responses = try Self.parse(Self.keepAlive + Self.chunked + Self.continued + Self.keepAlive, step: step)
        #expect(responses.map(\.status) == [200, 201, 204, 200])
        #expect(responses.map { $0.body.map { String(buffer: $0) } } == ["[{\"id\":1}]   ", "hello, world..!", "", "[{\"id\":1}]   "])
        #expect(responses.map(\.closesConnection) == [false, false, true, false])
    }

    @Test func bodiesAreSkippedUnlessKept() throws {
        let responses = try Self.parse(Self.keepAlive + Self.chunked, keepsBodies: false, step: 3)
        #expect(responses.map(\.status) == [200, 201])
        #expect(responses.allSatisfy { $0.body == nil })
    }

    @Test func connectionHeaderDecidesKeepAlive() throws {
        let old = try Self.parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", step: 100)
        let oldKept = try Self.parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", step: 100)
        let closed = try Self.parse("HTTP/1.1 503 Service Unavailable\r\nConnection: Close\r\nContent-Length: 2\r\n\r\n{}", step: 100)
        #expect(old.map(\.closesConnection) == [true])
        #expect(oldKept.map(\.closesConnection) == [false])
        #expect(closed.map(\.closesConnection) == [true] && closed.map(\.status) == [503])
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2p1 Debian\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
    ])
    func malformedResponsesAreRefused(input: String) {
        #expect(throws: HTTPResponseParseError.self) { try Self.parse(input, step: 100) }
    }

    @Test func headsAndKeptBodiesAreBounded() {
        let endlessHead = "HTTP/1.1 200 OK\r\nX-Filler: " + String(repeating: "a", count: HTTPResponseParser.maxHeadBytes)
        #expect(throws: HTTPResponseParseError.self) { try Self.parse(endlessHead, step: 4096) }
        let largeBody = "HTTP/1.1 200 OK\r\nContent-Length: \(HTTPResponseParser.maxKeptBodyBytes + 1)\r\n\r\n"
        #expect(throws: HTTPResponseParseError.self) { try Self.parse(largeBody, keepsBodies: true, step: 100) }
        #expect(throws: Never.self) { try Self.parse(largeBody, keepsBodies: false, step: 100) }
        let largeChunks = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n80000\r\n" + String(repeating: "a", count: 0x80000) + "\r\n80001\r\n"
        #expect(throws: HTTPResponseParseError.self) { try Self.parse(largeChunks, keepsBodies: true, step: 65536) }
    }
}
