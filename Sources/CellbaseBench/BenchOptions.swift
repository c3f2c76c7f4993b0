import ArgumentParser

/// A load `cellbase bench` knows how to make.
public enum Scenario: String, CaseIterable, Sendable, ExpressibleByArgument {
    case restRead = "rest-read"
    case restWrite = "rest-write"
    case restMixed = "rest-mixed"
    case authRefresh = "auth-refresh"
    case realtimeFanout = "realtime-fanout"
    case mqttPublish = "mqtt-publish"
    case httpIngest = "http-ingest"

    public var summary: String {
        switch self {
        case .restRead: "GET /rest/v1/bench_items?id=eq.N&select=*, N rotating over the rows"
        case .restWrite: "POST /rest/v1/bench_items, one row per request (return=minimal)"
        case .restMixed: "reads and writes of rest-read and rest-write interleaved at --read-ratio"
        case .authRefresh: "POST /auth/v1/token?grant_type=refresh_token, each connection rotating its own session's tokens"
        case .realtimeFanout: "broadcasts over realtime WebSockets, fanned out to --connections subscribers of one topic"
        case .mqttPublish: "MQTT QoS 1 publishes of telemetry, one at a time per connection, each timed to its PUBACK"
        case .httpIngest: "POST /telemetry/v1/ingest, --batch points a request, each connection for a device of its own"
        }
    }

    public static var allValueDescriptions: [String: String] {
        Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0.summary) })
    }
}

/// Everything `cellbase bench` is told, checked before anything runs.
public struct BenchOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The load to make.", argumentType: Scenario.self))
    public var scenario: Scenario

    @Option(help: "Connections kept open, each with one request at a time; for realtime-fanout, the subscriber sockets.")
    public var connections = 64

    @Option(help: ArgumentHelp(
        "Requests per second over all connections (open loop); for realtime-fanout, broadcasts per second (default 10).",
        discussion: "Requests are due at fixed intervals and their latency counts from when they were due, so a stalled node shows as latency. Without --rate each connection sends its next request when the previous one is answered (closed loop), as wrk does."
    ))
    public var rate: Double?

    @Option(help: "Seconds measured.")
    public var duration = 10.0

    @Option(help: "Seconds of load before measuring starts.")
    public var warmup = 2.0

    @Option(name: .customLong("read-ratio"), help: "rest-mixed only: the share of reads, 0 to 1 (default 0.9).")
    public var readRatio: Double?

    @Option(help: "Rows the rest scenarios read from; the bench adds rows to bench_items until it has this many.")
    public var rows = 1000

    @Option(help: "URL of a running node, such as http://127.0.0.1:54321.")
    public var url: String?

    @Option(help: "The project's anon key (with --url).")
    public var apikey: String?

    @Option(name: .customLong("service-key"), help: "The project's service_role key (with --url): writes and setup use it; auth-refresh creates its user with it.")
    public var serviceKey: String?

    @Option(name: .customLong("admin-token"), help: "The node's admin token (with --url): lets the bench create its table bench_items through a migration.")
    public var adminToken: String?

    @Flag(name: .customLong("in-process"), help: "Start a node in this process, on a temporary data directory and an ephemeral port, and measure it.")
    public var inProcess = false

    @Option(
        name: .customLong("source-addresses"),
        help: ArgumentHelp(
            "realtime-fanout only: local IPv4 addresses the subscriber sockets bind to in turn, such as 127.0.0.1,127.0.0.2 or 127.0.0.1-127.0.0.8.",
            discussion: "One local address reaches one node address from about 28,000 ephemeral ports; several loopback addresses open more sockets than that."
        ),
        transform: { text in
            do {
                return try SourceAddresses(parsing: text)
            } catch {
                throw ValidationError("--source-addresses: \(error)")
            }
        }
    )
    public var sourceAddresses: SourceAddresses?

    @Flag(help: "realtime-fanout and mqtt-publish: open (and join) the connections, hold them for --duration with heartbeats or pings only, and report how many stayed.")
    public var idle = false

    @Option(name: .customLong("mqtt-port"), help: "mqtt-publish only: the node's MQTT port (with --url; default 1883).")
    public var mqttPort: Int?

    @Option(name: .customLong("mqtt-version"), help: "mqtt-publish only: the MQTT version the connections speak, 3.1.1 or 5 (default 3.1.1).")
    public var mqttVersion: MQTTVersion = .v311

    @Option(
        name: .customLong("mqtt-broker"),
        help: ArgumentHelp(
            "mqtt-publish only: publish to a plain MQTT broker at HOST:PORT instead of a node.",
            discussion: "No devices or credentials: connection N publishes to devices/bench-N/telemetry, and one more connection subscribes to devices/+/telemetry and must receive every acknowledged publish. It measures what relaying the same publishes costs a broker such as Mosquitto."
        ),
        transform: { text in
            do {
                return try BrokerAddress(parsing: text)
            } catch {
                throw ValidationError("--mqtt-broker: \(error)")
            }
        }
    )
    public var mqttBroker: BrokerAddress?

    @Option(help: "http-ingest only: telemetry points a request carries, an even number (default 1000).")
    public var batch: Int?

    @Option(name: .customLong("ingest-format"), help: "http-ingest only: json or line (Influx line protocol); default json.")
    public var ingestFormat: IngestFormat = .json

    @Flag(help: "Print the report as JSON.")
    public var json = false

    @Option(
        help: ArgumentHelp(
            "peak=RPS[,growth=G][,safety=S]: turn the measured throughput into the nodes needed.",
            discussion: "nodes = ceil(peak × growth × safety / measured 2xx answers per second); growth defaults to 2 and safety to 1.5."
        ),
        transform: { try CapacityPlan(parsing: $0) }
    )
    public var capacity: CapacityPlan?

    public init() {}

    public func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number of requests per second") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must not be negative") }
        guard rows >= 1 else { throw ValidationError("--rows must be at least 1") }
        if scenario != .realtimeFanout {
            guard sourceAddresses == nil else { throw ValidationError("--source-addresses is for realtime-fanout") }
            guard !idle || scenario == .mqttPublish else { throw ValidationError("--idle is for realtime-fanout and mqtt-publish") }
        } else if capacity != nil {
            throw ValidationError("--capacity plans from HTTP throughput; it does not apply to realtime-fanout")
        }
        if idle, scenario == .mqttPublish {
            guard rate == nil, capacity == nil else {
                throw ValidationError("--idle holds connections that publish nothing: --rate and --capacity do not apply")
            }
        }
        if scenario != .mqttPublish {
            guard mqttPort == nil, mqttBroker == nil, mqttVersion == .v311 else {
                throw ValidationError("--mqtt-port, --mqtt-version and --mqtt-broker are for mqtt-publish")
            }
        }
        if scenario != .httpIngest {
            guard batch == nil, ingestFormat == .json else { throw ValidationError("--batch and --ingest-format are for http-ingest") }
        }
        if let batch, !(batch >= 2 && batch % 2 == 0) { throw ValidationError("--batch must be an even number of points, at least 2") }
        if let mqttPort, !(1...65535).contains(mqttPort) { throw ValidationError("--mqtt-port must be a port number") }
        if mqttBroker != nil {
            guard !inProcess, url == nil, apikey == nil, serviceKey == nil, adminToken == nil, mqttPort == nil else {
                throw ValidationError("--mqtt-broker measures a broker alone: --in-process, --url, the keys and --mqtt-port do not apply")
            }
            guard capacity == nil else { throw ValidationError("--capacity plans nodes; it does not apply to --mqtt-broker") }
            return
        }
        if let readRatio {
            guard scenario == .restMixed else { throw ValidationError("--read-ratio is for rest-mixed") }
            guard (0...1).contains(readRatio) else { throw ValidationError("--read-ratio is between 0 and 1") }
        }
        if inProcess {
            guard url == nil, apikey == nil, serviceKey == nil, adminToken == nil else {
                throw ValidationError("--in-process starts its own node: --url, --apikey, --service-key and --admin-token do not apply")
            }
        } else {
            guard let url else { throw ValidationError("Pass --url of a running node (with --apikey), or --in-process") }
            do {
                _ = try NodeURL(parsing: url)
            } catch {
                throw ValidationError("--url: \(error)")
            }
            guard apikey != nil else { throw ValidationError("--url needs the project's --apikey") }
        }
    }

    /// Points an http-ingest request carries unless `--batch` says otherwise.
    public static let defaultBatch = 1000

    /// The MQTT port of a node unless `--mqtt-port` says otherwise.
    public static let defaultMQTTPort = 1883

    /// The topic realtime-fanout's sockets join.
    public static let fanoutTopic = "cellbase-bench-fanout"

    /// realtime-fanout's broadcasts per second unless `--rate` says otherwise.
    public static let defaultFanoutRate = 10.0

    /// The plan of a realtime-fanout run against `target`.
    public func fanoutPlan(_ target: BenchTarget) -> FanoutPlan {
        FanoutPlan(
            url: target.url, apiKey: target.apiKey, topic: Self.fanoutTopic, subscribers: connections,
            rate: rate ?? Self.defaultFanoutRate,
            warmup: .milliseconds(Int64((warmup * 1000).rounded())), duration: .milliseconds(Int64((duration * 1000).rounded())),
            idle: idle, sourceAddresses: sourceAddresses
        )
    }

    /// The plan of the load itself, once the target's address is known.
    public func plan(host: String, port: Int) -> LoadPlan {
        LoadPlan(
            host: host, port: port, connections: connections, rate: rate,
            warmup: .milliseconds(Int64((warmup * 1000).rounded())), duration: .milliseconds(Int64((duration * 1000).rounded()))
        )
    }
}

/// `HOST:PORT` of an MQTT broker (`[v6]:PORT` for an IPv6 address).
public struct BrokerAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(parsing text: String) throws(NodeURLError) {
        let url = try NodeURL(parsing: "http://" + text)
        guard text.hasSuffix(":\(url.port)") else {
            throw NodeURLError("give HOST:PORT, such as 127.0.0.1:1883, got '\(text)'")
        }
        host = url.host
        port = url.port
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String {
        "mqtt://" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }
}

/// The base URL of a node: plain HTTP, a host and a port, no path.
public struct NodeURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(parsing text: String) throws(NodeURLError) {
        guard text.hasPrefix("http://") else { throw NodeURLError("only http:// URLs are supported, got '\(text)'") }
        var rest = text.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("?"), !rest.contains("@") else {
            throw NodeURLError("give the node's base URL, such as http://127.0.0.1:54321, got '\(text)'")
        }
        let hostPart: Substring
        let portPart: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw NodeURLError("unclosed '[' in '\(text)'") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { throw NodeURLError("unexpected text after ']' in '\(text)'") }
            portPart = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        } else {
            hostPart = rest
            portPart = nil
        }
        guard !hostPart.isEmpty else { throw NodeURLError("no host in '\(text)'") }
        host = String(hostPart)
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port) else { throw NodeURLError("invalid port in '\(text)'") }
            self.port = port
        } else {
            port = 80
        }
    }

    /// `Host` header value and URL authority.
    public var authority: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? shownHost : "\(shownHost):\(port)"
    }

    public var description: String { "http://\(authority)" }
}

public struct NodeURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
