import FoundationEssentials
import NIOCore

/// `cellbase bench`: prepares a scenario on the target through its public APIs, runs the load and
/// reports what it measured.
public enum Bench {
    /// rest-mixed's share of reads unless `--read-ratio` says otherwise.
    public static let defaultReadRatio = 0.9

    public static func run(_ options: BenchOptions, target: BenchTarget, progress: (@Sendable (ProgressSample) -> Void)? = nil) async throws -> BenchReport {
        let setup = BenchSetup(target: target)
        let plan = options.plan(host: target.url.host, port: target.url.port)
        let host = target.url.authority
        let readRatio = options.scenario == .restMixed ? options.readRatio ?? Self.defaultReadRatio : nil
        let result: LoadResult
        switch options.scenario {
        case .restRead:
            try await setup.prepareRows(options.rows)
            let reads = Self.reads(rows: options.rows, host: host, key: target.apiKey)
            result = await LoadGenerator.run(plan, progress: progress) { connection in
                RequestRotation(reads, start: Self.startingPoint(connection, count: reads.count))
            }
        case .restWrite:
            try await setup.prepareRows(1)
            let writes = [Self.write(host: host, key: target.writeKey)]
            result = await LoadGenerator.run(plan, progress: progress) { _ in RequestRotation(writes) }
        case .restMixed:
            try await setup.prepareRows(options.rows)
            let reads = Self.reads(rows: options.rows, host: host, key: target.apiKey)
            let writes = [Self.write(host: host, key: target.writeKey)]
            let ratio = readRatio ?? Self.defaultReadRatio
            result = await LoadGenerator.run(plan, progress: progress) { connection in
                RequestMix(
                    reads: RequestRotation(reads, start: Self.startingPoint(connection, count: reads.count)),
                    writes: RequestRotation(writes), readRatio: ratio
                )
            }
        case .authRefresh:
            let tokens = try await setup.prepareSessions(options.connections)
            result = await LoadGenerator.run(plan, progress: progress) { connection in
                RefreshChain(host: host, apiKey: target.apiKey, refreshToken: tokens[connection])
            }
        case .realtimeFanout:
            let fanout = try await RealtimeFanout.run(options.fanoutPlan(target))
            return BenchReport(
                scenario: options.scenario, url: target.url, connections: options.connections,
                rate: options.idle ? nil : options.rate ?? BenchOptions.defaultFanoutRate, readRatio: nil,
                warmupSeconds: options.idle ? 0 : options.warmup, durationSeconds: options.duration,
                result: LoadResult(seconds: fanout.seconds), capacity: nil, fanout: fanout
            )
        case .mqttPublish:
            let address = BrokerAddress(host: target.url.host, port: options.mqttPort ?? target.mqttPort ?? BenchOptions.defaultMQTTPort)
            let devices = try await setup.prepareDevices(options.connections)
            let ref = try setup.projectRef()
            let clients = devices.map { device in
                MQTTClientIdentity(clientID: device.id, username: "\(ref):\(device.id)", password: device.token, topic: "devices/\(device.id)/telemetry")
            }
            return try await publish(options, to: address, clients: clients, relay: nil, url: target.url, progress: progress)
        case .httpIngest:
            let devices = try await setup.prepareDevices(options.connections)
            let batch = options.batch ?? BenchOptions.defaultBatch
            let start = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
            let format = options.ingestFormat
            result = await LoadGenerator.run(plan, progress: progress) { connection in
                IngestBatches(
                    host: host, key: target.writeKey, device: devices[connection].id, pointsPerRequest: batch,
                    format: format, startMillis: start
                )
            }
            return BenchReport(
                scenario: options.scenario, url: target.url, connections: options.connections, rate: options.rate,
                readRatio: nil, warmupSeconds: options.warmup, durationSeconds: options.duration,
                result: result, capacity: options.capacity, pointsPerRequest: batch
            )
        }
        return BenchReport(
            scenario: options.scenario, url: target.url, connections: options.connections, rate: options.rate,
            readRatio: readRatio, warmupSeconds: options.warmup, durationSeconds: options.duration,
            result: result, capacity: options.capacity
        )
    }

    /// mqtt-publish against a plain broker: anonymous clients, and (unless idle) a subscriber that
    /// must receive every publish, as the broker's side of the same load.
    public static func runAgainstBroker(_ options: BenchOptions, broker: BrokerAddress, progress: (@Sendable (ProgressSample) -> Void)? = nil) async throws -> BenchReport {
        let clients = (0..<options.connections).map { index in
            MQTTClientIdentity(clientID: "cellbase-bench-\(index)", topic: "devices/bench-\(index)/telemetry")
        }
        let relay = options.idle ? nil : MQTTClientIdentity(clientID: "cellbase-bench-relay", topic: "devices/+/telemetry")
        return try await publish(options, to: broker, clients: clients, relay: relay, url: nil, progress: progress)
    }

    /// The telemetry every mqtt-publish message carries: two points.
    static let telemetryPayload = ByteBuffer(string: #"{"temp":21.5,"rpm":1200}"#)

    private static func publish(
        _ options: BenchOptions, to address: BrokerAddress, clients: [MQTTClientIdentity], relay: MQTTClientIdentity?, url: NodeURL?,
        progress: (@Sendable (ProgressSample) -> Void)?
    ) async throws -> BenchReport {
        let plan = MQTTPublishPlan(
            load: options.plan(host: address.host, port: address.port), clients: clients, version: options.mqttVersion,
            payload: telemetryPayload, relay: relay, idle: options.idle
        )
        let run = try await MQTTPublishLoad.run(plan, progress: progress)
        return BenchReport(
            scenario: options.scenario, url: url, connections: options.connections, rate: options.rate, readRatio: nil,
            warmupSeconds: options.warmup, durationSeconds: options.duration, result: run.load, capacity: options.capacity,
            mqtt: MQTTRunSummary(
                address: address, version: options.mqttVersion, acknowledged: run.acknowledged, relayed: run.relayed,
                idle: options.idle, connected: run.connected, stillConnected: run.stillConnected
            )
        )
    }

    /// Reads of ids 1 to `rows`, as `benchmarks/wrk/read.lua` sends them, so the two tools'
    /// figures compare.
    static func reads(rows: Int, host: String, key: String) -> [ByteBuffer] {
        (1...rows).map { id in
            EncodedRequest.encode(
                method: "GET", path: "/rest/v1/\(BenchSetup.table)?id=eq.\(id)&select=*", host: host,
                headers: [("apikey", key), ("Authorization", "Bearer \(key)")]
            )
        }
    }

    static func write(host: String, key: String) -> ByteBuffer {
        EncodedRequest.encode(
            method: "POST", path: "/rest/v1/\(BenchSetup.table)", host: host,
            headers: [("apikey", key), ("Authorization", "Bearer \(key)"), ("Content-Type", "application/json"), ("Prefer", "return=minimal")],
            body: Array(#"{"name":"bench","price":9.99}"#.utf8)
        )
    }

    /// Connections start at scattered points of the rotation, so they do not read the same rows in step.
    static func startingPoint(_ connection: Int, count: Int) -> Int {
        connection * 7919 % count
    }
}
