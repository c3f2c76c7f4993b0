/// Why a Redis command did not produce a reply value. `code` is what callers branch on; `message`
/// is for logs (for `.server`, it is the error line Redis sent, such as `NOSCRIPT No matching script`).
public struct RedisError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong; codes can be added without breaking callers that switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case server
            case connectionClosed
            case timeout
            case unavailable
            case protocolViolation
            case unexpectedReply
            case invalidURL
            case invalidArgument
            case clientShutdown
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Redis answered with an error reply.
        public static let server = Code(.server)
        /// The connection could not be opened, or was closed or lost before the reply arrived.
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply within the command timeout; the connection is closed, since it can no longer be trusted.
        public static let timeout = Code(.timeout)
        /// The client could not connect recently and is waiting before it tries again.
        public static let unavailable = Code(.unavailable)
        /// The server sent something that is not RESP2, or a reply nobody asked for.
        public static let protocolViolation = Code(.protocolViolation)
        /// A reply of a shape the command cannot produce (for example a script returning the wrong type).
        public static let unexpectedReply = Code(.unexpectedReply)
        /// A connection URL that is not `redis://[[user]:password@]host[:port][/db]`.
        public static let invalidURL = Code(.invalidURL)
        /// An argument outside its domain, such as a negative rate.
        public static let invalidArgument = Code(.invalidArgument)
        /// The client was shut down.
        public static let clientShutdown = Code(.clientShutdown)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An error reply from Redis.
    public static func server(_ message: String) -> RedisError { RedisError(.server, message) }

    public static let connectionClosed = RedisError(.connectionClosed, "the connection to Redis is closed")
    public static let timeout = RedisError(.timeout, "Redis did not reply in time")
    public static let clientShutdown = RedisError(.clientShutdown, "the Redis client is shut down")

    /// The error reply's first word (`ERR`, `NOSCRIPT`, `WRONGTYPE`, ...), for `.server` errors.
    public var serverErrorKind: Substring? {
        guard self.code == .server else { return nil }
        return self.message.prefix { $0 != " " }
    }

    public var description: String { "Redis \(self.code): \(self.message)" }
}
