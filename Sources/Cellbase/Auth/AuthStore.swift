import CellbaseSQL

/// What a shard provides for Auth: statements run in one project's database, every result cell
/// read as text (statements cast what is not text).
protocol AuthDatabase: Sendable {
    func namespace(for ref: String) -> SQLNamespace
    func authRows(ref: String, _ statement: SQLStatement) async throws -> [[String?]]
    /// Runs `first`, then the statements `next` derives from its rows, in one transaction, and
    /// returns `first`'s rows. A unique violation is thrown as `AuthDatabaseError.uniqueViolation`.
    func authTransaction(ref: String, _ first: SQLStatement, then next: @escaping @Sendable ([[String?]]) throws -> [SQLStatement]) async throws -> [[String?]]
}

enum AuthDatabaseError: Error {
    case uniqueViolation
}

/// A project's users, sessions and refresh tokens, kept in the project's own database (its
/// SQLite file or PostgreSQL schema) in `_cellbase_auth_*` tables. User migrations cannot create
/// `_cellbase_*` tables and the Data API only sees tables migrations created, so these are
/// neither shadowed nor exposed.
struct AuthStore: Sendable {
    let database: any AuthDatabase
    let ref: String
    let sql: AuthStatements

    init(database: any AuthDatabase, ref: String) {
        self.database = database
        self.ref = ref
        self.sql = AuthStatements(namespace: database.namespace(for: ref))
    }

    /// Creates the tables if they do not exist. Idempotent, and safe for nodes to race on.
    func prepare() async throws {
        let tables = sql.createTables
        _ = try await database.authTransaction(ref: ref, sql.serializeSchemaChanges(ref: ref)) { _ in tables }
    }

    /// Throws `AuthStoreError.emailTaken` when another user has the email.
    func insert(_ user: AuthUser) async throws {
        try await writeUser(SQLStatement(sql.insertUser, binds: user.binds))
    }

    /// Writes every column of `user`; throws `AuthStoreError.emailTaken` like `insert`.
    func update(_ user: AuthUser) async throws {
        try await writeUser(SQLStatement(sql.updateUser, binds: user.binds))
    }

    private func writeUser(_ statement: SQLStatement) async throws {
        do {
            _ = try await database.authTransaction(ref: ref, statement) { _ in [] }
        } catch AuthDatabaseError.uniqueViolation {
            throw AuthStoreError.emailTaken
        }
    }

    func user(id: String) async throws -> AuthUser? {
        try await database.authRows(ref: ref, SQLStatement(sql.userByID, binds: [.text(id)])).first.map(AuthUser.init(columns:))
    }

    func user(email: String) async throws -> AuthUser? {
        try await database.authRows(ref: ref, SQLStatement(sql.userByEmail, binds: [.text(email)])).first.map(AuthUser.init(columns:))
    }

    /// Deletes the user with their sessions and refresh tokens; `false` when there was none.
    func deleteUser(id: String) async throws -> Bool {
        try await !database.authTransaction(ref: ref, SQLStatement(sql.deleteUser, binds: [.text(id)])) { _ in [] }.isEmpty
    }

    /// A page of users, oldest first, and how many there are in all.
    func users(limit: Int, offset: Int) async throws -> (users: [AuthUser], total: Int) {
        let page = try await database.authRows(ref: ref, SQLStatement(sql.pageOfUsers, binds: [.integer(Int64(limit)), .integer(Int64(offset))]))
        let count = try await database.authRows(ref: ref, SQLStatement(sql.countUsers)).first?.first ?? nil
        return (page.map(AuthUser.init(columns:)), count.flatMap { Int($0) } ?? 0)
    }

    /// Records a sign-in: the session, its first refresh token and the user's `last_sign_in_at`.
    func startSession(_ session: NewSession) async throws {
        let followUps = [
            SQLStatement(sql.insertRefreshToken, binds: [.text(session.refreshTokenDigest), .text(session.id), .text(session.createdAt)]),
            SQLStatement(sql.recordSignIn, binds: [.text(session.userID), .text(session.createdAt)]),
        ]
        let insertSession = SQLStatement(sql.insertSession, binds: [.text(session.id), .text(session.userID), .text(session.createdAt), .integer(Int64(session.authenticatedAt))])
        _ = try await database.authTransaction(ref: ref, insertSession) { _ in followUps }
    }

    /// Spends the refresh token whose digest is `digest` and stores `replacement` in its place,
    /// in one transaction. A token spent before revokes its whole session: whoever presents a
    /// spent token holds a copy of one that was rotated, and either copy may be the thief's.
    func rotateRefreshToken(digest: String, replacement: String, now: String) async throws -> RefreshRotation {
        let sql = self.sql
        let rows = try await database.authTransaction(ref: ref, SQLStatement(sql.refreshTokenForUpdate, binds: [.text(digest)])) { rows in
            guard let row = rows.first, let sessionID = row[1] else { return [] }
            if row[0] != "0" { return [SQLStatement(sql.deleteSession, binds: [.text(sessionID)])] }
            return [
                SQLStatement(sql.spendRefreshToken, binds: [.text(digest)]),
                SQLStatement(sql.insertRefreshToken, binds: [.text(replacement), .text(sessionID), .text(now)]),
                SQLStatement(sql.touchSession, binds: [.text(sessionID), .text(now)]),
            ]
        }
        guard let row = rows.first, let sessionID = row[1], let userID = row[2] else { return .notFound }
        guard row[0] == "0" else { return .reused }
        return .rotated(userID: userID, sessionID: sessionID, authenticatedAt: row[3].flatMap { Int($0) } ?? 0)
    }

    func sessionExists(id: String) async throws -> Bool {
        try await !database.authRows(ref: ref, SQLStatement(sql.sessionExists, binds: [.text(id)])).isEmpty
    }

    func endSessions(userID: String, scope: LogoutScope, currentSession: String) async throws {
        _ = try await database.authTransaction(ref: ref, sql.endSessions(scope, userID: userID, currentSession: currentSession)) { _ in [] }
    }
}

extension AuthStore {
    /// Replaces the user's token for `purpose` with `token`, unless the last one was issued less
    /// than `interval` seconds ago. `nil` when the user does not exist.
    func issue(_ token: NewOneTimeToken, interval: Int) async throws -> OneTimeTokenIssue? {
        let sql = self.sql
        let decide: @Sendable ([[String?]]) -> OneTimeTokenIssue? = { rows in
            guard let row = rows.first else { return nil }
            if let last = row[0].flatMap({ Int($0) }), last + interval > token.createdAt { return .tooSoon(retryAfter: last + interval - token.createdAt) }
            return .issued
        }
        let rows = try await database.authTransaction(ref: ref, SQLStatement(sql.lastOneTimeTokenForUpdate, binds: [.text(token.userID), .text(token.purpose.rawValue)])) { rows in
            guard decide(rows) == .issued else { return [] }
            return [
                SQLStatement(sql.deleteOneTimeTokens, binds: [.text(token.userID), .text(token.purpose.rawValue)]),
                SQLStatement(sql.insertOneTimeToken, binds: [
                    .text(token.digest), .text(token.userID), .text(token.purpose.rawValue),
                    .integer(Int64(token.createdAt)), .integer(Int64(token.expiresAt)),
                ]),
            ]
        }
        return decide(rows)
    }

    func withdrawOneTimeTokens(userID: String, purpose: OneTimeToken.Purpose) async throws {
        _ = try await database.authTransaction(ref: ref, SQLStatement(sql.deleteOneTimeTokens, binds: [.text(userID), .text(purpose.rawValue)])) { _ in [] }
    }

    /// Spends the token with one of `digests` if it is unspent and unexpired at `now` (Unix
    /// seconds) and confirms its user's email at `confirmedAt`, in one transaction; answers the
    /// user's id, or `nil` when there is no such token.
    func spendOneTimeToken(digests: [String], now: Int, confirmedAt: String) async throws -> String? {
        let sql = self.sql
        let spend = SQLStatement(sql.spendOneTimeToken(digests: digests.count), binds: digests.map(SQLValue.text) + [.integer(Int64(now))])
        let rows = try await database.authTransaction(ref: ref, spend) { rows in
            guard let userID = rows.first?[0] else { return [] }
            return [SQLStatement(sql.confirmEmail, binds: [.text(userID), .text(confirmedAt)])]
        }
        return rows.first?[0] ?? nil
    }
}

struct NewOneTimeToken: Sendable {
    var digest: String
    var userID: String
    var purpose: OneTimeToken.Purpose
    /// Unix seconds.
    var createdAt: Int
    var expiresAt: Int
}

enum OneTimeTokenIssue: Sendable, Equatable {
    case issued
    /// A token for the same purpose went out less than the interval ago.
    case tooSoon(retryAfter: Int)
}

struct NewSession: Sendable {
    var id: String
    var userID: String
    var refreshTokenDigest: String
    var createdAt: String
    /// Unix seconds of the sign-in: the `amr` timestamp of every token the session issues.
    var authenticatedAt: Int
}

enum RefreshRotation: Sendable, Equatable {
    case rotated(userID: String, sessionID: String, authenticatedAt: Int)
    case notFound
    /// The token had been spent already: its session and all its tokens are now revoked.
    case reused
}

/// `POST /logout?scope=`: which of the user's sessions end.
enum LogoutScope: String, Sendable {
    case global
    case local
    case others
}

enum AuthStoreError: Error {
    case emailTaken
}
