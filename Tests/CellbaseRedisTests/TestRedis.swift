#if canImport(Glibc)
import Glibc
#endif
import CellbaseRedis
import Foundation
import NIOCore
import NIOPosix

/// The Redis the live tests use: `CELLBASE_TEST_REDIS_URL`, set by scripts/test.
enum TestRedis {
    /// Missing is a failure, never a skip.
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CELLBASE_TEST_REDIS_URL"], !url.isEmpty else {
            throw MissingServer()
        }
        return url
    }

    /// Generous timeouts: the tests run in parallel with many others on a busy machine, and a late
    /// reply must not pass for a lost one. The tests of timeouts set their own.
    static func configuration(path: String = "") throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: self.url() + path)
        configuration.connectTimeout = .seconds(10)
        configuration.commandTimeout = .seconds(30)
        return configuration
    }

    static func client() throws -> RedisClient {
        try RedisClient(configuration: self.configuration())
    }

    /// A key no other test uses.
    static func key(_ name: String) -> String {
        "cellbase-test:\(name):\(UUID().uuidString)"
    }

    struct MissingServer: Error, CustomStringConvertible {
        var description: String {
            "CELLBASE_TEST_REDIS_URL is not set: run the tests through scripts/test, which starts redis-server"
        }
    }
}

/// A loopback port that nothing listens on (just after this returns).
/// A loopback port that refuses connections for as long as the returned socket stays open: bound,
/// never listening, so no other test can take it meanwhile (a port merely found free can be).
final class RefusingPort: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RedisError(.invalidArgument, "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            close(descriptor)
            throw RedisError(.invalidArgument, "binding a loopback port failed")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}

func unusedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0)
        .get()
    let port = channel.localAddress?.port
    try await channel.close()
    guard let port else { throw RedisError(.invalidArgument, "the bound socket has no port") }
    return port
}

/// A redis-server of a test's own, for tests that stop and restart it.
final class RedisServerProcess {
    let port: Int
    let arguments: [String]
    private let directory: URL
    private var process: Process?

    init(port: Int, arguments: [String] = []) throws {
        self.port = port
        self.arguments = arguments
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("cellbase-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    deinit {
        self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Another process took the port between `unusedPort()` and the server's start (the tests
    /// running alongside bind ports of their own): the redis-server could not listen and exited.
    struct PortTaken: Error {
        var port: Int
    }

    /// A redis-server started on a port found unused; on another one when the port was taken
    /// before the server could listen on it.
    static func started(arguments: [String] = []) async throws -> RedisServerProcess {
        for _ in 0..<5 {
            let server = try RedisServerProcess(port: try await unusedPort(), arguments: arguments)
            do {
                try await server.start()
                return server
            } catch is PortTaken {
                continue
            }
        }
        throw RedisError(.connectionClosed, "no port found for redis-server in 5 tries")
    }

    /// Starts the server and waits until it answers as Redis does. Throws `PortTaken` when the
    /// server exits at once, or another kind of server answers on its port.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "redis-server", "--port", String(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", self.directory.path, "--daemonize", "no", "--logfile", "",
        ] + self.arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 {
            guard process.isRunning else {
                self.process = nil
                throw PortTaken(port: self.port)
            }
            switch await Self.probe(port: self.port) {
            case .redis: return
            case .other:
                self.stop()
                throw PortTaken(port: self.port)
            case .nothing: try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw RedisError(.connectionClosed, "redis-server on port \(self.port) did not start")
    }

    private enum ProbeResult {
        case redis, other, nothing
    }

    /// What answers a PING on `port`: Redis (`PONG`, or an error such as `NOAUTH` from a server
    /// with a password), another kind of server, or nothing listening yet.
    private static func probe(port: Int) async -> ProbeResult {
        var configuration = RedisConfiguration(port: port)
        configuration.connectTimeout = .seconds(5)
        configuration.commandTimeout = .seconds(10)
        guard let connection = try? await RedisConnection.connect(to: configuration) else { return .nothing }
        await connection.close()
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        do {
            return try await client.send("PING") == .simpleString("PONG") ? .redis : .other
        } catch let error as RedisError where error.code == .server {
            return .redis
        } catch {
            return .other
        }
    }

    func stop() {
        guard let process = self.process else { return }
        // SIGKILL: the child inherits the test runner's blocked signal mask, which includes SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }
}

/// Runs `body` with `client` and shuts the client down afterwards, whether `body` threw or not.
func withClient(_ client: RedisClient, _ body: (RedisClient) async throws -> Void) async throws {
    do {
        try await body(client)
    } catch {
        await client.shutdown()
        throw error
    }
    await client.shutdown()
}

/// Runs `body`, then shuts both clients down.
func withClients(_ first: RedisClient, _ second: RedisClient, _ body: () async throws -> Void) async throws {
    try await withClient(first) { _ in
        try await withClient(second) { _ in try await body() }
    }
}
