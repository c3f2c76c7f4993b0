import FoundationEssentials
import JWTKit

/// The claims of a project API key: Supabase's `anon` and `service_role` keys.
struct APIKeyClaims: JWTPayload {
    var iss: IssuerClaim
    var ref: String
    var role: String
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

/// The database role a request runs as: `anon` and `service_role` come from the project's API
/// keys, `authenticated` from a signed-in user's access token (never from an API key).
public enum KeyRole: String, Sendable, Hashable {
    case anon
    case authenticated
    case serviceRole = "service_role"
}

/// Signs and verifies the HS256 tokens of one project.
struct ProjectKeys: Sendable {
    let keys: JWTKeyCollection

    init(secret: String) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// An API key valid for ten years, as Supabase issues them.
    func apiKey(ref: String, role: KeyRole, now: Date = Date()) async throws -> String {
        // Whole seconds, as every JWT issuer writes them.
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let claims = APIKeyClaims(
            iss: "cellbase",
            ref: ref,
            role: role.rawValue,
            iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(10 * 365 * 24 * 3600))
        )
        return try await keys.sign(claims)
    }

    func verifyAPIKey(_ token: String) async throws -> APIKeyClaims {
        try await keys.verify(token, as: APIKeyClaims.self)
    }

    static func randomSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<48).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    static func randomRef() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8(generator.next(upperBound: UInt(26))))) })
    }
}

/// Reads the claims of a JWT without verifying it, to learn which project's secret verifies it.
enum UnverifiedJWT {
    struct RefClaim: Decodable {
        var ref: String?
    }

    static func ref(in token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count <= 8192 else { return nil }
        var base64 = String(parts[1]).replacing("-", with: "+").replacing("_", with: "/")
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return (try? JSONDecoder().decode(RefClaim.self, from: data))?.ref
    }
}
