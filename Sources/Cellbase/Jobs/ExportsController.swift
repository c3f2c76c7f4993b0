import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird

/// `/jobs/v1/exports`: a project's callers ask for a table as CSV in a storage bucket, and follow
/// the job that writes it. Requests carry the project's API key (and a user's access token);
/// the export reads rows and writes the file under that caller's policies.
struct ExportsController {
    let jobs: JobService
    let projects: ProjectService
    let storage: StorageController

    static let queue = "exports"
    static let maxBodyBytes = 64 * 1024

    func addRoutes(to group: RouterGroup<ProjectRequestContext>) {
        group.post("/exports", use: create)
        group.get("/exports/{id}", use: show)
    }

    @Sendable func create(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        let body = try await AdminRequests.jsonBody(request, limit: Self.maxBodyBytes)
        let export = try Self.export(body, role: context.role.rawValue, claims: context.claims, owner: StorageController.ownerID(context))
        try await check(export, in: context.project)
        let (record, _) = try await jobs.enqueue(NewJob(
            queue: Self.queue, kind: .export, payload: export.json.serialized, idempotencyKey: "export:" + UUID().uuidString.lowercased(),
            maxAttempts: jobs.configuration.defaultMaxAttempts, runAt: nil
        ), in: context.project)
        return AdminRequests.json(Self.view(record, export), status: .accepted)
    }

    /// An export as a request body describes it: `{table, query?, bucket, path?, expires_in?,
    /// formula_protection?}`, to run as `role` with `claims`.
    static func export(_ body: JSONValue, role: String, claims: JSONValue, owner: String?) throws -> ExportRequest {
        guard case .object = body else { throw APIError.badRequest("invalid_body", "The body is a JSON object {table, query, bucket, path}") }
        guard let table = try AdminRequests.string(body, "table"), !table.isEmpty else {
            throw APIError.badRequest("invalid_table", "table is required: the name of the table to export")
        }
        let query = try AdminRequests.string(body, "query") ?? ""
        guard let bucket = try AdminRequests.string(body, "bucket"), ObjectKey.isValidBucketID(bucket) else {
            throw APIError.badRequest("invalid_bucket", "bucket is required: the id of the bucket the file goes into")
        }
        let path: String
        do {
            path = try ObjectKey.name(try AdminRequests.string(body, "path") ?? "exports/\(table)-\(UUID().uuidString.lowercased()).csv")
        } catch let rejection as ObjectKey.Rejection {
            throw APIError.badRequest("invalid_path", rejection.message)
        }
        let expiresIn = try AdminRequests.integer(body, "expires_in") ?? 3600
        guard expiresIn > 0 else { throw APIError.badRequest("invalid_expires_in", "expires_in must be a positive number of seconds") }
        return ExportRequest(
            table: table, query: query, bucket: bucket, path: path, expiresIn: expiresIn,
            formulaProtection: try AdminRequests.bool(body, "formula_protection") ?? false, role: role, claims: claims, owner: owner
        )
    }

    /// What can be checked before the job runs is, so that a mistake is an answer rather than a
    /// dead job: the table, the columns the select and filters name, the bucket and its types.
    func check(_ export: ExportRequest, in project: Project) async throws {
        let catalog = try await projects.catalog(for: project)
        guard let table = catalog.schema.table(named: export.table) else {
            throw APIError.notFound("table_not_found", "Could not find the table 'public.\(export.table)'")
        }
        do {
            let walk = try TableExport(table: table, parameters: try QueryString.decode(Substring(export.query)))
            let namespace = try projects.shard(for: project).namespace(for: project.ref)
            let planner = RESTPlanner(schema: catalog.schema, namespace: namespace, access: export.access, policies: catalog.policies)
            _ = try planner.planRead(table: table.name, query: try walk.query(after: nil))
        } catch let error as RESTError {
            throw APIError(HTTPResponse.Status(code: error.status), code: error.code, message: error.message, hint: error.hint)
        } catch is QueryString.Invalid {
            throw APIError.badRequest("PGRST100", "query is not a valid query string")
        }
        guard let bucket = try await storage.store(for: project).bucket(id: export.bucket) else {
            throw APIError.notFound("bucket_not_found", "Bucket '\(export.bucket)' not found")
        }
        guard MimeType.isAllowed(ExportRequest.mimeType, by: bucket.allowedMimeTypes) else {
            throw APIError.badRequest("invalid_mime_type", "The bucket '\(export.bucket)' does not accept text/csv")
        }
    }

    /// An export the caller asked for: the same role and user (`service_role` sees every export).
    @Sendable func show(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard let record = try await jobs.store(for: context.project).job(id: id), record.kind == JobKind.export.rawValue,
              let export = try? ExportRequest(payload: record.payload),
              export.belongs(toRole: context.role.rawValue, claims: context.claims)
        else {
            throw APIError.notFound("export_not_found", "No export with id '\(id)'")
        }
        return AdminRequests.json(Self.view(record, export))
    }

    /// The job as its caller sees it: without the claims it carries.
    static func view(_ record: JobRecord, _ export: ExportRequest) -> JSONValue {
        let job = record.json
        return .object([
            JSONMember(key: "id", value: .string(record.id)),
            JSONMember(key: "state", value: .string(record.state.rawValue)),
            JSONMember(key: "table", value: .string(export.table)),
            JSONMember(key: "query", value: .string(export.query)),
            JSONMember(key: "bucket", value: .string(export.bucket)),
            JSONMember(key: "path", value: .string(export.path)),
            JSONMember(key: "attempts", value: .number(String(record.attempts))),
            JSONMember(key: "max_attempts", value: .number(String(record.maxAttempts))),
            JSONMember(key: "last_error", value: job["last_error"] ?? .null),
            JSONMember(key: "result", value: job["result"] ?? .null),
            JSONMember(key: "created_at", value: job["created_at"] ?? .null),
            JSONMember(key: "finished_at", value: job["finished_at"] ?? .null),
        ])
    }
}
