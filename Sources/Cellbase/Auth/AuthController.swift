import CellbaseSQL
import HTTPTypes
import Hummingbird
import NIOCore

/// `/auth/v1`: the GoTrue endpoints supabase clients call for email and password auth.
///
/// The project comes from the API key (the group's middleware); the user, where there is one,
/// from `Authorization: Bearer`, read here rather than by a middleware because after sign-in the
/// client sends its access token even to `/signup` and `/token`, where it must be ignored.
struct AuthController {
    let auth: AuthService

    func addRoutes(to projectGroup: RouterGroup<ProjectRequestContext>) {
        let group = projectGroup.add(middleware: AuthFailureMiddleware())
        group.get("/health", use: health)
        group.get("/settings", use: settings)
        group.post("/signup", use: signUp)
        group.post("/token", use: token)
        group.get("/user", use: getUser)
        group.put("/user", use: updateUser)
        group.post("/logout", use: logout)
        group.post("/recover", use: recover)
        group.post("/resend", use: resend)
        group.post("/verify", use: verify)
        group.get("/verify", use: verifyLink)
        group.get("/admin/users", use: listUsers)
        group.post("/admin/users", use: createUser)
        group.get("/admin/users/{id}", use: getUserByID)
        group.put("/admin/users/{id}", use: updateUserByID)
        group.delete("/admin/users/{id}", use: deleteUser)
    }

    @Sendable func health(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        AuthAnswer(.object([
            JSONMember(key: "version", value: .string("cellbase")),
            JSONMember(key: "name", value: .string("GoTrue")),
            JSONMember(key: "description", value: .string("GoTrue is a user registration and authentication API")),
        ]))
    }

    @Sendable func settings(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        AuthAnswer(.object([
            JSONMember(key: "external", value: .object([
                JSONMember(key: "email", value: .bool(true)),
                JSONMember(key: "phone", value: .bool(false)),
                JSONMember(key: "anonymous_users", value: .bool(false)),
            ])),
            JSONMember(key: "disable_signup", value: .bool(false)),
            JSONMember(key: "mailer_autoconfirm", value: .bool(!auth.configuration.confirmEmail)),
            JSONMember(key: "phone_autoconfirm", value: .bool(false)),
            JSONMember(key: "sms_provider", value: .string("")),
            JSONMember(key: "saml_enabled", value: .bool(false)),
        ]))
    }

    @Sendable func signUp(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        let body = try await AuthBody.collect(request)
        let (email, password) = try Self.credentials(body, status: .unprocessableContent)
        let redirectTo = request.uri.queryParameters["redirect_to"].map(String.init)
        switch try await auth.signUp(context.project, email: email, password: password, metadata: try body.object("data"), redirectTo: redirectTo) {
        case .signedIn(let session): return AuthAnswer(session.json)
        // A bare user, not `{"user":…}`: the client parses it as a User when it is no Session.
        case .awaitingConfirmation(let user): return AuthAnswer(user.json)
        }
    }

    @Sendable func token(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        let body = try await AuthBody.collect(request)
        switch request.uri.queryParameters["grant_type"].map(String.init) {
        case "password":
            let (email, password) = try Self.credentials(body, status: .badRequest)
            let address = context.remoteAddress?.ipAddress ?? "unknown"
            return AuthAnswer(try await auth.signIn(context.project, email: email, password: password, clientAddress: address).json)
        case "refresh_token":
            guard let token = try body.string("refresh_token"), !token.isEmpty else {
                throw AuthError(.badRequest, "validation_failed", "refresh_token is required")
            }
            return AuthAnswer(try await auth.refresh(context.project, refreshToken: token).json)
        default:
            throw AuthError(.badRequest, "validation_failed", "unsupported grant_type: use password or refresh_token")
        }
    }

    @Sendable func getUser(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        AuthAnswer(try await signedIn(request, context).user.json)
    }

    @Sendable func updateUser(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        let (user, _) = try await signedIn(request, context)
        let body = try await AuthBody.collect(request)
        if try body.string("phone") != nil { throw Self.phoneUnsupported }
        let changes = UserChanges(email: try body.string("email"), password: try body.string("password"), userMetadata: try body.object("data"))
        return AuthAnswer(try await auth.update(context.project, user: user, changes: changes).json)
    }

    @Sendable func logout(_ request: Request, context: ProjectRequestContext) async throws -> HTTPResponse.Status {
        let scopeName = request.uri.queryParameters["scope"].map(String.init) ?? ""
        guard let scope = scopeName.isEmpty ? .global : LogoutScope(rawValue: scopeName) else {
            throw AuthError(.badRequest, "validation_failed", "scope must be one of global, local, others")
        }
        let (user, token) = try await signedIn(request, context)
        try await auth.logout(context.project, user: user, token: token, scope: scope)
        return .noContent
    }

    // MARK: - Mail flows

    @Sendable func recover(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        let body = try await AuthBody.collect(request)
        guard let email = try body.string("email"), !email.isEmpty else { throw AuthError(.badRequest, "validation_failed", "Password recovery requires an email") }
        try await auth.recover(context.project, email: email, redirectTo: request.uri.queryParameters["redirect_to"].map(String.init))
        return AuthAnswer(.object([]))
    }

    @Sendable func resend(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        let body = try await AuthBody.collect(request)
        if try body.string("phone") != nil { throw Self.phoneUnsupported }
        guard try body.string("type") == "signup" else { throw AuthError(.badRequest, "validation_failed", "Only type signup can be resent: email changes take effect at once") }
        guard let email = try body.string("email"), !email.isEmpty else { throw AuthError(.badRequest, "validation_failed", "Resending requires an email") }
        try await auth.resendConfirmation(context.project, email: email, redirectTo: request.uri.queryParameters["redirect_to"].map(String.init))
        return AuthAnswer(.object([]))
    }

    /// `{type, email, token}` or `{type, token_hash}`: the session, as `/token` answers it.
    @Sendable func verify(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        let body = try await AuthBody.collect(request)
        if try body.string("phone") != nil { throw Self.phoneUnsupported }
        let type = try Self.verificationType(try body.string("type"))
        let verification: AuthService.Verification
        if let hash = try body.string("token_hash"), !hash.isEmpty {
            verification = .hash(hash)
        } else if let email = try body.string("email"), let token = try body.string("token"), !token.isEmpty {
            verification = .code(email: email, code: token)
        } else {
            throw AuthError(.badRequest, "validation_failed", "Verify requires either a token_hash, or an email and a token")
        }
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        return AuthAnswer(try await auth.verify(context.project, type: type, verification, clientAddress: address).json)
    }

    /// The link in a mail: a redirect to `redirect_to` (same origin as the site URL) or the site
    /// URL, with the session — or the error — in the fragment, as GoTrue's implicit flow answers.
    @Sendable func verifyLink(_ request: Request, context: ProjectRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let target = auth.redirectTarget(query["redirect_to"].map(String.init))
        let fragment: [(String, String)]
        do {
            let type = try Self.verificationType(query["type"].map(String.init))
            guard let hash = query["token"], !hash.isEmpty else { throw AuthError.otpExpired }
            let address = context.remoteAddress?.ipAddress ?? "unknown"
            let session = try await auth.verify(context.project, type: type, .hash(String(hash)), clientAddress: address)
            fragment = [
                ("access_token", session.accessToken), ("expires_at", String(session.expiresAt)), ("expires_in", String(session.expiresIn)),
                ("refresh_token", session.refreshToken), ("token_type", "bearer"), ("type", type.rawValue),
            ]
        } catch let error as AuthError {
            fragment = [
                ("error", error.code == AuthError.otpExpired.code ? "access_denied" : "invalid_request"),
                ("error_code", error.code), ("error_description", error.message),
            ]
        }
        return Response(status: .seeOther, headers: [.location: AuthRedirect.withFragment(target, fragment)])
    }

    private static func verificationType(_ name: String?) throws(AuthError) -> VerificationType {
        guard let name, let type = VerificationType(rawValue: name) else {
            throw AuthError(.badRequest, "validation_failed", "Verify requires a type: signup, recovery, magiclink or email")
        }
        return type
    }

    // MARK: - Admin (service_role)

    @Sendable func listUsers(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        try requireAdmin(request, context)
        // supabase-py sends `page=&per_page=` when not given: empty means the default.
        let page = try Self.positiveInteger(request, "page") ?? 1
        let perPage = min(try Self.positiveInteger(request, "per_page") ?? 50, 1000)
        let (offset, overflow) = (page - 1).multipliedReportingOverflow(by: perPage)
        guard !overflow else { throw AuthError(.badRequest, "validation_failed", "page is too large") }
        let (users, total) = try await auth.store(for: context.project).users(limit: perPage, offset: offset)
        var response = AuthAnswer(.object([
            JSONMember(key: "users", value: .array(users.map(\.json))),
            JSONMember(key: "aud", value: .string("authenticated")),
        ]))
        response.headers[Self.totalCountField] = String(total)
        return response
    }

    @Sendable func createUser(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        try requireAdmin(request, context)
        let body = try await AuthBody.collect(request)
        if try body.string("phone") != nil { throw Self.phoneUnsupported }
        guard let email = try body.string("email") else { throw AuthError.validation("email is required: phone users are not supported") }
        let user = try await auth.createUser(
            context.project, email: email, password: try body.string("password"),
            id: try body.string("id").map(AuthService.userID), changes: try Self.adminChanges(body)
        )
        return AuthAnswer(user.json)
    }

    @Sendable func getUserByID(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        try requireAdmin(request, context)
        return AuthAnswer(try await user(byID: context).json)
    }

    @Sendable func updateUserByID(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        try requireAdmin(request, context)
        let user = try await user(byID: context)
        let body = try await AuthBody.collect(request)
        if try body.string("phone") != nil { throw Self.phoneUnsupported }
        return AuthAnswer(try await auth.update(context.project, user: user, changes: try Self.adminChanges(body)).json)
    }

    @Sendable func deleteUser(_ request: Request, context: ProjectRequestContext) async throws -> AuthAnswer {
        try requireAdmin(request, context)
        let id = try AuthService.userID(context.parameters.get("id") ?? "")
        guard try await auth.store(for: context.project).deleteUser(id: id) else { throw AuthError.userNotFound }
        return AuthAnswer(.object([]))
    }

    private func user(byID context: ProjectRequestContext) async throws -> AuthUser {
        let id = try AuthService.userID(context.parameters.get("id") ?? "")
        guard let user = try await auth.store(for: context.project).user(id: id) else { throw AuthError.userNotFound }
        return user
    }

    /// The admin API is the service_role key's, sent as the bearer token (supabase-py's admin
    /// client always sends its key there). Anything else, a user's token included, is refused.
    private func requireAdmin(_ request: Request, _ context: ProjectRequestContext) throws {
        guard let token = BearerToken.from(request) else { throw AuthError.noAuthorization }
        guard BearerToken.isServiceRoleKey(token, of: context.project) else { throw AuthError.notAdmin }
    }

    private func signedIn(_ request: Request, _ context: ProjectRequestContext) async throws -> (user: AuthUser, token: VerifiedAccessToken) {
        guard let token = BearerToken.from(request) else { throw AuthError.noAuthorization }
        return try await auth.user(context.project, accessToken: token)
    }

    // MARK: - Reading requests

    static let totalCountField = HTTPField.Name("X-Total-Count")!
    static let phoneUnsupported = AuthError(.unprocessableContent, "phone_provider_disabled", "Phone logins are not supported: use email")

    /// `email` and `password`, both required; `status` is GoTrue's for their absence (422 on
    /// sign-up, 400 on sign-in).
    private static func credentials(_ body: AuthBody, status: HTTPResponse.Status) throws(AuthError) -> (email: String, password: String) {
        if try body.string("phone") != nil { throw phoneUnsupported }
        guard let email = try body.string("email") else { throw AuthError(status, "validation_failed", "An email address is required") }
        guard let password = try body.string("password") else { throw AuthError(status, "validation_failed", "A password is required") }
        return (email, password)
    }

    private static func adminChanges(_ body: AuthBody) throws(AuthError) -> UserChanges {
        UserChanges(
            email: try body.string("email"), password: try body.string("password"),
            userMetadata: try body.object("user_metadata"), appMetadata: try body.object("app_metadata"),
            confirmEmail: try body.bool("email_confirm")
        )
    }

    private static func positiveInteger(_ request: Request, _ name: String) throws(AuthError) -> Int? {
        guard let text = request.uri.queryParameters.get(name), !text.isEmpty else { return nil }
        guard let value = Int(text), value >= 1 else { throw AuthError(.badRequest, "validation_failed", "\(name) must be a positive integer") }
        return value
    }
}

/// An Auth answer: GoTrue's JSON shapes, built as `JSONValue`s.
struct AuthAnswer: ResponseGenerator {
    var body: JSONValue
    var headers: HTTPFields = [:]

    init(_ body: JSONValue) {
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized)))
    }
}
