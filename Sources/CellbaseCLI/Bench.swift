import ArgumentParser
import Cellbase
import CellbaseBench
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load a node with a scenario and report throughput, errors and latency percentiles.",
        discussion: """
            Against a running node: --url with the project's --apikey (and --service-key, --admin-token \
            so the bench can set up its table and users). With --in-process it starts a node of its own \
            on a temporary data directory. A progress line goes to standard error once a second; the \
            report goes to standard output.
            """
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        let report: BenchReport
        if let broker = options.mqttBroker {
            report = try await Bench.runAgainstBroker(options, broker: broker, progress: Self.printProgress)
        } else if options.inProcess {
            report = try await Self.runInProcess(options)
        } else {
            let target = BenchTarget(
                url: try NodeURL(parsing: options.url ?? ""), apiKey: options.apikey ?? "",
                serviceKey: options.serviceKey, adminToken: options.adminToken
            )
            report = try await Bench.run(options, target: target, progress: Self.printProgress)
        }
        print(options.json ? try report.json() : report.table, terminator: "")
    }

    @Sendable
    static func printProgress(_ sample: ProgressSample) {
        let phase = sample.warmingUp ? "warm-up" : "measuring"
        StandardError.writeLine("  \(sample.elapsedSeconds) s  \(phase)  \(sample.answeredLastSecond) req/s  \(sample.failed) errors so far\n")
    }

    /// A node of its own: SQLite on a temporary data directory, an ephemeral port on loopback,
    /// logging only warnings so the progress lines stay readable. Stopped and removed afterwards.
    static func runInProcess(_ options: BenchOptions) async throws -> BenchReport {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("cellbase-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        var logger = Logger(label: "cellbase") { _ in LogLineHandler(format: .automatic(isTerminal: LogFormat.standardErrorIsTerminal)) }
        logger.logLevel = .warning
        let (started, ready) = AsyncStream.makeStream(of: BenchTarget.self)
        var configuration = CellbaseConfiguration(dataDirectory: dataDirectory, port: 0)
        configuration.mqtt.port = 0
        if options.scenario == .realtimeFanout {
            // The run is the only client: the per-project realtime quotas would refuse the load it was asked for.
            configuration.realtime.maxConnections = max(configuration.realtime.maxConnections, options.connections + 1)
            configuration.realtime.maxJoinsPerSecond = max(configuration.realtime.maxJoinsPerSecond, options.connections + 1)
            let rate = Int((options.rate ?? BenchOptions.defaultFanoutRate).rounded(.up))
            configuration.realtime.maxEventsPerSecond = max(configuration.realtime.maxEventsPerSecond, 2 * rate)
        }
        let (app, _) = try await CellbaseBuilder.build(configuration, logger: logger) { node, port in
            if let project = node.defaultProject, let url = try? NodeURL(parsing: "http://127.0.0.1:\(port)") {
                ready.yield(BenchTarget(
                    url: url, apiKey: project.anonKey, serviceKey: project.serviceRoleKey, adminToken: node.adminToken, mqttPort: node.mqttPort
                ))
            }
            ready.finish()
        }
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: BenchReport?.self) { group in
            group.addTask {
                try await services.run()
                return nil
            }
            var targets = started.makeAsyncIterator()
            guard let target = await targets.next() else { throw BenchSetupError("the in-process node did not start") }
            // Stopped gracefully whether the run succeeded or not, so the node's connections close cleanly.
            do {
                let report = try await Bench.run(options, target: target, progress: Self.printProgress)
                await services.triggerGracefulShutdown()
                return report
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }
}
