import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Synchronization

/// The rules of GoTrue's password flows, independent of HTTP: who may sign up and in, what a
/// session is made of, how refresh tokens rotate and what ends a session.
final class AuthService: Sendable {
    let configuration: AuthConfiguration
    let directory: ProjectDirectory
    let hasher: PasswordHasher
    let throttle: SignInThrottle
    let passwords: PasswordPolicy
    let metrics: AuthMetrics
    /// The `iss` of access tokens: the node's Auth URL, as GoTrue's `API_EXTERNAL_URL`.
    let issuer: String
    /// Where confirmation and recovery mails go; `nil` sends none, as before mail was configured.
    let mail: AuthMail?
    /// Failed `/verify` attempts, per address and per email: a 6-digit code must not be guessable.
    let verifyThrottle: SignInThrottle
    private let databases: [String: any AuthDatabase]
    /// Projects whose auth tables this node has created or seen, so each is prepared once.
    private let prepared = Mutex<Set<String>>([])

    init(
        configuration: AuthConfiguration, directory: ProjectDirectory, databases: [String: any AuthDatabase], hasher: PasswordHasher,
        issuer: String, metrics: AuthMetrics, mail: AuthMail? = nil
    ) {
        self.configuration = configuration
        self.mail = mail
        self.verifyThrottle = SignInThrottle(limit: configuration.verifyAttempts, window: configuration.signInWindow)
        self.metrics = metrics
        self.directory = directory
        self.databases = databases
        self.hasher = hasher
        self.issuer = issuer
        self.throttle = SignInThrottle(limit: configuration.signInAttempts, window: configuration.signInWindow)
        self.passwords = PasswordPolicy(minimumLength: configuration.minimumPasswordLength)
    }

    func store(for project: Project) async throws -> AuthStore {
        guard let database = databases[project.shard] else {
            throw AuthError(.serviceUnavailable, "shard_unavailable", "The shard '\(project.shard)' of this project is not configured on this node")
        }
        let store = AuthStore(database: database, ref: project.ref)
        if !prepared.withLock({ $0.contains(project.ref) }) {
            try await store.prepare()
            prepared.withLock { _ = $0.insert(project.ref) }
        }
        return store
    }

    /// What a sign-in, a refresh or a confirmed sign-up answers.
    struct Session: Sendable {
        var accessToken: String
        var refreshToken: String
        var expiresIn: Int
        var expiresAt: Int
        var user: AuthUser

        /// GoTrue's session object (§2.3 of the protocol reference): integer `expires_in` and
        /// `expires_at`, a non-null `refresh_token` and the full user.
        var json: JSONValue {
            .object([
                JSONMember(key: "access_token", value: .string(accessToken)),
                JSONMember(key: "token_type", value: .string("bearer")),
                JSONMember(key: "expires_in", value: .number(String(expiresIn))),
                JSONMember(key: "expires_at", value: .number(String(expiresAt))),
                JSONMember(key: "refresh_token", value: .string(refreshToken)),
                JSONMember(key: "user", value: user.json),
            ])
        }
    }

    enum SignUpResult: Sendable {
        case signedIn(Session)
        /// Email confirmation is on: the user exists but has no session yet.
        case awaitingConfirmation(AuthUser)
    }

    static let defaultAppMetadata = JSONValue.object([
        JSONMember(key: "provider", value: .string("email")),
        JSONMember(key: "providers", value: .array([.string("email")])),
    ])

    // MARK: - Password flows

    /// With email confirmation on and a mailer, the new user gets a confirmation mail whose
    /// link leads to `redirectTo`.
    func signUp(_ project: Project, email rawEmail: String, password: String, metadata: JSONValue?, redirectTo: String? = nil) async throws -> SignUpResult {
        try passwords.check(password)
        let email = try EmailAddress.normalized(rawEmail)
        let store = try await store(for: project)
        let now = Timestamp.now()
        let user = AuthUser(
            id: Self.newID(), email: email, passwordHash: try await hasher.hash(password),
            emailConfirmedAt: configuration.confirmEmail ? nil : now,
            confirmationSentAt: configuration.confirmEmail ? now : nil,
            userMetadata: metadata ?? .object([]), appMetadata: Self.defaultAppMetadata, createdAt: now
        )
        do {
            try await store.insert(user)
        } catch AuthStoreError.emailTaken {
            throw AuthError.userAlreadyExists
        }
        if configuration.confirmEmail {
            if let mail {
                try await send(.confirmation, to: user, project: project, store: store, mail: mail, redirectTo: redirectTo)
            }
            return .awaitingConfirmation(user)
        }
        return .signedIn(try await startSession(project, store: store, user: user))
    }

    /// `grant_type=password`. Throttled per email and per client address; an unknown email is
    /// checked against a dummy hash so it takes as long as a wrong password.
    func signIn(_ project: Project, email rawEmail: String, password: String, clientAddress: String) async throws -> Session {
        guard password.utf8.count <= PasswordPolicy.maxBytes else {
            metrics.signIn(.failure, projectRef: project.ref)
            throw AuthError.invalidCredentials
        }
        let email = rawEmail.lowercased()
        let emailKey = SignInThrottle.emailKey(ref: project.ref, email: email)
        let keys = [emailKey, SignInThrottle.addressKey(ref: project.ref, address: clientAddress)]
        let now = Int(Date().timeIntervalSince1970)
        if let wait = throttle.retryAfter(keys, now: now) {
            metrics.signIn(.throttled, projectRef: project.ref)
            throw AuthError.overRateLimit(retryAfter: wait)
        }

        let store = try await store(for: project)
        let user = try await store.user(email: email)
        guard try await hasher.verify(password, against: user?.passwordHash), let user else {
            throttle.recordFailure(keys, now: now)
            metrics.signIn(.failure, projectRef: project.ref)
            throw AuthError.invalidCredentials
        }
        throttle.reset(emailKey)
        guard user.emailConfirmedAt != nil else {
            metrics.signIn(.failure, projectRef: project.ref)
            throw AuthError.emailNotConfirmed
        }
        let session = try await startSession(project, store: store, user: user)
        metrics.signIn(.success, projectRef: project.ref)
        return session
    }

    /// `grant_type=refresh_token`: the token is spent and a new one takes its place.
    func refresh(_ project: Project, refreshToken: String) async throws -> Session {
        let store = try await store(for: project)
        let replacement = RefreshToken.random()
        let rotation = try await store.rotateRefreshToken(digest: RefreshToken.digest(refreshToken), replacement: RefreshToken.digest(replacement), now: Timestamp.now())
        switch rotation {
        case .notFound: throw AuthError.refreshTokenNotFound
        case .reused: throw AuthError.refreshTokenAlreadyUsed
        case .rotated(let userID, let sessionID, let authenticatedAt):
            // Deleting a user deletes its sessions, so a rotated token's user exists; a delete
            // racing this refresh reads as a token that is gone.
            guard let user = try await store.user(id: userID) else { throw AuthError.refreshTokenNotFound }
            return try await session(project, user: user, sessionID: sessionID, authenticatedAt: authenticatedAt, refreshToken: replacement)
        }
    }

    func startSession(_ project: Project, store: AuthStore, user: AuthUser) async throws -> Session {
        let refreshToken = RefreshToken.random()
        let now = Date()
        let createdAt = Timestamp.now()
        let new = NewSession(
            id: Self.newID(), userID: user.id, refreshTokenDigest: RefreshToken.digest(refreshToken),
            createdAt: createdAt, authenticatedAt: Int(now.timeIntervalSince1970)
        )
        try await store.startSession(new)
        var user = user
        user.lastSignInAt = createdAt
        user.updatedAt = createdAt
        return try await session(project, user: user, sessionID: new.id, authenticatedAt: new.authenticatedAt, refreshToken: refreshToken)
    }

    private func session(_ project: Project, user: AuthUser, sessionID: String, authenticatedAt: Int, refreshToken: String) async throws -> Session {
        let lifetime = configuration.accessTokenLifetime
        let (token, expiresAt) = try await directory.keys(for: project).accessToken(
            for: user, sessionID: sessionID, authenticatedAt: authenticatedAt, issuer: issuer, lifetime: lifetime
        )
        return Session(accessToken: token, refreshToken: refreshToken, expiresIn: lifetime, expiresAt: expiresAt, user: user)
    }

    // MARK: - The signed-in user

    /// The user an access token belongs to, for `/user` and `/logout`: the token must verify,
    /// name a user that still exists and, when it names a session, a session that is still alive.
    func user(_ project: Project, accessToken token: String) async throws -> (user: AuthUser, token: VerifiedAccessToken) {
        let verified: VerifiedAccessToken
        do {
            verified = try await directory.verifyAccessToken(token, of: project)
        } catch {
            throw AuthError.badJWT(Self.reason(error))
        }
        guard let subject = verified.subject, !subject.isEmpty else { throw AuthError.badJWT("missing sub claim") }
        let store = try await store(for: project)
        guard let user = try await store.user(id: subject) else { throw AuthError.userFromTokenNotFound }
        if let sessionID = verified.sessionID, !(try await store.sessionExists(id: sessionID)) { throw AuthError.sessionNotFound }
        return (user, verified)
    }

    private static func reason(_ rejection: AccessTokenRejection) -> String {
        switch rejection {
        case .invalid: "signature is invalid or the token is malformed"
        case .expired: "token has expired"
        case .notYetValid: "token is not valid yet"
        case .claim(let name): "invalid claim: \(name)"
        }
    }

    /// Applies `PUT /user` or an admin update: a new email (unique), a new password (checked,
    /// hashed), metadata merged key by key.
    func update(_ project: Project, user: AuthUser, changes: UserChanges) async throws -> AuthUser {
        var user = user
        if let email = changes.email { user.email = try EmailAddress.normalized(email) }
        if let password = changes.password {
            try passwords.check(password)
            user.passwordHash = try await hasher.hash(password)
        }
        if let metadata = changes.userMetadata { user.userMetadata = user.userMetadata.mergingMetadata(metadata) }
        if let metadata = changes.appMetadata { user.appMetadata = user.appMetadata.mergingMetadata(metadata) }
        if changes.confirmEmail == true, user.emailConfirmedAt == nil { user.emailConfirmedAt = Timestamp.now() }
        user.updatedAt = Timestamp.now()
        do {
            try await store(for: project).update(user)
        } catch AuthStoreError.emailTaken {
            throw AuthError.emailExists
        }
        return user
    }

    func logout(_ project: Project, user: AuthUser, token: VerifiedAccessToken, scope: LogoutScope) async throws {
        try await store(for: project).endSessions(userID: user.id, scope: scope, currentSession: token.sessionID ?? "")
    }

    // MARK: - Admin

    func createUser(_ project: Project, email rawEmail: String, password: String?, id: String?, changes: UserChanges) async throws -> AuthUser {
        let email = try EmailAddress.normalized(rawEmail)
        var passwordHash: String?
        if let password {
            try passwords.check(password)
            passwordHash = try await hasher.hash(password)
        }
        let now = Timestamp.now()
        let user = AuthUser(
            id: id ?? Self.newID(), email: email, passwordHash: passwordHash,
            emailConfirmedAt: changes.confirmEmail == true ? now : nil, confirmationSentAt: nil,
            userMetadata: changes.userMetadata ?? .object([]),
            appMetadata: Self.defaultAppMetadata.mergingMetadata(changes.appMetadata ?? .object([])), createdAt: now
        )
        do {
            try await store(for: project).insert(user)
        } catch AuthStoreError.emailTaken {
            throw AuthError.emailExists
        }
        return user
    }

    static func newID() -> String { UUID().uuidString.lowercased() }

    /// A user id as it appears in admin paths: a UUID, normalised to lowercase.
    static func userID(_ text: String) throws(AuthError) -> String {
        guard let id = UUID(uuidString: text) else { throw .validation("user_id must be an UUID") }
        return id.uuidString.lowercased()
    }
}

/// The fields `PUT /user` and the admin API may change; `nil` leaves a field as it is.
struct UserChanges: Sendable {
    var email: String?
    var password: String?
    var userMetadata: JSONValue?
    var appMetadata: JSONValue?
    var confirmEmail: Bool?
}
