import CellbaseSQL
import Foundation
import HTTPTypes
import Testing

@testable import Cellbase

extension TestClient {
    /// An Auth request as supabase-py sends it: the key in `apiKey`, `Authorization: Bearer`
    /// carrying `bearer` (the user's token after sign-in, the key otherwise).
    func auth(_ method: HTTPRequest.Method, _ path: String, project: TestProject, bearer: String? = nil, body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [
            HTTPField.Name("apiKey")!: project.anonKey,
            .authorization: "Bearer \(bearer ?? project.anonKey)",
            .contentType: "application/json;charset=UTF-8",
        ]
        headers[HTTPField.Name("X-Supabase-Api-Version")!] = "2024-01-01"
        return try await request(method, "/auth/v1" + path, headers: headers, body: body)
    }

    /// An admin call as supabase-py's admin client makes it: the service_role key in both headers.
    func authAdmin(_ method: HTTPRequest.Method, _ path: String, project: TestProject, body: String? = nil) async throws -> Answer {
        let headers: HTTPFields = [
            HTTPField.Name("apiKey")!: project.serviceRoleKey,
            .authorization: "Bearer \(project.serviceRoleKey)",
            .contentType: "application/json",
        ]
        return try await request(method, "/auth/v1" + path, headers: headers, body: body)
    }

    /// Signs up `email` and returns the session.
    func signUp(_ project: TestProject, _ email: String, password: String = "secret-password", data: String = "{}") async throws -> AuthSession {
        let answer = try await auth(.post, "/signup", project: project, body: #"{"email":"\#(email)","password":"\#(password)","data":\#(data),"gotrue_meta_security":{"captcha_token":null},"code_challenge":"x","code_challenge_method":"s256"}"#)
        guard answer.status == .ok else { throw UnexpectedAnswer(answer: answer) }
        return try AuthSession(answer)
    }

    func signIn(_ project: TestProject, _ email: String, password: String = "secret-password") async throws -> Answer {
        try await auth(.post, "/token?grant_type=password", project: project, body: #"{"email":"\#(email)","password":"\#(password)","data":{},"gotrue_meta_security":{"captcha_token":null}}"#)
    }

    func refresh(_ project: TestProject, _ refreshToken: String) async throws -> Answer {
        try await auth(.post, "/token?grant_type=refresh_token", project: project, body: #"{"refresh_token":"\#(refreshToken)"}"#)
    }
}

/// The parts of a session answer the tests use.
struct AuthSession {
    var json: JSONValue
    var accessToken: String
    var refreshToken: String
    var userID: String

    init(_ answer: TestClient.Answer) throws {
        json = try answer.json()
        guard case .string(let access)? = json["access_token"], case .string(let refresh)? = json["refresh_token"],
              case .string(let id)? = json["user"]?["id"]
        else { throw UnexpectedAnswer(answer: answer) }
        (accessToken, refreshToken, userID) = (access, refresh, id)
    }
}

extension TestClient.Answer {
    /// GoTrue's `error_code`.
    var errorCode: String? { (try? json())?["error_code"]?.stringValue }
}

/// A fresh node on `backend` with one project.
func withAuthProject(_ backend: Backend, auth: AuthConfiguration? = nil, _ test: @Sendable (TestClient, TestProject) async throws -> Void) async throws {
    var node = TestNode(backend: backend)
    if let auth { node.auth = auth }
    defer { node.removeData() }
    try await node.run { client in try await test(client, try await client.project(migration: todosMigration)) }
}

@Suite("Auth")
struct AuthTests {
    @Test(arguments: Backend.allCases)
    func signUpAnswersASessionTheClientParses(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let session = try await client.signUp(project, "Ada@Example.com", data: #"{"name":"Ada","n":1}"#)
            #expect(session.json["token_type"] == .string("bearer"))
            #expect(session.json["expires_in"] == .number("3600"))
            guard case .number(let expiresAt)? = session.json["expires_at"] else { Issue.record("expires_at is not a number"); return }
            #expect(Int(expiresAt) != nil)
            let user = try #require(session.json["user"])
            #expect(user["email"] == .string("ada@example.com"))
            #expect(user["aud"] == .string("authenticated"))
            #expect(try user["user_metadata"]?.normalizedNumbers == json(#"{"name":"Ada","n":1}"#))
            #expect(try user["app_metadata"] == json(#"{"provider":"email","providers":["email"]}"#))
            #expect(user["identities"] == .array([]))
            #expect(user["is_anonymous"] == .bool(false))
            guard case .string(let createdAt)? = user["created_at"] else { Issue.record("created_at missing"); return }
            #expect(createdAt.hasSuffix("Z"))
            #expect(UUID(uuidString: session.userID) != nil)

            let me = try await client.auth(.get, "/user", project: project, bearer: session.accessToken)
            #expect(me.status == .ok)
            #expect(try me.json()["id"] == .string(session.userID))

            let again = try await client.auth(.post, "/signup", project: project, bearer: session.accessToken, body: #"{"email":"ADA@example.com","password":"another-one"}"#)
            #expect(again.status == .unprocessableContent)
            #expect(again.errorCode == "user_already_exists")
        }
    }

    @Test(arguments: Backend.allCases)
    func accessTokenCarriesGoTrueClaims(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let session = try await client.signUp(project, "claims@example.com", data: #"{"plan":"pro"}"#)
            let stored = try #require(try await client.node.directory.project(ref: project.ref))
            let claims = try await client.node.directory.keys(for: stored).verifyAccessToken(session.accessToken).claims
            #expect(claims["sub"] == .string(session.userID))
            #expect(claims["role"] == .string("authenticated"))
            #expect(claims["aud"] == .string("authenticated"))
            #expect(claims["email"] == .string("claims@example.com"))
            #expect(claims["aal"] == .string("aal1"))
            #expect(claims["is_anonymous"] == .bool(false))
            #expect(claims["user_metadata"]?["plan"] == .string("pro"))
            #expect(claims["app_metadata"]?["provider"] == .string("email"))
            #expect(claims["amr"]?.arrayFirst?["method"] == .string("password"))
            #expect(claims["session_id"]?.stringValue.flatMap(UUID.init(uuidString:)) != nil)
            let (exp, iat) = (try #require(claims["exp"]?.numberValue), try #require(claims["iat"]?.numberValue))
            #expect(exp - iat == 3600)
        }
    }

    @Test(arguments: Backend.allCases)
    func signInChecksThePassword(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            _ = try await client.signUp(project, "bob@example.com")
            let signedIn = try await client.signIn(project, "BOB@example.com")
            #expect(signedIn.status == .ok)
            #expect(try AuthSession(signedIn).json["user"]?["last_sign_in_at"] != .null)

            for (email, password) in [("bob@example.com", "wrong-password"), ("nobody@example.com", "secret-password")] {
                let refused = try await client.signIn(project, email, password: password)
                #expect(refused.status == .badRequest)
                #expect(refused.errorCode == "invalid_credentials")
                #expect(try refused.json()["msg"] == .string("Invalid login credentials"))
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func refreshTokensRotateAndReuseRevokesTheSession(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let first = try await client.signUp(project, "carol@example.com")
            let refreshed = try await client.refresh(project, first.refreshToken)
            #expect(refreshed.status == .ok)
            let second = try AuthSession(refreshed)
            #expect(second.refreshToken != first.refreshToken)
            #expect(second.userID == first.userID)
            #expect(try await client.auth(.get, "/user", project: project, bearer: second.accessToken).status == .ok)

            let reused = try await client.refresh(project, first.refreshToken)
            #expect(reused.status == .badRequest)
            #expect(reused.errorCode == "refresh_token_already_used")
            // The reuse revoked the whole session: the rotated token and the session's access token die with it.
            let revoked = try await client.refresh(project, second.refreshToken)
            #expect(revoked.errorCode == "refresh_token_not_found")
            let gone = try await client.auth(.get, "/user", project: project, bearer: second.accessToken)
            #expect(gone.status == .forbidden)
            #expect(gone.errorCode == "session_not_found")

            let unknown = try await client.refresh(project, "not-a-token")
            #expect(unknown.status == .badRequest)
            #expect(unknown.errorCode == "refresh_token_not_found")
            let missing = try await client.auth(.post, "/token?grant_type=refresh_token", project: project, body: "{}")
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "validation_failed")
            let grant = try await client.auth(.post, "/token?grant_type=magic", project: project, body: "{}")
            #expect(grant.errorCode == "validation_failed")
        }
    }

    @Test(arguments: Backend.allCases)
    func updateUserChangesEmailPasswordAndMergesMetadata(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let session = try await client.signUp(project, "dan@example.com", data: #"{"a":1,"b":2}"#)
            _ = try await client.signUp(project, "taken@example.com")
            let updated = try await client.auth(
                .put, "/user", project: project, bearer: session.accessToken,
                body: #"{"email":"Dan2@example.com","password":"new-password","data":{"b":null,"c":3},"code_challenge":"x","code_challenge_method":"s256"}"#
            )
            #expect(updated.status == .ok)
            let user = try updated.json()
            #expect(user["email"] == .string("dan2@example.com"))
            #expect(try user["user_metadata"]?.normalizedNumbers == json(#"{"a":1,"c":3}"#))
            #expect(try await client.signIn(project, "dan2@example.com", password: "new-password").status == .ok)
            #expect(try await client.signIn(project, "dan2@example.com").errorCode == "invalid_credentials")

            let clash = try await client.auth(.put, "/user", project: project, bearer: session.accessToken, body: #"{"email":"taken@example.com"}"#)
            #expect(clash.status == .unprocessableContent)
            #expect(clash.errorCode == "email_exists")
            let weak = try await client.auth(.put, "/user", project: project, bearer: session.accessToken, body: #"{"password":"123"}"#)
            #expect(weak.errorCode == "weak_password")
        }
    }

    @Test(arguments: Backend.allCases)
    func logoutEndsSessionsAsItsScopeSays(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let a = try await client.signUp(project, "eve@example.com")
            let b = try AuthSession(try await client.signIn(project, "eve@example.com"))
            let c = try AuthSession(try await client.signIn(project, "eve@example.com"))

            #expect(try await client.auth(.post, "/logout?scope=others", project: project, bearer: c.accessToken).status == .noContent)
            #expect(try await client.auth(.get, "/user", project: project, bearer: a.accessToken).errorCode == "session_not_found")
            #expect(try await client.refresh(project, b.refreshToken).errorCode == "refresh_token_not_found")
            #expect(try await client.auth(.get, "/user", project: project, bearer: c.accessToken).status == .ok)

            let d = try AuthSession(try await client.signIn(project, "eve@example.com"))
            #expect(try await client.auth(.post, "/logout?scope=local", project: project, bearer: c.accessToken).status == .noContent)
            #expect(try await client.auth(.get, "/user", project: project, bearer: c.accessToken).errorCode == "session_not_found")
            #expect(try await client.auth(.get, "/user", project: project, bearer: d.accessToken).status == .ok)

            let e = try AuthSession(try await client.signIn(project, "eve@example.com"))
            #expect(try await client.auth(.post, "/logout", project: project, bearer: e.accessToken).status == .noContent)
            #expect(try await client.auth(.get, "/user", project: project, bearer: d.accessToken).errorCode == "session_not_found")
            #expect(try await client.refresh(project, e.refreshToken).errorCode == "refresh_token_not_found")

            let bad = try await client.auth(.post, "/logout?scope=everything", project: project, bearer: d.accessToken)
            #expect(bad.status == .badRequest)
            #expect(bad.errorCode == "validation_failed")
        }
    }

    @Test(arguments: Backend.allCases)
    func adminManagesUsersWithTheServiceRoleKeyOnly(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let created = try await client.authAdmin(.post, "/admin/users", project: project, body: #"{"email":"Frank@example.com","password":"frank-password","user_metadata":{"x":1},"app_metadata":{"tier":"gold"},"email_confirm":true}"#)
            #expect(created.status == .ok)
            let user = try created.json()
            let id = try #require(user["id"]?.stringValue)
            #expect(user["email"] == .string("frank@example.com"))
            #expect(try user["app_metadata"] == json(#"{"provider":"email","providers":["email"],"tier":"gold"}"#))
            #expect(user["email_confirmed_at"] != .null)
            #expect(try await client.signIn(project, "frank@example.com", password: "frank-password").status == .ok)

            let duplicate = try await client.authAdmin(.post, "/admin/users", project: project, body: #"{"email":"frank@example.com"}"#)
            #expect(duplicate.errorCode == "email_exists")
            _ = try await client.signUp(project, "grace@example.com")

            let page = try await client.authAdmin(.get, "/admin/users?page=&per_page=", project: project)
            #expect(page.status == .ok)
            #expect(page.headers[HTTPField.Name("X-Total-Count")!] == "2")
            guard case .array(let users)? = try page.json()["users"] else { Issue.record("no users array"); return }
            #expect(Set(users.compactMap { $0["email"]?.stringValue }) == ["frank@example.com", "grace@example.com"])
            var paged: [String] = []
            for number in 1...3 {
                let page = try await client.authAdmin(.get, "/admin/users?page=\(number)&per_page=1", project: project)
                guard case .array(let users)? = try page.json()["users"] else { Issue.record("no users array"); return }
                paged += users.compactMap { $0["email"]?.stringValue }
            }
            #expect(paged.sorted() == ["frank@example.com", "grace@example.com"])
            #expect(try await client.authAdmin(.get, "/admin/users?page=0", project: project).errorCode == "validation_failed")

            #expect(try await client.authAdmin(.get, "/admin/users/\(id)", project: project).json()["email"] == .string("frank@example.com"))
            let updated = try await client.authAdmin(.put, "/admin/users/\(id.uppercased())", project: project, body: #"{"user_metadata":{"y":2},"password":"changed-password"}"#)
            #expect(try updated.json()["user_metadata"]?.normalizedNumbers == json(#"{"x":1,"y":2}"#))
            #expect(try await client.signIn(project, "frank@example.com", password: "changed-password").status == .ok)

            let session = try AuthSession(try await client.signIn(project, "frank@example.com", password: "changed-password"))
            let deleted = try await client.authAdmin(.delete, "/admin/users/\(id)", project: project, body: #"{"should_soft_delete":false}"#)
            #expect(deleted.status == .ok)
            #expect(try await client.authAdmin(.get, "/admin/users/\(id)", project: project).errorCode == "user_not_found")
            #expect(try await client.authAdmin(.delete, "/admin/users/\(id)", project: project).status == .notFound)
            #expect(try await client.authAdmin(.get, "/admin/users/not-a-uuid", project: project).errorCode == "validation_failed")
            // A token of the deleted user: /user refuses it, its refresh token is gone.
            let orphan = try await client.auth(.get, "/user", project: project, bearer: session.accessToken)
            #expect(orphan.status == .forbidden)
            #expect(orphan.errorCode == "user_not_found")
            #expect(try await client.refresh(project, session.refreshToken).errorCode == "refresh_token_not_found")

            let asAnon = try await client.auth(.get, "/admin/users", project: project)
            #expect(asAnon.status == .forbidden)
            #expect(asAnon.errorCode == "not_admin")
            let grace = try AuthSession(try await client.signIn(project, "grace@example.com"))
            #expect(try await client.auth(.get, "/admin/users", project: project, bearer: grace.accessToken).errorCode == "not_admin")
        }
    }

    @Test(arguments: Backend.allCases)
    func confirmationKeepsNewUsersOutUntilConfirmed(backend: Backend) async throws {
        try await withAuthProject(backend, auth: AuthConfiguration(confirmEmail: true, bcryptCost: 4)) { client, project in
            let signedUp = try await client.auth(.post, "/signup", project: project, body: #"{"email":"hal@example.com","password":"hal-password"}"#)
            #expect(signedUp.status == .ok)
            let user = try signedUp.json()
            // A bare user, as the client needs it when there is no session.
            #expect(user["access_token"] == nil)
            #expect(user["email"] == .string("hal@example.com"))
            #expect(user["email_confirmed_at"] == .null)
            #expect(user["confirmation_sent_at"] != .null)
            #expect(try await client.signIn(project, "hal@example.com", password: "hal-password").errorCode == "email_not_confirmed")

            let id = try #require(user["id"]?.stringValue)
            #expect(try await client.authAdmin(.put, "/admin/users/\(id)", project: project, body: #"{"email_confirm":true}"#).status == .ok)
            #expect(try await client.signIn(project, "hal@example.com", password: "hal-password").status == .ok)
            #expect(try await client.auth(.get, "/settings", project: project).json()["mailer_autoconfirm"] == .bool(false))
        }
    }

    @Test
    func failedSignInsAreThrottledPerEmailAndAddress() async throws {
        try await withAuthProject(.sqlite, auth: AuthConfiguration(signInAttempts: 2, signInWindow: 600, bcryptCost: 4)) { client, project in
            _ = try await client.signUp(project, "ivy@example.com")
            for _ in 0..<2 { #expect(try await client.signIn(project, "ivy@example.com", password: "wrong-password").errorCode == "invalid_credentials") }
            // Blocked now, even with the right password, which is not checked.
            let blocked = try await client.signIn(project, "ivy@example.com")
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.errorCode == "over_request_rate_limit")
            let retryAfter = try #require(blocked.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 600)
            // The same client address is blocked for other emails too.
            #expect(try await client.signIn(project, "someone-else@example.com").errorCode == "over_request_rate_limit")
        }
    }

    @Test
    func throttleWindowsCloseAndSuccessClearsTheEmail() {
        let throttle = SignInThrottle(limit: 2, window: 60)
        let keys = ["p email a", "p address 1"]
        throttle.recordFailure(keys, now: 1000)
        #expect(throttle.retryAfter(keys, now: 1001) == nil)
        throttle.recordFailure(keys, now: 1010)
        #expect(throttle.retryAfter(keys, now: 1020) == 40)
        #expect(throttle.retryAfter(["p email b"], now: 1020) == nil)
        #expect(throttle.retryAfter(keys, now: 1060) == nil)
        throttle.reset("p email a")
        #expect(throttle.retryAfter(["p email a"], now: 1020) == nil)
        #expect(throttle.retryAfter(["p address 1"], now: 1020) == 40)
        // A failure after the window closed opens a new one.
        throttle.recordFailure(["p address 1"], now: 1070)
        #expect(throttle.retryAfter(["p address 1"], now: 1071) == nil)
    }

    @Test(arguments: Backend.allCases)
    func badBodiesGetClearErrors(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            func signUp(_ body: String) async throws -> TestClient.Answer {
                try await client.auth(.post, "/signup", project: project, body: body)
            }
            let cases: [(body: String, status: HTTPResponse.Status, code: String)] = [
                (#"{"password":"secret-password"}"#, .unprocessableContent, "validation_failed"),
                (#"{"email":"a@example.com"}"#, .unprocessableContent, "validation_failed"),
                (#"{"email":5,"password":"secret-password"}"#, .badRequest, "bad_json"),
                (#"{"email":"a@example.com","password":["x"]}"#, .badRequest, "bad_json"),
                (#"{"email":"a@example.com","password":"secret-password","data":"meta"}"#, .badRequest, "bad_json"),
                ("not json", .badRequest, "bad_json"),
                (#"["a@example.com"]"#, .badRequest, "bad_json"),
                (#"{"email":"no-at-sign","password":"secret-password"}"#, .badRequest, "validation_failed"),
                (#"{"email":"a@b@example.com","password":"secret-password"}"#, .badRequest, "validation_failed"),
                (#"{"email":"x'; DROP TABLE _cellbase_auth_users;--@example.com","password":"secret-password"}"#, .badRequest, "validation_failed"),
                (#"{"email":"ünïcode@exämple.com","password":"secret-password"}"#, .badRequest, "validation_failed"),
                (#"{"email":"a@example.com","password":"12345"}"#, .unprocessableContent, "weak_password"),
                (#"{"phone":"+15550100","password":"secret-password"}"#, .unprocessableContent, "phone_provider_disabled"),
            ]
            for entry in cases {
                let answer = try await signUp(entry.body)
                #expect(answer.status == entry.status, "\(entry.body)")
                #expect(answer.errorCode == entry.code, "\(entry.body)")
            }
            let weak = try await signUp(#"{"email":"a@example.com","password":"12345"}"#)
            #expect(try weak.json()["weak_password"] == json(#"{"reasons":["length"]}"#))

            // 73 bytes would be silently cut by bcrypt: refused before hashing.
            let long = try await signUp(#"{"email":"a@example.com","password":"\#(String(repeating: "p", count: 73))"}"#)
            #expect(long.status == .unprocessableContent)
            #expect(long.errorCode == "validation_failed")
            let huge = try await signUp(#"{"email":"a@example.com","password":"\#(String(repeating: "p", count: 10 * 1024 * 1024))"}"#)
            #expect(huge.status == .contentTooLarge)
            #expect(huge.errorCode == "request_too_large")

            // Quotes and SQL keywords that fit the address grammar are bound, stored and found as written.
            let quoted = "o'brien+select*from@example.com"
            _ = try await client.signUp(project, quoted)
            #expect(try await client.signIn(project, quoted).status == .ok)
            #expect(try await client.signIn(project, "o'brien+select*from@example.com' OR '1'='1").errorCode == "invalid_credentials")
            let users = try await client.authAdmin(.get, "/admin/users", project: project)
            #expect(users.headers[HTTPField.Name("X-Total-Count")!] == "1")
        }
    }

    @Test(arguments: Backend.allCases)
    func authTablesAreNeitherReachableNorShadowable(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            _ = try await client.signUp(project, "hidden@example.com")
            for table in [AuthStatements.usersTable, AuthStatements.sessionsTable, AuthStatements.refreshTokensTable] {
                let read = try await client.rest(.get, table, project: project, key: project.serviceRoleKey)
                #expect(read.status == .notFound, "\(table)")
                #expect(read.code == "PGRST205", "\(table)")
                let shadow = try await client.admin(
                    .post, "/admin/v1/projects/\(project.ref)/migrations",
                    body: TestClient.migrationBody(name: "shadow_\(table)", sql: "create table \(table) (id text primary key);")
                )
                #expect(shadow.status == .badRequest, "\(table)")
                #expect(shadow.code == "migration_invalid", "\(table)")
            }
        }
    }

    @Test
    func authNeedsTheProjectKey() async throws {
        try await withAuthProject(.sqlite) { client, project in
            let noKey = try await client.request(.post, "/auth/v1/signup", headers: [.contentType: "application/json"], body: #"{"email":"a@example.com","password":"secret-password"}"#)
            #expect(noKey.status == .unauthorized)
            #expect(noKey.errorCode == "no_api_key")
            let health = try await client.auth(.get, "/health", project: project)
            #expect(try health.json()["name"] == .string("GoTrue"))
            let settings = try await client.auth(.get, "/settings", project: project)
            #expect(try settings.json()["external"]?["email"] == .bool(true))
            #expect(try await client.auth(.get, "/user", project: project).errorCode == "bad_jwt")
            let noBearer = try await client.request(.get, "/auth/v1/user", headers: [HTTPField.Name("apikey")!: project.anonKey])
            #expect(noBearer.status == .unauthorized)
            #expect(noBearer.errorCode == "no_authorization")
        }
    }
}

extension JSONValue {
    var arrayFirst: JSONValue? {
        if case .array(let elements) = self { return elements.first }
        return nil
    }
}
