import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Synchronization

/// Devices, time series and commands over the projects' shards: what `/telemetry/v1` and the
/// MQTT listener (through `DeviceBackend`) are served from.
///
/// Each project's telemetry tables are created the first time this node touches them. Its
/// partitions are kept in step lazily: made ahead and dropped past retention when the project is
/// first used, when its retention changes, and at most once an hour as it is used — so an idle
/// project costs nothing and no background task walks every project.
final class TelemetryService: Sendable {
    let configuration: TelemetryConfiguration
    let directory: ProjectDirectory
    let metrics: TelemetryMetrics?
    private let databases: [String: any TelemetryDatabase]
    private let state = Mutex(State())

    /// What this node knows of a project's telemetry storage.
    struct ProjectStorage: Sendable {
        var layout: PartitionLayout
        var retentionDays: Int
        /// Partition starts known to exist.
        var partitions: Set<Int64>
        var lastMaintenance: Int64

        var retentionMicros: Int64 { Int64(retentionDays) * PartitionLayout.dayMicros }
    }

    private struct CachedCredential {
        var digest: String
        var verifiedAt: Int64
    }

    private struct State {
        var projects: [String: ProjectStorage] = [:]
        var credentials: [DeviceIdentity: CachedCredential] = [:]
        var listeners: [Int: AsyncStream<DeviceIdentity>.Continuation] = [:]
        var nextListener = 0
    }

    init(configuration: TelemetryConfiguration, directory: ProjectDirectory, databases: [String: any TelemetryDatabase], metrics: TelemetryMetrics?) {
        self.configuration = configuration
        self.directory = directory
        self.databases = databases
        self.metrics = metrics
    }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }

    // MARK: Storage of a project

    struct ProjectHandle: Sendable {
        var project: Project
        var database: any TelemetryDatabase
        var sql: TelemetrySQL
        var storage: ProjectStorage
    }

    func handle(for project: Project, now: Int64 = TelemetryService.now()) async throws -> ProjectHandle {
        guard let database = databases[project.shard] else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' of this project is not configured on this node")
        }
        let sql = TelemetrySQL(namespace: database.namespace(for: project.ref))
        if let storage = state.withLock({ $0.projects[project.ref] }) {
            var handle = ProjectHandle(project: project, database: database, sql: sql, storage: storage)
            if now - storage.lastMaintenance >= TelemetryConfiguration.maintenanceIntervalMicros {
                try await maintain(&handle, now: now)
            }
            return handle
        }
        let layout = PartitionLayout(hours: configuration.partitionHours) ?? .daily
        let results = try await database.telemetryTransaction(
            ref: project.ref,
            [sql.serializeSchemaChanges(ref: project.ref)] + sql.createTables(layout: layout, retentionDays: configuration.defaultRetentionDays) + [sql.readSettings, sql.listPartitions]
        )
        var storage = ProjectStorage(layout: layout, retentionDays: configuration.defaultRetentionDays, partitions: [], lastMaintenance: 0)
        if let row = results[results.count - 2].first, case .integer(let days) = row[0], case .integer(let hours) = row[1], let stored = PartitionLayout(hours: Int(hours)) {
            storage.retentionDays = Int(days)
            storage.layout = stored
        }
        for row in results[results.count - 1] {
            if case .integer(let start) = row[0] { storage.partitions.insert(start) }
        }
        var handle = ProjectHandle(project: project, database: database, sql: sql, storage: storage)
        try await maintain(&handle, now: now)
        return handle
    }

    /// Makes the partitions from today to `partitionsAhead` days on, drops those wholly past the
    /// retention, and records what is known. The retention is read again first: another node may
    /// have changed it.
    private func maintain(_ handle: inout ProjectHandle, now: Int64) async throws {
        if let row = try await handle.database.telemetryRows(ref: handle.project.ref, handle.sql.readSettings).first, case .integer(let days) = row[0] {
            handle.storage.retentionDays = Int(days)
        }
        let ahead = handle.storage.layout.starts(from: now, through: now + Int64(configuration.partitionsAhead) * PartitionLayout.dayMicros)
        try await ensurePartitions(ahead, &handle)
        let cutoff = now - handle.storage.retentionMicros
        let expired = try await handle.database.telemetryRows(ref: handle.project.ref, handle.sql.expiredPartitions(cutoff: cutoff))
        var drops: [SQLStatement] = []
        var dropped: [Int64] = []
        for row in expired {
            guard case .integer(let start) = row[0], case .text(let name) = row[1] else { continue }
            drops += handle.sql.dropPartition(start: start, name: name)
            dropped.append(start)
        }
        if !drops.isEmpty {
            _ = try await handle.database.telemetryTransaction(ref: handle.project.ref, [handle.sql.serializeSchemaChanges(ref: handle.project.ref)] + drops)
        }
        handle.storage.partitions.subtract(dropped)
        handle.storage.lastMaintenance = now
        let storage = handle.storage
        state.withLock { $0.projects[handle.project.ref] = storage }
    }

    private func ensurePartitions(_ starts: [Int64], _ handle: inout ProjectHandle) async throws {
        let missing = starts.filter { !handle.storage.partitions.contains($0) }
        guard !missing.isEmpty else { return }
        let statements = missing.flatMap { handle.sql.createPartition(start: $0, layout: handle.storage.layout) }
        _ = try await handle.database.telemetryTransaction(ref: handle.project.ref, [handle.sql.serializeSchemaChanges(ref: handle.project.ref)] + statements)
        handle.storage.partitions.formUnion(missing)
        let known = handle.storage.partitions
        state.withLock { $0.projects[handle.project.ref]?.partitions.formUnion(known) }
    }

    private func forgetPartitions(of ref: String) {
        state.withLock { $0.projects[ref] = nil }
    }

    // MARK: Moves

    /// How long a write waits for a move switching its project on this node.
    static let fenceWait = Duration.seconds(5)

    /// Runs `body` with the project as placed now, for writes that must not fail or land on the
    /// wrong shard while the project moves. A project a move on this node is switching waits for
    /// the switch (at most `fenceWait`). A shard that no longer has the project (a move switched it
    /// away, here or on another node) failed the write before anything was written, and said so
    /// with `ProjectMoved` (a SQLite file retired, a PostgreSQL schema renamed away): the
    /// placements are read again and `body` runs once more on the project's new shard when this
    /// node has it. Otherwise: `421` with the project's place when another cell or node serves it,
    /// `503 project_moving` while the switch is under way.
    func onCurrentShard<Value: Sendable>(_ project: Project, _ body: (Project) async throws -> Value) async throws -> Value {
        var project = project
        if directory.fences.isClosed(project.ref) {
            guard await directory.fences.waitUntilOpen(project.ref, bound: Self.fenceWait) else {
                throw APIError.projectMoving(ref: project.ref, shape: .plain)
            }
            project = directory.cachedProject(ref: project.ref) ?? project
        }
        do {
            return try await body(project)
        } catch is ProjectMoved {
            await directory.catchUp(ref: project.ref, version: project.placementVersion + 1)
            guard let current = directory.cachedProject(ref: project.ref) else { throw APIError.projectMoving(ref: project.ref, shape: .plain) }
            if let misplacement = directory.misplacement(of: current) { throw misplacement.error(ref: project.ref, shape: .plain) }
            guard current.shard != project.shard, databases[current.shard] != nil else { throw APIError.projectMoving(ref: project.ref, shape: .plain) }
            forgetPartitions(of: project.ref)
            do {
                return try await body(current)
            } catch is ProjectMoved {
                throw APIError.projectMoving(ref: project.ref, shape: .plain)
            }
        }
    }

    /// The window a point's time must fall in: not older than the retention, at most a day ahead.
    func builder(for handle: ProjectHandle, now: Int64) -> TelemetryWriteBuilder {
        TelemetryWriteBuilder(layout: handle.storage.layout, earliest: max(0, now - handle.storage.retentionMicros), latest: now + TelemetryLimits.maxFutureMicros)
    }

    /// Commits a batch, making its partitions first. A partition dropped since it was known
    /// (by this project's retention, possibly on another node) is made again once.
    func commit(_ write: TelemetryWrite, handle: ProjectHandle, now: Int64) async throws {
        guard !write.isEmpty else { return }
        var handle = handle
        let arrival = TelemetryTimestamp.rfc3339(now)
        try await ensurePartitions(write.partitions.map(\.start), &handle)
        do {
            try await handle.database.writeTelemetry(ref: handle.project.ref, write, layout: handle.storage.layout, arrival: arrival)
        } catch TelemetryStoreError.missingPartition {
            forgetPartitions(of: handle.project.ref)
            handle = try await self.handle(for: handle.project, now: now)
            try await ensurePartitions(write.partitions.map(\.start), &handle)
            try await handle.database.writeTelemetry(ref: handle.project.ref, write, layout: handle.storage.layout, arrival: arrival)
        }
        metrics?.stored(points: write.pointCount)
    }

    // MARK: Ingest over HTTP

    /// Stores the records of one request in one transaction. `device` is the device of a device
    /// token: records then name no other device.
    func ingest(_ records: [TelemetryRecord], project: Project, device: String?) async throws -> Int {
        try await onCurrentShard(project) { project in try await self.ingest(records, placed: project, device: device) }
    }

    private func ingest(_ records: [TelemetryRecord], placed project: Project, device: String?) async throws -> Int {
        let now = Self.now()
        let handle = try await handle(for: project, now: now)
        var builder = builder(for: handle, now: now)
        for (index, record) in records.enumerated() {
            let named: String
            switch (record.device, device) {
            case (let own?, let token?) where own != token:
                throw APIError(.forbidden, code: "device_mismatch", message: "record \(index): a device token writes only its own device '\(token)'")
            case (let own?, _): named = own
            case (nil, let token?): named = token
            case (nil, nil):
                throw APIError.badRequest(TelemetryError.Code.deviceRequired.rawValue, "record \(index): name the device (\"device\" in JSON, the device tag in line protocol) or send a device token")
            }
            do {
                try builder.check(record)
            } catch {
                throw APIError.badRequest(error.code.rawValue, "record \(index): " + error.message)
            }
            builder.add(record, device: named)
        }
        let write = builder.build()
        do {
            try await commit(write, handle: handle, now: now)
        } catch TelemetryStoreError.unknownDevice(let id) {
            throw APIError.badRequest("unknown_device", "The project has no device '\(id)': create it with POST /telemetry/v1/devices")
        }
        return write.pointCount
    }

    // MARK: Queries

    func series(_ query: SeriesQuery, project: Project) async throws -> [(time: Int64, value: Double)] {
        let handle = try await handle(for: project)
        let ref = project.ref
        guard case .integer(let seriesID)? = try await handle.database.telemetryRows(ref: ref, handle.sql.seriesID(device: query.device, metric: query.metric)).first?.first else {
            return []
        }
        let sources: [String]
        switch handle.sql.namespace.dialect {
        case .sqlite:
            // Only the tables whose range meets the query's: the rest are never opened.
            sources = try await handle.database.telemetryRows(ref: ref, handle.sql.partitionsCovering(from: query.from, to: query.to)).compactMap { row in
                guard case .text(let name) = row[0] else { return nil }
                return handle.sql.namespace.qualified(name)
            }
            if sources.isEmpty { return [] }
        case .postgres:
            sources = [handle.sql.points]
        }
        let statement = query.statement(seriesID: seriesID, sources: sources, dialect: handle.sql.namespace.dialect)
        return try await handle.database.telemetryRows(ref: ref, statement).compactMap { row in
            guard case .integer(let time) = row[0] else { return nil }
            switch row[1] {
            case .double(let value): return (time, value)
            case .integer(let value): return (time, Double(value))
            default: return nil
            }
        }
    }

    struct Latest: Sendable {
        var metrics: [(metric: String, time: Int64, value: Double)]
        var state: JSONValue
    }

    func latest(device: String, project: Project) async throws -> Latest {
        let handle = try await handle(for: project)
        guard let row = try await handle.database.telemetryRows(ref: project.ref, handle.sql.deviceByID(device)).first else {
            throw TelemetryService.deviceNotFound(device)
        }
        let rows = try await handle.database.telemetryRows(ref: project.ref, handle.sql.latest(device: device))
        let metrics = rows.compactMap { row -> (String, Int64, Double)? in
            guard case .text(let metric) = row[0], case .integer(let time) = row[1] else { return nil }
            switch row[2] {
            case .double(let value): return (metric, time, value)
            case .integer(let value): return (metric, time, Double(value))
            default: return nil
            }
        }
        return Latest(metrics: metrics, state: DeviceRecord(row).state)
    }

    static func deviceNotFound(_ id: String) -> APIError {
        APIError.notFound("device_not_found", "The project has no device '\(id)'")
    }

    // MARK: Settings

    func settings(project: Project) async throws -> (storage: ProjectStorage, partitions: [(start: Int64, end: Int64, name: String)]) {
        let handle = try await handle(for: project)
        let rows = try await handle.database.telemetryRows(ref: project.ref, handle.sql.listPartitions)
        let partitions = rows.compactMap { row -> (Int64, Int64, String)? in
            guard case .integer(let start) = row[0], case .integer(let end) = row[1], case .text(let name) = row[2] else { return nil }
            return (start, end, name)
        }
        return (handle.storage, partitions)
    }

    /// Changes the project's retention and drops the partitions now wholly past it.
    func setRetention(days: Int, project: Project) async throws {
        guard (1...TelemetryConfiguration.maxRetentionDays).contains(days) else {
            throw APIError.badRequest("invalid_body", "retention_days is 1 to \(TelemetryConfiguration.maxRetentionDays)")
        }
        var handle = try await handle(for: project)
        _ = try await handle.database.telemetryTransaction(ref: project.ref, [handle.sql.updateRetention(days: days)])
        try await maintain(&handle, now: Self.now())
    }

    // MARK: Command notifications

    /// Tells every listener on this node that the device has a new command.
    func notify(_ device: DeviceIdentity) {
        let listeners = state.withLock { Array($0.listeners.values) }
        for listener in listeners { listener.yield(device) }
    }

    func makeNotificationStream() -> AsyncStream<DeviceIdentity> {
        // A listener that falls behind loses the oldest wake-ups, not the commands: it reads
        // pending commands from the database when a device connects.
        let (stream, continuation) = AsyncStream<DeviceIdentity>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id = state.withLock { state in
            defer { state.nextListener += 1 }
            state.listeners[state.nextListener] = continuation
            return state.nextListener
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    // MARK: Credentials

    /// Checks a device token against the stored digest, trusting a recent verification of the
    /// same token for `credentialCacheSeconds` so a reconnect storm does not become a storm of reads.
    func verify(device: DeviceIdentity, token: String, project: Project) async throws -> Bool {
        let digest = DeviceToken.digest(token)
        let now = Self.now()
        let window = Int64(configuration.credentialCacheSeconds) * 1_000_000
        if let cached = state.withLock({ $0.credentials[device] }), now - cached.verifiedAt < window,
           DeviceToken.matches(digest: digest, stored: cached.digest) {
            return true
        }
        let handle = try await handle(for: project, now: now)
        guard let row = try await handle.database.telemetryRows(ref: project.ref, handle.sql.deviceByID(device.deviceID)).first,
              DeviceToken.matches(digest: digest, stored: DeviceRecord(row).tokenHash)
        else { return false }
        state.withLock { state in
            if state.credentials.count >= configuration.maxCachedCredentials {
                state.credentials = state.credentials.filter { now - $0.value.verifiedAt < window }
                if state.credentials.count >= configuration.maxCachedCredentials { state.credentials.removeAll() }
            }
            state.credentials[device] = CachedCredential(digest: digest, verifiedAt: now)
        }
        return true
    }

    func forgetCredential(_ device: DeviceIdentity) {
        state.withLock { _ = $0.credentials.removeValue(forKey: device) }
    }
}
