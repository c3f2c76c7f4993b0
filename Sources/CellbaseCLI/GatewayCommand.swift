import ArgumentParser
import Cellbase
import FoundationEssentials
import Logging
import ServiceLifecycle
import UnixSignals

import class Foundation.FileHandle

/// `cellbase gateway`: the entry point in front of the cells.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Route every project's requests to a healthy node of its cell, with rate limits."
    )

    @Option(help: "PostgreSQL URL of the control plane the nodes share (their --control).")
    var control: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "HTTP port.")
    var port = 8000

    @Option(name: .customLong("project-rate-limit"), help: "RPS:BURST for a project on no plan (default: unlimited). Plans: `cellbase plans`.")
    var projectRateLimit: String?

    @Option(name: .customLong("address-rate-limit"), help: "RPS:BURST for each client address (default: unlimited).")
    var addressRateLimit: String?

    @Option(help: "Redis URL (redis://[:password@]host[:port][/db]): the gateways share their rate limits there. Without it each gateway limits on its own.")
    var redis: String?

    @Option(name: .customLong("refresh-interval"), help: "Seconds between reads of the routing table.")
    var refreshInterval = 0.5

    @Option(name: .customLong("node-timeout"), help: "Seconds without a heartbeat after which a node gets no requests.")
    var nodeTimeout = 6.0

    @Option(name: .customLong("drain-timeout"), help: "Seconds a shutdown (SIGTERM, SIGINT) lets requests in progress, streams and WebSockets finish before closing them.")
    var drainTimeout = 10.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() async throws {
        var configuration = GatewayConfiguration(controlURL: control)
        configuration.host = host
        configuration.port = port
        if let projectRateLimit {
            guard let limit = RateLimit(projectRateLimit) else { throw ValidationError("--project-rate-limit is RPS:BURST, e.g. 100:200") }
            configuration.projectRateLimit = limit
        }
        if let addressRateLimit {
            guard let limit = RateLimit(addressRateLimit) else { throw ValidationError("--address-rate-limit is RPS:BURST, e.g. 50:100") }
            configuration.addressRateLimit = limit
        }
        guard refreshInterval >= 0.05, refreshInterval <= 60 else { throw ValidationError("--refresh-interval is 0.05 to 60 seconds") }
        configuration.redisURL = redis
        configuration.refreshInterval = .milliseconds(Int64(refreshInterval * 1000))
        guard nodeTimeout > 0 else { throw ValidationError("--node-timeout must be above 0") }
        configuration.nodeTimeout = nodeTimeout
        guard drainTimeout >= 0, drainTimeout <= 3600 else { throw ValidationError("--drain-timeout is 0 to 3600 seconds") }
        configuration.drainTimeout = .milliseconds(Int64(drainTimeout * 1000))
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }

        LoggingSystem.bootstrap(
            { _, provider in LogLineHandler(format: .automatic(isTerminal: LogFormat.standardErrorIsTerminal), metadataProvider: provider) },
            metadataProvider: nil
        )
        var logger = Logger(label: "cellbase.gateway")
        logger.logLevel = level
        let shownHost = host
        let gateway = try Gateway(configuration: configuration, logger: logger) { port in
            FileHandle.standardOutput.write(Data("Cellbase gateway is running at http://\(shownHost):\(port)\n".utf8))
        }
        let group = ServiceGroup(configuration: .init(services: [gateway], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
