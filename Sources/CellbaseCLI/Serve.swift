import ArgumentParser
import Foundation
import Cellbase
import CellbaseMQTT
import CellbaseSQL
import Hummingbird
import NIOCore
import Logging
import NIOPosix
import Tracing

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a Cellbase node (embedded SQLite with no flags).")

    @Option(help: "Data directory: control database, admin token, SQLite project files.")
    var data = "./cellbase-data"

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "HTTP port.")
    var port = 54321

    @Option(name: .customLong("mqtt-port"), help: "MQTT listener port (the telemetry capability); 0 picks a free port.")
    var mqttPort = 1883

    @Option(name: .customLong("mqtt-host"), help: "Address the MQTT listener binds (default: --host).")
    var mqttHost: String?

    @Flag(name: .customLong("no-mqtt"), help: "Open no MQTT listener.")
    var noMQTT = false

    @Option(name: .customLong("mqtt-max-packet-bytes"), help: "Largest MQTT packet accepted from a device, fixed header included.")
    var mqttMaxPacketBytes = 1 << 20

    @Option(name: .customLong("mqtt-connect-timeout"), help: "Seconds a new MQTT connection may take to send its CONNECT.")
    var mqttConnectTimeout = 10

    @Option(name: .customLong("mqtt-upstream"), help: "Consume device telemetry from this MQTT 5 broker, mqtt://HOST[:PORT], through a shared subscription.")
    var mqttUpstream: String?

    @Option(name: .customLong("mqtt-upstream-project"), help: "Project (ref or name) whose devices the broker's topics name (default: 'default', else the only project).")
    var mqttUpstreamProject: String?

    @Option(name: .customLong("mqtt-upstream-client-id"), help: "Client identifier of this node's session at the broker (default: cellbase-<node id>).")
    var mqttUpstreamClientID: String?

    @Option(name: .customLong("mqtt-upstream-group"), help: "Share name of the subscription: $share/GROUP/devices/+/telemetry/#.")
    var mqttUpstreamGroup = "cellbase"

    @Option(name: .customLong("mqtt-upstream-username"), help: "User name for the broker.")
    var mqttUpstreamUsername: String?

    @Option(name: .customLong("mqtt-upstream-password"), help: "Password for the broker (default: $CELLBASE_MQTT_UPSTREAM_PASSWORD).")
    var mqttUpstreamPassword: String?

    @Option(name: .customLong("shard"), help: "A PostgreSQL shard, NAME=postgres://user:pass@host:port/db. Repeatable. 'local' (SQLite) always exists.")
    var shards: [String] = []

    @Option(name: .customLong("default-shard"), help: "Shard for new projects that name none.")
    var defaultShard = "local"

    @Option(help: "PostgreSQL URL of a control plane shared by several nodes (default: SQLite in the data directory).")
    var control: String?

    @Option(help: "The cell this node belongs to; it serves only the projects placed there. Create cells with `cellbase cells create`.")
    var cell = "default"

    @Option(name: .customLong("advertise-url"), help: "Where gateways reach this node (default: http://HOST:PORT as bound).")
    var advertiseURL: String?

    @Option(help: "Where a project that names no shard goes: 'default-shard' (--default-shard) or 'least-loaded' (the shared shard of this node's cell with the fewest projects).")
    var placement = "default-shard"

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between the node's heartbeats in the control plane (a node silent for three is out).")
    var heartbeatInterval = 2.0

    @Option(name: .customLong("max-rows"), help: "Most rows one Data API response returns.")
    var maxRows = 1000

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted.")
    var maxBodyBytes = 10 * 1024 * 1024

    @Option(name: .customLong("sqlite-synchronous"), help: "SQLite durability: 'normal' survives a killed process, 'full' also a power cut.")
    var sqliteSynchronous = "normal"

    @Option(name: .customLong("postgres-connections"), help: "Most connections this node opens to each PostgreSQL shard.")
    var postgresConnections = 20

    @Option(name: .customLong("auth-access-token-ttl"), help: "Lifetime of Auth access tokens, in seconds.")
    var authAccessTokenTTL = 3600

    @Option(name: .customLong("auth-min-password-length"), help: "Shortest password Auth accepts.")
    var authMinPasswordLength = 6

    @Flag(name: .customLong("auth-confirm-email"), help: "New sign-ups wait for confirmation (an admin's email_confirm) before they can sign in.")
    var authConfirmEmail = false

    @Option(name: .customLong("site-url"), help: "The application's URL: where a verified mail link leads unless its redirect_to has the same origin (default: this node's URL).")
    var siteURL: String?

    @Option(name: .customLong("auth-mail-token-ttl"), help: "Seconds a confirmation or recovery code (and link) stays valid.")
    var authMailTokenTTL = 3600

    @Option(name: .customLong("smtp-url"), help: "Send Auth's confirmation and recovery mails through this server: smtp://[USER:PASSWORD@]HOST[:PORT] (587) or smtps://… (465). The password may come from $CELLBASE_SMTP_PASSWORD instead.")
    var smtpURL: String?

    @Option(name: .customLong("smtp-starttls"), help: "For smtp:// URLs: 'required' (the default: no TLS, no mail), 'opportunistic' (TLS when offered) or 'off'.")
    var smtpStartTLS = "required"

    @Option(name: .customLong("smtp-ca-file"), help: "A PEM file of CA certificates trusted for the SMTP server besides the system's.")
    var smtpCAFile: String?

    @Flag(name: .customLong("smtp-allow-plaintext-auth"), help: "Allow SMTP credentials over a connection without TLS.")
    var smtpAllowPlaintextAuth = false

    @Option(name: .customLong("mail-from"), help: "The sender of Auth's mails, 'Name <address>' or 'address'. Required with --smtp-url.")
    var mailFrom: String?

    @Option(name: .customLong("auth-sign-in-attempts"), help: "Failed sign-ins allowed per email and per client address within the window.")
    var authSignInAttempts = 5

    @Option(name: .customLong("auth-sign-in-window"), help: "The sign-in throttling window, in seconds.")
    var authSignInWindow = 900

    @Option(name: .customLong("metrics"), help: "Who may read GET /metrics: 'open' (anyone reaching the listen address), 'admin' (the admin token) or 'off'.")
    var metrics = "open"

    @Option(name: .customLong("metrics-project-label"), help: "'on' or 'off': whether HTTP and Auth metrics carry a project label.")
    var metricsProjectLabel = "on"

    @Option(name: .customLong("metrics-max-projects"), help: "Most projects with a label of their own in the metrics; later ones share project=\"other\".")
    var metricsMaxProjects = 100

    @Option(name: .customLong("realtime-max-connections"), help: "Realtime sockets (with a joined channel) and event streams per project on this node.")
    var realtimeMaxConnections = 200

    @Option(name: .customLong("realtime-max-joins-per-second"), help: "Realtime channel joins per second per project.")
    var realtimeMaxJoinsPerSecond = 100

    @Option(name: .customLong("realtime-max-events-per-second"), help: "Realtime broadcasts and presence updates per second per project.")
    var realtimeMaxEventsPerSecond = 100

    @Option(name: .customLong("realtime-max-channels"), help: "Realtime channels one socket may join.")
    var realtimeMaxChannels = 100

    @Option(name: .customLong("realtime-max-payload-bytes"), help: "Largest realtime broadcast or presence payload, in bytes.")
    var realtimeMaxPayloadBytes = 256 * 1024

    @Option(name: .customLong("realtime-heartbeat-timeout"), help: "Seconds of silence after which a realtime socket is closed.")
    var realtimeHeartbeatTimeout = 60

    @Option(name: .customLong("telemetry-partition-hours"), help: "Width of the time partitions of projects whose telemetry this node sets up: 1, 2, 3, 4, 6, 8, 12 hours or whole days (24, 48, … up to 744).")
    var telemetryPartitionHours = 24

    @Option(name: .customLong("telemetry-retention-days"), help: "Days of telemetry points a project keeps until it sets its own (PATCH /telemetry/v1/settings).")
    var telemetryRetentionDays = 30

    @Option(name: .customLong("jobs-concurrency"), help: "Jobs of one project this node runs at once.")
    var jobsConcurrency = 16

    @Option(name: .customLong("jobs-lease-seconds"), help: "How long a claimed job stays leased without renewal; a job whose node died runs again after it.")
    var jobsLeaseSeconds = 30

    @Option(name: .customLong("jobs-retry-base-ms"), help: "Wait after a job's first failed attempt, in milliseconds; it doubles with each attempt (with jitter), up to an hour.")
    var jobsRetryBaseMilliseconds = 2000

    @Flag(name: .customLong("no-job-worker"), help: "Accept and list jobs but run none on this node.")
    var noJobWorker = false

    @Option(name: .customLong("realtime-max-pending-bytes"), help: "Bytes queued for one realtime client before it is disconnected as not reading.")
    var realtimeMaxPendingBytes = 4 << 20

    @Option(name: .customLong("storage-max-object-bytes"), help: "Largest Storage object any bucket accepts; a bucket's file_size_limit can only lower it.")
    var storageMaxObjectBytes = 50 * 1024 * 1024

    @Option(name: .customLong("export-max-bytes"), help: "Largest CSV file an export writes; a bucket's file_size_limit can lower it.")
    var exportMaxBytes = 1 << 30

    @Option(name: .customLong("storage-backend"), help: "Where Storage keeps object content: 'local' (files under the data directory) or 's3' (an S3-compatible bucket).")
    var storageBackend = "local"

    @Option(name: .customLong("storage-s3-endpoint"), help: "The S3-compatible service, as http(s)://host[:port].")
    var storageS3Endpoint = "https://s3.us-east-1.amazonaws.com"

    @Option(name: .customLong("storage-s3-region"), help: "The region requests to the S3 service are signed for.")
    var storageS3Region = "us-east-1"

    @Option(name: .customLong("storage-s3-bucket"), help: "The S3 bucket holding object content; it must exist.")
    var storageS3Bucket: String?

    @Option(name: .customLong("storage-s3-addressing"), help: "'path' (endpoint/bucket/key) or 'virtual' (bucket.endpoint/key).")
    var storageS3Addressing = "path"

    @Option(name: .customLong("storage-s3-access-key-id"), help: "The S3 access key id; AWS_ACCESS_KEY_ID when not given.")
    var storageS3AccessKeyID: String?

    @Option(name: .customLong("storage-s3-secret-access-key"), help: "The S3 secret access key; AWS_SECRET_ACCESS_KEY when not given.")
    var storageS3SecretAccessKey: String?

    @Option(name: .customLong("storage-s3-part-bytes"), help: "Size of the parts large objects are sent to S3 in (at least 5 MiB); one part per upload is held in memory.")
    var storageS3PartBytes = 8 * 1024 * 1024

    @Flag(name: .customLong("webhook-allow-private"), help: "Let webhooks reach any address: loopback, private networks, link-local (cloud metadata) included.")
    var webhookAllowPrivate = false

    @Option(name: .customLong("webhook-allow-cidr"), help: "A network webhooks may reach although it is not public, e.g. 10.1.0.0/16 or fd00::/8. Repeatable.")
    var webhookAllowCIDRs: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. 'info' logs one line per request.")
    var logLevel = "info"

    @Option(name: .customLong("log-format"), help: "'json' (a JSON object per line), 'text' (for people) or 'auto' (text when standard error is a terminal, JSON otherwise).")
    var logFormat = "auto"

    @Option(name: .customLong("tracing"), help: "'on' exports a span per request and per database use over OTLP, configured by the OTEL_* environment variables; 'off' makes no spans.")
    var tracing = "off"

    /// `--smtp-*` and `--mail-from`; `nil` without `--smtp-url`.
    private func mailConfiguration(environment: [String: String]) throws -> MailConfiguration? {
        guard let smtpURL else {
            guard mailFrom == nil, smtpCAFile == nil else { throw ValidationError("--mail-from and --smtp-ca-file need --smtp-url") }
            return nil
        }
        guard let mode = SMTPConfiguration.STARTTLSMode(rawValue: smtpStartTLS) else {
            throw ValidationError("--smtp-starttls is one of required, opportunistic, off")
        }
        var smtp: SMTPConfiguration
        do {
            smtp = try SMTPConfiguration(url: smtpURL, startTLS: mode)
        } catch {
            throw ValidationError("\(error)")
        }
        if smtp.username != nil, smtp.password?.isEmpty ?? true, let password = environment["CELLBASE_SMTP_PASSWORD"] { smtp.password = password }
        if smtp.username != nil, smtp.password == nil { throw ValidationError("--smtp-url names a user but no password, and $CELLBASE_SMTP_PASSWORD is not set") }
        smtp.trustRootsFile = smtpCAFile
        smtp.allowPlainTextAuth = smtpAllowPlaintextAuth
        if let host = siteURL.flatMap({ URLComponents(string: $0)?.host }), !host.isEmpty, (try? SocketAddress(ipAddress: host, port: 0)) == nil {
            smtp.heloName = host
        }
        guard let mailFrom else { throw ValidationError("--smtp-url needs --mail-from, the sender of Auth's mails") }
        do {
            return MailConfiguration(smtp: smtp, from: try MailAddress(parsing: mailFrom))
        } catch {
            throw ValidationError("--mail-from: \(error.detail)")
        }
    }

    private static func validatedSiteURL(_ url: String) throws -> String {
        guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme?.lowercased() ?? ""), !(components.host ?? "").isEmpty else {
            throw ValidationError("--site-url is an http(s) URL")
        }
        return url
    }

    func run() async throws {
        var postgresShards: [String: String] = [:]
        for shard in shards {
            guard let equals = shard.firstIndex(of: "="), equals != shard.startIndex else {
                throw ValidationError("--shard takes NAME=URL, got '\(shard)'")
            }
            postgresShards[String(shard[..<equals])] = String(shard[shard.index(after: equals)...])
        }
        guard ["off", "normal", "full", "extra"].contains(sqliteSynchronous) else {
            throw ValidationError("--sqlite-synchronous is one of off, normal, full, extra")
        }
        guard postgresConnections > 0 else {
            throw ValidationError("--postgres-connections must be at least 1")
        }
        // Clients refresh 10 s before expiry: a shorter lifetime would refresh on every call.
        guard authAccessTokenTTL > 10 else { throw ValidationError("--auth-access-token-ttl must be more than 10 seconds") }
        guard (1...72).contains(authMinPasswordLength) else { throw ValidationError("--auth-min-password-length is 1 to 72") }
        guard authSignInAttempts >= 1, authSignInWindow >= 1 else {
            throw ValidationError("--auth-sign-in-attempts and --auth-sign-in-window must be positive")
        }
        guard let metricsAccess = MetricsConfiguration.Access(rawValue: metrics) else {
            throw ValidationError("--metrics is one of open, admin, off")
        }
        guard ["on", "off"].contains(metricsProjectLabel) else { throw ValidationError("--metrics-project-label is on or off") }
        guard metricsMaxProjects >= 0 else { throw ValidationError("--metrics-max-projects must not be negative") }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level is one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard ["on", "off"].contains(tracing) else { throw ValidationError("--tracing is on or off") }
        let format: LogFormat
        switch logFormat {
        case "auto": format = .automatic(isTerminal: LogFormat.standardErrorIsTerminal)
        default:
            guard let chosen = LogFormat(rawValue: logFormat) else { throw ValidationError("--log-format is one of json, text, auto") }
            format = chosen
        }
        guard [realtimeMaxConnections, realtimeMaxJoinsPerSecond, realtimeMaxEventsPerSecond, realtimeMaxChannels, realtimeHeartbeatTimeout].allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--realtime-max-connections, --realtime-max-joins-per-second, --realtime-max-events-per-second, --realtime-max-channels and --realtime-heartbeat-timeout must be positive")
        }
        guard (1...RealtimeConfiguration.maxFrameBytes).contains(realtimeMaxPayloadBytes) else {
            throw ValidationError("--realtime-max-payload-bytes is 1 to \(RealtimeConfiguration.maxFrameBytes)")
        }
        guard realtimeMaxPendingBytes >= RealtimeConfiguration.maxFrameBytes else {
            throw ValidationError("--realtime-max-pending-bytes must be at least \(RealtimeConfiguration.maxFrameBytes), the largest message")
        }
        guard (0...65535).contains(mqttPort) else { throw ValidationError("--mqtt-port is 0 to 65535") }
        guard (64...MQTTLimits.maximumPacketSize).contains(mqttMaxPacketBytes) else {
            throw ValidationError("--mqtt-max-packet-bytes is 64 to \(MQTTLimits.maximumPacketSize)")
        }
        guard mqttConnectTimeout >= 1 else { throw ValidationError("--mqtt-connect-timeout must be positive") }
        let upstreamAddress = try mqttUpstream.map { url in
            guard let address = MQTTUpstreamConfiguration.brokerAddress(url) else {
                throw ValidationError("--mqtt-upstream is mqtt://HOST[:PORT]")
            }
            return address
        }
        guard mqttUpstreamClientID.map({ !$0.isEmpty && $0.utf8.count <= 65535 }) ?? true else {
            throw ValidationError("--mqtt-upstream-client-id must not be empty")
        }
        guard MQTTTopicFilter(parsing: "$share/\(mqttUpstreamGroup)/devices/+/telemetry/#", version: .v5)?.shareGroup == mqttUpstreamGroup else {
            throw ValidationError("--mqtt-upstream-group must be non-empty without '/', '+' or '#'")
        }
        guard PartitionLayout(hours: telemetryPartitionHours) != nil else {
            throw ValidationError("--telemetry-partition-hours is 1, 2, 3, 4, 6, 8, 12, or a whole number of days in hours up to 744")
        }
        guard (1...TelemetryConfiguration.maxRetentionDays).contains(telemetryRetentionDays) else {
            throw ValidationError("--telemetry-retention-days is 1 to \(TelemetryConfiguration.maxRetentionDays)")
        }
        var configuration = CellbaseConfiguration(
            dataDirectory: data,
            host: host,
            port: port,
            postgresShards: postgresShards,
            defaultShard: defaultShard,
            controlURL: control,
            maxBodySize: maxBodyBytes,
            sqliteSynchronous: sqliteSynchronous
        )
        configuration.restLimits.maxRows = maxRows
        configuration.postgresMaxConnections = postgresConnections
        configuration.cell = cell
        configuration.advertiseURL = advertiseURL
        guard let placement = PlacementPolicy(rawValue: placement) else {
            throw ValidationError("--placement is 'default-shard' or 'least-loaded'")
        }
        configuration.placement = placement
        guard heartbeatInterval >= 0.1, heartbeatInterval <= 3600 else { throw ValidationError("--heartbeat-interval is 0.1 to 3600 seconds") }
        configuration.heartbeatInterval = .milliseconds(Int64(heartbeatInterval * 1000))
        configuration.auth = AuthConfiguration(
            accessTokenLifetime: authAccessTokenTTL,
            minimumPasswordLength: authMinPasswordLength,
            confirmEmail: authConfirmEmail,
            signInAttempts: authSignInAttempts,
            signInWindow: authSignInWindow,
            siteURL: try siteURL.map(Self.validatedSiteURL)
        )
        guard authMailTokenTTL >= 60 else { throw ValidationError("--auth-mail-token-ttl must be at least 60 seconds") }
        configuration.auth.mailTokenLifetime = authMailTokenTTL
        configuration.mail = try mailConfiguration(environment: ProcessInfo.processInfo.environment)
        configuration.realtime = RealtimeConfiguration(
            maxConnections: realtimeMaxConnections,
            maxJoinsPerSecond: realtimeMaxJoinsPerSecond,
            maxEventsPerSecond: realtimeMaxEventsPerSecond,
            maxChannelsPerConnection: realtimeMaxChannels,
            maxPayloadBytes: realtimeMaxPayloadBytes,
            heartbeatTimeout: .seconds(realtimeHeartbeatTimeout),
            maxPendingBytes: realtimeMaxPendingBytes
        )
        configuration.mqtt.enabled = !noMQTT
        configuration.mqtt.host = mqttHost
        configuration.mqtt.port = mqttPort
        configuration.mqtt.limits.maximumPacketSize = mqttMaxPacketBytes
        configuration.mqtt.limits.connectTimeout = .seconds(Int64(mqttConnectTimeout))
        if let upstreamAddress {
            configuration.mqttUpstream = MQTTUpstreamConfiguration(
                host: upstreamAddress.host, port: upstreamAddress.port, clientIdentifier: mqttUpstreamClientID, userName: mqttUpstreamUsername,
                password: mqttUpstreamPassword ?? ProcessInfo.processInfo.environment["CELLBASE_MQTT_UPSTREAM_PASSWORD"],
                project: mqttUpstreamProject, shareGroup: mqttUpstreamGroup
            )
        }
        configuration.telemetry = TelemetryConfiguration(partitionHours: telemetryPartitionHours, defaultRetentionDays: telemetryRetentionDays)
        configuration.metrics = MetricsConfiguration(
            access: metricsAccess,
            projectLabel: metricsProjectLabel == "on",
            maxProjectLabels: metricsMaxProjects
        )
        guard (1...1024).contains(jobsConcurrency) else { throw ValidationError("--jobs-concurrency is 1 to 1024") }
        guard (2...3600).contains(jobsLeaseSeconds) else { throw ValidationError("--jobs-lease-seconds is 2 to 3600") }
        guard (1...3_600_000).contains(jobsRetryBaseMilliseconds) else { throw ValidationError("--jobs-retry-base-ms is 1 to 3600000") }
        configuration.jobs = JobsConfiguration(
            workerEnabled: !noJobWorker, concurrency: jobsConcurrency, leaseMilliseconds: Int64(jobsLeaseSeconds) * 1000,
            retryBaseMilliseconds: Int64(jobsRetryBaseMilliseconds)
        )
        guard storageMaxObjectBytes > 0 else { throw ValidationError("--storage-max-object-bytes must be positive") }
        configuration.storage.maxObjectBytes = storageMaxObjectBytes
        guard exportMaxBytes > 0 else { throw ValidationError("--export-max-bytes must be positive") }
        configuration.storage.maxExportBytes = exportMaxBytes
        configuration.storage.backend = try storageBackendConfiguration(environment: ProcessInfo.processInfo.environment)
        configuration.webhooks.addressPolicy = try webhookAddressPolicy()

        // Running Swift concurrency on NIO's event loops saves a thread hop per request
        // (benchmarks/rest_read.sh measures it; CELLBASE_NIO_EXECUTOR=0 turns it off for that).
        if ProcessInfo.processInfo.environment["CELLBASE_NIO_EXECUTOR"] != "0" {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }

        // Libraries that make their own loggers write through the same handler, in the same format;
        // with tracing on, every line written inside a span names its trace and span.
        LoggingSystem.bootstrap(
            { _, provider in LogLineHandler(format: format, metadataProvider: provider) },
            metadataProvider: tracing == "on" ? OTLPTracing.logMetadata : nil
        )
        var logger = Logger(label: "cellbase")
        logger.logLevel = level
        var nodeTracing: NodeTracing?
        if tracing == "on" {
            do {
                nodeTracing = try OTLPTracing.tracing(logger: logger)
            } catch let error as TracingSettingError {
                throw ValidationError(error.description)
            }
            if let nodeTracing {
                // Libraries that trace on their own (AsyncHTTPClient) then join the node's traces.
                // Only now, after the exporter made its HTTP client: that client takes the process's
                // tracer when it is made, and must not trace its own exports.
                InstrumentationSystem.bootstrap(nodeTracing.tracer)
            } else {
                logger.notice("tracing stays off: OTEL_SDK_DISABLED is true")
            }
        }
        let host = configuration.host
        let dataDirectory = configuration.dataDirectory
        let (app, _) = try await CellbaseBuilder.build(configuration, logger: logger, tracing: nodeTracing) { node, port in
            var lines = ["Cellbase is running at http://\(host):\(port)"]
            if let mqttPort = node.mqttPort { lines.append("  MQTT:             mqtt://\(mqttHost ?? host):\(mqttPort)") }
            if let mqttUpstream { lines.append("  MQTT upstream:    \(mqttUpstream) ($share/\(mqttUpstreamGroup)/devices/+/telemetry/#)") }
            lines.append("  admin token: \(AdminToken.path(in: dataDirectory))")
            if let project = node.defaultProject {
                lines.append("  project:          \(project.name) (ref \(project.ref), shard \(project.shard))")
                lines.append("  anon key:         \(project.anonKey)")
                lines.append("  service_role key: \(project.serviceRoleKey)")
            }
            // Unbuffered, so the keys show up at once when stdout is a pipe or a file.
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
        try await app.runService()
    }
}

extension Serve {
    /// The `--webhook-allow-*` flags as the policy webhook deliveries are checked against.
    func webhookAddressPolicy() throws -> OutboundAddressPolicy {
        let networks = try webhookAllowCIDRs.map { text in
            guard let network = IPNetwork(text) else {
                throw ValidationError("--webhook-allow-cidr takes a network such as 10.1.0.0/16 or fd00::/8, with no bits set after the prefix; got '\(text)'")
            }
            return network
        }
        return OutboundAddressPolicy(allowsPrivate: webhookAllowPrivate, allowedNetworks: networks)
    }

    /// The `--storage-*` backend flags, with S3 credentials from the flags or the standard AWS
    /// environment variables.
    func storageBackendConfiguration(environment: [String: String]) throws -> StorageConfiguration.Backend {
        switch storageBackend {
        case "local":
            return .local
        case "s3":
            guard let bucket = storageS3Bucket, !bucket.isEmpty else { throw ValidationError("--storage-backend s3 needs --storage-s3-bucket") }
            guard let addressing = S3Configuration.Addressing(rawValue: storageS3Addressing) else {
                throw ValidationError("--storage-s3-addressing must be 'path' or 'virtual'")
            }
            guard let accessKeyID = storageS3AccessKeyID ?? environment["AWS_ACCESS_KEY_ID"],
                let secretAccessKey = storageS3SecretAccessKey ?? environment["AWS_SECRET_ACCESS_KEY"]
            else {
                throw ValidationError("--storage-backend s3 needs credentials: --storage-s3-access-key-id and --storage-s3-secret-access-key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            }
            guard storageS3PartBytes >= S3Configuration.minimumPartSize else {
                throw ValidationError("--storage-s3-part-bytes must be at least \(S3Configuration.minimumPartSize)")
            }
            return .s3(S3Configuration(
                endpoint: storageS3Endpoint, region: storageS3Region, bucket: bucket, addressing: addressing,
                accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, partSize: storageS3PartBytes
            ))
        default:
            throw ValidationError("--storage-backend must be 'local' or 's3'")
        }
    }
}
