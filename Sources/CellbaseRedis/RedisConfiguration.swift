import Foundation
import NIOCore

/// Where a Redis server is and how to talk to it: parsed from `redis://[[user]:password@]host[:port][/db]`.
public struct RedisConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// The ACL user for `AUTH user password`; nil uses `AUTH password` (the `default` user).
    public var username: String?
    /// Sent with AUTH right after connecting when set.
    public var password: String?
    /// Chosen with SELECT right after connecting when not 0.
    public var database: Int
    /// How long a TCP connect may take before the attempt fails.
    public var connectTimeout: TimeAmount
    /// How long a command may wait for its reply; past that the command fails and the connection is closed.
    public var commandTimeout: TimeAmount
    /// Bounds on the replies the connection accepts.
    public var limits: RESPParser.Limits

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: TimeAmount = .seconds(1),
        commandTimeout: TimeAmount = .seconds(2),
        limits: RESPParser.Limits = RESPParser.Limits()
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.limits = limits
    }

    /// Reads `redis://[[user]:password@]host[:port][/db]`; user and password are percent-decoded.
    public init(url: String) throws(RedisError) {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "redis" else {
            throw RedisError(.invalidURL, "'\(url)' is not a redis:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw RedisError(.invalidURL, "'\(url)' has no host")
        }
        let path = components.path.drop { $0 == "/" }
        var database = 0
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else {
                throw RedisError(.invalidURL, "'\(path)' in '\(url)' is not a database number")
            }
            database = number
        }
        let port = components.port ?? 6379
        guard (1...65535).contains(port) else {
            throw RedisError(.invalidURL, "port \(port) in '\(url)' is out of range")
        }
        // IPv6 literals come back in brackets, which a socket address does not take.
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.init(
            host: bareHost,
            port: port,
            username: components.user.flatMap { $0.isEmpty ? nil : $0 },
            password: components.password.flatMap { $0.isEmpty ? nil : $0 },
            database: database
        )
    }
}
