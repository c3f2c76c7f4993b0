import CellbaseSQL

/// What runs one kind of job. A handler may be cancelled at any moment (its lease was lost, or
/// the node is stopping); the job then runs again later, so handlers must be idempotent, with
/// the job's `idempotencyKey` to help.
protocol JobHandler: Sendable {
    /// Runs one attempt and returns its result as a JSON document (`nil` for none), or throws.
    /// A `JobFailure` says whether another attempt can help; any other error is retried.
    func run(_ job: ClaimedJob, project: Project) async throws -> String?
}

/// A failed attempt, as its handler describes it.
struct JobFailure: Error, CustomStringConvertible {
    var message: String
    /// Retrying cannot help (the job is malformed, the receiver said 410 Gone, the URL is not
    /// allowed): the job is dead at once.
    var isPermanent: Bool

    static func retry(_ message: String) -> JobFailure { JobFailure(message: message, isPermanent: false) }
    static func permanent(_ message: String) -> JobFailure { JobFailure(message: message, isPermanent: true) }

    var description: String { message }
}

/// Something a project's worker does besides running jobs, each time it wakes: turning changes
/// into webhook jobs, enqueuing the schedules that are due. A duty is idempotent across nodes:
/// several nodes may run it for one project at once.
protocol ProjectDuty: Sendable {
    func perform(for project: Project, store: JobStore) async throws
    /// What should wake the project's worker for this duty besides the poll, if anything now.
    /// Asked at each wake-up until it answers.
    func wakeUps(for project: Project, store: JobStore) async throws -> AsyncStream<Void>?
}

extension ProjectDuty {
    func wakeUps(for project: Project, store: JobStore) async throws -> AsyncStream<Void>? { nil }
}

/// The no-op job, for measuring the queue and exercising its faults: it succeeds and returns
/// nothing, after `{"sleep_ms": n}` milliseconds when its payload says so (at most an hour).
struct NoopJobHandler: JobHandler {
    static let maxSleep = 3_600_000

    func run(_ job: ClaimedJob, project: Project) async throws -> String? {
        let sleep = try Self.sleepMilliseconds(job.payload)
        if sleep > 0 { try await Task.sleep(for: .milliseconds(sleep)) }
        return nil
    }

    static func sleepMilliseconds(_ payload: String) throws -> Int {
        guard payload.contains("sleep_ms"), let value = try? JSONParser.parse(payload.utf8, maxDepth: 64), let sleep = value["sleep_ms"] else { return 0 }
        guard case .number(let text) = sleep, let milliseconds = Int(text), (0...maxSleep).contains(milliseconds) else {
            throw JobFailure.permanent("sleep_ms must be a whole number of milliseconds from 0 to \(maxSleep)")
        }
        return milliseconds
    }
}
