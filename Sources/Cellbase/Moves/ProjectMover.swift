import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Logging
import Synchronization

/// Where a move stands, as the admin API shows it.
struct MoveStatus: Sendable, Codable, Hashable {
    enum State: String, Sendable, Codable {
        /// Preparing the new shard and copying the tables in key order.
        case copying
        /// Applying what was written meanwhile, from the move log.
        case catchingUp = "catching_up"
        /// Writes held: applying the last changes, verifying, switching.
        case switching
        case done
        case cancelled
        case failed
    }

    var ref: String
    var from: String
    var to: String
    /// The cell of the shard it moves to: this node's, or another.
    var to_cell: String
    var state: State
    var tables: Int = 0
    var rows_copied: Int64 = 0
    var changes_applied: Int64 = 0
    var started_at: String
    var finished_at: String?
    /// How long the project's writes were held for the switch.
    var write_pause_ms: Double?
    /// Per table, the rows and key checksum both shards agreed on.
    var verified: [String: MoveSummary]?
    var error: String?

    var isFinished: Bool { [.done, .cancelled, .failed].contains(state) }
}

/// Moves projects between shards while they are served, as Stripe's online migrations do: copy,
/// catch up, hold writes for a moment, verify, switch.
///
/// 1. The new shard gets the project's schema (its migrations, replayed) and the tables Auth,
///    Storage, Jobs and the change log keep; change capture on it is off while rows arrive.
/// 2. A move log on the old shard records the key of every row written from then on; the tables
///    are copied in primary-key order, a page at a time.
/// 3. The rows the log names are copied again (deleted when they are gone) until little is left.
/// 4. Requests for the project on this node wait; the old shard stops serving it — it waits for
///    the writes under way, hands over what they changed and refuses everything after (on
///    PostgreSQL its schema is renamed, so writers on other nodes are refused too) — and the last
///    changes are applied. Row counts and key checksums of every table must agree.
/// 5. The placement moves with a compare-and-set on the control plane, raising its version; the
///    held requests go on to the new shard, other nodes and gateways follow the version.
///
/// A move can be cancelled until its switch; a failure before the switch leaves the project where
/// it was, and the old shard serves it again. Only the compare-and-set makes the new shard the
/// project's: until it commits the project is served from the old one, after it from the new one.
final class ProjectMover: Sendable {
    let projects: ProjectService
    let logger: Logger
    /// Rows per page of the copy and per batch of the catch-up.
    let pageSize: Int
    /// The catch-up stops and the switch begins once a round finds fewer changes than this.
    let switchThreshold: Int

    private struct Entry {
        var status: MoveStatus
        var cancelled = false
    }

    private let moves = Mutex<[String: Entry]>([:])

    init(projects: ProjectService, logger: Logger, pageSize: Int = 1000, switchThreshold: Int = 500) {
        self.projects = projects
        self.logger = logger
        self.pageSize = pageSize
        self.switchThreshold = switchThreshold
    }

    private var directory: ProjectDirectory { projects.directory }

    func status(of ref: String) -> MoveStatus? {
        moves.withLock { $0[ref]?.status }
    }

    /// Starts moving the project to `target`; answers its status at once.
    func start(ref: String, to target: String) async throws -> MoveStatus {
        guard let project = try await directory.project(ref: ref) else {
            throw APIError.notFound("project_not_found", "No project with ref \(ref)")
        }
        if let misplacement = directory.misplacement(of: project) {
            throw misplacement.error(ref: ref, shape: .plain)
        }
        guard let source = projects.shards[project.shard] as? any MoveShard else {
            throw APIError(.conflict, code: "move_unsupported", message: "Project \(ref) is on shard '\(project.shard)', which this node cannot move from")
        }
        guard target != project.shard else {
            throw APIError(.conflict, code: "same_shard", message: "Project \(ref) is already on shard '\(target)'")
        }
        let (destination, foreign, cell) = try await self.destination(named: target)
        let status = MoveStatus(ref: ref, from: project.shard, to: target, to_cell: cell, state: .copying, started_at: Timestamp.now())
        do {
            guard source.dialect != .sqlite || destination.dialect != .sqlite else {
                throw APIError(.conflict, code: "move_unsupported", message: "A project moves between a node's SQLite shard and a PostgreSQL shard, or between PostgreSQL shards")
            }
            if let from = source as? PostgresShard, let to = destination as? PostgresShard {
                let same: Bool
                do {
                    same = try await from.sharesDatabase(with: to)
                } catch {
                    throw APIError(.conflict, code: "shard_unreachable", message: "Shards '\(project.shard)' and '\(target)' could not both be reached: \(Self.describe(error))")
                }
                guard !same else {
                    throw APIError(
                        .conflict, code: "same_database",
                        message: "Shards '\(project.shard)' and '\(target)' are one database: a project moves between different databases"
                    )
                }
            }
            try moves.withLock { moves in
                if let running = moves[ref], !running.status.isFinished {
                    throw APIError(.conflict, code: "move_in_progress", message: "Project \(ref) is already moving to '\(running.status.to)'")
                }
                moves[ref] = Entry(status: status)
            }
        } catch {
            await foreign?.close()
            throw error
        }
        Task {
            await self.run(project, source: source, target: destination, cell: cell)
            await foreign?.close()
        }
        return status
    }

    /// The shard a move goes to, and its cell. This node's own shards are in its cell; a shard of
    /// another cell is reached through the URL that cell's nodes recorded in the control plane,
    /// opened for this move alone (the caller closes it).
    private func destination(named target: String) async throws -> (any MoveShard, ForeignShard?, cell: String) {
        if let own = projects.shards[target] as? any MoveShard { return (own, nil, directory.place.cell) }
        guard let location = try await directory.store.shardLocation(target), location.cell != directory.place.cell else {
            throw APIError.badRequest("unknown_shard", "No shard named '\(target)' in this cell or any other")
        }
        guard let url = location.url else {
            throw APIError(
                .conflict, code: "shard_unreachable",
                message: "Shard '\(target)' of cell '\(location.cell)' has no recorded address: start a node of that cell with it first"
            )
        }
        do {
            let foreign = try ForeignShard(name: target, url: url, logger: logger)
            return (foreign.shard, foreign, location.cell)
        } catch {
            throw APIError(.conflict, code: "shard_unreachable", message: "Shard '\(target)' of cell '\(location.cell)' has an address this node cannot use")
        }
    }

    /// Cancels the move unless it is switching or finished; answers its status.
    func cancel(ref: String) throws -> MoveStatus {
        try moves.withLock { moves in
            guard var entry = moves[ref] else { throw APIError.notFound("move_not_found", "Project \(ref) has no move") }
            guard [.copying, .catchingUp].contains(entry.status.state) else {
                throw APIError(.conflict, code: "move_not_cancellable", message: "The move of project \(ref) is \(entry.status.state.rawValue); only a move still copying or catching up can be cancelled")
            }
            entry.cancelled = true
            moves[ref] = entry
            return entry.status
        }
    }

    private func update(_ ref: String, _ change: (inout MoveStatus) -> Void) {
        moves.withLock { moves in
            if var entry = moves[ref] {
                change(&entry.status)
                moves[ref] = entry
            }
        }
    }

    private struct Cancelled: Error {}

    private func checkCancelled(_ ref: String) throws {
        if moves.withLock({ $0[ref]?.cancelled ?? false }) { throw Cancelled() }
    }

    /// The tables a move copies: everything but the migrations, which are replayed.
    private static func copied(_ tables: [MoveTable]) -> [MoveTable] {
        tables.filter { $0.name != Bookkeeping.migrationsTable }
    }

    private func run(_ project: Project, source: any MoveShard, target: any MoveShard, cell: String) async {
        let ref = project.ref
        var logged: [MoveTable] = []
        var switched = false
        do {
            // 1. The new shard.
            try await target.dropProject(ref: ref)
            try await target.createProject(ref: ref)
            let sourceTables = Self.copied(try await source.moveTables(ref: ref))
            let schema = try await prepare(project, source: source, target: target, tables: Set(sourceTables.map(\.name)))
            let targetTables = Dictionary(uniqueKeysWithValues: Self.copied(try await target.moveTables(ref: ref)).map { ($0.name, $0) })
            for table in sourceTables {
                guard !table.primaryKey.isEmpty else {
                    throw MoveFailure("table \(table.name) has no primary key; a move copies tables in key order")
                }
                guard let copy = targetTables[table.name] else {
                    throw MoveFailure("table \(table.name) has no counterpart on shard '\(target.name)'")
                }
                guard copy.primaryKey == table.primaryKey, Set(table.columns.map(\.name)).isSubset(of: Set(copy.columns.map(\.name))) else {
                    throw MoveFailure("table \(table.name) differs on shard '\(target.name)'")
                }
            }
            update(ref) { $0.tables = sourceTables.count }

            // 2. The move log, then the copy.
            logged = sourceTables
            try await source.startMoveLog(ref: ref, tables: sourceTables)
            for table in sourceTables {
                let copy = targetTables[table.name]!
                var after: String?
                while true {
                    try checkCancelled(ref)
                    let page = try await source.readPage(ref: ref, table: table, after: after, limit: pageSize, target: copy)
                    guard let last = page.last else { break }
                    // Rows the new shard's tables start with (settings rows) give way to the copied ones.
                    try await target.writeRows(ref: ref, table: copy, deleting: page.map(\.key), rows: page, source: table)
                    update(ref) { $0.rows_copied += Int64(page.count) }
                    after = last.key
                    if page.count < pageSize { break }
                }
            }

            // 3. Catching up.
            update(ref) { $0.state = .catchingUp }
            let byName = Dictionary(uniqueKeysWithValues: sourceTables.map { ($0.name, $0) })
            while true {
                try checkCancelled(ref)
                let entries = try await source.moveLog(ref: ref, limit: pageSize * 10)
                for (name, keys) in MoveLogEntries.grouped(entries) {
                    guard let table = byName[name], let copy = targetTables[name] else { continue }
                    for chunk in stride(from: 0, to: keys.count, by: pageSize).map({ Array(keys[$0..<min($0 + pageSize, keys.count)]) }) {
                        let rows = try await source.readRows(ref: ref, table: table, keys: chunk, target: copy)
                        try await target.writeRows(ref: ref, table: copy, deleting: chunk, rows: rows, source: table)
                    }
                }
                try await source.forgetMoveLog(ref: ref, sequences: entries.map(\.sequence))
                update(ref) { $0.changes_applied += Int64(entries.count) }
                if entries.count < switchThreshold { break }
            }

            // A table made during the copy (a telemetry partition, a table of a feature first used)
            // has no move log and no copy: the move is failed rather than switched without it.
            let appeared = Set(Self.copied(try await source.moveTables(ref: ref)).map(\.name)).subtracting(byName.keys)
            guard appeared.isEmpty else {
                throw MoveFailure("tables were made on '\(source.name)' during the move (\(appeared.sorted().joined(separator: ", "))); move the project again")
            }

            // 4. The switch.
            try checkCancelled(ref)
            update(ref) { $0.state = .switching }
            directory.fences.close(ref)
            defer { directory.fences.open(ref) }
            let pauseStart = ContinuousClock.now
            let retirement = try await source.retire(ref: ref, tables: sourceTables, targets: targetTables)
            do {
                for (name, keys, rows) in retirement.changes {
                    guard let table = byName[name], let copy = targetTables[name] else { continue }
                    try await target.writeRows(ref: ref, table: copy, deleting: keys, rows: rows, source: table)
                    update(ref) { $0.changes_applied += Int64(keys.count) }
                }
                try await target.finishCopy(ref: ref, tables: Array(targetTables.values))
                // Change capture on the new shard, as the schema has it.
                try await target.runStatements(ref: ref, ChangeCaptureDDL(namespace: target.namespace(for: ref)).statements(from: Schema(), to: schema).suffix)
                var verified: [String: MoveSummary] = [:]
                for table in sourceTables {
                    let copied = try await target.summary(ref: ref, table: targetTables[table.name]!)
                    let original = retirement.summaries[table.name]
                    guard copied == original else {
                        throw MoveFailure(
                            "table \(table.name) does not verify: \(original.map { "\($0.rows) rows, checksum \($0.checksum)" } ?? "nothing") on '\(source.name)', " +
                                "\(copied.rows) rows, checksum \(copied.checksum) on '\(target.name)'"
                        )
                    }
                    verified[table.name] = copied
                }
                // 5. The compare-and-set: from here on the project is the new shard's.
                let node = target.dialect == .sqlite ? directory.place.node : nil
                guard let moved = try await directory.store.movePlacement(ref: ref, from: source.name, to: target.name, node: node, cell: cell) else {
                    throw MoveFailure("the project's placement changed during the move")
                }
                switched = true
                directory.moved(moved)
                let pause = ContinuousClock.now - pauseStart
                update(ref) {
                    $0.state = .done
                    $0.verified = verified
                    $0.write_pause_ms = Double(pause.components.seconds) * 1000 + Double(pause.components.attoseconds) / 1e15
                    $0.finished_at = Timestamp.now()
                }
            } catch {
                if !switched { try? await source.unretire(ref: ref) }
                throw error
            }
            logger.info("project moved", metadata: [
                "project": .string(ref), "from": .string(source.name), "to": .string(target.name),
                "write_pause_ms": .stringConvertible(status(of: ref)?.write_pause_ms ?? 0),
            ])
            do { try await source.dropRetired(ref: ref) } catch {
                logger.warning("the moved project's old copy could not be deleted", metadata: ["project": .string(ref), "shard": .string(source.name), "error": "\(error)"])
            }
        } catch {
            let cancelled = error is Cancelled
            if !switched {
                if !logged.isEmpty { try? await source.stopMoveLog(ref: ref, tables: logged) }
                try? await target.dropProject(ref: ref)
            }
            update(ref) {
                $0.state = cancelled ? .cancelled : .failed
                $0.error = cancelled ? nil : Self.describe(error)
                $0.finished_at = Timestamp.now()
            }
            if !cancelled {
                logger.error("a project move failed; the project stays where it was", metadata: ["project": .string(ref), "to": .string(target.name), "error": .string(Self.describe(error))])
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let failure = error as? MoveFailure { return failure.reason }
        if let message = DatabaseErrors.message(of: error) { return message }
        return String(describing: error)
    }

    /// Creates the project's tables on the new shard: its migrations in order, then the tables
    /// of whatever the project used (`tables`: the names on the old shard). Answers the schema.
    private func prepare(_ project: Project, source: any MoveShard, target: any MoveShard, tables: Set<String>) async throws -> Schema {
        let ref = project.ref
        let namespace = target.namespace(for: ref)
        var schema = Schema()
        for migration in try await source.appliedMigrations(ref: ref) {
            let outcome = try await target.applyMigration(ref: ref, name: migration.name, sql: migration.sql) { applied in
                try MigrationPlanner.plan(migration.sql, on: try ProjectService.replay(applied, namespace: namespace), namespace: namespace)
            }
            if case .applied(let plan) = outcome { schema = plan.schema }
        }
        // Capture is switched on again once the rows are in, so the copied log is not written twice.
        try await target.runStatements(ref: ref, ChangeCaptureDDL(namespace: namespace).statements(from: schema, to: Schema()).prefix)
        if tables.contains(AuthStatements.usersTable), let database = target as? any AuthDatabase {
            try await AuthStore(database: database, ref: ref).prepare()
        }
        if tables.contains(StorageObjects.objectsTable), let database = target as? any StorageDatabase {
            try await StorageStore(database: database, ref: ref, schema: schema).prepare()
        }
        if tables.contains(JobStatements.jobsTable), let database = target as? any AuthDatabase {
            try await JobStore(database: database, ref: ref).prepare()
        }
        if tables.contains(ChangeCaptureDDL.logTable) {
            try await target.runStatements(ref: ref, ChangeCaptureDDL(namespace: namespace).logDDL())
        }
        if tables.contains(TelemetrySQL.settingsTable) {
            try await prepareTelemetry(ref, source: source, target: target)
        }
        return schema
    }

    /// The telemetry tables on the new shard, with the old shard's partition layout and
    /// retention, and a partition for each one the old shard has: the copy then fills devices,
    /// series, commands and every partition table like any other table (on PostgreSQL, a
    /// partition of `_cellbase_points` is written directly).
    private func prepareTelemetry(_ ref: String, source: any MoveShard, target: any MoveShard) async throws {
        guard let from = source as? any TelemetryDatabase, let to = target as? any TelemetryDatabase else {
            throw MoveFailure("shard '\(target.name)' cannot hold telemetry")
        }
        let sourceSQL = TelemetrySQL(namespace: from.namespace(for: ref))
        let settings = try await from.telemetryRows(ref: ref, sourceSQL.readSettings).first ?? []
        guard settings.count == 2, case .integer(let days) = settings[0], case .integer(let hours) = settings[1],
              let layout = PartitionLayout(hours: Int(hours))
        else { throw MoveFailure("the telemetry settings of project \(ref) could not be read") }
        let sql = TelemetrySQL(namespace: to.namespace(for: ref))
        var statements = [sql.serializeSchemaChanges(ref: ref)] + sql.createTables(layout: layout, retentionDays: Int(days))
        for row in try await from.telemetryRows(ref: ref, sourceSQL.listPartitions) {
            guard case .integer(let start)? = row.first else { continue }
            statements += sql.createPartition(start: start, layout: layout)
        }
        _ = try await to.telemetryTransaction(ref: ref, statements)
    }
}

struct MoveFailure: Error, CustomStringConvertible {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}
