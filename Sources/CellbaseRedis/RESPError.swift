/// Input that is not valid RESP2, or that exceeds the parser's limits. The connection that received
/// it cannot be trusted to be in step with the server any more and is closed.
public struct RESPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong; codes can be added without breaking callers that switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownType
            case invalidInteger
            case invalidLength
            case missingCRLF
            case lineTooLong
            case bulkTooLong
            case tooManyElements
            case nestingTooDeep
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The first byte of a value is none of `+ - : $ *`.
        public static let unknownType = Code(.unknownType)
        /// An integer reply that is not an optional `-` followed by decimal digits fitting an `Int`.
        public static let invalidInteger = Code(.invalidInteger)
        /// A bulk or array length that is not a decimal number, or negative other than -1.
        public static let invalidLength = Code(.invalidLength)
        /// A line or bulk payload not terminated by `\r\n`.
        public static let missingCRLF = Code(.missingCRLF)
        /// A simple string, error or length line longer than `RESPParser.Limits.maxLineLength`.
        public static let lineTooLong = Code(.lineTooLong)
        /// A bulk string longer than `RESPParser.Limits.maxBulkLength`.
        public static let bulkTooLong = Code(.bulkTooLong)
        /// An array with more elements than `RESPParser.Limits.maxArrayElements`.
        public static let tooManyElements = Code(.tooManyElements)
        /// Arrays nested deeper than `RESPParser.Limits.maxDepth`.
        public static let nestingTooDeep = Code(.nestingTooDeep)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RESP \(self.code): \(self.message)" }
}
