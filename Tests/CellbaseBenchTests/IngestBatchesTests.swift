import CellbaseBench
import FoundationEssentials
import NIOCore
import Testing

@Suite("http-ingest batches")
struct IngestBatchesTests {
    /// The request line, headers and body of an encoded request.
    static func split(_ request: ByteBuffer) -> (head: String, body: String) {
        let text = String(buffer: request)
        let parts = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), String(parts[1]))
    }

    @Test func jsonBatchesCarryTheirPointsWithTimesThatNeverRepeat() throws {
        var batches = IngestBatches(host: "h:1", key: "k", device: "bench-3", pointsPerRequest: 6, format: .json, startMillis: 1_700_000_000_000)
        let first = Self.split(batches.next())
        let second = Self.split(batches.next())
        #expect(first.head.hasPrefix("POST /telemetry/v1/ingest HTTP/1.1\r\nHost: h:1\r\n"))
        #expect(first.head.contains("Content-Type: application/json") && first.head.contains("Content-Length: \(first.body.utf8.count)"))
        struct Record: Decodable, Equatable { var device: String; var ts: Int64; var temp: Double; var rpm: Int }
        let records = try JSONDecoder().decode([Record].self, from: Data(first.body.utf8)) + JSONDecoder().decode([Record].self, from: Data(second.body.utf8))
        #expect(records.count == 6 && records.allSatisfy { $0.device == "bench-3" })
        #expect(records.map(\.ts) == Array(1_700_000_000_000...1_700_000_000_005))
    }

    @Test func lineProtocolBatchesSayTheirPrecision() {
        var batches = IngestBatches(host: "h", key: "k", device: "d", pointsPerRequest: 4, format: .line, startMillis: 5)
        let request = Self.split(batches.next())
        #expect(request.head.hasPrefix("POST /telemetry/v1/ingest?precision=ms HTTP/1.1"))
        #expect(request.head.contains("Content-Type: text/plain; charset=utf-8"))
        #expect(request.body == "bench,device=d temp=20.5,rpm=1000i 5\nbench,device=d temp=21.5,rpm=1001i 6\n")
    }
}
