import Foundation

/// Where and how `SMTPClient` delivers: `--smtp-url` and the flags beside it.
public struct SMTPConfiguration: Sendable, Hashable {
    /// Whether a plain connection (`smtp://`) is upgraded with STARTTLS.
    public enum STARTTLSMode: String, Sendable, Hashable, CaseIterable {
        /// The server must offer STARTTLS; a server that does not is an error, never a plain session.
        case required
        /// STARTTLS when the server offers it, plain otherwise. A handshake that fails is still an error.
        case opportunistic
        /// Never: the whole session is plain text.
        case off
    }

    public var host: String
    public var port: Int
    /// `smtps://`: TLS from the first byte (port 465), rather than a plain start.
    public var implicitTLS: Bool
    public var startTLS: STARTTLSMode
    public var username: String?
    public var password: String?
    /// Whether credentials may go over a connection without TLS. Off, a session that would
    /// authenticate in plain text fails before AUTH.
    public var allowPlainTextAuth: Bool
    /// A PEM file of certificates trusted besides the system's, for a server with a private CA.
    public var trustRootsFile: String?
    /// The name the client gives in EHLO.
    public var heloName: String
    public var connectTimeout: Duration
    /// How long the server may take to answer any one command, the greeting and the end of DATA included.
    public var commandTimeout: Duration

    public init(
        host: String, port: Int, implicitTLS: Bool = false, startTLS: STARTTLSMode = .required,
        username: String? = nil, password: String? = nil, allowPlainTextAuth: Bool = false, trustRootsFile: String? = nil,
        heloName: String = "localhost", connectTimeout: Duration = .seconds(10), commandTimeout: Duration = .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.implicitTLS = implicitTLS
        self.startTLS = startTLS
        self.username = username
        self.password = password
        self.allowPlainTextAuth = allowPlainTextAuth
        self.trustRootsFile = trustRootsFile
        self.heloName = heloName
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    public struct InvalidURL: Error, CustomStringConvertible {
        public var description: String {
            "--smtp-url is smtp://[USER:PASSWORD@]HOST[:PORT] (port 587 by default) or smtps://… (port 465); the user name and password percent-encoded"
        }
    }

    /// `smtp://user:password@host:port` (STARTTLS per `startTLS`) or `smtps://…` (implicit TLS).
    /// Credentials are percent-decoded; they must not contain NUL, which AUTH PLAIN separates with.
    public init(url: String, startTLS: STARTTLSMode = .required) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "smtp" || scheme == "smtps",
              let host = components.host, !host.isEmpty,
              components.path.isEmpty || components.path == "/", components.query == nil
        else { throw InvalidURL() }
        let username = components.user.map { $0.removingPercentEncoding ?? $0 }
        let password = components.password.map { $0.removingPercentEncoding ?? $0 }
        guard !(username?.contains("\0") ?? false), !(password?.contains("\0") ?? false) else {
            throw InvalidURL()
        }
        if let port = components.port, !(1...65535).contains(port) { throw InvalidURL() }
        let implicitTLS = scheme == "smtps"
        self.init(
            host: host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host,
            port: components.port ?? (implicitTLS ? 465 : 587),
            implicitTLS: implicitTLS, startTLS: implicitTLS ? .off : startTLS,
            username: username.flatMap { $0.isEmpty ? nil : $0 }, password: password
        )
    }
}
