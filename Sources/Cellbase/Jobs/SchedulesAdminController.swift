import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird

/// `/admin/v1/projects/{ref}/schedules`: cron schedules that enqueue jobs (admin token).
struct SchedulesAdminController {
    let jobs: JobService
    let projects: ProjectService
    let exports: ExportsController

    func addRoutes(to group: RouterGroup<CellbaseRequestContext>) {
        group.get("/projects/{ref}/schedules", use: list)
        group.post("/projects/{ref}/schedules", use: create)
        group.get("/projects/{ref}/schedules/{name}", use: get)
        group.delete("/projects/{ref}/schedules/{name}", use: delete)
    }

    @Sendable func list(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        return AdminRequests.json(.array(try await jobs.store(for: project).schedules().map(\.json)))
    }

    @Sendable func get(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let name = context.parameters.get("name") ?? ""
        guard let schedule = try await jobs.store(for: project).schedule(named: name) else { throw Self.noSchedule(name) }
        return AdminRequests.json(schedule.json)
    }

    /// `{name, cron, time_zone?, job: {kind: "webhook", payload: {webhook, body}}}`, or
    /// `job: {kind: "export", payload: {table, query?, bucket, path, …}}` (run as `service_role`).
    @Sendable func create(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let body = try await AdminRequests.jsonBody(request, limit: 256 * 1024)
        let store = try await jobs.store(for: project)
        let schedule = try Self.schedule(body, now: Timestamp.nowMilliseconds())
        if case .webhook = schedule.kind, let payload = try? WebhookJobPayload(try JSONParser.parse(schedule.payload.utf8, maxDepth: 64)),
            try await store.webhook(named: payload.webhook) == nil {
            throw APIError.notFound("webhook_not_found", "No webhook named '\(payload.webhook)'")
        }
        if case .export = schedule.kind { try await exports.check(try ExportRequest(payload: schedule.payload), in: project) }
        do {
            try await store.insert(schedule)
        } catch AuthDatabaseError.uniqueViolation {
            throw APIError(.conflict, code: "schedule_exists", message: "A schedule named '\(schedule.name)' exists")
        }
        jobs.poke(project)
        guard let stored = try await store.schedule(named: schedule.name) else { throw Self.noSchedule(schedule.name) }
        return AdminRequests.json(stored.json, status: .created)
    }

    @Sendable func delete(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let name = context.parameters.get("name") ?? ""
        guard try await jobs.store(for: project).deleteSchedule(named: name) else { throw Self.noSchedule(name) }
        return Response(status: .noContent)
    }

    private static func noSchedule(_ name: String) -> APIError {
        APIError.notFound("schedule_not_found", "No schedule named '\(name)'")
    }

    /// Checks a schedule definition; its first run is the cron's first time after `now`.
    static func schedule(_ body: JSONValue, now: Int64) throws -> Schedule {
        guard case .object = body else { throw APIError.badRequest("invalid_body", "The body is a JSON object {name, cron, time_zone, job: {kind, payload}}") }
        guard let name = try AdminRequests.string(body, "name"), QueueName.isValid(name) else {
            throw APIError.badRequest("invalid_name", "A schedule's name is 1 to 64 of letters, digits, '-', '_' and '.'")
        }
        guard let text = try AdminRequests.string(body, "cron") else { throw APIError.badRequest("invalid_cron", "cron is required: five fields, minute hour day-of-month month day-of-week") }
        let cron: CronExpression
        do {
            cron = try CronExpression(parsing: text)
        } catch {
            throw APIError.badRequest("invalid_cron", error.description)
        }
        let zoneName = try AdminRequests.string(body, "time_zone") ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else {
            throw APIError.badRequest("invalid_time_zone", "'\(zoneName)' is not an IANA time zone name such as Europe/Berlin")
        }
        guard let job = body["job"], case .object = job, case .string(let kindText)? = job["kind"] else {
            throw APIError.badRequest("invalid_job", "job is {\"kind\": \"webhook\" or \"export\", \"payload\": {…}}")
        }
        let kind: JobKind
        let payload: String
        switch JobKind(rawValue: kindText) {
        case .webhook?:
            kind = .webhook
            payload = try WebhookJobPayload(job["payload"] ?? .null).json.serialized
        case .export?:
            // Every run writes the same path, replacing the last run's file.
            guard case .string? = job["payload"]?["path"] else {
                throw APIError.badRequest("invalid_path", "A scheduled export names its path: each run replaces the file there")
            }
            let export = try ExportsController.export(
                job["payload"] ?? .null, role: KeyRole.serviceRole.rawValue,
                claims: .object([JSONMember(key: "role", value: .string(KeyRole.serviceRole.rawValue))]), owner: nil
            )
            kind = .export
            payload = export.json.serialized
        default:
            throw APIError.badRequest("invalid_job", "A schedule enqueues jobs of kind 'webhook' or 'export'")
        }
        guard let next = Schedule.nextRun(of: cron, in: zone, after: now) else {
            throw APIError.badRequest("invalid_cron", "'\(text)' never fires")
        }
        return Schedule(
            name: name, cron: cron.description, timeZone: zone.identifier, kind: kind, payload: payload,
            enabled: true, nextRunAt: next, lastRunAt: nil, createdAt: now
        )
    }
}
