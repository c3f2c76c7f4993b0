import CellbaseBench
import FoundationEssentials
import Histogram
import Testing

@Suite("cellbase bench report")
struct BenchReportTests {
    static func report(answered: Int, succeeded: Int, failures: [FailureKind: Int], capacity: CapacityPlan?) throws -> BenchReport {
        var result = LoadResult(seconds: 10)
        for microseconds in UInt64(1)...1000 { result.latency.record(microseconds) }
        result.answered = answered
        result.succeeded = succeeded
        result.failures = failures
        return BenchReport(
            scenario: .restRead, url: try NodeURL(parsing: "http://127.0.0.1:54321"), connections: 64, rate: nil, readRatio: nil,
            warmupSeconds: 2, durationSeconds: 10, result: result, capacity: capacity
        )
    }

    @Test func theTableShowsFiguresAndTheCapacityFormula() throws {
        let report = try Self.report(answered: 163_245, succeeded: 163_240, failures: [.status(500): 3, .closed: 2], capacity: CapacityPlan(peak: 50_000))
        let table = report.table
        #expect(table.contains("throughput    16,325 req/s (2xx: 16,324 req/s)"))
        #expect(table.contains("errors        closed: 2, HTTP 500: 3") || table.contains("errors        HTTP 500: 3, closed: 2"))
        #expect(table.contains("p50         p90         p99         p99.9       max"))
        #expect(table.contains("0.50 ms     0.90 ms     0.99 ms     1.00 ms     1.00 ms"))
        #expect(table.contains("nodes = ceil(peak × growth × safety / measured) = ceil(50,000 × 2 × 1.5 / 16,324) = 10"))
    }

    @Test func mqttReportsCountPublishesRelaysAndHeldConnections() throws {
        var result = LoadResult(seconds: 10)
        result.latency.record(2000)
        result.answered = 50_000
        result.succeeded = 49_990
        result.failures = [.mqtt(0x87): 10]
        let broker = BrokerAddress(host: "127.0.0.1", port: 1883)
        let relayed = BenchReport(
            scenario: .mqttPublish, url: nil, connections: 8, rate: nil, readRatio: nil, warmupSeconds: 1, durationSeconds: 10,
            result: result, capacity: nil, mqtt: MQTTRunSummary(address: broker, version: .v5, acknowledged: 60_000, relayed: 59_999)
        ).table
        #expect(relayed.contains("target        mqtt://127.0.0.1:1883, MQTT 5, 8 connections"))
        #expect(relayed.contains("throughput    5,000 publishes/s (success: 4,999 publishes/s)"))
        #expect(relayed.contains("errors        MQTT reason 0x87: 10"))
        #expect(relayed.contains("relayed       59,999 of 60,000 acknowledged publishes reached the subscriber"))
        let idle = BenchReport(
            scenario: .mqttPublish, url: nil, connections: 10_000, rate: nil, readRatio: nil, warmupSeconds: 20, durationSeconds: 30,
            result: LoadResult(seconds: 30), capacity: nil,
            mqtt: MQTTRunSummary(address: broker, version: .v311, acknowledged: 0, relayed: nil, idle: true, connected: 10_002, stillConnected: 9_998)
        ).table
        #expect(idle.contains("scenario      mqtt-publish, idle") && idle.contains("connected     10,002 CONNECTs accepted"))
        #expect(idle.contains("still open    9,998") && !idle.contains("latency"))
    }

    @Test func jsonCarriesTheSameFigures() throws {
        let report = try Self.report(answered: 100, succeeded: 0, failures: [.status(401): 100], capacity: CapacityPlan(peak: 10, growth: 1, safety: 1))
        struct Form: Decodable {
            struct Latency: Decodable { var p50, p90, p99, p99_9, max: Double }
            struct Capacity: Decodable { var peak, growth, safety, required: Double; var nodes: Int? }
            var scenario: String
            var url: String
            var connections: Int
            var rate: Double?
            var requests: Int
            var successes: Int
            var throughput: Double
            var errors: [String: Int]
            var latency_ms: Latency
            var capacity: Capacity?
        }
        let form = try JSONDecoder().decode(Form.self, from: Data(try report.json().utf8))
        #expect(form.scenario == "rest-read" && form.url == "http://127.0.0.1:54321" && form.connections == 64 && form.rate == nil)
        #expect(form.requests == 100 && form.successes == 0 && form.throughput == 10 && form.errors == ["HTTP 401": 100])
        #expect(form.latency_ms.p50 == 0.5 && form.latency_ms.p99_9 == 0.999 && form.latency_ms.max == 1)
        // No 2xx answers: no per-node figure, so no node count rather than a division by zero.
        #expect(form.capacity?.required == 10 && form.capacity?.nodes == nil)
        #expect(report.table.contains("no 2xx answers were measured"))
    }

    static func fanoutReport(idle: Bool) throws -> BenchReport {
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for microseconds in UInt64(1)...1000 { latency.record(microseconds) }
        let fanout = FanoutResult(
            idle: idle, subscribers: 1000, joined: 998, refused: 2, failed: 0, stillJoined: 997,
            messages: idle ? 0 : 100, deliveries: idle ? 0 : 99_790, latency: latency, seconds: 10
        )
        return BenchReport(
            scenario: .realtimeFanout, url: try NodeURL(parsing: "http://127.0.0.1:54321"), connections: 1000, rate: idle ? nil : 10,
            readRatio: nil, warmupSeconds: 2, durationSeconds: 10, result: LoadResult(seconds: 10), capacity: nil, fanout: fanout
        )
    }

    @Test func aFanoutReportCountsDeliveriesAndWhatIsMissing() throws {
        let table = try Self.fanoutReport(idle: false).table
        #expect(table.contains("joined        998, refused 2, failed 0"))
        #expect(table.contains("messages      100 sent, 99,790 deliveries, 10 missing"))
        #expect(table.contains("throughput    9,979 deliveries/s"))
        #expect(table.contains("0.50 ms     0.90 ms     0.99 ms     1.00 ms     1.00 ms"))
        #expect(!table.contains("req/s"))

        struct Form: Decodable {
            struct Latency: Decodable { var p50, p99, max: Double }
            struct Realtime: Decodable {
                var idle: Bool
                var subscribers, joined, refused, failed, still_joined, messages, deliveries, missing_deliveries: Int
                var deliveries_per_second: Double
            }
            var scenario: String
            var requests: Int?
            var latency_ms: Latency?
            var realtime: Realtime
        }
        let form = try JSONDecoder().decode(Form.self, from: Data(try Self.fanoutReport(idle: false).json().utf8))
        #expect(form.scenario == "realtime-fanout" && form.requests == nil && form.latency_ms?.p50 == 0.5 && form.latency_ms?.max == 1)
        #expect(form.realtime.joined == 998 && form.realtime.messages == 100 && form.realtime.deliveries == 99_790)
        #expect(form.realtime.missing_deliveries == 10 && form.realtime.deliveries_per_second == 9979 && form.realtime.still_joined == 997)
        #expect(!form.realtime.idle)

        let idle = try JSONDecoder().decode(Form.self, from: Data(try Self.fanoutReport(idle: true).json().utf8))
        #expect(idle.realtime.idle && idle.realtime.still_joined == 997 && idle.latency_ms == nil)
        let idleTable = try Self.fanoutReport(idle: true).table
        #expect(idleTable.contains("still joined  997") && idleTable.contains("held          10.0 s, heartbeats only"))
    }
}
