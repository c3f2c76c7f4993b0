/// Who a Data API request runs as, which decides the row-level security it is held to.
public enum RESTAccess: Sendable, Hashable {
    /// The `service_role` key: bypasses row-level security, as in Supabase.
    case serviceRole
    /// A database role (`anon` or `authenticated`) with the verified JWT payload, an object, that
    /// `auth.uid()`, `auth.role()`, `auth.email()` and `auth.jwt()` read.
    case role(String, claims: JSONValue)

    /// The `anon` key without a signed-in user.
    public static let anon = RESTAccess.role("anon", claims: .object([JSONMember(key: "role", value: .string("anon"))]))

    /// The role policies are matched against; `nil` when policies do not apply.
    public var policyRole: String? {
        switch self {
        case .serviceRole: nil
        case .role(let role, _): role
        }
    }

    /// What a claim slot is bound to, and the column type its PostgreSQL placeholder casts to.
    func value(of claim: PolicyClaim) -> (value: SQLValue, type: ColumnType) {
        let claims: JSONValue
        switch self {
        case .serviceRole:
            claims = .object([JSONMember(key: "role", value: .string("service_role"))])
        case .role(_, let given):
            claims = given
        }
        switch claim {
        case .uid:
            // NULL unless `sub` is a uuid, so that a cast can never fail inside a statement.
            guard case .string(let sub)? = claims["sub"], let uuid = Canonical.uuid(sub) else { return (.null, .uuid) }
            return (.text(uuid), .uuid)
        case .role:
            return (.text(policyRole ?? "service_role"), .text)
        case .email:
            guard case .string(let email)? = claims["email"] else { return (.null, .text) }
            return (.text(email), .text)
        case .jwt:
            return (.text(claims.serialized), .jsonb)
        }
    }
}

/// The request facts a policy can read: `auth.uid()`, `auth.role()`, `auth.email()`, `auth.jwt()`.
enum PolicyClaim: String, Sendable, Hashable, CaseIterable {
    case uid, role, email, jwt
}
