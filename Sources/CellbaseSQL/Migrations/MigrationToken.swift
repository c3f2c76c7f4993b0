/// One lexical token of a migration file.
struct MigrationToken: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        /// An unquoted identifier or keyword, folded to lowercase.
        case word(String)
        /// A `"quoted"` identifier, exactly as written (with `""` undoubled).
        case quotedIdentifier(String)
        /// A `'string'` literal, with `''` undoubled.
        case string(String)
        /// A numeric literal, as written.
        case number(String)
        /// An operator or punctuation: `(`, `::`, `->>`, ...
        case symbol(String)
        case end
    }

    var kind: Kind
    var position: MigrationPosition
    /// The token as written, for error messages.
    var text: String

    /// How error messages name this token.
    var described: String {
        if case .end = kind { return "end of file" }
        return "\"\(text)\""
    }
}
