import FoundationEssentials
import JWTKit

/// The claims of a signed Storage URL: HS256 with the project's secret, naming the project, the
/// object (`bucket/name`) and what the holder may do with it until it expires.
struct StorageTokenClaims: JWTPayload {
    enum Purpose: String, Codable {
        case download
        case upload
    }

    var ref: String
    var url: String
    var purpose: Purpose
    /// For uploads: the signer's user id, recorded as the object's owner.
    var owner: String?
    /// For uploads: whether an existing object may be replaced.
    var upsert: Bool?
    /// For uploads: the signer's role, whose policies the upload is held to.
    var role: String?
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

extension ProjectKeys {
    func signStorageToken(_ claims: StorageTokenClaims) async throws -> String {
        try await keys.sign(claims)
    }

    func verifyStorageToken(_ token: String) async throws -> StorageTokenClaims {
        try await keys.verify(token, as: StorageTokenClaims.self)
    }
}
