import CellbaseSQL
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `/rest/v1`: the PostgREST-compatible Data API over the project's tables.
///
/// A handler reads top to bottom: decode the request, plan it against the project's catalog (pure),
/// run the plan on the project's shard, let the plan shape the answer.
struct DataAPIController {
    let projects: ProjectService
    let limits: RESTLimits
    let maxBodySize: Int

    static let preferField = HTTPField.Name("Prefer")!
    static let acceptProfileField = HTTPField.Name("Accept-Profile")!
    static let contentProfileField = HTTPField.Name("Content-Profile")!

    func addRoutes(to group: RouterGroup<ProjectRequestContext>) {
        group.get("/", use: openAPI)
        group.get("/{table}") { request, context in try await handle(request, context: context, method: .get) }
        group.head("/{table}") { request, context in try await handle(request, context: context, method: .head) }
        group.post("/{table}") { request, context in try await handle(request, context: context, method: .post) }
        group.patch("/{table}") { request, context in try await handle(request, context: context, method: .patch) }
        group.delete("/{table}") { request, context in try await handle(request, context: context, method: .delete) }
    }

    @Sendable func openAPI(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        let schema = try await projects.catalog(for: context.project).schema
        let document = OpenAPIDocument.json(for: schema, title: context.project.name, basePath: "/rest/v1/")
        return Response(
            status: .ok,
            headers: [.contentType: "application/openapi+json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: document))
        )
    }

    func handle(_ request: Request, context: ProjectRequestContext, method: RESTMethod) async throws -> Response {
        do {
            return try await answer(request, context: context, method: method)
        } catch let error as RESTError {
            throw APIError(error)
        }
    }

    private func answer(_ request: Request, context: ProjectRequestContext, method: RESTMethod) async throws -> Response {
        try Self.checkProfile(request)
        let table = context.parameters.get("table") ?? ""
        let query: [(name: String, value: String)]
        do {
            query = try QueryString.decode(request.uri.query.map { Substring($0) } ?? "")
        } catch {
            throw RESTError(status: 400, code: "PGRST100", message: error.message)
        }
        var body: [UInt8]?
        if method == .post || method == .patch {
            body = try await Self.collectBody(request, limit: maxBodySize)
        }
        let project = context.project
        do {
            return try await respond(request, context: context, method: method, table: table, query: query, body: body, project: project)
        } catch let moved as ProjectMoved {
            // The statement failed, so the request did nothing: once the placements are read
            // again, it runs where the project is now, if that is a shard of this node.
            let current = try await movedAway(moved.ref, project)
            do {
                return try await respond(request, context: context, method: method, table: table, query: query, body: body, project: current)
            } catch let again as ProjectMoved {
                throw DatabaseErrors.movingError(again.ref)
            }
        }
    }

    /// Plans and runs the request on `project`'s shard as placed. A shard that no longer has the
    /// project throws `ProjectMoved`, before anything was done.
    private func respond(
        _ request: Request, context: ProjectRequestContext, method: RESTMethod, table: String,
        query: [(name: String, value: String)], body: [UInt8]?, project: Project
    ) async throws -> Response {
        let shard = try projects.shard(for: project)
        let catalog = try await projects.catalog(for: project)
        let planner = RESTPlanner(schema: catalog.schema, namespace: shard.namespace(for: project.ref), limits: limits, access: context.access, policies: catalog.policies)
        let plan = try planner.plan(RESTRequest(
            method: method,
            table: table,
            query: query.filter { $0.name != "apikey" },
            prefer: request.headers[values: Self.preferField].joined(separator: ","),
            accept: request.headers[.accept],
            body: body
        ))
        let answer: RESTResponse
        do {
            answer = try await shard.execute(ref: project.ref, plan: plan)
        } catch let error as RESTError {
            throw error
        } catch let moved as ProjectMoved {
            throw moved
        } catch {
            if let mapped = DatabaseErrors.restError(from: error) { throw mapped }
            // Not the database refusing the request: a fault here. Logged in full, answered without internals.
            context.logger.error("request failed", error: error, metadata: ["table": "\(table)"])
            throw RESTError(status: 500, code: "XX000", message: "internal error", hint: "The node's log has the details.")
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let buffer = answer.body.map { ByteBuffer(string: $0) } ?? ByteBuffer()
        return Response(status: HTTPResponse.Status(code: answer.status), headers: headers, body: .init(byteBuffer: method == .head ? ByteBuffer() : buffer))
    }

    /// The project's shard no longer has it: a move switched it away after this node last read
    /// the placements (the gateway did not know yet either, or it would have said so). The
    /// placements are read again — at most every `PlacementRefreshes.minimumInterval` — and the
    /// project as placed now is returned when this node serves it (on another of its shards).
    /// A project now served elsewhere is answered 421 with its place, which a gateway resends
    /// there: the statement failed, so the request did nothing here. Otherwise (the placement
    /// still names the old shard: the switch is under way) `503 project_moving`.
    private func movedAway(_ ref: String, _ project: Project) async throws -> Project {
        let directory = projects.directory
        await directory.catchUp(ref: ref, version: project.placementVersion + 1)
        guard let current = directory.cachedProject(ref: ref) else { throw DatabaseErrors.movingError(ref) }
        if let misplacement = directory.misplacement(of: current) { throw misplacement.error(ref: ref, shape: .postgrest) }
        guard current.shard != project.shard || current.placementVersion > project.placementVersion else { throw DatabaseErrors.movingError(ref) }
        return current
    }

    /// Only the `public` schema exists for a project, as on a fresh Supabase project.
    static func checkProfile(_ request: Request) throws {
        for field in [acceptProfileField, contentProfileField] {
            if let profile = request.headers[field], profile != "public" {
                throw RESTError(status: 406, code: "PGRST106", message: "The schema must be one of the following: public", details: nil, hint: nil)
            }
        }
    }

    static func collectBody(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            // A chunked body carries no Content-Length: the limit is found while collecting.
            throw tooLarge(limit)
        }
    }

    static func tooLarge(_ limit: Int) -> RESTError {
        RESTError(status: 413, code: "request_too_large", message: "The request body is larger than the limit of \(limit) bytes")
    }
}

extension ProjectRequestContext {
    /// Who the request runs as for row-level security: the service role bypasses it; anon and
    /// signed-in users are held to the policies with the claims their token carries.
    var access: RESTAccess {
        role == .serviceRole ? .serviceRole : .role(role.rawValue, claims: claims)
    }
}
