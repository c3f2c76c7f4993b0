import CellbaseSQL
import FoundationEssentials

/// One project's queue in its own database (SQLite file or PostgreSQL schema), in the
/// `_cellbase_jobs*` tables, through the same statement seam as Auth.
struct JobStore: Sendable {
    let database: any AuthDatabase
    let ref: String
    let sql: JobStatements

    init(database: any AuthDatabase, ref: String) {
        self.database = database
        self.ref = ref
        self.sql = JobStatements(namespace: database.namespace(for: ref))
    }

    /// Creates the tables if they do not exist. Idempotent, and safe for nodes to race on.
    func prepare() async throws {
        let tables = sql.createTables
        _ = try await database.authTransaction(ref: ref, sql.serializeSchemaChanges(ref: ref)) { _ in tables }
    }

    /// Whether the project has ever had a queue: its tables exist.
    func exists() async throws -> Bool {
        try await !database.authRows(ref: ref, sql.tableExists).isEmpty
    }

    // MARK: Enqueuing

    /// Adds the job, or finds the one enqueued before with the same idempotency key.
    func enqueue(_ job: NewJob) async throws -> (record: JobRecord, created: Bool) {
        let id = UUID().uuidString.lowercased()
        _ = try await database.authTransaction(ref: ref, Self.insert(job, id: id, sql: sql)) { _ in [] }
        guard let row = try await database.authRows(ref: ref, SQLStatement(sql.jobByIdempotencyKey, binds: [.text(job.idempotencyKey)])).first else {
            throw JobStoreError.malformedRow("the job with idempotency key '\(job.idempotencyKey)' vanished right after it was enqueued")
        }
        let record = try JobRecord(columns: row)
        return (record, record.id == id)
    }

    static func insert(_ job: NewJob, id: String, sql: JobStatements) -> SQLStatement {
        SQLStatement(sql.insertJob, binds: [
            .text(id), .text(job.queue), .text(job.kind.rawValue), .text(job.payload), .text(job.idempotencyKey),
            .integer(Int64(job.maxAttempts)), job.runAt.map(SQLValue.integer) ?? .null,
        ])
    }

    // MARK: Working

    /// Ends the leases nobody renewed, then leases up to `limit` ready jobs to `owner`.
    func claim(limit: Int, owner: String, leaseMilliseconds: Int64) async throws -> [ClaimedJob] {
        _ = try await database.authTransaction(ref: ref, SQLStatement(sql.expireLeases)) { _ in [] }
        let token = UUID().uuidString.lowercased()
        let rows = try await database.authTransaction(
            ref: ref,
            SQLStatement(sql.claim, binds: [.text(token), .text(owner), .integer(leaseMilliseconds), .integer(Int64(limit))])
        ) { _ in [] }
        return try rows.map { row in
            guard row.count == 8, let id = row[0], let queue = row[1], let kind = row[2], let payload = row[3], let key = row[4],
                let attempt = row[5].flatMap({ Int($0) }), let maxAttempts = row[6].flatMap({ Int($0) }), let lease = row[7]
            else { throw JobStoreError.malformedRow("a claimed job lacks a column") }
            return ClaimedJob(id: id, queue: queue, kind: kind, payload: payload, idempotencyKey: key, attempt: attempt, maxAttempts: maxAttempts, leaseToken: lease)
        }
    }

    /// `false` when the lease was lost: another worker may have the job now.
    func renew(_ job: ClaimedJob, leaseMilliseconds: Int64) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.renewLease, binds: [.text(job.id), .text(job.leaseToken), .integer(leaseMilliseconds)])) { _ in [] }.isEmpty
    }

    /// `false` when the lease was lost before the result could be recorded.
    func complete(_ job: ClaimedJob, result: String?) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.complete, binds: [.text(job.id), .text(job.leaseToken), result.map(SQLValue.text) ?? .null])) { _ in [] }.isEmpty
    }

    /// Records a failed attempt; returns the job's new state, `nil` when the lease was lost.
    func fail(_ job: ClaimedJob, error: String, retryAfterMilliseconds: Int64, permanent: Bool) async throws -> JobState? {
        let rows = try await database.authTransaction(ref: ref, SQLStatement(sql.fail, binds: [
            .text(job.id), .text(job.leaseToken), .text(String(error.prefix(2000))), .integer(retryAfterMilliseconds), .integer(permanent ? 1 : 0),
        ])) { _ in [] }
        return rows.first?.first.flatMap { $0.flatMap(JobState.init(rawValue:)) }
    }

    /// When the next waiting job becomes ready, and the database's clock now; `nil` when none waits.
    func nextRunAt() async throws -> (runAt: Int64, now: Int64)? {
        guard let row = try await database.authRows(ref: ref, SQLStatement(sql.nextRunAt)).first, row.count == 2,
            let runAt = row[0].flatMap({ Int64($0) }), let now = row[1].flatMap({ Int64($0) })
        else { return nil }
        return (runAt, now)
    }

    func hasWork() async throws -> Bool {
        try await !database.authRows(ref: ref, SQLStatement(sql.hasWork)).isEmpty
    }

    func purgeCompleted(olderThanMilliseconds retention: Int64) async throws {
        _ = try await database.authTransaction(ref: ref, SQLStatement(sql.purgeCompleted, binds: [.integer(retention)])) { _ in [] }
    }

    // MARK: Operating

    func job(id: String) async throws -> JobRecord? {
        try await database.authRows(ref: ref, SQLStatement(sql.jobByID, binds: [.text(id)])).first.map(JobRecord.init(columns:))
    }

    func jobs(state: JobState?, queue: String?, limit: Int, offset: Int) async throws -> [JobRecord] {
        try await database.authRows(ref: ref, SQLStatement(sql.listJobs, binds: [
            state.map { .text($0.rawValue) } ?? .null, queue.map(SQLValue.text) ?? .null, .integer(Int64(limit)), .integer(Int64(offset)),
        ])).map(JobRecord.init(columns:))
    }

    /// `false` when there is no dead job with that id.
    func retry(id: String) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.retryDead, binds: [.text(id)])) { _ in [] }.isEmpty
    }

    /// `false` when there is no dead job with that id.
    func discard(id: String) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.discardDead, binds: [.text(id)])) { _ in [] }.isEmpty
    }

    func setPaused(_ paused: Bool, queue: String) async throws {
        _ = try await database.authTransaction(ref: ref, SQLStatement(sql.setPaused, binds: [.text(queue), .integer(paused ? 1 : 0)])) { _ in [] }
    }

    /// Every queue that has jobs or was ever paused: its name, whether it is paused, and how many
    /// jobs it holds in each unfinished state with the oldest one's wait.
    func queues() async throws -> [QueueDepth] {
        var byName: [String: QueueDepth] = [:]
        for row in try await database.authRows(ref: ref, SQLStatement(sql.listQueues)) {
            guard let name = row[0] else { continue }
            byName[name] = QueueDepth(name: name, paused: row[1] == "1")
        }
        for row in try await database.authRows(ref: ref, SQLStatement(sql.depth)) {
            guard row.count == 5, let name = row[0], let state = row[1].flatMap(JobState.init(rawValue:)), let count = row[2].flatMap({ Int($0) }),
                let oldest = row[3].flatMap({ Int64($0) }), let now = row[4].flatMap({ Int64($0) })
            else { continue }
            byName[name, default: QueueDepth(name: name, paused: false)].counts[state] = count
            if state == .queued || state == .failed {
                let waited = max(0, now - oldest)
                byName[name]!.oldestReadyAgeMilliseconds = max(byName[name]!.oldestReadyAgeMilliseconds ?? 0, waited)
            }
        }
        return byName.values.sorted { $0.name < $1.name }
    }
}

/// A queue's state for the admin API and the metrics.
struct QueueDepth: Sendable, Hashable {
    var name: String
    var paused: Bool
    var counts: [JobState: Int] = [:]
    /// How long the oldest job that is due has waited past its `run_at`; `nil` when none is due.
    var oldestReadyAgeMilliseconds: Int64?
}
