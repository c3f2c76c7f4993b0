import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird
import NIOCore

/// `/admin/v1/projects/{ref}/jobs` and `/queues`: what an operator sees of a project's queue and
/// does to it (admin token).
struct JobsAdminController {
    let jobs: JobService
    let projects: ProjectService

    static let maxPageSize = 1000
    static let maxPayloadBytes = 256 * 1024

    func addRoutes(to group: RouterGroup<CellbaseRequestContext>) {
        group.get("/projects/{ref}/jobs", use: list)
        group.post("/projects/{ref}/jobs", use: enqueue)
        group.get("/projects/{ref}/jobs/{id}", use: get)
        group.post("/projects/{ref}/jobs/{id}/retry", use: retry)
        group.delete("/projects/{ref}/jobs/{id}", use: discard)
        group.get("/projects/{ref}/queues", use: queues)
        group.put("/projects/{ref}/queues/{name}", use: setQueue)
    }

    @Sendable func list(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let query = request.uri.queryParameters
        var state: JobState?
        if let text = query.get("state") {
            guard let parsed = JobState(rawValue: text) else {
                throw APIError.badRequest("invalid_state", "state is one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = parsed
        }
        let limit = try Self.integer(query.get("limit"), name: "limit", default: 100, range: 1...Self.maxPageSize)
        let offset = try Self.integer(query.get("offset"), name: "offset", default: 0, range: 0...Int(Int32.max))
        let records = try await jobs.store(for: project).jobs(state: state, queue: query.get("queue"), limit: limit, offset: offset)
        return AdminRequests.json(.array(records.map(\.json)))
    }

    @Sendable func enqueue(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let body = try await AdminRequests.jsonBody(request, limit: Self.maxPayloadBytes * 2)
        let job = try Self.newJob(body, defaultMaxAttempts: jobs.configuration.defaultMaxAttempts)
        let (record, created) = try await jobs.enqueue(job, in: project)
        return AdminRequests.json(record.json, status: created ? .created : .ok)
    }

    /// Checks an enqueue request `{kind, queue?, payload?, idempotency_key?, max_attempts?,
    /// run_at?}`. Only the kinds whose payload an operator writes by hand are accepted here:
    /// webhook deliveries come from changes, exports from `/jobs/v1/exports`.
    static func newJob(_ body: JSONValue, defaultMaxAttempts: Int) throws -> NewJob {
        guard case .object = body else { throw APIError.badRequest("invalid_body", "The body is a JSON object {kind, queue, payload, idempotency_key, max_attempts, run_at}") }
        guard case .string(let kindText) = body["kind"], let kind = JobKind(rawValue: kindText), [.noop, .webhook].contains(kind) else {
            throw APIError.badRequest("invalid_kind", "kind is 'noop' or 'webhook' (exports come from /jobs/v1/exports)")
        }
        let queue = try AdminRequests.string(body, "queue") ?? "default"
        guard QueueName.isValid(queue) else {
            throw APIError.badRequest("invalid_queue", "A queue name is 1 to 64 of letters, digits, '-', '_' and '.'")
        }
        let payload = body["payload"]?.serialized ?? "{}"
        guard payload.utf8.count <= maxPayloadBytes else {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "A job's payload is at most \(maxPayloadBytes) bytes of JSON")
        }
        if kind == .webhook { _ = try WebhookJobPayload(body["payload"] ?? .null) }
        let key = try AdminRequests.string(body, "idempotency_key") ?? UUID().uuidString.lowercased()
        guard (1...255).contains(key.utf8.count) else {
            throw APIError.badRequest("invalid_idempotency_key", "An idempotency key is 1 to 255 bytes")
        }
        let maxAttempts = try AdminRequests.integer(body, "max_attempts") ?? defaultMaxAttempts
        guard (1...100).contains(maxAttempts) else {
            throw APIError.badRequest("invalid_max_attempts", "max_attempts is 1 to 100")
        }
        var runAt: Int64?
        if let text = try AdminRequests.string(body, "run_at") {
            do {
                runAt = try TelemetryTimestamp.micros(text: text) / 1000
            } catch {
                throw APIError.badRequest("invalid_run_at", "run_at is an RFC 3339 time such as 2026-11-24T12:00:00Z")
            }
        }
        return NewJob(queue: queue, kind: kind, payload: payload, idempotencyKey: key, maxAttempts: maxAttempts, runAt: runAt)
    }

    @Sendable func get(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let id = context.parameters.get("id") ?? ""
        guard let record = try await jobs.store(for: project).job(id: id) else { throw Self.noJob(id) }
        return AdminRequests.json(record.json)
    }

    @Sendable func retry(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let id = context.parameters.get("id") ?? ""
        let store = try await jobs.store(for: project)
        guard try await store.retry(id: id) else { throw try await Self.notDead(id, store) }
        jobs.poke(project)
        guard let record = try await store.job(id: id) else { throw Self.noJob(id) }
        return AdminRequests.json(record.json)
    }

    @Sendable func discard(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let id = context.parameters.get("id") ?? ""
        let store = try await jobs.store(for: project)
        guard try await store.discard(id: id) else { throw try await Self.notDead(id, store) }
        return Response(status: .noContent)
    }

    @Sendable func queues(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let queues = try await jobs.store(for: project).queues()
        return AdminRequests.json(.array(queues.map(\.json)))
    }

    @Sendable func setQueue(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let name = context.parameters.get("name") ?? ""
        guard QueueName.isValid(name) else {
            throw APIError.badRequest("invalid_queue", "A queue name is 1 to 64 of letters, digits, '-', '_' and '.'")
        }
        let body = try await AdminRequests.jsonBody(request, limit: 4096)
        guard case .bool(let paused) = body["paused"] else { throw APIError.badRequest("invalid_body", "The body is {\"paused\": true|false}") }
        let store = try await jobs.store(for: project)
        try await store.setPaused(paused, queue: name)
        if !paused { jobs.poke(project) }
        let queue = try await store.queues().first { $0.name == name } ?? QueueDepth(name: name, paused: paused)
        return AdminRequests.json(queue.json)
    }

    private static func noJob(_ id: String) -> APIError {
        APIError.notFound("job_not_found", "No job with id '\(id)'")
    }

    /// Retry and discard apply to dead jobs only; anything else is still the queue's.
    private static func notDead(_ id: String, _ store: JobStore) async throws -> APIError {
        guard let record = try await store.job(id: id) else { return noJob(id) }
        return APIError(.conflict, code: "job_not_dead", message: "Job \(id) is \(record.state.rawValue); only dead jobs can be retried or discarded")
    }

    static func integer(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("invalid_\(name)", "\(name) is an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}

enum QueueName {
    static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }
}

extension QueueDepth {
    var json: JSONValue {
        .object([
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "paused", value: .bool(paused)),
            JSONMember(key: "counts", value: .object(JobState.allCases.filter { $0 != .completed }.map { JSONMember(key: $0.rawValue, value: .number(String(counts[$0] ?? 0))) })),
            JSONMember(key: "oldest_ready_age_seconds", value: .number(String(Double(oldestReadyAgeMilliseconds ?? 0) / 1000))),
        ])
    }
}
