import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The way to use Redis: one pipelined `RedisConnection` shared by every caller (Redis runs
/// commands one at a time, so a single busy connection is as fast as a pool), opened lazily and
/// reopened after it is lost.
///
/// While Redis is unreachable the client fails fast: a failed connect starts a backoff during which
/// every call throws `RedisError.unavailable` at once, so a caller with a local fallback (such as
/// a gateway's rate limiter) is never held up. The first call after the backoff tries again.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    /// The longest wait between two connect attempts.
    public let maxBackoff: TimeAmount
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State.idle(failures: 0, retryAt: .uptimeNanoseconds(0), lastError: nil))
    private let scriptHashes = Mutex<[String: String]>([:])

    private enum State: Sendable {
        case idle(failures: Int, retryAt: NIODeadline, lastError: RedisError?)
        case connecting(EventLoopFuture<RedisConnection>, failures: Int)
        case connected(RedisConnection)
        case shutdown
    }

    private enum Action {
        case use(RedisConnection)
        case wait(EventLoopFuture<RedisConnection>)
        case connect(EventLoopPromise<RedisConnection>, failures: Int)
        case fail(RedisError)
    }

    public init(
        configuration: RedisConfiguration,
        maxBackoff: TimeAmount = .seconds(2),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cellbase.redis")
    ) {
        self.configuration = configuration
        self.maxBackoff = maxBackoff
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The wait after `failures` failed connect attempts in a row: 50 ms, doubling, at most `maxBackoff`.
    public static func backoff(afterFailures failures: Int, maxBackoff: TimeAmount) -> TimeAmount {
        guard failures > 0 else { return .zero }
        let doublings = min(failures - 1, 20)
        return min(.milliseconds(50 << doublings), maxBackoff)
    }

    /// Sends one command on the shared connection, connecting first if needed. An error reply
    /// throws `RedisError.server`; an unreachable Redis throws at once.
    public func send(_ command: [ByteBuffer]) async throws -> RESPValue {
        try await self.connection().send(command)
    }

    /// Sends one command whose arguments are text.
    public func send(_ command: [String]) async throws -> RESPValue {
        try await self.send(command.map { ByteBuffer(string: $0) })
    }

    /// Sends one command whose arguments are text.
    public func send(_ command: String...) async throws -> RESPValue {
        try await self.send(command)
    }

    /// Runs a Lua script by its SHA-1 (EVALSHA), loading it first when this client has not yet, and
    /// again, with one retry, when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
    public func evalSHA(script: RedisScript, keys: [String], args: [String]) async throws -> RESPValue {
        let cached = self.scriptHashes.withLock { $0[script.source] }
        let hash: String
        if let cached {
            hash = cached
        } else {
            hash = try await self.load(script)
        }
        let arguments = [String(keys.count)] + keys + args
        do {
            return try await self.send(["EVALSHA", hash] + arguments)
        } catch let error as RedisError where error.serverErrorKind == "NOSCRIPT" {
            let reloaded = try await self.load(script)
            return try await self.send(["EVALSHA", reloaded] + arguments)
        }
    }

    /// Closes the connection; every later call throws `RedisError.clientShutdown`.
    public func shutdown() async {
        let previous = self.state.withLock { state in
            let previous = state
            state = .shutdown
            return previous
        }
        switch previous {
        case .connected(let connection):
            await connection.close()
        case .connecting(let future, _):
            // The connect in flight sees `.shutdown` when it completes and closes what it opened.
            _ = try? await future.get()
        case .idle, .shutdown:
            break
        }
    }

    private func load(_ script: RedisScript) async throws -> String {
        let reply = try await self.send(["SCRIPT", "LOAD", script.source])
        guard let hash = reply.string else {
            throw RedisError(.unexpectedReply, "SCRIPT LOAD answered \(reply)")
        }
        self.scriptHashes.withLock { $0[script.source] = hash }
        return hash
    }

    private func connection() async throws -> RedisConnection {
        let action = self.state.withLock { state -> Action in
            switch state {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connected:
                return self.startConnecting(&state, failures: 0)
            case .connecting(let future, _):
                return .wait(future)
            case .idle(let failures, let retryAt, let lastError):
                guard NIODeadline.now() >= retryAt else {
                    let reason = lastError.map { " (\($0.message))" } ?? ""
                    return .fail(RedisError(.unavailable, "Redis is unreachable, not retrying yet\(reason)"))
                }
                return self.startConnecting(&state, failures: failures)
            case .shutdown:
                return .fail(.clientShutdown)
            }
        }
        switch action {
        case .use(let connection):
            return connection
        case .wait(let future):
            return try await future.get()
        case .fail(let error):
            throw error
        case .connect(let promise, let failures):
            return try await self.connect(fulfilling: promise, failures: failures)
        }
    }

    private func startConnecting(_ state: inout State, failures: Int) -> Action {
        let promise = self.eventLoopGroup.any().makePromise(of: RedisConnection.self)
        state = .connecting(promise.futureResult, failures: failures)
        return .connect(promise, failures: failures)
    }

    private func connect(fulfilling promise: EventLoopPromise<RedisConnection>, failures: Int) async throws -> RedisConnection {
        let connection: RedisConnection
        do {
            connection = try await RedisConnection.connect(to: self.configuration, on: self.eventLoopGroup, logger: self.logger)
        } catch {
            let failure = error as? RedisError ?? RedisError(.connectionClosed, "\(error)")
            let delay = Self.backoff(afterFailures: failures + 1, maxBackoff: self.maxBackoff)
            self.state.withLock { state in
                guard case .connecting = state else { return }
                state = .idle(failures: failures + 1, retryAt: .now() + delay, lastError: failure)
            }
            self.logger.warning("Redis connect failed", metadata: [
                "error": "\(failure)", "redis.retry_in_ms": "\(delay.nanoseconds / 1_000_000)",
            ])
            promise.fail(failure)
            throw failure
        }
        let kept = self.state.withLock { state in
            guard case .connecting = state else { return false }
            state = .connected(connection)
            return true
        }
        guard kept else {
            await connection.close()
            promise.fail(RedisError.clientShutdown)
            throw RedisError.clientShutdown
        }
        // A lost connection is replaced by the next call, without waiting: it worked a moment ago.
        connection.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { state in
                guard case .connected(let current) = state, current === connection else { return }
                state = .idle(failures: 0, retryAt: .now(), lastError: nil)
            }
        }
        promise.succeed(connection)
        return connection
    }
}
