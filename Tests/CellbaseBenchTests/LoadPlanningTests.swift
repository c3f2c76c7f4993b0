import CellbaseBench
import Histogram
import NIOCore
import Testing

@Suite("Load planning")
struct LoadPlanningTests {
    @Test func requestsAreEncodedOnce() {
        let get = EncodedRequest.encode(method: "GET", path: "/rest/v1/t?id=eq.1", host: "127.0.0.1:54321", headers: [("apikey", "k")])
        #expect(String(buffer: get) == "GET /rest/v1/t?id=eq.1 HTTP/1.1\r\nHost: 127.0.0.1:54321\r\napikey: k\r\n\r\n")
        let post = EncodedRequest.encode(method: "POST", path: "/x", host: "h", headers: [], body: Array("{}".utf8))
        #expect(String(buffer: post) == "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
    }

    @Test func rotationsCycleFromTheirStart() {
        let requests = (0..<3).map { ByteBuffer(string: "r\($0)") }
        var rotation = RequestRotation(requests, start: 4)
        #expect((0..<5).map { _ in String(buffer: rotation.next()) } == ["r1", "r2", "r0", "r1", "r2"])
    }

    /// Every prefix of the sequence holds the ratio's share of reads, to within one request.
    @Test(arguments: [0.0, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0])
    func mixesKeepTheirRatioThroughout(ratio: Double) {
        var mix = RequestMix(
            reads: RequestRotation([ByteBuffer(string: "read")]), writes: RequestRotation([ByteBuffer(string: "write")]), readRatio: ratio
        )
        var reads = 0
        for sent in 1...2000 {
            if String(buffer: mix.next()) == "read" { reads += 1 }
            #expect(abs(Double(reads) - Double(sent) * ratio) < 1)
        }
        #expect(reads == Int((2000 * ratio).rounded(.down)))
    }

    @Test func refreshChainsFollowTheTokensTheyAreGiven() {
        var chain = RefreshChain(host: "h", apiKey: "anon", refreshToken: "first-token")
        #expect(String(buffer: chain.next()).hasSuffix(#"{"refresh_token":"first-token"}"#))
        #expect(String(buffer: chain.next()).hasPrefix("POST /auth/v1/token?grant_type=refresh_token HTTP/1.1\r\nHost: h\r\napikey: anon\r\n"))
        chain.answered(status: 200, body: ByteBuffer(string: #"{"access_token":"a.b.c","refresh_token":"second_Token-2","user":{}}"#))
        #expect(String(buffer: chain.next()).hasSuffix(#"{"refresh_token":"second_Token-2"}"#))
        // A refused grant, or an answer without a usable token, leaves the chain where it was.
        chain.answered(status: 400, body: ByteBuffer(string: #"{"refresh_token":"third"}"#))
        chain.answered(status: 200, body: ByteBuffer(string: #"{"refresh_token":"has\"escape"}"#))
        chain.answered(status: 200, body: ByteBuffer(string: #"{"refresh_token":""}"#))
        chain.answered(status: 200, body: nil)
        #expect(String(buffer: chain.next()).hasSuffix(#"{"refresh_token":"second_Token-2"}"#))
        #expect(RefreshChain.refreshToken(in: ByteBuffer(string: #"{"token":"x"}"#)) == nil)
    }

    /// All connections' requests together are due exactly every 1/rate, each connection's in turn.
    @Test(arguments: [(1000.0, 1), (1000.0, 64), (333.0, 7), (50_000.0, 16)])
    func openLoopRequestsAreDueAtFixedIntervals(rate: Double, connections: Int) {
        let schedule = OpenLoopSchedule(rate: rate, connections: connections)
        var due: [Int64] = []
        for connection in 0..<connections {
            let own = (0..<50).map { schedule.dueOffset(connection: connection, sequence: $0) }
            #expect(zip(own, own.dropFirst()).allSatisfy { $1 > $0 })
            due += own
        }
        let expected = (0..<(50 * connections)).map { Int64((Double($0) * 1e9 / rate).rounded()) }
        #expect(due.sorted() == expected)
        #expect(schedule.dueOffset(connection: connections - 1, sequence: 0) < schedule.dueOffset(connection: 0, sequence: 1))
    }

    @Test func percentilesComeFromTheHistogram() {
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for microseconds in UInt64(1)...1000 { histogram.record(microseconds) }
        let summary = LatencySummary(histogram)
        #expect(summary == LatencySummary(p50: 0.5, p90: 0.9, p99: 0.99, p999: 0.999, max: 1.0))
        histogram.record(250_000)
        #expect(LatencySummary(histogram).max == 250)
        let empty = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        #expect(LatencySummary(empty) == LatencySummary(p50: 0, p90: 0, p99: 0, p999: 0, max: 0))
    }
}

@Suite("Capacity")
struct CapacityTests {
    @Test(arguments: [
        ("peak=5000,growth=2,safety=1.5", CapacityPlan(peak: 5000, growth: 2, safety: 1.5)),
        ("peak=5000", CapacityPlan(peak: 5000, growth: 2, safety: 1.5)),
        ("safety=1.2, peak=800.5", CapacityPlan(peak: 800.5, growth: 2, safety: 1.2)),
        ("growth=1,peak=1,safety=1", CapacityPlan(peak: 1, growth: 1, safety: 1)),
    ])
    func plansParse(text: String, plan: CapacityPlan) throws {
        #expect(try CapacityPlan(parsing: text) == plan)
    }

    @Test(arguments: ["", "growth=2", "peak=", "peak=0", "peak=-5", "peak=abc", "peak=1,peak=2", "peak=1,margin=2", "peak=1,,", "peak=inf", "peak=nan"])
    func malformedPlansAreRefused(text: String) {
        #expect(throws: CapacityPlanError.self) { try CapacityPlan(parsing: text) }
    }

    @Test(arguments: [
        (5000.0, 2.0, 1.5, 16_324.0, 1),
        (5000.0, 2.0, 1.5, 5000.0, 3),
        (5000.0, 2.0, 1.5, 4999.0, 4),
        (100_000.0, 2.0, 1.5, 16_000.0, 19),
        (1000.0, 1.1, 1.1, 1210.0, 1),
        (0.1, 1.0, 1.0, 1000.0, 1),
    ])
    func nodesAreThePlannedLoadOverOneNodesThroughput(peak: Double, growth: Double, safety: Double, measured: Double, nodes: Int) {
        let plan = CapacityPlan(peak: peak, growth: growth, safety: safety)
        #expect(plan.requiredThroughput == peak * growth * safety)
        #expect(plan.nodes(measuredThroughput: measured) == nodes)
    }

    @Test func nothingMeasuredGivesNoAnswer() {
        #expect(CapacityPlan(peak: 5000).nodes(measuredThroughput: 0) == nil)
    }
}
