import CellbaseSQL
import Hummingbird
import NIOCore

/// `/admin/v1`: projects and their migrations, for the operator (admin token).
struct AdminController {
    let projects: ProjectService
    /// Migrations go through it, so that the webhooks they declare follow them.
    let webhooks: MigrationWebhooks

    struct CreateProject: Decodable {
        var name: String
        var shard: String?
        var cell: String?
    }

    struct ProjectKeysAnswer: ResponseEncodable {
        var ref: String
        var name: String
        var anon_key: String
        var service_role_key: String
        var shard: String
        var cell: String
        var node: String?
        var placement_version: Int64
        var plan: String?
        var created_at: String

        init(_ project: Project) {
            ref = project.ref
            name = project.name
            anon_key = project.anonKey
            service_role_key = project.serviceRoleKey
            shard = project.shard
            cell = project.cell
            node = project.node
            placement_version = project.placementVersion
            plan = project.plan
            created_at = project.createdAt
        }
    }

    struct Migration: Decodable {
        var name: String
        var sql: String
    }

    struct MigrationAnswer: ResponseEncodable {
        var name: String
        var applied: Bool
        var warnings: [String]
    }

    struct AppliedMigrationAnswer: ResponseEncodable {
        var name: String
        var applied_at: String
    }

    func addRoutes(to group: RouterGroup<CellbaseRequestContext>) {
        group.post("/projects", use: createProject)
        group.get("/projects", use: listProjects)
        group.get("/projects/{ref}", use: getProject)
        group.post("/projects/{ref}/migrations", use: migrate)
        group.get("/projects/{ref}/migrations", use: listMigrations)
        group.get("/projects/{ref}/realtime", use: realtime)
        group.put("/projects/{ref}/realtime/tables/{table}", use: publishTable)
        group.put("/projects/{ref}/realtime/retention", use: setRetention)
    }

    // MARK: Realtime

    struct RealtimeAnswer: ResponseEncodable {
        struct TableState: Encodable {
            var name: String
            var published: Bool
            var replica_identity: String
        }

        var tables: [TableState]
        var retention: ChangeLogRetention?
    }

    struct PublishTable: Decodable {
        var enabled: Bool
    }

    /// Which tables are published, and how long the change log keeps changes.
    @Sendable func realtime(_ request: Request, context: CellbaseRequestContext) async throws -> RealtimeAnswer {
        let project = try await project(context)
        let catalog = try await projects.catalog(for: project)
        return RealtimeAnswer(
            tables: catalog.schema.tables.map { .init(name: $0.name, published: $0.isPublished, replica_identity: $0.replicaIdentityFull ? "full" : "default") },
            retention: try await projects.changeLog(for: project).changeLogRetention(ref: project.ref)
        )
    }

    /// The per-table switch: a migration that adds the table to (or drops it from) the
    /// `supabase_realtime` publication, so the project's schema stays its list of migrations.
    @Sendable func publishTable(_ request: Request, context: CellbaseRequestContext) async throws -> RealtimeAnswer {
        let project = try await project(context)
        let body = try await decode(PublishTable.self, request, context)
        let name = context.parameters.get("table") ?? ""
        let catalog = try await projects.catalog(for: project)
        guard let table = catalog.schema.table(named: name) else {
            throw APIError.notFound("table_not_found", "No table named '\(name)' in project \(project.ref)")
        }
        if table.isPublished != body.enabled {
            let sql = "ALTER PUBLICATION supabase_realtime \(body.enabled ? "ADD" : "DROP") TABLE \(SQLNamespace.quote(name));"
            _ = try await projects.migrate(project, name: "realtime \(body.enabled ? "on" : "off"): \(name) at \(Timestamp.now())", sql: sql)
        }
        return try await realtime(request, context: context)
    }

    @Sendable func setRetention(_ request: Request, context: CellbaseRequestContext) async throws -> RealtimeAnswer {
        let project = try await project(context)
        let body = try await decode(ChangeLogRetention.self, request, context)
        guard (1...100_000_000).contains(body.max_rows), (1...31_536_000).contains(body.max_age_seconds) else {
            throw APIError.badRequest("invalid_body", "max_rows is 1 to 100000000 and max_age_seconds 1 to 31536000 (a year)")
        }
        try await projects.changeLog(for: project).setChangeLogRetention(body, ref: project.ref)
        return try await realtime(request, context: context)
    }

    @Sendable func createProject(_ request: Request, context: CellbaseRequestContext) async throws -> EditedResponse<ProjectKeysAnswer> {
        let body = try await decode(CreateProject.self, request, context)
        let project = try await projects.createProject(name: body.name, shard: body.shard, cell: body.cell)
        return EditedResponse(status: .created, response: ProjectKeysAnswer(project))
    }

    @Sendable func listProjects(_ request: Request, context: CellbaseRequestContext) async throws -> [ProjectKeysAnswer] {
        try await projects.directory.reload()
        return projects.directory.projects.map(ProjectKeysAnswer.init)
    }

    @Sendable func getProject(_ request: Request, context: CellbaseRequestContext) async throws -> ProjectKeysAnswer {
        ProjectKeysAnswer(try await project(context))
    }

    @Sendable func migrate(_ request: Request, context: CellbaseRequestContext) async throws -> EditedResponse<MigrationAnswer> {
        let project = try await project(context)
        let body = try await decode(Migration.self, request, context)
        guard !body.name.isEmpty, body.name.utf8.count <= 255 else {
            throw APIError.badRequest("invalid_body", "A migration needs a name of 1 to 255 bytes")
        }
        let result = try await webhooks.migrate(project, name: body.name, sql: body.sql)
        return EditedResponse(
            status: result.applied ? .created : .ok,
            response: MigrationAnswer(name: body.name, applied: result.applied, warnings: result.warnings)
        )
    }

    @Sendable func listMigrations(_ request: Request, context: CellbaseRequestContext) async throws -> [AppliedMigrationAnswer] {
        let project = try await project(context)
        return try await projects.shard(for: project).appliedMigrations(ref: project.ref)
            .map { AppliedMigrationAnswer(name: $0.name, applied_at: $0.appliedAt) }
    }

    private func project(_ context: CellbaseRequestContext) async throws -> Project {
        try await AdminRequests.project(context, projects)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: CellbaseRequestContext) async throws -> T {
        do {
            return try await request.decode(as: type, context: context)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "request_too_large", message: "The request body is too large")
        } catch {
            throw APIError.badRequest("invalid_body", "The body is not the expected JSON: \(String(describing: T.self)) fields")
        }
    }
}
