import CellbaseSQL

/// The SQL of `AuthStore`: the same text for SQLite and PostgreSQL apart from table
/// qualification, parameter markers (`?1` / `$1`) and row locks. Every column type is one both
/// accept, and every selected cell is text.
struct AuthStatements: Sendable {
    static let usersTable = "_cellbase_auth_users"
    static let sessionsTable = "_cellbase_auth_sessions"
    static let refreshTokensTable = "_cellbase_auth_refresh_tokens"
    static let oneTimeTokensTable = "_cellbase_auth_one_time_tokens"

    let users: String
    let sessions: String
    let refreshTokens: String
    let oneTimeTokens: String
    private let dialect: SQLDialect

    init(namespace: SQLNamespace) {
        users = namespace.qualified(Self.usersTable)
        sessions = namespace.qualified(Self.sessionsTable)
        refreshTokens = namespace.qualified(Self.refreshTokensTable)
        oneTimeTokens = namespace.qualified(Self.oneTimeTokensTable)
        dialect = namespace.dialect
    }

    private func p(_ index: Int) -> String { (dialect == .postgres ? "$" : "?") + String(index) }

    /// Taken first when the tables are created: CREATE TABLE IF NOT EXISTS run by two PostgreSQL
    /// sessions at once can still collide on the catalog. SQLite serialises writes by itself.
    func serializeSchemaChanges(ref: String) -> SQLStatement {
        dialect == .postgres
            ? SQLStatement("SELECT pg_advisory_xact_lock(hashtext($1))", binds: [.text("cellbase:auth-tables:" + ref)])
            : SQLStatement("SELECT NULL")
    }

    var createTables: [SQLStatement] {
        [
            """
            CREATE TABLE IF NOT EXISTS \(users) (
                id text PRIMARY KEY,
                email text NOT NULL UNIQUE,
                password_hash text,
                email_confirmed_at text,
                confirmation_sent_at text,
                user_metadata text NOT NULL,
                app_metadata text NOT NULL,
                created_at text NOT NULL,
                updated_at text NOT NULL,
                last_sign_in_at text
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(sessions) (
                id text PRIMARY KEY,
                user_id text NOT NULL REFERENCES \(users) (id) ON DELETE CASCADE,
                created_at text NOT NULL,
                authenticated_at bigint NOT NULL,
                refreshed_at text
            )
            """,
            "CREATE INDEX IF NOT EXISTS \(SQLNamespace.quote(Self.sessionsTable + "_user")) ON \(sessions) (user_id)",
            """
            CREATE TABLE IF NOT EXISTS \(refreshTokens) (
                digest text PRIMARY KEY,
                session_id text NOT NULL REFERENCES \(sessions) (id) ON DELETE CASCADE,
                spent bigint NOT NULL,
                created_at text NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS \(SQLNamespace.quote(Self.refreshTokensTable + "_session")) ON \(refreshTokens) (session_id)",
            """
            CREATE TABLE IF NOT EXISTS \(oneTimeTokens) (
                digest text PRIMARY KEY,
                user_id text NOT NULL REFERENCES \(users) (id) ON DELETE CASCADE,
                purpose text NOT NULL,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL,
                used bigint NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS \(SQLNamespace.quote(Self.oneTimeTokensTable + "_user")) ON \(oneTimeTokens) (user_id, purpose)",
        ].map { SQLStatement($0) }
    }

    var insertUser: String {
        "INSERT INTO \(users) (\(AuthUser.columns)) VALUES (\((1...10).map(p).joined(separator: ", ")))"
    }

    /// Binds `AuthUser.binds`: the id first, which the WHERE clause uses, then the columns.
    var updateUser: String {
        let columns = AuthUser.columns.split(separator: ", ")
        let assignments = columns.enumerated().dropFirst().map { "\($0.element) = \(p($0.offset + 1))" }
        return "UPDATE \(users) SET \(assignments.joined(separator: ", ")) WHERE id = \(p(1))"
    }

    var userByID: String { "SELECT \(AuthUser.columns) FROM \(users) WHERE id = \(p(1))" }
    var userByEmail: String { "SELECT \(AuthUser.columns) FROM \(users) WHERE email = \(p(1))" }
    var deleteUser: String { "DELETE FROM \(users) WHERE id = \(p(1)) RETURNING id" }
    var pageOfUsers: String { "SELECT \(AuthUser.columns) FROM \(users) ORDER BY created_at, id LIMIT \(p(1)) OFFSET \(p(2))" }
    var countUsers: String { "SELECT CAST(count(*) AS text) FROM \(users)" }

    var insertSession: String {
        "INSERT INTO \(sessions) (id, user_id, created_at, authenticated_at) VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)))"
    }
    var recordSignIn: String { "UPDATE \(users) SET last_sign_in_at = \(p(2)), updated_at = \(p(2)) WHERE id = \(p(1))" }
    var insertRefreshToken: String {
        "INSERT INTO \(refreshTokens) (digest, session_id, spent, created_at) VALUES (\(p(1)), \(p(2)), 0, \(p(3)))"
    }

    /// The token with its session, locked on PostgreSQL so two refreshes of one token serialise
    /// (SQLite serialises every write transaction anyway).
    var refreshTokenForUpdate: String {
        """
        SELECT CAST(t.spent AS text), s.id, s.user_id, CAST(s.authenticated_at AS text)
        FROM \(refreshTokens) t JOIN \(sessions) s ON s.id = t.session_id
        WHERE t.digest = \(p(1))\(dialect == .postgres ? " FOR UPDATE OF t, s" : "")
        """
    }
    var spendRefreshToken: String { "UPDATE \(refreshTokens) SET spent = 1 WHERE digest = \(p(1))" }
    var touchSession: String { "UPDATE \(sessions) SET refreshed_at = \(p(2)) WHERE id = \(p(1))" }

    var sessionExists: String { "SELECT id FROM \(sessions) WHERE id = \(p(1))" }
    var deleteSession: String { "DELETE FROM \(sessions) WHERE id = \(p(1))" }

    /// When the user's last token of a purpose was issued (NULL for none), with the user's row
    /// locked on PostgreSQL so two requests for one user issue one after the other. No row: no user.
    var lastOneTimeTokenForUpdate: String {
        """
        SELECT (SELECT CAST(max(t.created_at) AS text) FROM \(oneTimeTokens) t WHERE t.user_id = u.id AND t.purpose = \(p(2)))
        FROM \(users) u WHERE u.id = \(p(1))\(dialect == .postgres ? " FOR UPDATE" : "")
        """
    }
    var deleteOneTimeTokens: String { "DELETE FROM \(oneTimeTokens) WHERE user_id = \(p(1)) AND purpose = \(p(2))" }
    var insertOneTimeToken: String {
        "INSERT INTO \(oneTimeTokens) (digest, user_id, purpose, created_at, expires_at, used) VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), 0)"
    }

    /// Spends the unspent, unexpired token whose digest is one of `digests`: binds the digests,
    /// then the current Unix time. The row lock of the UPDATE makes a second use find it spent.
    func spendOneTimeToken(digests count: Int) -> String {
        """
        UPDATE \(oneTimeTokens) SET used = 1
        WHERE digest IN (\((1...count).map(p).joined(separator: ", "))) AND used = 0 AND expires_at > \(p(count + 1))
        RETURNING user_id, purpose
        """
    }
    /// A verified token proves the address: the first verification confirms it.
    var confirmEmail: String {
        "UPDATE \(users) SET email_confirmed_at = COALESCE(email_confirmed_at, \(p(2))), updated_at = \(p(2)) WHERE id = \(p(1))"
    }

    func endSessions(_ scope: LogoutScope, userID: String, currentSession: String) -> SQLStatement {
        switch scope {
        case .global: SQLStatement("DELETE FROM \(sessions) WHERE user_id = \(p(1))", binds: [.text(userID)])
        case .local: SQLStatement("DELETE FROM \(sessions) WHERE user_id = \(p(1)) AND id = \(p(2))", binds: [.text(userID), .text(currentSession)])
        case .others: SQLStatement("DELETE FROM \(sessions) WHERE user_id = \(p(1)) AND id <> \(p(2))", binds: [.text(userID), .text(currentSession)])
        }
    }
}
