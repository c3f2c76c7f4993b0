/// A migration file that is outside the supported subset or invalid against the schema.
public struct MigrationError: Error, Sendable, Hashable {
    /// 1-based line in the migration file.
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int
    /// What was found and what is supported.
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    init(at position: MigrationPosition, _ message: String) {
        self.init(line: position.line, column: position.column, message: message)
    }
}

extension MigrationError: CustomStringConvertible {
    public var description: String { "line \(line), column \(column): \(message)" }
}
