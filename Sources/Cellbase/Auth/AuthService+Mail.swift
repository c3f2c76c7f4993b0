import CellbaseSQL
import FoundationEssentials

/// The mailer and the sender address of Auth's mails.
struct AuthMail: Sendable {
    var mailer: any AuthMailer
    var from: MailAddress
}

/// A mailer that did not take a mail: answered as `email_send_failed`, with the cause logged.
struct AuthMailFailure: Error {
    var purpose: OneTimeToken.Purpose
    var underlying: any Error
}

extension AuthService {
    /// `POST /recover`: a recovery mail to `email` if it is a user's. An unknown email is
    /// answered exactly like a known one, so the endpoint does not tell who has an account.
    func recover(_ project: Project, email rawEmail: String, redirectTo: String?) async throws {
        let mail = try requireMail()
        let email = try EmailAddress.normalized(rawEmail)
        let store = try await store(for: project)
        guard let user = try await store.user(email: email) else { return }
        try await send(.recovery, to: user, project: project, store: store, mail: mail, redirectTo: redirectTo)
    }

    /// `POST /resend` with `type: signup`: a new confirmation mail for a user still unconfirmed;
    /// nothing, and the same answer, for anyone else.
    func resendConfirmation(_ project: Project, email rawEmail: String, redirectTo: String?) async throws {
        let mail = try requireMail()
        let email = try EmailAddress.normalized(rawEmail)
        let store = try await store(for: project)
        guard let user = try await store.user(email: email), user.emailConfirmedAt == nil else { return }
        try await send(.confirmation, to: user, project: project, store: store, mail: mail, redirectTo: redirectTo)
    }

    /// What `/verify` was given: the code with its email, or the hash from a mail's link.
    enum Verification: Sendable {
        case code(email: String, code: String)
        case hash(String)
    }

    /// Spends a mailed token and signs its user in; the user's email is confirmed by it. Failures
    /// are counted per client address and email like failed sign-ins, and all read the same:
    /// unknown, spent, expired and wrong-type tokens are `otp_expired`.
    func verify(_ project: Project, type: VerificationType, _ verification: Verification, clientAddress: String) async throws -> Session {
        var keys = [SignInThrottle.addressKey(ref: project.ref, address: clientAddress)]
        let hash: String
        switch verification {
        case .code(let email, let code):
            keys.append(SignInThrottle.emailKey(ref: project.ref, email: email.lowercased()))
            hash = OneTimeToken.hash(email: email, code: code)
        case .hash(let tokenHash):
            hash = tokenHash
        }
        let now = Int(Date().timeIntervalSince1970)
        if let wait = verifyThrottle.retryAfter(keys, now: now) { throw AuthError.overRateLimit(retryAfter: wait) }
        let store = try await store(for: project)
        let digests = type.purposes.map { OneTimeToken.digest(hash: hash, purpose: $0) }
        guard let userID = try await store.spendOneTimeToken(digests: digests, now: now, confirmedAt: Timestamp.now()),
              let user = try await store.user(id: userID)
        else {
            verifyThrottle.recordFailure(keys, now: now)
            throw AuthError.otpExpired
        }
        return try await startSession(project, store: store, user: user)
    }

    /// Where a verified link leads: `requested` when it has the site URL's origin, else the site
    /// URL, so a link cannot be made to hand a session to another site.
    func redirectTarget(_ requested: String?) -> String {
        let site = configuration.siteURL ?? String(issuer.dropLast("/auth/v1".count))
        guard let requested, AuthRedirect.sameOrigin(requested, site) else { return site }
        return requested
    }

    func send(_ purpose: OneTimeToken.Purpose, to user: AuthUser, project: Project, store: AuthStore, mail: AuthMail, redirectTo: String?) async throws {
        let token = OneTimeToken.random(email: user.email)
        let now = Int(Date().timeIntervalSince1970)
        let issue = try await store.issue(
            NewOneTimeToken(
                digest: OneTimeToken.digest(hash: token.hash, purpose: purpose), userID: user.id, purpose: purpose,
                createdAt: now, expiresAt: now + configuration.mailTokenLifetime
            ),
            interval: configuration.mailInterval
        )
        switch issue {
        case nil: return
        case .tooSoon(let wait)?: throw AuthError.overEmailSendRateLimit(retryAfter: wait)
        case .issued?: break
        }
        let link = AuthRedirect.verifyLink(
            issuer: issuer, tokenHash: token.hash, type: purpose == .confirmation ? .signup : .recovery,
            redirectTo: redirectTarget(redirectTo), apiKey: project.anonKey
        )
        let message = try AuthMails.message(
            purpose, from: mail.from, to: user.email, projectName: project.name, code: token.code, link: link,
            lifetimeMinutes: configuration.mailTokenLifetime / 60
        )
        do {
            try await mail.mailer.enqueue(message, for: project)
        } catch {
            // A token nobody received would only hold the next request off for `mailInterval`.
            try? await store.withdrawOneTimeTokens(userID: user.id, purpose: purpose)
            throw AuthMailFailure(purpose: purpose, underlying: error)
        }
    }

    private func requireMail() throws(AuthError) -> AuthMail {
        guard let mail else { throw AuthError.mailNotConfigured }
        return mail
    }
}

/// The texts of Auth's mails: the code to type and the link to follow, nothing else.
enum AuthMails {
    static func message(
        _ purpose: OneTimeToken.Purpose, from: MailAddress, to email: String, projectName: String, code: String, link: String, lifetimeMinutes: Int
    ) throws(SMTPError) -> MailMessage {
        let (subject, action, otherwise) = switch purpose {
        case .confirmation: ("Confirm your email address", "confirm your email address for \(projectName)", "If you did not sign up, ignore this mail.")
        case .recovery: ("Reset your password", "sign in to \(projectName) and choose a new password", "If you did not ask for this, ignore this mail: your password stays as it is.")
        }
        let text = """
        To \(action), enter this code:

            \(code)

        or follow this link:

        \(link)

        The code and the link work once, within \(lifetimeMinutes) minutes. \(otherwise)
        """
        return MailMessage(from: from, to: [try MailAddress(address: email)], subject: subject, text: text)
    }
}
