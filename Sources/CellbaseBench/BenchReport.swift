import FoundationEssentials

/// What mqtt-publish measured beyond the PUBACKs: where it published, and what its relay
/// subscriber received.
public struct MQTTRunSummary: Sendable {
    public var address: BrokerAddress
    public var version: MQTTVersion
    /// Publishes acknowledged with success over the whole run, warm-up included.
    public var acknowledged: Int
    /// Of the publishes, those the relay subscriber received; `nil` without one.
    public var relayed: Int?
    /// The connections were only held, publishing nothing.
    public var idle: Bool
    /// CONNECTs accepted over the whole run.
    public var connected: Int
    /// Connections still open at the end of the window.
    public var stillConnected: Int

    public init(
        address: BrokerAddress, version: MQTTVersion, acknowledged: Int, relayed: Int?, idle: Bool = false, connected: Int = 0,
        stillConnected: Int = 0
    ) {
        self.address = address
        self.version = version
        self.acknowledged = acknowledged
        self.relayed = relayed
        self.idle = idle
        self.connected = connected
        self.stillConnected = stillConnected
    }
}

/// What a bench run measured, with how it was run, as a table for people or JSON for scripts.
public struct BenchReport: Sendable {
    public var scenario: Scenario
    /// The node measured; `nil` when mqtt-publish measured a plain broker.
    public var url: NodeURL?
    public var connections: Int
    public var rate: Double?
    public var readRatio: Double?
    public var warmupSeconds: Double
    public var durationSeconds: Double
    public var result: LoadResult
    public var capacity: CapacityPlan?
    /// What realtime-fanout measured; `result` is then empty.
    public var fanout: FanoutResult?
    /// Where mqtt-publish published and what its relay subscriber saw; `result` holds the PUBACKs.
    public var mqtt: MQTTRunSummary?
    /// http-ingest's points a request, so the report can count points.
    public var pointsPerRequest: Int?

    public init(
        scenario: Scenario, url: NodeURL?, connections: Int, rate: Double?, readRatio: Double?,
        warmupSeconds: Double, durationSeconds: Double, result: LoadResult, capacity: CapacityPlan?,
        fanout: FanoutResult? = nil, mqtt: MQTTRunSummary? = nil, pointsPerRequest: Int? = nil
    ) {
        self.scenario = scenario
        self.url = url
        self.connections = connections
        self.rate = rate
        self.readRatio = readRatio
        self.warmupSeconds = warmupSeconds
        self.durationSeconds = durationSeconds
        self.result = result
        self.capacity = capacity
        self.fanout = fanout
        self.mqtt = mqtt
        self.pointsPerRequest = pointsPerRequest
    }

    /// Points stored a second: 2xx answers times the points each carried.
    var pointsPerSecond: Double? {
        pointsPerRequest.map { result.successThroughput * Double($0) }
    }

    /// The node's URL, or the broker's address.
    var target: String {
        mqtt.map { "\($0.address)" } ?? url?.description ?? ""
    }

    public var table: String {
        var lines: [String] = []
        func row(_ name: String, _ value: String) { lines.append(name.padding(to: 14) + value) }
        if let fanout {
            fanoutRows(fanout, row: row)
            return lines.map { $0.trailingSpacesTrimmed }.joined(separator: "\n") + "\n"
        }
        if let mqtt, mqtt.idle {
            row("scenario", scenario.rawValue + ", idle")
            row("target", "\(target), MQTT \(mqtt.version.rawValue), \(connections) connection\(connections == 1 ? "" : "s")")
            row("connected", "\(Self.grouped(Double(mqtt.connected))) CONNECTs accepted")
            row("held", "\(Self.fixed(durationSeconds, 1)) s after \(Self.fixed(warmupSeconds, 1)) s to connect, pings only")
            row("still open", Self.grouped(Double(mqtt.stillConnected)))
            row("errors", errorSummary)
            return lines.map { $0.trailingSpacesTrimmed }.joined(separator: "\n") + "\n"
        }
        let latency = result.summary
        let unit = mqtt == nil ? "req/s" : "publishes/s"
        row("scenario", scenario.rawValue + (readRatio.map { ", \(Self.fixed($0 * 100, 0)) % reads" } ?? ""))
        row("target", "\(target)\(mqtt.map { ", MQTT \($0.version.rawValue)" } ?? ""), \(connections) connection\(connections == 1 ? "" : "s")")
        row("pacing", rate.map { "open loop, \(Self.grouped($0)) \(unit) scheduled" } ?? "closed loop")
        row("measured", "\(Self.fixed(durationSeconds, 1)) s after \(Self.fixed(warmupSeconds, 1)) s of warm-up")
        if mqtt != nil {
            row("publishes", "\(Self.grouped(Double(result.answered))) acknowledged, \(Self.grouped(Double(result.succeeded))) with success")
            row("throughput", "\(Self.grouped(result.throughput)) publishes/s (success: \(Self.grouped(result.successThroughput)) publishes/s)")
        } else {
            row("requests", "\(Self.grouped(Double(result.answered))) answered, \(Self.grouped(Double(result.succeeded))) with 2xx")
            row("throughput", "\(Self.grouped(result.throughput)) req/s (2xx: \(Self.grouped(result.successThroughput)) req/s)")
        }
        if let pointsPerSecond, let pointsPerRequest {
            row("points", "\(Self.grouped(pointsPerSecond)) points/s stored (\(Self.grouped(Double(pointsPerRequest))) a request)")
        }
        row("errors", errorSummary)
        if let relayed = mqtt?.relayed, let acknowledged = mqtt?.acknowledged {
            row("relayed", "\(Self.grouped(Double(relayed))) of \(Self.grouped(Double(acknowledged))) acknowledged publishes reached the subscriber (warm-up included)")
        }
        let quantiles = [("p50", latency.p50), ("p90", latency.p90), ("p99", latency.p99), ("p99.9", latency.p999), ("max", latency.max)]
        row("latency", quantiles.map { $0.0.padding(to: 12) }.joined())
        row("", quantiles.map { (Self.fixed($0.1, 2) + " ms").padding(to: 12) }.joined())
        if let capacity {
            row("capacity", capacityLine(capacity))
        }
        return lines.map { $0.trailingSpacesTrimmed }.joined(separator: "\n") + "\n"
    }

    private func fanoutRows(_ fanout: FanoutResult, row: (String, String) -> Void) {
        row("scenario", scenario.rawValue + (fanout.idle ? ", idle" : ""))
        row("target", "\(target), \(Self.grouped(Double(fanout.subscribers))) subscriber\(fanout.subscribers == 1 ? "" : "s")")
        row("joined", "\(Self.grouped(Double(fanout.joined))), refused \(Self.grouped(Double(fanout.refused))), failed \(Self.grouped(Double(fanout.failed)))")
        if fanout.idle {
            row("held", "\(Self.fixed(durationSeconds, 1)) s, heartbeats only")
            row("still joined", Self.grouped(Double(fanout.stillJoined)))
            return
        }
        row("pacing", rate.map { "open loop, \(Self.grouped($0)) broadcasts/s" } ?? "")
        row("measured", "\(Self.fixed(durationSeconds, 1)) s after \(Self.fixed(warmupSeconds, 1)) s of warm-up")
        row("messages", "\(Self.grouped(Double(fanout.messages))) sent, \(Self.grouped(Double(fanout.deliveries))) deliveries, \(Self.grouped(Double(fanout.missingDeliveries))) missing")
        row("throughput", "\(Self.grouped(fanout.deliveriesPerSecond)) deliveries/s")
        row("still joined", Self.grouped(Double(fanout.stillJoined)))
        let latency = fanout.summary
        let quantiles = [("p50", latency.p50), ("p90", latency.p90), ("p99", latency.p99), ("p99.9", latency.p999), ("max", latency.max)]
        row("latency", quantiles.map { $0.0.padding(to: 12) }.joined())
        row("", quantiles.map { (Self.fixed($0.1, 2) + " ms").padding(to: 12) }.joined())
    }

    var errorSummary: String {
        guard !result.failures.isEmpty else { return "none" }
        return result.failures.sorted { $0.key < $1.key }.map { "\($0.key): \(Self.grouped(Double($0.value)))" }.joined(separator: ", ")
    }

    /// The formula with its numbers, so the answer can be checked by hand.
    func capacityLine(_ plan: CapacityPlan) -> String {
        let formula = "nodes = ceil(peak × growth × safety / measured) = ceil(\(Self.grouped(plan.peak)) × \(Self.trimmed(plan.growth)) × \(Self.trimmed(plan.safety)) / \(Self.grouped(result.successThroughput)))"
        guard let nodes = plan.nodes(measuredThroughput: result.successThroughput) else {
            return formula + ": no 2xx answers were measured, so there is no per-node figure"
        }
        return formula + " = \(nodes)"
    }

    public func json() throws -> String {
        let latency = fanout?.summary ?? result.summary
        let http = fanout == nil
        let form = JSONForm(
            scenario: scenario.rawValue, url: target, connections: connections, rate: rate, read_ratio: readRatio,
            warmup_seconds: warmupSeconds, duration_seconds: durationSeconds,
            requests: http ? result.answered : nil, successes: http ? result.succeeded : nil,
            throughput: http ? Self.rounded(result.throughput, 1) : nil,
            success_throughput: http ? Self.rounded(result.successThroughput, 1) : nil,
            points_per_request: pointsPerRequest, points_per_second: pointsPerSecond.map { Self.rounded($0, 1) },
            errors: http ? Dictionary(uniqueKeysWithValues: result.failures.map { ($0.key.description, $0.value) }) : nil,
            latency_ms: fanout?.idle == true ? nil : .init(p50: latency.p50, p90: latency.p90, p99: latency.p99, p99_9: latency.p999, max: latency.max),
            realtime: fanout.map { fanout in
                .init(
                    idle: fanout.idle, subscribers: fanout.subscribers, joined: fanout.joined, refused: fanout.refused, failed: fanout.failed,
                    still_joined: fanout.stillJoined, messages: fanout.messages, deliveries: fanout.deliveries,
                    missing_deliveries: fanout.missingDeliveries, deliveries_per_second: Self.rounded(fanout.deliveriesPerSecond, 1)
                )
            },
            mqtt: mqtt.map {
                .init(version: $0.version.rawValue, acknowledged: $0.acknowledged, relayed: $0.relayed, idle: $0.idle, connected: $0.connected, still_connected: $0.stillConnected)
            },
            capacity: capacity.map { plan in
                .init(peak: plan.peak, growth: plan.growth, safety: plan.safety, required: plan.requiredThroughput,
                      nodes: plan.nodes(measuredThroughput: result.successThroughput))
            }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(form), as: UTF8.self) + "\n"
    }

    struct JSONForm: Encodable {
        struct Latency: Encodable {
            var p50, p90, p99, p99_9, max: Double
        }

        struct Realtime: Encodable {
            var idle: Bool
            var subscribers, joined, refused, failed, still_joined: Int
            var messages, deliveries, missing_deliveries: Int
            var deliveries_per_second: Double
        }

        struct MQTT: Encodable {
            var version: String
            var acknowledged: Int
            var relayed: Int?
            var idle: Bool
            var connected: Int
            var still_connected: Int
        }

        struct Capacity: Encodable {
            var peak, growth, safety, required: Double
            var nodes: Int?
        }

        var scenario: String
        var url: String
        var connections: Int
        var rate: Double?
        var read_ratio: Double?
        var warmup_seconds: Double
        var duration_seconds: Double
        var requests: Int?
        var successes: Int?
        var throughput: Double?
        var success_throughput: Double?
        var points_per_request: Int?
        var points_per_second: Double?
        var errors: [String: Int]?
        var latency_ms: Latency?
        var realtime: Realtime?
        var mqtt: MQTT?
        var capacity: Capacity?
    }

    /// `value` with `decimals` digits after the point.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let whole = scaled / Int64(scale)
        let fraction = String(scaled % Int64(scale))
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(whole) }
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }

    /// Rounded to a whole number, thousands separated by commas.
    static func grouped(_ value: Double) -> String {
        let digits = String(Int64(abs(value).rounded()))
        var output = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { output.append(",") }
            output.append(digit)
        }
        return (value < 0 ? "-" : "") + output
    }

    /// A factor as people write it: 2, 1.5, 1.25.
    static func trimmed(_ value: Double) -> String {
        var text = fixed(value, 3)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func rounded(_ value: Double, _ decimals: Int) -> Double {
        Double(fixed(value, decimals)) ?? value
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }

    fileprivate var trailingSpacesTrimmed: String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
