import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird

/// `/admin/v1/projects/{ref}/webhooks`: database webhooks (admin token).
struct WebhooksAdminController {
    let jobs: JobService
    let projects: ProjectService

    func addRoutes(to group: RouterGroup<CellbaseRequestContext>) {
        group.get("/projects/{ref}/webhooks", use: list)
        group.post("/projects/{ref}/webhooks", use: create)
        group.get("/projects/{ref}/webhooks/{name}", use: get)
        group.patch("/projects/{ref}/webhooks/{name}", use: update)
        group.delete("/projects/{ref}/webhooks/{name}", use: delete)
    }

    @Sendable func list(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        return AdminRequests.json(.array(try await jobs.store(for: project).webhooks().map(\.json)))
    }

    @Sendable func get(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let name = context.parameters.get("name") ?? ""
        guard let hook = try await jobs.store(for: project).webhook(named: name) else { throw Self.noWebhook(name) }
        return AdminRequests.json(hook.json)
    }

    /// `{name, table, events?, filter?, url, timeout_ms?, max_attempts?}`. The table is added to
    /// the change log's capture (the `supabase_realtime` publication) if it is not there yet: the
    /// webhook reads the change log, so it fires for every write, through any path.
    @Sendable func create(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let body = try await AdminRequests.jsonBody(request, limit: 64 * 1024)
        var catalog = try await projects.catalog(for: project)
        var hook = try Self.webhook(body, schema: catalog.schema)
        if let table = catalog.schema.table(named: hook.table), !table.isPublished {
            let sql = "ALTER PUBLICATION supabase_realtime ADD TABLE \(SQLNamespace.quote(table.name));"
            _ = try await projects.migrate(project, name: "webhook \(hook.name): capture \(table.name) at \(Timestamp.now())", sql: sql)
            catalog = try await projects.catalog(for: project)
        }
        let store = try await jobs.store(for: project)
        let head = try await projects.changeLog(for: project).changeLogHead(ref: project.ref)
        hook.sinceSequence = head
        do {
            try await store.insert(hook, logHead: head)
        } catch AuthDatabaseError.uniqueViolation {
            throw APIError(.conflict, code: "webhook_exists", message: "A webhook named '\(hook.name)' exists")
        }
        jobs.poke(project)
        guard let stored = try await store.webhook(named: hook.name) else { throw Self.noWebhook(hook.name) }
        return AdminRequests.json(stored.json, status: .created)
    }

    /// `{enabled: true|false}`: an operator turns a webhook off, or back on after a 410.
    @Sendable func update(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let name = context.parameters.get("name") ?? ""
        let body = try await AdminRequests.jsonBody(request, limit: 4096)
        guard let enabled = try AdminRequests.bool(body, "enabled") else {
            throw APIError.badRequest("invalid_body", "The body is {\"enabled\": true|false}")
        }
        let store = try await jobs.store(for: project)
        guard try await store.setWebhook(named: name, enabled: enabled, reason: enabled ? nil : "disabled by an operator at \(Timestamp.now())") else {
            throw Self.noWebhook(name)
        }
        jobs.poke(project)
        guard let hook = try await store.webhook(named: name) else { throw Self.noWebhook(name) }
        return AdminRequests.json(hook.json)
    }

    @Sendable func delete(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let name = context.parameters.get("name") ?? ""
        guard try await jobs.store(for: project).deleteWebhook(named: name) else { throw Self.noWebhook(name) }
        return Response(status: .noContent)
    }

    private static func noWebhook(_ name: String) -> APIError {
        APIError.notFound("webhook_not_found", "No webhook named '\(name)'")
    }

    /// Checks a webhook definition against the project's schema.
    static func webhook(_ body: JSONValue, schema: Schema) throws -> Webhook {
        guard case .object = body else { throw APIError.badRequest("invalid_body", "The body is a JSON object {name, table, events, filter, url, timeout_ms, max_attempts}") }
        guard let name = try AdminRequests.string(body, "name"), QueueName.isValid(name) else {
            throw APIError.badRequest("invalid_name", "A webhook's name is 1 to 64 of letters, digits, '-', '_' and '.'")
        }
        guard let tableName = try AdminRequests.string(body, "table") else { throw APIError.badRequest("invalid_table", "table is required") }
        guard let table = schema.table(named: tableName) else {
            throw APIError.notFound("table_not_found", "No table named '\(tableName)'")
        }
        var events = Set(RowChange.Operation.allCases)
        switch body["events"] {
        case nil, .null: break
        case .array(let items) where !items.isEmpty:
            events = []
            for item in items {
                guard case .string(let text) = item, let operation = RowChange.Operation(rawValue: text.uppercased()) else {
                    throw APIError.badRequest("invalid_events", "events is a list of INSERT, UPDATE and DELETE")
                }
                events.insert(operation)
            }
        default: throw APIError.badRequest("invalid_events", "events is a non-empty list of INSERT, UPDATE and DELETE")
        }
        let filter = try AdminRequests.string(body, "filter")
        if let filter {
            do {
                _ = try ChangeFilter(parsing: filter, table: table)
            } catch {
                throw APIError.badRequest("invalid_filter", error.reason)
            }
        }
        guard let url = try AdminRequests.string(body, "url"), url.utf8.count <= 2048, let scheme = url.split(separator: ":").first?.lowercased(),
            ["http", "https"].contains(scheme), url.lowercased().hasPrefix(scheme + "://")
        else { throw APIError.badRequest("invalid_url", "url is an http:// or https:// URL of at most 2048 bytes") }
        let timeout = try AdminRequests.integer(body, "timeout_ms") ?? 5000
        guard (100...60_000).contains(timeout) else { throw APIError.badRequest("invalid_timeout_ms", "timeout_ms is 100 to 60000") }
        let attempts = try AdminRequests.integer(body, "max_attempts") ?? 8
        guard (1...100).contains(attempts) else { throw APIError.badRequest("invalid_max_attempts", "max_attempts is 1 to 100") }
        return Webhook(
            id: UUID().uuidString.lowercased(), name: name, table: table.name, events: events, filter: filter, url: url,
            secret: Webhook.newSecret(), timeoutMilliseconds: Int64(timeout), maxAttempts: attempts, enabled: true,
            disabledReason: nil, sinceSequence: 0, createdAt: 0
        )
    }
}
