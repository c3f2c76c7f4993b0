import CellbaseSQL
import FoundationEssentials
import JWTKit

/// The claims of an access token, kept as the JSON they are: the Data API hands them on whole
/// (`auth.jwt()`), and tokens minted elsewhere with the project's secret may carry any claims.
struct AccessTokenClaims: JWTPayload {
    var json: JSONValue

    init(json: JSONValue) {
        self.json = json
    }

    init(from decoder: any Decoder) throws {
        json = try CodableJSON(from: decoder).value
    }

    func encode(to encoder: any Encoder) throws {
        try CodableJSON(value: json).encode(to: encoder)
    }

    /// Time claims are checked by `ProjectKeys.verifyAccessToken`, which knows the time.
    func verify(using algorithm: some JWTAlgorithm) throws {}
}

/// A verified access token: its claims and the database role they grant.
struct VerifiedAccessToken: Sendable, Hashable {
    var claims: JSONValue
    var role: KeyRole
    /// `sub`: the user's id, for tokens this node issued.
    var subject: String? { claims["sub"]?.stringValue }
    var sessionID: String? { claims["session_id"]?.stringValue }
}

/// Why an access token was refused.
enum AccessTokenRejection: Error, Equatable {
    /// Not a JWT, not HS256, or not signed with this project's secret.
    case invalid
    case expired
    /// `iat` or `nbf` lies in the future.
    case notYetValid
    /// A claim missing or of the wrong type.
    case claim(String)
}

extension ProjectKeys {
    /// Clocks of nodes differ a little: a token issued by one is accepted by another whose clock
    /// is up to this many seconds behind.
    static let clockLeeway: Double = 30

    /// Tokens are a few hundred bytes; a header of megabytes is refused before any decoding.
    static let maxTokenSize = 8192

    /// An access token for `user`, with the claims GoTrue issues.
    func accessToken(for user: AuthUser, sessionID: String, authenticatedAt: Int, issuer: String, lifetime: Int, now: Date = Date()) async throws -> (token: String, expiresAt: Int) {
        let issuedAt = Int(now.timeIntervalSince1970)
        let expiresAt = issuedAt + lifetime
        let claims = JSONValue.object([
            JSONMember(key: "iss", value: .string(issuer)),
            JSONMember(key: "sub", value: .string(user.id)),
            JSONMember(key: "aud", value: .string("authenticated")),
            JSONMember(key: "exp", value: .number(String(expiresAt))),
            JSONMember(key: "iat", value: .number(String(issuedAt))),
            JSONMember(key: "email", value: .string(user.email)),
            JSONMember(key: "phone", value: .string("")),
            JSONMember(key: "app_metadata", value: user.appMetadata),
            JSONMember(key: "user_metadata", value: user.userMetadata),
            JSONMember(key: "role", value: .string(KeyRole.authenticated.rawValue)),
            JSONMember(key: "aal", value: .string("aal1")),
            JSONMember(key: "amr", value: .array([.object([
                JSONMember(key: "method", value: .string("password")),
                JSONMember(key: "timestamp", value: .number(String(authenticatedAt))),
            ])])),
            JSONMember(key: "session_id", value: .string(sessionID)),
            JSONMember(key: "is_anonymous", value: .bool(false)),
        ])
        return (try await keys.sign(AccessTokenClaims(json: claims)), expiresAt)
    }

    /// Verifies an HS256 token signed with this project's secret and checks its time claims:
    /// `exp` required and in the future, `iat` and `nbf` (when present) not in the future.
    /// JWTKit refuses `alg: none` and every algorithm but the key's own.
    func verifyAccessToken(_ token: String, now: Date = Date()) async throws(AccessTokenRejection) -> VerifiedAccessToken {
        guard token.utf8.count <= Self.maxTokenSize else { throw .invalid }
        let claims: JSONValue
        do {
            claims = try await keys.verify(token, as: AccessTokenClaims.self).json
        } catch {
            throw .invalid
        }
        let now = now.timeIntervalSince1970
        guard let expiry = claims["exp"]?.numberValue else { throw .claim("exp") }
        guard expiry > now else { throw .expired }
        for name in ["iat", "nbf"] {
            guard let claim = claims[name] else { continue }
            guard let time = claim.numberValue else { throw .claim(name) }
            guard time <= now + Self.clockLeeway else { throw .notYetValid }
        }
        guard let roleName = claims["role"]?.stringValue, let role = KeyRole(rawValue: roleName) else { throw .claim("role") }
        return VerifiedAccessToken(claims: claims, role: role)
    }
}

extension JSONValue {
    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var numberValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }
}

/// `JSONValue` through `Codable`, for the JWT payloads JWTKit encodes and decodes.
struct CodableJSON: Codable {
    var value: JSONValue

    init(value: JSONValue) {
        self.value = value
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            value = .object(try object.allKeys.map { key in
                JSONMember(key: key.stringValue, value: try object.decode(CodableJSON.self, forKey: key).value)
            })
        } else if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            while !array.isAtEnd { elements.append(try array.decode(CodableJSON.self).value) }
            value = .array(elements)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                value = .null
            } else if let bool = try? single.decode(Bool.self) {
                value = .bool(bool)
            } else if let integer = try? single.decode(Int64.self) {
                value = .number(String(integer))
            } else if let double = try? single.decode(Double.self) {
                value = .number(String(double))
            } else {
                value = .string(try single.decode(String.self))
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let bool):
            var single = encoder.singleValueContainer()
            try single.encode(bool)
        case .number(let text):
            var single = encoder.singleValueContainer()
            if let integer = Int64(text) { try single.encode(integer) } else { try single.encode(Double(text) ?? 0) }
        case .string(let string):
            var single = encoder.singleValueContainer()
            try single.encode(string)
        case .array(let elements):
            var array = encoder.unkeyedContainer()
            for element in elements { try array.encode(CodableJSON(value: element)) }
        case .object(let members):
            var object = encoder.container(keyedBy: Key.self)
            for member in members { try object.encode(CodableJSON(value: member.value), forKey: Key(stringValue: member.key)) }
        }
    }
}
