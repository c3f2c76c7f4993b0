import ArgumentParser
import CellbaseBench
import Testing

@Suite("cellbase bench options")
struct BenchOptionsTests {
    static let node = ["--url", "http://127.0.0.1:54321", "--apikey", "anon.key.here"]

    @Test func defaultsAreAClosedLoopOfSixtyFourConnections() throws {
        let options = try BenchOptions.parse(["rest-read"] + Self.node)
        #expect(options.scenario == .restRead && options.connections == 64 && options.rate == nil)
        #expect(options.duration == 10 && options.warmup == 2 && options.rows == 1000 && options.capacity == nil && !options.json)
        let plan = options.plan(host: "127.0.0.1", port: 54321)
        #expect(plan.rate == nil && plan.duration == .seconds(10) && plan.warmup == .seconds(2) && plan.connections == 64)
    }

    @Test func everyOptionIsRead() throws {
        let options = try BenchOptions.parse([
            "rest-mixed", "--connections", "8", "--rate", "2500", "--duration", "1.5", "--warmup", "0", "--read-ratio", "0.75",
            "--rows", "50", "--service-key", "s", "--admin-token", "t", "--json", "--capacity", "peak=9000,safety=2",
        ] + Self.node)
        #expect(options.scenario == .restMixed && options.connections == 8 && options.rate == 2500 && options.readRatio == 0.75)
        #expect(options.rows == 50 && options.serviceKey == "s" && options.adminToken == "t" && options.json)
        #expect(options.capacity == CapacityPlan(peak: 9000, growth: 2, safety: 2))
        let plan = options.plan(host: "h", port: 1)
        #expect(plan.duration == .milliseconds(1500) && plan.warmup == .zero && plan.rate == 2500)
        let inProcess = try BenchOptions.parse(["auth-refresh", "--in-process"])
        #expect(inProcess.inProcess && inProcess.url == nil)
    }

    @Test(arguments: [
        (["rest-read", "--in-process", "--idle"], "--idle is for realtime-fanout"),
        (["rest-read", "--in-process", "--source-addresses", "127.0.0.1"], "--source-addresses is for realtime-fanout"),
        (["realtime-fanout", "--in-process", "--source-addresses", "127.0.0.9-127.0.0.1"], "ends before it starts"),
        (["realtime-fanout", "--in-process", "--capacity", "peak=10"], "does not apply to realtime-fanout"),
        (["rest-read", "--in-process", "--mqtt-port", "1883"], "are for mqtt-publish"),
        (["rest-read", "--in-process", "--mqtt-version", "5"], "are for mqtt-publish"),
        (["mqtt-publish", "--in-process", "--mqtt-version", "3"], "--mqtt-version"),
        (["mqtt-publish", "--in-process", "--mqtt-port", "70000"], "--mqtt-port must be a port number"),
        (["mqtt-publish", "--mqtt-broker", "127.0.0.1"], "give HOST:PORT"),
        (["mqtt-publish", "--in-process", "--idle", "--rate", "5"], "--idle holds connections that publish nothing"),
        (["mqtt-publish", "--mqtt-broker", "127.0.0.1:1883", "--in-process"], "--mqtt-broker measures a broker alone"),
        (["mqtt-publish", "--mqtt-broker", "127.0.0.1:1883", "--url", "http://127.0.0.1:1", "--apikey", "k"], "--mqtt-broker measures a broker alone"),
        (["mqtt-publish", "--mqtt-broker", "127.0.0.1:1883", "--capacity", "peak=10"], "does not apply to --mqtt-broker"),
        (["rest-read", "--in-process", "--batch", "10"], "--batch and --ingest-format are for http-ingest"),
        (["rest-read", "--in-process", "--ingest-format", "line"], "--batch and --ingest-format are for http-ingest"),
        (["http-ingest", "--in-process", "--batch", "7"], "--batch must be an even number of points"),
        (["http-ingest", "--in-process", "--ingest-format", "csv"], "--ingest-format"),
        (["rest-read"], "Pass --url of a running node"),
        (["rest-read", "--url", "http://127.0.0.1:1"], "--url needs the project's --apikey"),
        (["rest-read", "--url", "https://example.com", "--apikey", "k"], "only http:// URLs"),
        (["rest-read", "--in-process", "--url", "http://127.0.0.1:1"], "--in-process starts its own node"),
        (["rest-read", "--in-process", "--read-ratio", "0.5"], "--read-ratio is for rest-mixed"),
        (["rest-mixed", "--in-process", "--read-ratio", "1.5"], "--read-ratio is between 0 and 1"),
        (["rest-read", "--in-process", "--connections", "0"], "--connections must be at least 1"),
        (["rest-read", "--in-process", "--rate", "0"], "--rate must be a positive number"),
        (["rest-read", "--in-process", "--duration", "0"], "--duration must be a positive number"),
        (["rest-read", "--in-process", "--warmup=-1"], "--warmup must not be negative"),
        (["rest-read", "--in-process", "--rows", "0"], "--rows must be at least 1"),
        (["rest-read", "--in-process", "--capacity", "growth=2"], "peak= is required"),
        (["rest-write", "--in-process", "--capacity", "peak=lots"], "peak must be a positive number"),
        (["rest-sideways", "--in-process"], "rest-sideways"),
    ])
    func badCommandLinesAreRefusedWithTheReason(arguments: [String], reason: String) {
        do {
            _ = try BenchOptions.parse(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            let message = BenchOptions.fullMessage(for: error)
            #expect(message.contains(reason), "\(message)")
        }
    }

    @Test func realtimeFanoutReadsItsOptions() throws {
        let options = try BenchOptions.parse([
            "realtime-fanout", "--connections", "3", "--idle", "--source-addresses", "127.0.0.1-127.0.0.2", "--duration", "4",
        ] + Self.node)
        let target = BenchTarget(url: try NodeURL(parsing: "http://127.0.0.1:54321"), apiKey: "anon.key.here")
        let plan = options.fanoutPlan(target)
        #expect(plan.subscribers == 3 && plan.idle && plan.duration == .seconds(4) && plan.apiKey == "anon.key.here")
        #expect(plan.sourceAddresses?.addresses == ["127.0.0.1", "127.0.0.2"])
        #expect(plan.rate == BenchOptions.defaultFanoutRate)
        let paced = try BenchOptions.parse(["realtime-fanout", "--rate", "250"] + Self.node)
        #expect(paced.fanoutPlan(target).rate == 250 && !paced.fanoutPlan(target).idle && paced.fanoutPlan(target).sourceAddresses == nil)
    }

    @Test func mqttPublishReadsItsOptions() throws {
        let broker = try BenchOptions.parse(["mqtt-publish", "--mqtt-broker", "[::1]:18830", "--mqtt-version", "5", "--connections", "2"])
        #expect(broker.mqttBroker == BrokerAddress(host: "::1", port: 18830) && broker.mqttVersion == .v5 && broker.url == nil)
        #expect(broker.mqttBroker?.description == "mqtt://[::1]:18830")
        let node = try BenchOptions.parse(["mqtt-publish", "--mqtt-port", "1884"] + Self.node)
        #expect(node.mqttPort == 1884 && node.mqttVersion == .v311 && node.mqttBroker == nil)
    }

    @Test func helpListsEveryScenarioWithItsSummary() {
        let help = BenchOptions.helpMessage(columns: 1000)
        for scenario in Scenario.allCases {
            let line = help.split(separator: "\n").first { $0.drop { $0 == " " }.hasPrefix("\(scenario.rawValue) ") && $0.contains(" - ") }
            #expect(line?.hasSuffix(scenario.summary) == true, "\(scenario.rawValue) is not in the help with its summary")
        }
    }

    @Test(arguments: [
        ("http://127.0.0.1:54321", "127.0.0.1", 54321, "127.0.0.1:54321"),
        ("http://127.0.0.1:54321/", "127.0.0.1", 54321, "127.0.0.1:54321"),
        ("http://localhost", "localhost", 80, "localhost"),
        ("http://[::1]:8080", "::1", 8080, "[::1]:8080"),
    ])
    func nodeURLsParse(text: String, host: String, port: Int, authority: String) throws {
        let url = try NodeURL(parsing: text)
        #expect(url.host == host && url.port == port && url.authority == authority)
    }

    @Test(arguments: ["https://h", "127.0.0.1:1", "http://", "http://h:0", "http://h:70000", "http://h:x", "http://h/rest/v1", "http://u@h", "http://[::1", "http://[::1]x"])
    func malformedNodeURLsAreRefused(text: String) {
        #expect(throws: NodeURLError.self) { try NodeURL(parsing: text) }
    }
}
