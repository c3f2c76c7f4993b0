import Testing
@testable import CellbaseSQL

@Suite struct MultipartParserTests {
    static let body = Array((
        "--XyZ\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/csv\r\n\r\n"
            + "line one --XyZ is no boundary\r\n-- nor this\r\nline two\r\n--XyZ--\r\n"
    ).utf8)

    /// Parts as (headers, body) after feeding `bytes` in chunks of `size`.
    static func parts(_ bytes: [UInt8], chunk size: Int) throws -> [(MultipartPartHeaders, [UInt8])] {
        var parser = MultipartParser(boundary: "XyZ")
        var parts: [(MultipartPartHeaders, [UInt8])] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + size)
            for event in try parser.feed(bytes[index..<end]) {
                switch event {
                case .part(let headers): parts.append((headers, []))
                case .body(let piece): parts[parts.count - 1].1 += piece
                case .partEnd: break
                }
            }
            index = end
        }
        try parser.finish()
        return parts
    }

    @Test(arguments: [1, 2, 3, 7, 16, 1000])
    func partsWhateverTheChunking(_ size: Int) throws {
        let parts = try Self.parts(Self.body, chunk: size)
        #expect(parts.count == 2)
        #expect(parts[0].0.name == "cacheControl")
        #expect(parts[0].1 == Array("3600".utf8))
        #expect(parts[1].0.name == "file")
        #expect(parts[1].0.filename == "a.txt")
        #expect(parts[1].0.contentType == "text/csv")
        #expect(parts[1].1 == Array("line one --XyZ is no boundary\r\n-- nor this\r\nline two".utf8))
    }

    @Test func truncatedBodyFails() throws {
        for cut in [10, 60, Self.body.count - 9, Self.body.count - 3] {
            #expect(throws: MultipartParser.Failure.truncated) { _ = try Self.parts(Array(Self.body.prefix(cut)), chunk: 5) }
        }
    }

    @Test func malformedBoundaryLineFails() {
        let bytes = Array("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZjunk".utf8)
        #expect(throws: MultipartParser.Failure.self) { _ = try Self.parts(bytes, chunk: 100) }
    }

    @Test func oversizedHeadersFail() {
        let bytes = Array(("--XyZ\r\nX-Long: " + String(repeating: "a", count: MultipartParser.maxHeaderBytes + 1)).utf8)
        #expect(throws: MultipartParser.Failure.malformed("a part's headers are longer than \(MultipartParser.maxHeaderBytes) bytes")) {
            _ = try Self.parts(bytes, chunk: 4096)
        }
    }

    @Test func holdsBackNoMoreThanABoundary() throws {
        var parser = MultipartParser(boundary: "XyZ")
        _ = try parser.feed(Array("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".utf8))
        let events = try parser.feed([UInt8](repeating: 65, count: 100))
        let streamed = events.reduce(0) { total, event in if case .body(let bytes) = event { total + bytes.count } else { total } }
        #expect(streamed == 100 - ("\r\n--XyZ".utf8.count - 1))
    }

    @Test func boundaries() {
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(MultipartParser.boundary(contentType: "Multipart/Form-Data; boundary=\"a b\"") == "a b")
        #expect(MultipartParser.boundary(contentType: "application/json") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)) == nil)
    }
}
