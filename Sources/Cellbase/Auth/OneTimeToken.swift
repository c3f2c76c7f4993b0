/// The token of a confirmation or recovery mail, GoTrue's way: a 6-digit code the user types,
/// and a token hash — SHA-256 of the email and the code — that the mail's link carries.
///
/// `POST /verify` takes either `email` and `token` (the code) or `token_hash`; both lead to the
/// same hash. The database holds only a digest of the hash and the purpose, so a copy of the
/// table does not hold working links.
struct OneTimeToken: Sendable, Hashable {
    enum Purpose: String, Sendable, CaseIterable {
        case confirmation
        case recovery
    }

    var code: String
    var hash: String

    init(email: String, code: String) {
        self.code = code
        self.hash = Self.hash(email: email, code: code)
    }

    static func random(email: String) -> OneTimeToken {
        var generator = SystemRandomNumberGenerator()
        let number = String(UInt32.random(in: 0..<1_000_000, using: &generator))
        return OneTimeToken(email: email, code: String(repeating: "0", count: 6 - number.count) + number)
    }

    static func hash(email: String, code: String) -> String {
        RefreshToken.digest(email.lowercased() + code)
    }

    /// What is stored: the purpose is part of it, so a user's two tokens never collide and a
    /// recovery token cannot confirm a sign-up by another route.
    static func digest(hash: String, purpose: Purpose) -> String {
        RefreshToken.digest(purpose.rawValue + ":" + hash)
    }
}

/// `type` of `POST /verify` and of the mail link: which tokens it may spend.
enum VerificationType: String, Sendable, CaseIterable {
    case signup
    case recovery
    case magiclink
    /// The type supabase clients use for any emailed code: a confirmation or a recovery.
    case email

    var purposes: [OneTimeToken.Purpose] {
        switch self {
        case .signup: [.confirmation]
        case .recovery, .magiclink: [.recovery]
        case .email: [.confirmation, .recovery]
        }
    }
}
