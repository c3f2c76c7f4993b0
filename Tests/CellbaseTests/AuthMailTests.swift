import CellbaseSQL
import Foundation
import HTTPTypes
import Synchronization
import Testing

@testable import Cellbase

/// Keeps the mails Auth hands over, or refuses them like a mail server that is down.
final class CapturingMailer: AuthMailer {
    let messages = Mutex<[MailMessage]>([])
    let refuses: Bool

    init(refuses: Bool = false) {
        self.refuses = refuses
    }

    func enqueue(_ message: MailMessage, for project: Project) async throws {
        if refuses { throw SMTPError(.connectionFailed, "cannot connect to 127.0.0.1:1") }
        messages.withLock { $0.append(message) }
    }

    var all: [MailMessage] { messages.withLock { $0 } }

    /// The 6-digit code and the link of the only mail to `email`.
    func token(to email: String) throws -> (code: String, link: String) {
        let mails = all.filter { $0.to.map(\.address) == [email] }
        guard mails.count == 1, let text = mails.first?.text else { throw MailNotFound(email: email, count: mails.count) }
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let code = lines.first(where: { $0.count == 6 && $0.allSatisfy(\.isNumber) }),
              let link = lines.first(where: { $0.hasPrefix("http") })
        else { throw MailNotFound(email: email, count: mails.count) }
        return (code, link)
    }

    struct MailNotFound: Error {
        var email: String
        var count: Int
    }
}

@Suite("Auth mail")
struct AuthMailTests {
    static let siteURL = "https://app.example.com"

    private func withMailProject(
        _ backend: Backend, confirmEmail: Bool = true, mailer: CapturingMailer, tokenLifetime: Int = 3600,
        _ test: @Sendable (TestClient, TestProject) async throws -> Void
    ) async throws {
        var node = TestNode(backend: backend)
        node.auth = AuthConfiguration(confirmEmail: confirmEmail, bcryptCost: 4, siteURL: Self.siteURL)
        node.auth.mailTokenLifetime = tokenLifetime
        node.mail = MailConfiguration(smtp: SMTPConfiguration(host: "127.0.0.1", port: 1), from: try MailAddress(parsing: "Cellbase <noreply@example.com>"))
        node.authMailer = mailer
        defer { node.removeData() }
        try await node.run { client in try await test(client, try await client.project(migration: todosMigration)) }
    }

    private func verify(_ client: TestClient, _ project: TestProject, _ body: String) async throws -> TestClient.Answer {
        try await client.auth(.post, "/verify", project: project, body: body)
    }

    @Test(arguments: Backend.allCases)
    func signUpSendsAConfirmationCode(backend: Backend) async throws {
        let mailer = CapturingMailer()
        try await withMailProject(backend, mailer: mailer) { client, project in
            let signUp = try await client.auth(.post, "/signup?redirect_to=https%3A%2F%2Fapp.example.com%2Fwelcome", project: project, body: #"{"email":"Ann@Example.com","password":"ann-password"}"#)
            #expect(signUp.status == .ok)
            #expect(try signUp.json()["access_token"] == nil, "no session before confirmation")
            let mail = try #require(mailer.all.first)
            #expect(mail.from.address == "noreply@example.com")
            #expect(mail.subject == "Confirm your email address")
            let (code, link) = try mailer.token(to: "ann@example.com")
            #expect(link.hasPrefix("http://127.0.0.1:0/auth/v1/verify?token="))
            #expect(link.contains("&type=signup&redirect_to=https%3A%2F%2Fapp.example.com%2Fwelcome&apikey=\(project.anonKey)"))

            #expect(try await client.signIn(project, "ann@example.com", password: "ann-password").errorCode == "email_not_confirmed")
            let wrongCode = code == "000000" ? "000001" : "000000"
            let wrong = try await verify(client, project, #"{"type":"signup","email":"ann@example.com","token":"\#(wrongCode)"}"#)
            #expect(wrong.status == .forbidden)
            #expect(wrong.errorCode == "otp_expired")
            let recoveryType = try await verify(client, project, #"{"type":"recovery","email":"ann@example.com","token":"\#(code)"}"#)
            #expect(recoveryType.errorCode == "otp_expired", "a confirmation code is no recovery code")

            let verified = try await verify(client, project, #"{"type":"signup","email":"ANN@example.com","token":"\#(code)","options":{}}"#)
            #expect(verified.status == .ok)
            let session = try AuthSession(verified)
            #expect(session.json["user"]?["email_confirmed_at"] != .null)
            #expect(try await client.auth(.get, "/user", project: project, bearer: session.accessToken).status == .ok)
            #expect(try await client.signIn(project, "ann@example.com", password: "ann-password").status == .ok)

            let again = try await verify(client, project, #"{"type":"email","email":"ann@example.com","token":"\#(code)"}"#)
            #expect(again.errorCode == "otp_expired", "a code works once")
        }
    }

    @Test(arguments: Backend.allCases)
    func recoveryByLinkThenNewPassword(backend: Backend) async throws {
        let mailer = CapturingMailer()
        try await withMailProject(backend, confirmEmail: false, mailer: mailer) { client, project in
            _ = try await client.signUp(project, "bob@example.com", password: "old-password")
            #expect(mailer.all.isEmpty, "without confirmation, sign-up sends nothing")

            let unknown = try await client.auth(.post, "/recover", project: project, body: #"{"email":"nobody@example.com"}"#)
            #expect(unknown.status == .ok)
            #expect(unknown.body == "{}")
            #expect(mailer.all.isEmpty)

            let recover = try await client.auth(.post, "/recover", project: project, body: #"{"email":"bob@example.com","code_challenge":"x","code_challenge_method":"s256"}"#)
            #expect(recover.status == .ok)
            #expect(recover.body == "{}")
            let (_, link) = try mailer.token(to: "bob@example.com")
            #expect(mailer.all[0].subject == "Reset your password")
            let tooSoon = try await client.auth(.post, "/recover", project: project, body: #"{"email":"bob@example.com"}"#)
            #expect(tooSoon.status == .tooManyRequests)
            #expect(tooSoon.errorCode == "over_email_send_rate_limit")
            #expect(tooSoon.headers[.retryAfter] != nil)
            #expect(mailer.all.count == 1)

            let hash = try #require(URLComponents(string: link)?.queryItems?.first { $0.name == "token" }?.value)
            let verified = try await verify(client, project, #"{"type":"recovery","token_hash":"\#(hash)"}"#)
            let session = try AuthSession(verified)
            let updated = try await client.auth(.put, "/user", project: project, bearer: session.accessToken, body: #"{"password":"new-password"}"#)
            #expect(updated.status == .ok)
            #expect(try await client.signIn(project, "bob@example.com", password: "old-password").errorCode == "invalid_credentials")
            #expect(try await client.signIn(project, "bob@example.com", password: "new-password").status == .ok)
        }
    }

    @Test(arguments: Backend.allCases)
    func mailLinkRedirectsWithTheSessionInTheFragment(backend: Backend) async throws {
        let mailer = CapturingMailer()
        try await withMailProject(backend, mailer: mailer) { client, project in
            _ = try await client.auth(.post, "/signup?redirect_to=https%3A%2F%2Fevil.example.net%2F", project: project, body: #"{"email":"cy@example.com","password":"cy-password"}"#)
            let (_, link) = try mailer.token(to: "cy@example.com")
            #expect(link.contains("redirect_to=https%3A%2F%2Fapp.example.com&"), "another origin falls back to the site URL")
            let path = String(link.dropFirst("http://127.0.0.1:0".count))

            let followed = try await client.request(.get, path)
            #expect(followed.status == .seeOther)
            let location = try #require(followed.headers[.location])
            #expect(location.hasPrefix(Self.siteURL + "#access_token="))
            #expect(location.contains("&token_type=bearer&type=signup"))
            #expect(try await client.signIn(project, "cy@example.com", password: "cy-password").status == .ok)

            let reused = try #require(try await client.request(.get, path).headers[.location])
            #expect(reused.hasPrefix(Self.siteURL + "#error=access_denied&error_code=otp_expired&error_description="))
        }
    }

    @Test(arguments: Backend.allCases)
    func resendReplacesTheCode(backend: Backend) async throws {
        let mailer = CapturingMailer()
        try await withMailProject(backend, mailer: mailer) { client, project in
            _ = try await client.auth(.post, "/signup", project: project, body: #"{"email":"dee@example.com","password":"dee-password"}"#)
            let resend = try await client.auth(.post, "/resend", project: project, body: #"{"type":"signup","email":"dee@example.com"}"#)
            #expect(resend.errorCode == "over_email_send_rate_limit", "one mail per minute")
            let unknown = try await client.auth(.post, "/resend", project: project, body: #"{"type":"signup","email":"nobody@example.com"}"#)
            #expect(unknown.status == .ok)
            #expect(try await client.auth(.post, "/resend", project: project, body: #"{"type":"email_change","email":"dee@example.com"}"#).errorCode == "validation_failed")
            #expect(mailer.all.count == 1)
        }
    }

    @Test(arguments: [
        (#"{"email":"a@example.com","token":"123456"}"#, "validation_failed"),
        (#"{"type":"invite","email":"a@example.com","token":"123456"}"#, "validation_failed"),
        (#"{"type":"signup"}"#, "validation_failed"),
        (#"{"type":"signup","email":"a@example.com"}"#, "validation_failed"),
        (#"{"type":"signup","token_hash":"nonsense"}"#, "otp_expired"),
        (#"{"type":"sms","phone":"+15551234567","token":"123456"}"#, "phone_provider_disabled"),
        (#"{"type":"signup","token_hash":5}"#, "bad_json"),
    ])
    func badVerifications(body: String, code: String) async throws {
        try await withMailProject(.sqlite, mailer: CapturingMailer()) { client, project in
            let answer = try await verify(client, project, body)
            #expect(answer.errorCode == code)
        }
    }

    @Test func aMailerThatFailsFailsTheRequest() async throws {
        try await withMailProject(.sqlite, mailer: CapturingMailer(refuses: true)) { client, project in
            let signUp = try await client.auth(.post, "/signup", project: project, body: #"{"email":"eve@example.com","password":"eve-password"}"#)
            #expect(signUp.status == .internalServerError)
            #expect(signUp.errorCode == "email_send_failed")
            #expect(try signUp.json()["msg"] == .string("Error sending confirmation email"))
        }
    }

    @Test func withoutMailThereIsNoRecovery() async throws {
        try await withAuthProject(.sqlite) { client, project in
            let recover = try await client.auth(.post, "/recover", project: project, body: #"{"email":"a@example.com"}"#)
            #expect(recover.status == .notImplemented)
            #expect(recover.errorCode == "mail_not_configured")
        }
    }

    /// A lifetime of 0 issues tokens that have expired by the time they are presented.
    @Test(arguments: Backend.allCases)
    func expiredCodesAreRefused(backend: Backend) async throws {
        let mailer = CapturingMailer()
        try await withMailProject(backend, mailer: mailer, tokenLifetime: 0) { client, project in
            _ = try await client.auth(.post, "/signup", project: project, body: #"{"email":"fay@example.com","password":"fay-password"}"#)
            let (code, _) = try mailer.token(to: "fay@example.com")
            let expired = try await verify(client, project, #"{"type":"email","email":"fay@example.com","token":"\#(code)"}"#)
            #expect(expired.status == .forbidden)
            #expect(expired.errorCode == "otp_expired")
        }
    }
}
