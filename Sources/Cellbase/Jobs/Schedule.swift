import CellbaseSQL
import FoundationEssentials

/// A cron schedule that enqueues a job at each of its times.
struct Schedule: Sendable, Hashable {
    var name: String
    var cron: String
    /// An IANA time zone name; the cron expression reads wall-clock time there.
    var timeZone: String
    var kind: JobKind
    var payload: String
    var enabled: Bool
    var nextRunAt: Int64
    var lastRunAt: Int64?
    var createdAt: Int64

    init(name: String, cron: String, timeZone: String, kind: JobKind, payload: String, enabled: Bool, nextRunAt: Int64, lastRunAt: Int64?, createdAt: Int64) {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.kind = kind
        self.payload = payload
        self.enabled = enabled
        self.nextRunAt = nextRunAt
        self.lastRunAt = lastRunAt
        self.createdAt = createdAt
    }

    init(columns row: [String?]) throws {
        guard row.count >= 9, let name = row[0], let cron = row[1], let zone = row[2], let kind = row[3].flatMap(JobKind.init(rawValue:)),
            let payload = row[4], let enabled = row[5], let next = row[6].flatMap({ Int64($0) }), let created = row[8].flatMap({ Int64($0) })
        else { throw JobStoreError.malformedRow("a schedule row lacks a column") }
        self.init(
            name: name, cron: cron, timeZone: zone, kind: kind, payload: payload, enabled: enabled == "1",
            nextRunAt: next, lastRunAt: row[7].flatMap { Int64($0) }, createdAt: created
        )
    }

    /// The first time of `cron` in `zone` strictly after `milliseconds`.
    static func nextRun(of cron: CronExpression, in zone: TimeZone, after milliseconds: Int64) -> Int64? {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        return cron.nextFire(after: date, in: zone).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    var json: JSONValue {
        .object([
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "cron", value: .string(cron)),
            JSONMember(key: "time_zone", value: .string(timeZone)),
            JSONMember(key: "job", value: .object([
                JSONMember(key: "kind", value: .string(kind.rawValue)),
                JSONMember(key: "payload", value: (try? JSONParser.parse(payload.utf8, maxDepth: 64)) ?? .string(payload)),
            ])),
            JSONMember(key: "enabled", value: .bool(enabled)),
            JSONMember(key: "next_run_at", value: .string(Timestamp.iso8601(milliseconds: nextRunAt))),
            JSONMember(key: "last_run_at", value: lastRunAt.map { .string(Timestamp.iso8601(milliseconds: $0)) } ?? .null),
            JSONMember(key: "created_at", value: .string(Timestamp.iso8601(milliseconds: createdAt))),
        ])
    }
}

extension JobStore {
    func schedules() async throws -> [Schedule] {
        try await database.authRows(ref: ref, SQLStatement(sql.listSchedules)).map(Schedule.init(columns:))
    }

    func schedule(named name: String) async throws -> Schedule? {
        try await database.authRows(ref: ref, SQLStatement(sql.scheduleByName, binds: [.text(name)])).first.map(Schedule.init(columns:))
    }

    /// Throws `AuthDatabaseError.uniqueViolation` when the name is taken.
    func insert(_ schedule: Schedule) async throws {
        _ = try await database.authTransaction(ref: ref, SQLStatement(sql.insertSchedule, binds: [
            .text(schedule.name), .text(schedule.cron), .text(schedule.timeZone), .text(schedule.kind.rawValue), .text(schedule.payload), .integer(schedule.nextRunAt),
        ])) { _ in [] }
    }

    func deleteSchedule(named name: String) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.deleteSchedule, binds: [.text(name)])) { _ in [] }.isEmpty
    }

    /// Due schedules and the database's clock.
    func dueSchedules() async throws -> [(schedule: Schedule, now: Int64)] {
        try await database.authRows(ref: ref, SQLStatement(sql.dueSchedules)).map { row in
            guard let now = row.last.flatMap({ $0.flatMap { Int64($0) } }) else { throw JobStoreError.malformedRow("a due schedule lacks the clock") }
            return (try Schedule(columns: Array(row.dropLast())), now)
        }
    }

    /// Moves the schedule past the run at `runAt` and enqueues its job, in one transaction that
    /// commits only if nobody took that run first. `false` when somebody did.
    func takeRun(of schedule: Schedule, at runAt: Int64, next: Int64, job: NewJob) async throws -> Bool {
        let insert = JobStore.insert(job, id: UUID().uuidString.lowercased(), sql: sql)
        return try await !database.authTransaction(
            ref: ref, SQLStatement(sql.takeScheduledRun, binds: [.text(schedule.name), .integer(runAt), .integer(next)])
        ) { rows in rows.isEmpty ? [] : [insert] }.isEmpty
    }
}

/// Enqueues the jobs of a project's schedules that are due: a duty of the project's worker.
///
/// A run is taken by moving the schedule's `next_run_at` from that run's time to the next one and
/// enqueuing its job (idempotency key `schedule:<name>:<time>`) in one transaction, which only one
/// node can commit. Runs missed while no node worked the project are not caught up one by one:
/// the first pass after the gap enqueues one job and moves on to the next time after now.
struct ScheduleDuty: ProjectDuty {
    func perform(for project: Project, store: JobStore) async throws {
        for (schedule, now) in try await store.dueSchedules() {
            guard let cron = try? CronExpression(parsing: schedule.cron), let zone = TimeZone(identifier: schedule.timeZone) else { continue }
            let next = Schedule.nextRun(of: cron, in: zone, after: max(now, schedule.nextRunAt)) ?? Int64.max
            let job = NewJob(
                queue: "schedules", kind: schedule.kind, payload: schedule.payload,
                idempotencyKey: "schedule:\(schedule.name):\(schedule.nextRunAt)", maxAttempts: 8, runAt: nil
            )
            _ = try await store.takeRun(of: schedule, at: schedule.nextRunAt, next: next, job: job)
        }
    }
}
