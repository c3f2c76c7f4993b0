import Testing
@testable import CellbaseSQL

struct MigrationLexerTests {
    @Test func tokenKinds() throws {
        let tokens = try MigrationLexer.tokens(#"Abc "Q""x" 'it''s' 12 1.5e-3 .5 -- comment ; "#
            + "\n /* a /* nested; */ b */ ->> :: != -> <> <= >= || ( ) , . [ ] = < > + - * / ; ÄBc _x9")
        #expect(tokens.map(\.kind) == [
            .word("abc"), .quotedIdentifier("Q\"x"), .string("it's"), .number("12"), .number("1.5e-3"), .number(".5"),
            .symbol("->>"), .symbol("::"), .symbol("!="), .symbol("->"), .symbol("<>"), .symbol("<="), .symbol(">="), .symbol("||"),
            .symbol("("), .symbol(")"), .symbol(","), .symbol("."), .symbol("["), .symbol("]"), .symbol("="), .symbol("<"), .symbol(">"),
            .symbol("+"), .symbol("-"), .symbol("*"), .symbol("/"), .symbol(";"), .word("Äbc"), .word("_x9"), .end,
        ])
    }

    @Test func positionsCountLinesAndColumns() throws {
        let tokens = try MigrationLexer.tokens("a\n  'x\ny' b\r\n\tc")
        #expect(tokens.map(\.position) == [
            MigrationPosition(line: 1, column: 1), MigrationPosition(line: 2, column: 3), MigrationPosition(line: 3, column: 4),
            MigrationPosition(line: 4, column: 2), MigrationPosition(line: 4, column: 3),
        ])
    }

    @Test func stringsAndQuotedNamesKeepTheirContent() throws {
        let tokens = try MigrationLexer.tokens(#"'' '--not a comment' '/* nor this */' ';' "a;b" "x""#)
        #expect(tokens.map(\.kind) == [
            .string(""), .string("--not a comment"), .string("/* nor this */"), .string(";"), .quotedIdentifier("a;b"), .quotedIdentifier("x"), .end,
        ])
    }

    static let errors: [(sql: String, line: Int, column: Int, message: String)] = [
        ("a\0", 1, 2, "found a NUL byte; migration files must be plain text"),
        ("'a\0'", 1, 3, "found a NUL byte; migration files must be plain text"),
        ("\"a\0\"", 1, 3, "found a NUL byte; migration files must be plain text"),
        ("-- x\0", 1, 5, "found a NUL byte; migration files must be plain text"),
        ("/*\n\0*/", 2, 1, "found a NUL byte; migration files must be plain text"),
        ("x\n  'abc\n", 2, 3, "unterminated string literal: it needs a closing '"),
        ("x 'it''", 1, 3, "unterminated string literal: it needs a closing '"),
        ("\n\"abc", 2, 1, "unterminated quoted identifier: it needs a closing \""),
        ("a /* /* */", 1, 3, "unterminated /* comment: it needs a closing */"),
        ("\"\"", 1, 1, "found an empty quoted identifier \"\"; a name needs at least one character"),
        ("E'x'", 1, 1, "found the special string literal E'...'; only plain '...' strings are supported (write a quote as '')"),
        ("x'ff'", 1, 1, "found the special string literal x'...'; only plain '...' strings are supported (write a quote as '')"),
        ("$$x$$", 1, 1, "found \"$\"; dollar-quoted strings and parameters are not supported in migrations"),
        ("ab$c", 1, 3, "found \"$\" in an identifier; dollar signs (and dollar-quoted strings) are not supported"),
        ("12abc", 1, 3, "found \"a\" right after the number 12; separate them with a space"),
        ("a ? b", 1, 3, "found the unexpected character \"?\""),
        ("a ~ b", 1, 3, "found the unexpected character \"~\""),
    ]

    @Test(arguments: errors)
    func error(sql: String, line: Int, column: Int, message: String) {
        #expect(throws: MigrationError(line: line, column: column, message: message)) {
            try MigrationLexer.tokens(sql)
        }
    }
}
