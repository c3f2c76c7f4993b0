/// Splits a migration file into tokens, dropping whitespace and comments.
struct MigrationLexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var column = 1

    /// Multi-character operators, longest first so `->>` wins over `->`.
    private static let operators = ["->>", "::", "->", "<=", ">=", "<>", "!=", "||"]
    private static let singles: Set<Unicode.Scalar> = ["(", ")", ",", ";", ".", "[", "]", "=", "<", ">", "+", "-", "*", "/"]
    /// Letters that turn a following string literal into a PostgreSQL special string (`E'\n'`, `B'01'`, ...).
    private static let stringPrefixes: Set<String> = ["e", "b", "x", "n", "u"]

    static func tokens(_ sql: String) throws(MigrationError) -> [MigrationToken] {
        var lexer = MigrationLexer(scalars: Array(sql.unicodeScalars))
        var tokens: [MigrationToken] = []
        while let token = try lexer.next() {
            tokens.append(token)
        }
        tokens.append(MigrationToken(kind: .end, position: lexer.position, text: ""))
        return tokens
    }

    private init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    private var position: MigrationPosition { MigrationPosition(line: line, column: column) }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    private mutating func next() throws(MigrationError) -> MigrationToken? {
        try skipWhitespaceAndComments()
        guard let scalar = peek() else { return nil }
        let start = position
        let startIndex = index
        func text(_ lexer: MigrationLexer) -> String {
            var text = ""
            text.unicodeScalars.append(contentsOf: lexer.scalars[startIndex..<lexer.index])
            return text
        }

        if Self.isIdentifierStart(scalar) {
            while let next = peek(), Self.isIdentifierPart(next) { advance() }
            let written = text(self)
            if peek() == "$" {
                throw MigrationError(at: position, "found \"$\" in an identifier; dollar signs (and dollar-quoted strings) are not supported")
            }
            if peek() == "'", Self.stringPrefixes.contains(Self.foldCase(written)) {
                throw MigrationError(at: start, "found the special string literal \(written)'...'; only plain '...' strings are supported (write a quote as '')")
            }
            return MigrationToken(kind: .word(Self.foldCase(written)), position: start, text: written)
        }
        if Self.isDigit(scalar) || (scalar == "." && peek(1).map(Self.isDigit) == true) {
            return try number(start: start, startIndex: startIndex)
        }
        switch scalar {
        case "\"":
            let value = try quoted(by: "\"", start: start, what: "quoted identifier")
            if value.isEmpty {
                throw MigrationError(at: start, "found an empty quoted identifier \"\"; a name needs at least one character")
            }
            return MigrationToken(kind: .quotedIdentifier(value), position: start, text: text(self))
        case "'":
            let value = try quoted(by: "'", start: start, what: "string literal")
            return MigrationToken(kind: .string(value), position: start, text: text(self))
        case "$":
            throw MigrationError(at: start, "found \"$\"; dollar-quoted strings and parameters are not supported in migrations")
        case "\0":
            throw MigrationError(at: start, "found a NUL byte; migration files must be plain text")
        default:
            break
        }
        for op in Self.operators where matches(op) {
            for _ in op.unicodeScalars { advance() }
            return MigrationToken(kind: .symbol(op), position: start, text: op)
        }
        if Self.singles.contains(scalar) {
            advance()
            return MigrationToken(kind: .symbol(String(scalar)), position: start, text: String(scalar))
        }
        throw MigrationError(at: start, "found the unexpected character \"\(scalar)\"")
    }

    private func matches(_ op: String) -> Bool {
        for (offset, scalar) in op.unicodeScalars.enumerated() where peek(offset) != scalar {
            return false
        }
        return true
    }

    private mutating func skipWhitespaceAndComments() throws(MigrationError) {
        while let scalar = peek() {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar == "\u{0C}" {
                advance()
            } else if scalar == "-", peek(1) == "-" {
                while let next = peek(), next != "\n" {
                    if next == "\0" { throw MigrationError(at: position, "found a NUL byte; migration files must be plain text") }
                    advance()
                }
            } else if scalar == "/", peek(1) == "*" {
                try skipBlockComment()
            } else {
                return
            }
        }
    }

    /// `/* ... */`, nested as in PostgreSQL.
    private mutating func skipBlockComment() throws(MigrationError) {
        let start = position
        var depth = 0
        repeat {
            guard let scalar = peek() else {
                throw MigrationError(at: start, "unterminated /* comment: it needs a closing */")
            }
            if scalar == "/", peek(1) == "*" {
                depth += 1
                advance()
            } else if scalar == "*", peek(1) == "/" {
                depth -= 1
                advance()
            } else if scalar == "\0" {
                throw MigrationError(at: position, "found a NUL byte; migration files must be plain text")
            }
            advance()
        } while depth > 0
    }

    /// The body of a string or quoted identifier, with the doubled delimiter undoubled.
    private mutating func quoted(by delimiter: Unicode.Scalar, start: MigrationPosition, what: String) throws(MigrationError) -> String {
        advance()
        var value = String.UnicodeScalarView()
        while true {
            guard let scalar = peek() else {
                throw MigrationError(at: start, "unterminated \(what): it needs a closing \(delimiter)")
            }
            if scalar == "\0" {
                throw MigrationError(at: position, "found a NUL byte; migration files must be plain text")
            }
            advance()
            if scalar == delimiter {
                guard peek() == delimiter else { break }
                advance()
            }
            value.append(scalar)
        }
        return String(value)
    }

    private mutating func number(start: MigrationPosition, startIndex: Int) throws(MigrationError) -> MigrationToken {
        while let next = peek(), Self.isDigit(next) { advance() }
        if peek() == ".", peek(1) != "." {
            advance()
            while let next = peek(), Self.isDigit(next) { advance() }
        }
        if let e = peek(), e == "e" || e == "E" {
            let signed = peek(1) == "+" || peek(1) == "-"
            if let digit = peek(signed ? 2 : 1), Self.isDigit(digit) {
                advance()
                if signed { advance() }
                while let next = peek(), Self.isDigit(next) { advance() }
            }
        }
        var written = ""
        written.unicodeScalars.append(contentsOf: scalars[startIndex..<index])
        if let next = peek(), Self.isIdentifierPart(next) {
            throw MigrationError(at: position, "found \"\(next)\" right after the number \(written); separate them with a space")
        }
        return MigrationToken(kind: .number(written), position: start, text: written)
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool {
        scalar >= "0" && scalar <= "9"
    }

    private static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar.value > 127 && scalar.properties.isAlphabetic)
    }

    private static func isIdentifierPart(_ scalar: Unicode.Scalar) -> Bool {
        isIdentifierStart(scalar) || isDigit(scalar)
    }

    /// PostgreSQL folds only ASCII letters of unquoted identifiers; doing the same keeps names identical.
    static func foldCase(_ text: String) -> String {
        var folded = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar >= "A" && scalar <= "Z" {
                folded.append(Unicode.Scalar(scalar.value + 32)!)
            } else {
                folded.append(scalar)
            }
        }
        return String(folded)
    }
}
