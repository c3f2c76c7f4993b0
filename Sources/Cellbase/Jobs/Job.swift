import CellbaseSQL

/// Where a job is in its life.
///
/// `queued` waits for its first attempt; `running` is leased to a worker; `failed` had an attempt
/// fail and waits for its next one (`run_at`); `completed` and `dead` are final. A job becomes
/// `dead` when its last allowed attempt fails, when its handler says retrying cannot help, or
/// when an operator discards it.
enum JobState: String, Sendable, Hashable, CaseIterable {
    case queued
    case running
    case failed
    case completed
    case dead
}

/// What kinds of work the queue knows how to run.
enum JobKind: String, Sendable, Hashable, CaseIterable {
    /// Does nothing and succeeds: the queue's own overhead, for measuring it.
    case noop
    /// POSTs a JSON body (a table change, or what a schedule or operator gave) to a webhook.
    case webhook
    /// Writes a table as CSV into a storage bucket.
    case export
    /// Sends one mail through the configured SMTP server.
    case mail
}

/// A job to add to a project's queue.
struct NewJob: Sendable, Hashable {
    var queue: String
    var kind: JobKind
    /// A JSON document; its shape depends on `kind`.
    var payload: String
    /// Two jobs with the same key are one job: enqueuing again returns the first. Handlers can
    /// pass it on (webhook deliveries send it as `webhook-id`) so a receiver deduplicates.
    var idempotencyKey: String
    var maxAttempts: Int
    /// Milliseconds since 1970 before which the job does not run; `nil` for at once.
    var runAt: Int64?
}

/// One row of a project's queue, as the admin API shows it.
struct JobRecord: Sendable, Hashable {
    var id: String
    var queue: String
    var kind: String
    var payload: String
    var idempotencyKey: String
    var state: JobState
    var attempts: Int
    var maxAttempts: Int
    var runAt: Int64
    var leaseOwner: String?
    var leaseExpiresAt: Int64?
    var lastError: String?
    var result: String?
    var createdAt: Int64
    var updatedAt: Int64
    var finishedAt: Int64?

    /// The columns every statement selects, in this order, each as text.
    static let columns = [
        "id", "queue", "kind", "payload", "idempotency_key", "state", "CAST(attempts AS text)", "CAST(max_attempts AS text)",
        "CAST(run_at AS text)", "lease_owner", "CAST(lease_expires_at AS text)", "last_error", "result",
        "CAST(created_at AS text)", "CAST(updated_at AS text)", "CAST(finished_at AS text)",
    ].joined(separator: ", ")

    init(columns row: [String?]) throws {
        func text(_ index: Int) throws -> String {
            guard index < row.count, let value = row[index] else { throw JobStoreError.malformedRow("column \(index) is NULL") }
            return value
        }
        func integer(_ index: Int) throws -> Int64 {
            guard let value = Int64(try text(index)) else { throw JobStoreError.malformedRow("column \(index) is not an integer") }
            return value
        }
        func optionalInteger(_ index: Int) -> Int64? { index < row.count ? row[index].flatMap { Int64($0) } : nil }
        id = try text(0)
        queue = try text(1)
        kind = try text(2)
        payload = try text(3)
        idempotencyKey = try text(4)
        guard let state = JobState(rawValue: try text(5)) else { throw JobStoreError.malformedRow("unknown state '\(try text(5))'") }
        self.state = state
        attempts = Int(try integer(6))
        maxAttempts = Int(try integer(7))
        runAt = try integer(8)
        leaseOwner = row.count > 9 ? row[9] : nil
        leaseExpiresAt = optionalInteger(10)
        lastError = row.count > 11 ? row[11] : nil
        result = row.count > 12 ? row[12] : nil
        createdAt = try integer(13)
        updatedAt = try integer(14)
        finishedAt = optionalInteger(15)
    }

    /// The admin API's JSON for the job: times in ISO 8601, payload and result as JSON.
    var json: JSONValue {
        func time(_ milliseconds: Int64?) -> JSONValue { milliseconds.map { .string(Timestamp.iso8601(milliseconds: $0)) } ?? .null }
        func document(_ text: String?) -> JSONValue {
            guard let text else { return .null }
            return (try? JSONParser.parse(text.utf8, maxDepth: 64)) ?? .string(text)
        }
        return .object([
            JSONMember(key: "id", value: .string(id)),
            JSONMember(key: "queue", value: .string(queue)),
            JSONMember(key: "kind", value: .string(kind)),
            JSONMember(key: "state", value: .string(state.rawValue)),
            JSONMember(key: "idempotency_key", value: .string(idempotencyKey)),
            JSONMember(key: "attempts", value: .number(String(attempts))),
            JSONMember(key: "max_attempts", value: .number(String(maxAttempts))),
            JSONMember(key: "run_at", value: time(runAt)),
            JSONMember(key: "lease_owner", value: leaseOwner.map(JSONValue.string) ?? .null),
            JSONMember(key: "lease_expires_at", value: time(leaseExpiresAt)),
            JSONMember(key: "last_error", value: lastError.map(JSONValue.string) ?? .null),
            JSONMember(key: "payload", value: document(payload)),
            JSONMember(key: "result", value: document(result)),
            JSONMember(key: "created_at", value: time(createdAt)),
            JSONMember(key: "updated_at", value: time(updatedAt)),
            JSONMember(key: "finished_at", value: time(finishedAt)),
        ])
    }
}

/// A job leased to this node: it may run until `leaseToken` stops matching the row.
struct ClaimedJob: Sendable, Hashable {
    var id: String
    var queue: String
    var kind: String
    var payload: String
    var idempotencyKey: String
    /// This attempt's number, from 1.
    var attempt: Int
    var maxAttempts: Int
    var leaseToken: String
}

enum JobStoreError: Error, CustomStringConvertible {
    case malformedRow(String)

    var description: String {
        switch self {
        case .malformedRow(let detail): "a job row could not be read: \(detail)"
        }
    }
}
