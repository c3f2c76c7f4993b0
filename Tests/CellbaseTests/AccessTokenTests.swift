import CellbaseSQL
import Foundation
import HTTPTypes
import JWTKit
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import PostgresNIO
import Testing

@testable import Cellbase

/// Access tokens from hostile hands, at the Data API (PostgREST's 401s) and at `/auth/v1/user`
/// (GoTrue's 403 `bad_jwt`).
@Suite("Access tokens")
struct AccessTokenTests {
    static func secret(of project: TestProject, _ client: TestClient) async throws -> String {
        try #require(try await client.node.directory.project(ref: project.ref)).jwtSecret
    }

    /// A token with GoTrue's claims for `sub`, signed with `secret`, its times shifted as asked.
    static func mint(secret: String, sub: String = UUID().uuidString.lowercased(), issuedAt: Double = 0, lifetime: Double = 3600, extra: [JSONMember] = []) async throws -> String {
        let now = Date().timeIntervalSince1970 + issuedAt
        let claims = JSONValue.object([
            JSONMember(key: "sub", value: .string(sub)),
            JSONMember(key: "role", value: .string("authenticated")),
            JSONMember(key: "aud", value: .string("authenticated")),
            JSONMember(key: "iat", value: .number(String(Int(now)))),
            JSONMember(key: "exp", value: .number(String(Int(now + lifetime)))),
        ] + extra)
        return try await ProjectKeys(secret: secret).keys.sign(AccessTokenClaims(json: claims))
    }

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    @Test(arguments: Backend.allCases)
    func userTokensReachTheDataAPI(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let session = try await client.signUp(project, "reader@example.com")
            let headers: HTTPFields = [.authorization: "Bearer \(session.accessToken)"]
            let read = try await client.rest(.get, "todos?select=id", project: project, headers: headers)
            #expect(read.status == .ok)
            #expect(read.body == "[]")
            // Another project's key as the bearer is no key of this project: it must verify as a user token.
            let other = try await client.project()
            let foreign = try await client.rest(.get, "todos", project: project, headers: [.authorization: "Bearer \(other.anonKey)"])
            #expect(foreign.status == .unauthorized)
            #expect(foreign.code == "PGRST301")
        }
    }

    @Test(arguments: Backend.allCases)
    func hostileTokensAreRefused(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let secret = try await Self.secret(of: project, client)
            let other = try await client.project()
            let otherSecret = try await Self.secret(of: other, client)
            let otherUser = try await client.signUp(other, "someone@example.com")
            let payload = Self.base64URL(#"{"sub":"\#(UUID().uuidString.lowercased())","role":"authenticated","exp":\#(Int(Date().timeIntervalSince1970) + 3600)}"#)

            let cases: [(name: String, token: String, restCode: String)] = [
                ("alg none", Self.base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + payload + ".", "PGRST301"),
                ("another project's secret", try await Self.mint(secret: otherSecret), "PGRST301"),
                ("a user token of another project", otherUser.accessToken, "PGRST301"),
                ("a forged signature", try await Self.mint(secret: secret).dropLast(4) + "AAAA", "PGRST301"),
                ("expired", try await Self.mint(secret: secret, issuedAt: -7200), "PGRST303"),
                ("issued in the future", try await Self.mint(secret: secret, issuedAt: 3600), "PGRST303"),
                ("not valid before a future nbf", try await Self.mint(secret: secret, extra: [JSONMember(key: "nbf", value: .number(String(Int(Date().timeIntervalSince1970) + 3600)))]), "PGRST303"),
                ("malformed base64", "eyJhbGciOiJIUzI1NiJ9.!!!not-base64!!!.c2ln", "PGRST301"),
                ("not a JWT", "just-some-text", "PGRST301"),
                ("a 100 KB token", String(repeating: "a", count: 100 * 1024), "PGRST301"),
            ]
            for entry in cases {
                let rest = try await client.rest(.get, "todos", project: project, headers: [.authorization: "Bearer \(entry.token)"])
                #expect(rest.status == .unauthorized, "\(entry.name)")
                #expect(rest.code == entry.restCode, "\(entry.name)")
                #expect(rest.headers[.wwwAuthenticate]?.hasPrefix("Bearer error=\"invalid_token\"") == true, "\(entry.name)")
                let auth = try await client.auth(.get, "/user", project: project, bearer: entry.token)
                #expect(auth.status == .forbidden, "\(entry.name)")
                #expect(auth.errorCode == "bad_jwt", "\(entry.name)")
            }

            // The anon key verifies with the project's secret but names no user.
            let anonAsUser = try await client.auth(.get, "/user", project: project, bearer: project.anonKey)
            #expect(anonAsUser.status == .forbidden)
            #expect(anonAsUser.errorCode == "bad_jwt")
            // A well-signed token for a user that does not exist.
            let nobody = try await client.auth(.get, "/user", project: project, bearer: try await Self.mint(secret: secret))
            #expect(nobody.errorCode == "user_not_found")
        }
    }

    @Test(arguments: Backend.allCases)
    func aDeletedUsersTokenStillReadsUntilItExpires(backend: Backend) async throws {
        try await withAuthProject(backend) { client, project in
            let session = try await client.signUp(project, "leaver@example.com")
            #expect(try await client.authAdmin(.delete, "/admin/users/\(session.userID)", project: project).status == .ok)
            // As in Supabase, the Data API checks the token, not the session or the user.
            let read = try await client.rest(.get, "todos", project: project, headers: [.authorization: "Bearer \(session.accessToken)"])
            #expect(read.status == .ok)
            #expect(try await client.auth(.get, "/user", project: project, bearer: session.accessToken).errorCode == "user_not_found")
        }
    }

    @Test
    func verificationChecksTimesAgainstTheGivenClock() async throws {
        let keys = await ProjectKeys(secret: "s3cret-s3cret-s3cret-s3cret-s3cret")
        let token = try await Self.mintWith(keys, iat: 1_000_000, exp: 1_003_600)
        let verified = try await keys.verifyAccessToken(token, now: Date(timeIntervalSince1970: 1_000_010))
        #expect(verified.role == .authenticated)
        #expect(verified.claims["iat"] == .number("1000000"))
        await #expect(throws: AccessTokenRejection.expired) { try await keys.verifyAccessToken(token, now: Date(timeIntervalSince1970: 1_003_600)) }
        await #expect(throws: AccessTokenRejection.notYetValid) { try await keys.verifyAccessToken(token, now: Date(timeIntervalSince1970: 999_000)) }
        // Within the leeway for another node's clock.
        #expect(try await keys.verifyAccessToken(token, now: Date(timeIntervalSince1970: 999_990)).role == .authenticated)
        let noExpiry = try await keys.keys.sign(AccessTokenClaims(json: .object([JSONMember(key: "role", value: .string("authenticated"))])))
        await #expect(throws: AccessTokenRejection.claim("exp")) { try await keys.verifyAccessToken(noExpiry) }
        let oddRole = try await Self.mintWith(keys, iat: 1_000_000, exp: 1_003_600, role: "postgres")
        await #expect(throws: AccessTokenRejection.claim("role")) { try await keys.verifyAccessToken(oddRole, now: Date(timeIntervalSince1970: 1_000_010)) }
    }

    @Test
    func verifiedTokensAreRememberedPerProjectUntilTheyExpire() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await node.run { client in
            let first = try await client.project(migration: "create table t (id int primary key)")
            let second = try await client.project(migration: "create table t (id int primary key)")
            let directory = client.node.directory
            let projectA = try #require(try await directory.project(ref: first.ref))
            let projectB = try #require(try await directory.project(ref: second.ref))
            let token = try await Self.mintWith(await directory.keys(for: projectA), iat: 1_000_000, exp: 1_003_600)

            let at = Date(timeIntervalSince1970: 1_000_010)
            #expect(try await directory.verifyAccessToken(token, of: projectA, now: at).claims["sub"] == .string("u"))
            // Remembered for project A only: project B verifies it with its own secret and refuses it.
            await #expect(throws: AccessTokenRejection.invalid) { try await directory.verifyAccessToken(token, of: projectB, now: at) }
            #expect(try await directory.verifyAccessToken(token, of: projectA, now: at).role == .authenticated)
            // Past its `exp` the remembered answer no longer counts.
            await #expect(throws: AccessTokenRejection.expired) {
                try await directory.verifyAccessToken(token, of: projectA, now: Date(timeIntervalSince1970: 1_003_600))
            }
        }
    }

    static func mintWith(_ keys: ProjectKeys, iat: Int, exp: Int, role: String = "authenticated") async throws -> String {
        try await keys.keys.sign(AccessTokenClaims(json: .object([
            JSONMember(key: "sub", value: .string("u")),
            JSONMember(key: "role", value: .string(role)),
            JSONMember(key: "iat", value: .number(String(iat))),
            JSONMember(key: "exp", value: .number(String(exp))),
        ])))
    }

    @Test
    func projectRoutesSeeTheTokensRoleAndClaims() throws {
        let project = Project(ref: "abcdefghijklmnopqrst", name: "p", shard: "local", jwtSecret: "s", anonKey: "a", serviceRoleKey: "s", createdAt: "")
        var context = CellbaseRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        context.resolvedKey = ResolvedKey(project: project, role: .anon)
        let asKey = try ProjectRequestContext(context: context)
        #expect(asKey.role == .anon)
        #expect(asKey.claims["role"] == .string("anon"))
        #expect(asKey.claims["ref"] == .string(project.ref))

        let claims = JSONValue.object([JSONMember(key: "sub", value: .string("u1")), JSONMember(key: "role", value: .string("authenticated"))])
        context.accessToken = VerifiedAccessToken(claims: claims, role: .authenticated)
        let asUser = try ProjectRequestContext(context: context)
        #expect(asUser.role == .authenticated)
        #expect(asUser.claims == claims)
    }
}

/// What the Auth handlers did not foresee still reaches supabase-py as a GoTrue error.
@Suite("Auth failures")
struct AuthFailureTests {
    struct Unforeseen: Error {}

    static func answer(to error: any Error) async throws -> AuthError {
        let project = Project(ref: "abcdefghijklmnopqrst", name: "p", shard: "local", jwtSecret: "s", anonKey: "a", serviceRoleKey: "s", createdAt: "")
        var parent = CellbaseRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        parent.resolvedKey = ResolvedKey(project: project, role: .anon)
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/auth/v1/user"), body: .init(buffer: ByteBuffer()))
        do {
            _ = try await AuthFailureMiddleware().handle(request, context: try ProjectRequestContext(context: parent)) { _, _ in throw error }
        } catch let error as AuthError {
            return error
        }
        throw Unforeseen()
    }

    @Test
    func anUnreachableDatabaseIsARetryable503() async throws {
        let error = try await Self.answer(to: PostgresError.connectionClosed)
        #expect(error.status == .serviceUnavailable)
        #expect(error.code == "unexpected_failure")
    }

    @Test
    func anythingElseIsA500WithoutInternals() async throws {
        let error = try await Self.answer(to: Unforeseen())
        #expect(error.status == .internalServerError)
        #expect(try JSONParser.parse(Array(error.body.utf8), maxDepth: 4)["error_code"] == .string("unexpected_failure"))
        #expect(!error.message.contains("Unforeseen"))
    }

    @Test
    func errorsThatRenderThemselvesPassThrough() async throws {
        let error = try await Self.answer(to: AuthError.notAdmin)
        #expect(error.code == "not_admin")
    }
}
