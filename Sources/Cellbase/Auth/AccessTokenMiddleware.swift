import HTTPTypes
import Hummingbird

/// Lets Data API requests run as a signed-in user: after the API key has named the project, an
/// `Authorization: Bearer` token that is not one of the project's keys must be an access token
/// of that project (HS256 with its secret, within its lifetime). It then sets the request's role
/// (`authenticated`) and claims; a token that does not verify is refused with 401, as PostgREST
/// refuses it. Whether the token's session is still alive is not checked, as in Supabase: an
/// access token stays valid until it expires.
struct AccessTokenMiddleware: RouterMiddleware {
    typealias Context = CellbaseRequestContext
    let directory: ProjectDirectory
    /// The error shape of the API the middleware guards.
    var shape: APIError.Shape = .postgrest

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let project = context.resolvedKey?.project, let token = BearerToken.from(request),
              !BearerToken.isKey(token, of: project)
        else { return try await next(request, context) }
        var context = context
        do {
            context.accessToken = try await directory.verifyAccessToken(token, of: project)
        } catch {
            throw shape == .storage ? Self.storageRefusal(error) : Self.refusal(error)
        }
        return try await next(request, context)
    }

    /// Storage's answer: 401 with the error `InvalidJWT`.
    static func storageRefusal(_ rejection: AccessTokenRejection) -> APIError {
        let message =
            switch rejection {
            case .invalid: "invalid signature"
            case .expired: "jwt expired"
            case .notYetValid: "jwt not active"
            case .claim(let name): "jwt claim '\(name)' is missing or invalid"
            }
        return APIError(.unauthorized, code: "InvalidJWT", message: message, shape: .storage)
    }

    /// PostgREST's answers: PGRST301 for a token that does not verify, PGRST303 for claims that do not hold.
    static func refusal(_ rejection: AccessTokenRejection) -> APIError {
        let (code, message): (String, String) =
            switch rejection {
            case .invalid: ("PGRST301", "JWT could not be verified: it is malformed, not HS256, or not signed with this project's secret")
            case .expired: ("PGRST303", "JWT expired")
            case .notYetValid: ("PGRST303", "JWT issued at future")
            case .claim(let name): ("PGRST303", "JWT claim '\(name)' is missing or invalid")
            }
        return APIError(
            .unauthorized, code: code, message: message, shape: .postgrest,
            headers: [.wwwAuthenticate: #"Bearer error="invalid_token", error_description="\#(message)""#]
        )
    }
}

/// The token of an `Authorization: Bearer <token>` header.
enum BearerToken {
    static func from(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.utf8.count > 7,
              header.prefix(7).lowercased() == "bearer "
        else { return nil }
        let token = header.dropFirst(7).drop { $0 == " " }
        return token.isEmpty ? nil : String(token)
    }

    /// Whether `token` is the project's anon or service_role key, compared in constant time.
    static func isKey(_ token: String, of project: Project) -> Bool {
        isServiceRoleKey(token, of: project) || ConstantTime.equals(Array(token.utf8), Array(project.anonKey.utf8))
    }

    static func isServiceRoleKey(_ token: String, of project: Project) -> Bool {
        ConstantTime.equals(Array(token.utf8), Array(project.serviceRoleKey.utf8))
    }
}
