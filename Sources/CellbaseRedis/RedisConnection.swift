import Logging
import NIOCore
import NIOPosix

/// One TCP connection to Redis, pipelined: any number of commands may be in flight at once, from
/// any number of tasks, and each gets its own reply (see `RedisCommandHandler`).
///
/// A connection is never reopened: once closed, every `send` throws `RedisError.connectionClosed`.
/// `RedisClient` is the type that reconnects.
public final class RedisConnection: Sendable {
    private let channel: any Channel
    private let commandTimeout: TimeAmount

    private init(channel: any Channel, commandTimeout: TimeAmount) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    /// Connects, then authenticates and selects the database that `configuration` names.
    public static func connect(
        to configuration: RedisConfiguration,
        on eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cellbase.redis")
    ) async throws -> RedisConnection {
        let limits = configuration.limits
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(configuration.connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(RESPDecoder(limits: limits)),
                            MessageToByteHandler(RESPCommandEncoder()),
                            RedisCommandHandler()
                        )
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw RedisError(.connectionClosed, "cannot connect to Redis at \(configuration.host):\(configuration.port): \(error)")
        }
        let connection = RedisConnection(channel: channel, commandTimeout: configuration.commandTimeout)
        do {
            if let password = configuration.password {
                let credentials = [configuration.username, password].compactMap { $0 }
                _ = try await connection.send(["AUTH"] + credentials)
            }
            if configuration.database != 0 {
                _ = try await connection.send(["SELECT", String(configuration.database)])
            }
        } catch {
            await connection.close()
            throw error
        }
        logger.debug("connected to Redis", metadata: ["redis.host": "\(configuration.host)", "redis.port": "\(configuration.port)"])
        return connection
    }

    /// Sends one command and waits for its reply. An error reply throws `RedisError.server`.
    public func send(_ command: [ByteBuffer]) async throws -> RESPValue {
        let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
        let request = RedisCommandHandler.Request(command: command, promise: promise, timeout: self.commandTimeout)
        // When the channel is already closed its handlers are gone and the write fails instead.
        self.channel.writeAndFlush(request).whenFailure { _ in
            promise.fail(RedisError.connectionClosed)
        }
        return try await promise.futureResult.get()
    }

    /// Sends one command whose arguments are text.
    public func send(_ command: [String]) async throws -> RESPValue {
        try await self.send(command.map { ByteBuffer(string: $0) })
    }

    /// Sends one command whose arguments are text.
    public func send(_ command: String...) async throws -> RESPValue {
        try await self.send(command)
    }

    /// False once the connection is closed or lost.
    public var isActive: Bool { self.channel.isActive }

    /// Completes when the connection is closed, by either side.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    /// Closes the connection, failing the commands still waiting, and waits until it is closed.
    public func close() async {
        self.channel.close(promise: nil)
        try? await self.channel.closeFuture.get()
    }
}
