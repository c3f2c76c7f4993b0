import Testing
@testable import CellbaseSQL

@Suite struct RESTGrammarTests {
    static func field(_ column: String, _ path: (String, Bool)...) -> RESTField {
        RESTField(column: column, path: path.map { RESTPathStep(key: $0.0, asText: $0.1) })
    }

    static let selectCases: [(String, [RESTSelectItem])] = [
        ("*", [.all]),
        ("", [.all]),
        ("id,title", [.field(field("id"), alias: nil, cast: nil), .field(field("title"), alias: nil, cast: nil)]),
        ("name:title", [.field(field("title"), alias: "name", cast: nil)]),
        ("id::text", [.field(field("id"), alias: nil, cast: .text)]),
        ("n:id::bigint", [.field(field("id"), alias: "n", cast: .bigint)]),
        ("data->a->>b", [.field(field("data", ("a", false), ("b", true)), alias: nil, cast: nil)]),
        ("x:data->0", [.field(field("data", ("0", false)), alias: "x", cast: nil)]),
        ("\"my,col\"", [.field(field("my,col"), alias: nil, cast: nil)]),
        ("\"a\\\"b\"", [.field(field("a\"b"), alias: nil, cast: nil)]),
        ("*,data->>k::int", [.all, .field(field("data", ("k", true)), alias: nil, cast: .int)]),
        ("id,users(name,email)", [
            .field(field("id"), alias: nil, cast: nil),
            .embedded(RESTEmbed(relation: "users", items: [.field(field("name"), alias: nil, cast: nil), .field(field("email"), alias: nil, cast: nil)])),
        ]),
        ("owner:users!todos_owner_fkey(*)", [.embedded(RESTEmbed(relation: "users", alias: "owner", hint: "todos_owner_fkey", items: [.all]))]),
        ("...users(name)", [.embedded(RESTEmbed(relation: "users", isSpread: true, items: [.field(field("name"), alias: nil, cast: nil)]))]),
        ("users()", [.embedded(RESTEmbed(relation: "users", items: []))]),
        ("my-col", [.field(field("my-col"), alias: nil, cast: nil)]),
    ]

    @Test(arguments: selectCases)
    func selectParses(text: String, expected: [RESTSelectItem]) throws {
        #expect(try RESTGrammar.select(text) == expected)
    }

    static let selectErrors: [(String, RESTError)] = [
        ("id,", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (id,)\" (line 1, column 4)", details: "unexpected end of input expecting field name")),
        ("id)", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (id))\" (line 1, column 3)", details: "unexpected \")\" expecting \",\"")),
        ("users(id", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (users(id)\" (line 1, column 9)", details: "unexpected end of input expecting \")\"")),
        ("id::regclass", RESTError(status: 400, code: "PGRST100", message: "cast to \"regclass\" is not supported", details: "Casts may be one of: text, int, bigint, numeric, float, bool, json, jsonb")),
        ("\"open", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (\"open)\" (line 1, column 6)", details: "unexpected end of input expecting closing quote")),
        ("a.b", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (a.b)\" (line 1, column 2)", details: "unexpected \".\" expecting \",\"")),
    ]

    @Test(arguments: selectErrors)
    func selectRejects(text: String, expected: RESTError) {
        #expect(throws: expected) { try RESTGrammar.select(text) }
    }

    static let filterCases: [(String, String, RESTFilter)] = [
        ("id", "eq.1", RESTFilter(field: field("id"), op: .eq, operand: .value("1"))),
        ("id", "not.eq.1", RESTFilter(field: field("id"), negated: true, op: .eq, operand: .value("1"))),
        ("title", "eq.a,b(c)", RESTFilter(field: field("title"), op: .eq, operand: .value("a,b(c)"))),
        ("title", "neq.a b", RESTFilter(field: field("title"), op: .neq, operand: .value("a b"))),
        ("title", "eq.", RESTFilter(field: field("title"), op: .eq, operand: .value(""))),
        ("title", "like.*foo*", RESTFilter(field: field("title"), op: .like, operand: .value("%foo%"))),
        ("title", "ilike.A%_", RESTFilter(field: field("title"), op: .ilike, operand: .value("A%_"))),
        ("done", "is.NULL", RESTFilter(field: field("done"), op: .is, operand: .isValue(.null))),
        ("done", "is.True", RESTFilter(field: field("done"), op: .is, operand: .isValue(.true))),
        ("done", "is.false", RESTFilter(field: field("done"), op: .is, operand: .isValue(.false))),
        ("done", "is.not_null", RESTFilter(field: field("done"), op: .is, operand: .isValue(.notNull))),
        ("done", "not.is.unknown", RESTFilter(field: field("done"), negated: true, op: .is, operand: .isValue(.unknown))),
        ("id", "in.(1,2,\"c,d\",null,\"null\",\"a\\\"b\")", RESTFilter(field: field("id"), op: .in, operand: .list(["1", "2", "c,d", nil, "null", "a\"b"]))),
        ("id", "in.()", RESTFilter(field: field("id"), op: .in, operand: .list([]))),
        ("tags", "cs.{a,\"b c\"}", RESTFilter(field: field("tags"), op: .cs, operand: .value("{a,\"b c\"}"))),
        ("data", "cd.{\"a\": 1}", RESTFilter(field: field("data"), op: .cd, operand: .value("{\"a\": 1}"))),
        ("tags", "ov.{x}", RESTFilter(field: field("tags"), op: .ov, operand: .value("{x}"))),
        ("data->>k", "eq.x", RESTFilter(field: field("data", ("k", true)), op: .eq, operand: .value("x"))),
        ("data->a->>b", "gt.1", RESTFilter(field: field("data", ("a", false), ("b", true)), op: .gt, operand: .value("1"))),
        ("\"my col\"", "lte.5", RESTFilter(field: field("my col"), op: .lte, operand: .value("5"))),
        ("t.or", "eq.1", RESTFilter(field: field("t.or"), op: .eq, operand: .value("1"))),
    ]

    @Test(arguments: filterCases)
    func filterParses(key: String, value: String, expected: RESTFilter) throws {
        #expect(try RESTGrammar.filter(key: key, value: value) == expected)
    }

    static let filterErrors: [(String, RESTError)] = [
        ("xx.1", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (xx.1)\" (line 1, column 1)", details: "unexpected \"x\" expecting \"not\" or operator (eq, gt, ...)")),
        ("eq", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (eq)\" (line 1, column 1)", details: "unexpected \"e\" expecting \"not\" or operator (eq, gt, ...)")),
        ("1", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (1)\" (line 1, column 1)", details: "unexpected \"1\" expecting \"not\" or operator (eq, gt, ...)")),
        ("not.5", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (not.5)\" (line 1, column 5)", details: "unexpected \"5\" expecting \"not\" or operator (eq, gt, ...)")),
        ("is.maybe", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (is.maybe)\" (line 1, column 4)", details: "unexpected \"maybe\" expecting null, not_null, true, false or unknown")),
        ("in.1,2", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (in.1,2)\" (line 1, column 4)", details: "unexpected \"1\" expecting \"(\"")),
        ("in.(1,2", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (in.(1,2)\" (line 1, column 8)", details: "unexpected end of input expecting \",\" or \")\"")),
        ("in.(1)x", RESTError(status: 400, code: "PGRST100", message: "\"failed to parse filter (in.(1)x)\" (line 1, column 7)", details: "unexpected \"x\" expecting end of input")),
    ]

    @Test(arguments: filterErrors)
    func filterRejects(value: String, expected: RESTError) {
        #expect(throws: expected) { try RESTGrammar.filter(key: "id", value: value) }
    }

    @Test(arguments: ["fts", "plfts", "phfts", "wfts", "match", "imatch", "sl", "sr", "nxl", "nxr", "adj", "isdistinct"])
    func unsupportedOperatorsAreNamed(op: String) throws {
        let error = try #require(throws: RESTError.self) { try RESTGrammar.filter(key: "title", value: "\(op).x") }
        #expect(error.status == 400)
        #expect(error.code == "PGRST100")
        #expect(error.message == "operator \"\(op)\" is not supported")
    }

    @Test(arguments: [("like(any).{a*,b*}", "like(any)"), ("wfts(english).cat", "wfts(english)"), ("not.ilike(all).{a}", "ilike(all)")])
    func modifiersAreNamed(value: String, spelled: String) throws {
        let error = try #require(throws: RESTError.self) { try RESTGrammar.filter(key: "title", value: value) }
        #expect(error.message == "operator \"\(spelled)\" is not supported")
    }

    static let logicCases: [(String, String, RESTCondition)] = [
        ("or", "(a.eq.1,b.gt.2)", .group(.or, [
            .filter(RESTFilter(field: field("a"), op: .eq, operand: .value("1"))),
            .filter(RESTFilter(field: field("b"), op: .gt, operand: .value("2"))),
        ], negated: false)),
        ("not.and", "(a.eq.1,b.not.is.null)", .group(.and, [
            .filter(RESTFilter(field: field("a"), op: .eq, operand: .value("1"))),
            .filter(RESTFilter(field: field("b"), negated: true, op: .is, operand: .isValue(.null))),
        ], negated: true)),
        ("or", "(a.eq.1,and(b.eq.2,not.or(c.eq.3,d.in.(4,\"5,6\"))))", .group(.or, [
            .filter(RESTFilter(field: field("a"), op: .eq, operand: .value("1"))),
            .group(.and, [
                .filter(RESTFilter(field: field("b"), op: .eq, operand: .value("2"))),
                .group(.or, [
                    .filter(RESTFilter(field: field("c"), op: .eq, operand: .value("3"))),
                    .filter(RESTFilter(field: field("d"), op: .in, operand: .list(["4", "5,6"]))),
                ], negated: true),
            ], negated: false),
        ], negated: false)),
        ("or", "(title.eq.\"a,b)\",title.like.*x*)", .group(.or, [
            .filter(RESTFilter(field: field("title"), op: .eq, operand: .value("a,b)"))),
            .filter(RESTFilter(field: field("title"), op: .like, operand: .value("%x%"))),
        ], negated: false)),
        ("or", "(tags.cs.{a,\"b,c\"},data->>k.eq.v)", .group(.or, [
            .filter(RESTFilter(field: field("tags"), op: .cs, operand: .value("{a,\"b,c\"}"))),
            .filter(RESTFilter(field: field("data", ("k", true)), op: .eq, operand: .value("v"))),
        ], negated: false)),
        ("and", "(and.eq.1)", .group(.and, [.filter(RESTFilter(field: field("and"), op: .eq, operand: .value("1")))], negated: false)),
    ]

    @Test(arguments: logicCases)
    func logicParses(key: String, value: String, expected: RESTCondition) throws {
        #expect(try RESTGrammar.logic(key: key, value: value) == expected)
    }

    @Test func logicIgnoresOtherKeys() throws {
        #expect(try RESTGrammar.logic(key: "title", value: "(a.eq.1)") == nil)
        #expect(try RESTGrammar.logic(key: "t.or", value: "(a.eq.1)") == nil)
    }

    static let logicErrors: [(String, String)] = [
        ("(a.eq.1", "\"failed to parse logic tree ((a.eq.1)\" (line 1, column 8)|unexpected end of input expecting \",\" or \")\""),
        ("a.eq.1", "\"failed to parse logic tree (a.eq.1)\" (line 1, column 1)|unexpected \"a\" expecting \"(\""),
        ("()", "\"failed to parse logic tree (())\" (line 1, column 2)|unexpected \")\" expecting field name"),
        ("(a.eq.1))", "\"failed to parse logic tree ((a.eq.1)))\" (line 1, column 9)|unexpected \")\" expecting end of input"),
        ("(a.xx.1)", "\"failed to parse logic tree ((a.xx.1))\" (line 1, column 4)|unexpected \"x\" expecting \"not\" or operator (eq, gt, ...)"),
        ("(a.eq.1,or())", "\"failed to parse logic tree ((a.eq.1,or()))\" (line 1, column 12)|unexpected \")\" expecting field name"),
        ("(a)", "\"failed to parse logic tree ((a))\" (line 1, column 3)|unexpected \")\" expecting \".\""),
        ("(a.eq.\"open)", "\"failed to parse logic tree ((a.eq.\"open))\" (line 1, column 13)|unexpected end of input expecting closing quote"),
    ]

    @Test(arguments: logicErrors)
    func logicRejects(value: String, expected: String) {
        let parts = expected.split(separator: "|").map(String.init)
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: parts[0], details: parts[1])) {
            try RESTGrammar.logic(key: "or", value: value)
        }
    }

    @Test func deepNestingIsRefusedNotRecursedInto() {
        let logic = "(" + String(repeating: "and(", count: 10_000) + "a.eq.1" + String(repeating: ")", count: 10_001)
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "\"failed to parse logic tree (\(logic))\" (line 1, column 130)", details: "nested deeper than 32 levels")) {
            try RESTGrammar.logic(key: "or", value: logic)
        }
        let select = String(repeating: "a(", count: 10_000) + "id" + String(repeating: ")", count: 10_000)
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "\"failed to parse select parameter (\(select))\" (line 1, column 66)", details: "nested deeper than 32 levels")) {
            try RESTGrammar.select(select)
        }
        let ok = "(" + String(repeating: "and(", count: 31) + "a.eq.1" + String(repeating: ")", count: 32)
        #expect(throws: Never.self) { try RESTGrammar.logic(key: "or", value: ok) }
    }

    static let orderCases: [(String, [RESTOrderTerm])] = [
        ("id", [RESTOrderTerm(field: field("id"))]),
        ("a.desc.nullsfirst,b,c.asc.nullslast", [
            RESTOrderTerm(field: field("a"), descending: true, nullsFirst: true),
            RESTOrderTerm(field: field("b")),
            RESTOrderTerm(field: field("c"), descending: false, nullsFirst: false),
        ]),
        ("data->>k.desc", [RESTOrderTerm(field: field("data", ("k", true)), descending: true)]),
        ("\"a.b\".nullslast", [RESTOrderTerm(field: field("a.b"), nullsFirst: false)]),
    ]

    @Test(arguments: orderCases)
    func orderParses(text: String, expected: [RESTOrderTerm]) throws {
        #expect(try RESTGrammar.order(text) == expected)
    }

    @Test func orderRejectsUnknownModifier() {
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "\"failed to parse order (id.up)\" (line 1, column 4)", details: "unexpected \"u\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"")) {
            try RESTGrammar.order("id.up")
        }
    }

    @Test func columnLists() throws {
        #expect(try RESTGrammar.columnList("\"title\",\"done\"", parameter: "columns") == ["title", "done"])
        #expect(try RESTGrammar.columnList("a,b", parameter: "on_conflict") == ["a", "b"])
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "\"failed to parse columns parameter (a,)\" (line 1, column 3)", details: "unexpected end of input expecting field name")) {
            try RESTGrammar.columnList("a,", parameter: "columns")
        }
    }

    @Test(arguments: [("0", 0), ("25", 25)])
    func countsParse(text: String, value: Int) throws {
        #expect(try RESTGrammar.count(text, parameter: "limit") == value)
    }

    @Test(arguments: ["-1", "abc", "", "1.5", "+3", "99999999999999999999999"])
    func countsReject(text: String) {
        #expect(throws: RESTError(status: 400, code: "PGRST100", message: "\"failed to parse limit parameter (\(text))\" (line 1, column 1)", details: "expecting a non-negative integer")) {
            try RESTGrammar.count(text, parameter: "limit")
        }
    }

    @Test func queryRoutesParameters() throws {
        let query = try RESTQuery(parameters: [
            ("select", "id"), ("id", "gt.1"), ("id", "lt.9"), ("or", "(a.eq.1)"), ("limit", "5"),
            ("offset", "2"), ("order", "id.desc"), ("on_conflict", "id"), ("columns", "\"id\""),
        ])
        #expect(query.select == [.field(Self.field("id"), alias: nil, cast: nil)])
        #expect(query.conditions == [
            .filter(RESTFilter(field: Self.field("id"), op: .gt, operand: .value("1"))),
            .filter(RESTFilter(field: Self.field("id"), op: .lt, operand: .value("9"))),
            .group(.or, [.filter(RESTFilter(field: Self.field("a"), op: .eq, operand: .value("1")))], negated: false),
        ])
        #expect(query.limit == 5)
        #expect(query.offset == 2)
        #expect(query.order == [RESTOrderTerm(field: Self.field("id"), descending: true)])
        #expect(query.onConflict == ["id"])
        #expect(query.columns == ["id"])
    }
}
