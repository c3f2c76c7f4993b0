import ArgumentParser
import CellbaseBench
import HummingbirdTesting
import Testing

@testable import Cellbase

/// `cellbase bench` end to end against a node listening on a real port: the scenario sets itself
/// up through the node's public APIs and its requests are answered. How fast is not a test's
/// business; that they all succeeded is. The runs last six seconds because the whole test suite
/// shares this machine's blocking-I/O threads: at its start, a request can wait seconds for one.
/// The open-loop run asks for few requests a second: only answers to requests due after the
/// warm-up count, and on a machine this busy a connection that fell behind a fast schedule spends
/// the whole run on requests that were due during the warm-up.
@Suite("cellbase bench against a node")
struct BenchRunTests {
    @Test(arguments: [
        ["rest-mixed", "--read-ratio", "0.8", "--rows", "50"],
        ["auth-refresh", "--rate", "20"],
    ])
    func aShortRunSucceeds(arguments: [String]) async throws {
        let testNode = TestNode(backend: .sqlite)
        defer { testNode.removeData() }
        let (app, node) = try await CellbaseBuilder.build(try testNode.configuration(), logger: testNode.logger)
        let report = try await app.test(.live) { client in
            let project = try #require(node.defaultProject)
            let url = try NodeURL(parsing: "http://127.0.0.1:\(try #require(client.port))")
            let target = BenchTarget(url: url, apiKey: project.anonKey, serviceKey: project.serviceRoleKey, adminToken: node.adminToken)
            let options = try BenchOptions.parse(arguments + ["--in-process", "--connections", "4", "--duration", "6", "--warmup", "0.2"])
            return try await Bench.run(options, target: target)
        }
        #expect(report.result.answered > 0)
        #expect(report.result.succeeded == report.result.answered)
        #expect(report.result.failures.isEmpty, "\(report.result.failures)")
        // Every answer's latency was recorded (at least a microsecond each).
        #expect(report.result.summary.p50 > 0 && report.result.summary.max >= report.result.summary.p50)
    }

    /// Every broadcast reaches every subscriber, and the idle run keeps its sockets joined.
    @Test(arguments: [false, true])
    func realtimeFanoutDeliversEveryMessageToEverySubscriber(idle: Bool) async throws {
        let testNode = TestNode(backend: .sqlite)
        defer { testNode.removeData() }
        var configuration = try testNode.configuration()
        configuration.realtime.maxEventsPerSecond = 10_000
        configuration.realtime.maxJoinsPerSecond = 10_000
        let (app, node) = try await CellbaseBuilder.build(configuration, logger: testNode.logger)
        let subscribers = 12
        let report = try await app.test(.live) { client in
            let project = try #require(node.defaultProject)
            let url = try NodeURL(parsing: "http://127.0.0.1:\(try #require(client.port))")
            let target = BenchTarget(url: url, apiKey: project.anonKey)
            let options = try BenchOptions.parse([
                "realtime-fanout", "--in-process", "--connections", String(subscribers), "--rate", "50",
                "--duration", "1", "--warmup", "0.2", "--source-addresses", "127.0.0.1-127.0.0.3",
            ] + (idle ? ["--idle"] : []))
            return try await Bench.run(options, target: target)
        }
        let fanout = try #require(report.fanout)
        #expect(fanout.joined == subscribers && fanout.refused == 0 && fanout.failed == 0)
        #expect(fanout.stillJoined == subscribers)
        if idle {
            #expect(fanout.messages == 0 && fanout.deliveries == 0)
        } else {
            #expect(fanout.messages > 0)
            #expect(fanout.deliveries == fanout.messages * subscribers)
            #expect(fanout.missingDeliveries == 0)
            #expect(fanout.summary.p50 > 0 && fanout.summary.max >= fanout.summary.p50)
        }
    }
}
