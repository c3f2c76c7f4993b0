import HTTPTypes
import Hummingbird
import Logging

/// Finds the request's project from its `apikey` header (any letter case) or `apikey` query
/// parameter — never from `Authorization`, which carries the user's token after sign-in — and
/// refuses with 421 a project this node does not serve (another cell's, another node's SQLite).
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = CellbaseRequestContext
    let directory: ProjectDirectory
    let shape: APIError.Shape

    static let apiKeyField = HTTPField.Name("apikey")!
    /// How long a request waits for a moving project's switch before it is answered 503.
    static let fenceWait: Duration = .seconds(5)

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = request.headers[Self.apiKeyField] ?? request.uri.queryParameters["apikey"].map(String.init), !token.isEmpty else {
            throw APIError(.unauthorized, code: "no_api_key", message: "No API key found in request", hint: "No `apikey` request header or url param was found.", shape: shape)
        }
        let resolved: ResolvedKey
        do {
            resolved = try await directory.resolve(apiKey: token)
        } catch {
            throw APIError(.unauthorized, code: "invalid_api_key", message: "Invalid API key", hint: "Double check your `anon` or `service_role` API key.", shape: shape)
        }
        var key = resolved
        if let claimed = request.headers[Misplacement.placementVersionField].flatMap(Int64.init), claimed > key.project.placementVersion {
            await directory.catchUp(ref: key.project.ref, version: claimed)
            if let current = directory.cachedProject(ref: key.project.ref) { key.project = current }
        }
        if directory.fences.isClosed(key.project.ref) {
            guard await directory.fences.waitUntilOpen(key.project.ref, bound: Self.fenceWait) else {
                throw APIError.projectMoving(ref: key.project.ref, shape: shape)
            }
            if let current = directory.cachedProject(ref: key.project.ref) { key.project = current }
        }
        if let misplacement = directory.misplacement(of: key.project) {
            throw misplacement.error(ref: key.project.ref, shape: shape)
        }
        var context = context
        context.resolvedKey = key
        context.observedProject?.ref = key.project.ref
        context.logger[metadataKey: "project"] = .string(key.project.ref)
        do {
            return try await next(request, context)
        } catch let moved as ProjectMoved {
            // The project's shard no longer has it: a move switched it away after this node last
            // read the placements, and the handler's statement failed before doing anything. The
            // placements are read again. A read (GET, HEAD) runs once more where the project is
            // now, if this node serves it; anything else is answered with the project's place
            // (421) or 503 and the client's retry finds the new placement.
            await directory.catchUp(ref: moved.ref, version: key.project.placementVersion + 1)
            guard let current = directory.cachedProject(ref: moved.ref) else { throw APIError.projectMoving(ref: moved.ref, shape: shape) }
            if let misplacement = directory.misplacement(of: current) { throw misplacement.error(ref: moved.ref, shape: shape) }
            guard [.get, .head].contains(request.method), current.placementVersion > key.project.placementVersion else {
                throw APIError.projectMoving(ref: moved.ref, shape: shape)
            }
            context.resolvedKey?.project = current
            do {
                return try await next(request, context)
            } catch is ProjectMoved {
                throw APIError.projectMoving(ref: moved.ref, shape: shape)
            }
        }
    }
}

/// Admin routes: `Authorization: Bearer <admin token>`, compared in constant time.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              ConstantTime.equals(Array(header.utf8.dropFirst(7)), Array(token.utf8))
        else {
            throw APIError(.unauthorized, code: "invalid_admin_token", message: "A valid admin token is required: Authorization: Bearer <admin token>")
        }
        return try await next(request, context)
    }
}

enum ConstantTime {
    /// Compares without an early exit, so timing does not reveal how much of a secret matched.
    static func equals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(lhs.count == rhs.count ? 0 : 1)
        let count = max(lhs.count, rhs.count)
        for index in 0..<count {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0xFF
            difference |= left ^ right
        }
        return difference == 0
    }
}

/// For the routes that find their project without `APIKeyMiddleware` (telemetry with device
/// tokens, Storage's public and signed URLs): a handler that found the project gone from its
/// shard (a move switched it away after this node last read the placements; nothing was done)
/// makes the node read the placements again, and the request is answered `421` with the project's
/// new place or `503 project_moving`. Its retry is served from where the project is now.
struct ProjectMovedMiddleware<Context: RequestContext>: RouterMiddleware {
    let directory: ProjectDirectory
    let shape: APIError.Shape

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let moved as ProjectMoved {
            let known = directory.cachedProject(ref: moved.ref)?.placementVersion ?? 0
            await directory.catchUp(ref: moved.ref, version: known + 1)
            if let current = directory.cachedProject(ref: moved.ref), let misplacement = directory.misplacement(of: current) {
                throw misplacement.error(ref: moved.ref, shape: shape)
            }
            throw APIError.projectMoving(ref: moved.ref, shape: shape)
        }
    }
}
