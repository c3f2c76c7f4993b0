/// How the Auth service (`/auth/v1`) behaves on this node; the same for every project it serves.
public struct AuthConfiguration: Sendable {
    /// Lifetime of an access token, in seconds. Clients refresh 10 s before expiry, so keep it well above that.
    public var accessTokenLifetime: Int
    /// Shortest password accepted, in characters.
    public var minimumPasswordLength: Int
    /// When set, sign-up answers a bare user whose email awaits confirmation, and that user cannot
    /// sign in until an admin confirms it (`email_confirm`). Off: sign-ups confirm at once, as
    /// GoTrue's `MAILER_AUTOCONFIRM`.
    public var confirmEmail: Bool
    /// Failed sign-ins allowed per email, and per client address, within `signInWindow` seconds.
    public var signInAttempts: Int
    public var signInWindow: Int
    /// bcrypt's cost (log2 of its rounds). GoTrue uses 10.
    public var bcryptCost: UInt8
    /// Where a verified mail link leads when it names no `redirect_to` of the same origin (GoTrue's
    /// `SITE_URL`); `nil` is the node's URL.
    public var siteURL: String?
    /// Seconds a confirmation or recovery token stays valid.
    public var mailTokenLifetime: Int = 3600
    /// Seconds between two mails of one kind to one user (GoTrue's `over_email_send_rate_limit`).
    public var mailInterval: Int = 60
    /// Failed `/verify` attempts allowed per email and per client address within `signInWindow`.
    public var verifyAttempts: Int = 30

    public init(
        accessTokenLifetime: Int = 3600,
        minimumPasswordLength: Int = 6,
        confirmEmail: Bool = false,
        signInAttempts: Int = 5,
        signInWindow: Int = 15 * 60,
        bcryptCost: UInt8 = 10,
        siteURL: String? = nil
    ) {
        self.siteURL = siteURL
        self.accessTokenLifetime = accessTokenLifetime
        self.minimumPasswordLength = minimumPasswordLength
        self.confirmEmail = confirmEmail
        self.signInAttempts = signInAttempts
        self.signInWindow = signInWindow
        self.bcryptCost = bcryptCost
    }
}
