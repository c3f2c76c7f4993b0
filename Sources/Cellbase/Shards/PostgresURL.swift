import Foundation
import PostgresNIO

/// `postgres://user:password@host:port/database?sslmode=disable|require`
enum PostgresURL {
    struct Invalid: Error, CustomStringConvertible {
        var url: String
        var description: String { "not a PostgreSQL URL (postgres://user:password@host:port/database): \(url)" }
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty,
              let user = components.user
        else { throw Invalid(url: url) }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS = sslMode == "require" ? .require(.makeClientConfiguration()) : .disable
        return PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding,
            database: database.isEmpty ? nil : database,
            tls: tls
        )
    }
}
