import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Sends mail through one SMTP server: a connection per message, TLS as configured, AUTH when
/// credentials are given, then MAIL FROM, RCPT TO, DATA and QUIT.
///
/// A message is either accepted by the server for every recipient or `send` throws; the error
/// says whether trying again can help (`SMTPError.isPermanent`).
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    private let tls: NIOSSLContext?
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    /// Reads the trust roots file now, so a bad `--smtp-ca-file` stops the node at start rather
    /// than failing every mail.
    public init(configuration: SMTPConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) throws {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        if configuration.implicitTLS || configuration.startTLS != .off {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            if let file = configuration.trustRootsFile {
                tlsConfiguration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(file))]
            }
            tls = try NIOSSLContext(configuration: tlsConfiguration)
        } else {
            tls = nil
        }
    }

    public func send(_ message: MailMessage) async throws(SMTPError) {
        let content = DotStuffing.stuffed(try message.encoded())
        let (channel, greeting) = try await connect()
        do {
            try await converse(SMTPSession(channel: channel, greeting: greeting), message: message, content: content)
            try? await channel.close()
        } catch {
            try? await channel.close()
            throw SMTPClientHandler.smtpError(error, command: nil)
        }
    }

    private func connect() async throws(SMTPError) -> (any Channel, EventLoopFuture<SMTPReply>) {
        let timeout = TimeAmount.nanoseconds(Int64(configuration.commandTimeout.components.seconds) * 1_000_000_000)
        let implicitTLS = configuration.implicitTLS ? tls : nil
        let hostname = serverHostname
        let eventLoop = eventLoopGroup.next()
        let greeting = eventLoop.makePromise(of: SMTPReply.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(configuration.connectTimeout.components.seconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handlers = channel.pipeline.syncOperations
                    if let implicitTLS { try handlers.addHandler(NIOSSLClientHandler(context: implicitTLS, serverHostname: hostname)) }
                    try handlers.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try handlers.addHandler(SMTPClientHandler(timeout: timeout, greeting: greeting))
                }
            }
        do {
            return (try await bootstrap.connect(host: configuration.host, port: configuration.port).get(), greeting.futureResult)
        } catch {
            greeting.fail(error)
            throw SMTPError(.connectionFailed, "cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
    }

    /// The name the certificate must carry: the host, unless it is an IP address, which NIOSSL
    /// checks against the connection's address instead (and which SNI must not carry).
    private var serverHostname: String? {
        (try? SocketAddress(ipAddress: configuration.host, port: 0)) == nil ? configuration.host : nil
    }

    private func converse(_ session: SMTPSession, message: MailMessage, content: ByteBuffer) async throws {
        try await session.receiveGreeting()
        var capabilities = try await ehlo(session)
        var secure = configuration.implicitTLS
        if !secure, configuration.startTLS != .off, let tls {
            if capabilities.startTLS {
                try await session.send(.startTLS, expecting: 220)
                try await session.startTLS(tls, serverHostname: serverHostname)
                secure = true
                capabilities = try await ehlo(session)
            } else if configuration.startTLS == .required {
                throw SMTPError(.unsupported, "the server does not offer STARTTLS, which --smtp-starttls required requires", command: "EHLO")
            }
        }
        if let username = configuration.username, let password = configuration.password {
            guard secure || configuration.allowPlainTextAuth else {
                throw SMTPError(.unsupported, "credentials would go over a connection without TLS")
            }
            try await authenticate(session, capabilities: capabilities, username: username, password: password)
        }
        if let limit = capabilities.maxMessageSize, limit > 0, content.readableBytes > limit {
            throw SMTPError(.rejected, "the message is \(content.readableBytes) bytes, over the server's SIZE of \(limit)")
        }
        try await session.send(.mailFrom(message.from.address), expecting: 250...250)
        for recipient in message.to {
            // 251: "user not local; will forward".
            try await session.send(.rcptTo(recipient.address), expecting: 250...251)
        }
        try await session.send(.data, expecting: 354...354)
        try await session.sendContent(content)
        logger.debug("mail sent", metadata: ["smtp.message_id": "\(message.messageID)", "smtp.recipients": "\(message.to.count)"])
        // The message is accepted: a failing QUIT changes nothing about that.
        _ = try? await session.send(.quit, expecting: 221...221)
    }

    private func ehlo(_ session: SMTPSession) async throws -> SMTPCapabilities {
        SMTPCapabilities(ehlo: try await session.send(.ehlo(configuration.heloName), expecting: 250...250))
    }

    /// AUTH PLAIN when the server offers it, else AUTH LOGIN (RFC 4954).
    private func authenticate(_ session: SMTPSession, capabilities: SMTPCapabilities, username: String, password: String) async throws {
        if capabilities.authMechanisms.contains("PLAIN") {
            try await session.send(.authPlain(username: username, password: password), expecting: 235...235)
        } else if capabilities.authMechanisms.contains("LOGIN") {
            try await session.send(.authLogin, expecting: 334...334)
            try await session.send(.authLoginResponse(username), expecting: 334...334)
            try await session.send(.authLoginResponse(password), expecting: 235...235)
        } else {
            throw SMTPError(.unsupported, "the server offers neither AUTH PLAIN nor AUTH LOGIN", command: "EHLO")
        }
    }
}

/// One connection's commands and replies, over `SMTPClientHandler`.
private struct SMTPSession {
    let channel: any Channel
    let greeting: EventLoopFuture<SMTPReply>

    func receiveGreeting() async throws {
        try Self.check(try await greeting.get(), expecting: 220...220, after: "greeting")
    }

    @discardableResult
    func send(_ command: SMTPCommand, expecting codes: ClosedRange<Int>) async throws -> SMTPReply {
        try Self.check(try await request(ByteBuffer(string: command.line), name: command.verb), expecting: codes, after: command.verb)
    }

    func send(_ command: SMTPCommand, expecting code: Int) async throws {
        try await send(command, expecting: code...code)
    }

    func sendContent(_ content: ByteBuffer) async throws {
        try Self.check(try await request(content, name: "end of data"), expecting: 250...250, after: "end of data")
    }

    private func request(_ bytes: ByteBuffer, name: String) async throws -> SMTPReply {
        let reply = channel.eventLoop.makePromise(of: SMTPReply.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        // On a channel the server already closed, the request never reaches the handler: the
        // failed write fails the reply, which nothing else would complete. (A reply completed
        // first, by the handler, stays as it is.)
        written.futureResult.whenFailure { error in
            reply.fail(SMTPClientHandler.smtpError(error, command: name))
        }
        channel.writeAndFlush(SMTPRequest(bytes: bytes, name: name, reply: reply), promise: written)
        return try await reply.futureResult.get()
    }

    @discardableResult
    private static func check(_ reply: SMTPReply, expecting codes: ClosedRange<Int>, after command: String) throws(SMTPError) -> SMTPReply {
        guard codes.contains(reply.code) else { throw .unexpected(reply, after: command) }
        return reply
    }

    /// Puts TLS under the conversation after the server's 220 to STARTTLS. The reply decoder has
    /// refused any bytes that followed that reply, so nothing read before the handshake is kept.
    func startTLS(_ context: NIOSSLContext, serverHostname: String?) async throws {
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverHostname), position: .first)
        }.get()
    }
}
