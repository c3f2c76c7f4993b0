import CellbaseSQL

/// A user of a project, as stored in its `_cellbase_auth_users` table.
///
/// Metadata is kept as JSON text and timestamps as RFC 3339 UTC text with a `Z`, the forms
/// GoTrue answers with and the Python client parses; both databases store them the same way.
struct AuthUser: Sendable, Hashable {
    /// A lowercase UUID: supabase-py checks admin by-id arguments are UUIDs.
    var id: String
    /// Lowercased, as GoTrue stores it; unique per project.
    var email: String
    /// A bcrypt hash; `nil` for a user an admin created without a password (who cannot sign in
    /// with one).
    var passwordHash: String?
    var emailConfirmedAt: String?
    var confirmationSentAt: String?
    var userMetadata: JSONValue
    var appMetadata: JSONValue
    var createdAt: String
    var updatedAt: String
    var lastSignInAt: String?

    /// The columns every user query selects, in the order `init(columns:)` reads them.
    static let columns = "id, email, password_hash, email_confirmed_at, confirmation_sent_at, user_metadata, app_metadata, created_at, updated_at, last_sign_in_at"

    /// A row of `columns`. Metadata that does not parse (only possible if someone edited the
    /// table by hand) reads as an empty object rather than failing every request for the user.
    init(columns cells: [String?]) {
        func metadata(_ text: String?) -> JSONValue {
            guard let text, let value = try? JSONParser.parse(Array(text.utf8), maxDepth: AuthBody.maxDepth), case .object = value else { return .object([]) }
            return value
        }
        id = cells[0] ?? ""
        email = cells[1] ?? ""
        passwordHash = cells[2]
        emailConfirmedAt = cells[3]
        confirmationSentAt = cells[4]
        userMetadata = metadata(cells[5])
        appMetadata = metadata(cells[6])
        createdAt = cells[7] ?? ""
        updatedAt = cells[8] ?? ""
        lastSignInAt = cells[9]
    }

    init(id: String, email: String, passwordHash: String?, emailConfirmedAt: String?, confirmationSentAt: String?, userMetadata: JSONValue, appMetadata: JSONValue, createdAt: String) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.emailConfirmedAt = emailConfirmedAt
        self.confirmationSentAt = confirmationSentAt
        self.userMetadata = userMetadata
        self.appMetadata = appMetadata
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.lastSignInAt = nil
    }

    /// The values of `columns`, in order, for INSERT and UPDATE.
    var binds: [SQLValue] {
        [
            .text(id), .text(email), passwordHash.map(SQLValue.text) ?? .null,
            emailConfirmedAt.map(SQLValue.text) ?? .null, confirmationSentAt.map(SQLValue.text) ?? .null,
            .text(userMetadata.serialized), .text(appMetadata.serialized),
            .text(createdAt), .text(updatedAt), lastSignInAt.map(SQLValue.text) ?? .null,
        ]
    }

    /// GoTrue's user object, with every key supabase-py requires (§2.4 of the protocol reference):
    /// string `id` and `aud`, object metadata, `created_at`, booleans never null, `identities` `[]`.
    var json: JSONValue {
        func timestamp(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return .object([
            JSONMember(key: "id", value: .string(id)),
            JSONMember(key: "aud", value: .string("authenticated")),
            JSONMember(key: "role", value: .string("authenticated")),
            JSONMember(key: "email", value: .string(email)),
            JSONMember(key: "email_confirmed_at", value: timestamp(emailConfirmedAt)),
            JSONMember(key: "phone", value: .string("")),
            JSONMember(key: "confirmation_sent_at", value: timestamp(confirmationSentAt)),
            JSONMember(key: "confirmed_at", value: timestamp(emailConfirmedAt)),
            JSONMember(key: "last_sign_in_at", value: timestamp(lastSignInAt)),
            JSONMember(key: "app_metadata", value: appMetadata),
            JSONMember(key: "user_metadata", value: userMetadata),
            JSONMember(key: "identities", value: .array([])),
            JSONMember(key: "created_at", value: .string(createdAt)),
            JSONMember(key: "updated_at", value: .string(updatedAt)),
            JSONMember(key: "is_anonymous", value: .bool(false)),
        ])
    }
}

extension JSONValue {
    /// GoTrue's metadata update: top-level keys of `changes` replace this object's, and a key
    /// set to `null` is removed.
    func mergingMetadata(_ changes: JSONValue) -> JSONValue {
        guard case .object(var members) = self, case .object(let updates) = changes else { return self }
        for update in updates {
            members.removeAll { $0.key == update.key }
            if update.value != .null { members.append(update) }
        }
        return .object(members)
    }
}
