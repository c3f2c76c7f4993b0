import CellbaseSQL
import Testing

@Suite struct JSONParserTests {
    private func parse(_ text: String, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        ("false", .bool(false)),
        (" \t\r\n 1 \n", .number("1")),
        ("0", .number("0")),
        ("-0", .number("-0")),
        ("-12.50e+10", .number("-12.50e+10")),
        ("1E-7", .number("1E-7")),
        ("0.0", .number("0.0")),
        ("1e5", .number("1e5")),
        ("123456789012345678901234567890", .number("123456789012345678901234567890")),
        ("\"\"", .string("")),
        ("\"héllo 😀\"", .string("héllo 😀")),
        (#""a\"b\\c\/d\be\ff\ng\rh\ti""#, .string("a\"b\\c/d\u{8}e\u{C}f\ng\rh\ti")),
        (#""\u0041\u00e9\u20AC""#, .string("Aé€")),
        (#""\ud83d\ude00""#, .string("😀")),
        (#""\uD834\uDD1E x""#, .string("𝄞 x")),
        (#""\u0000""#, .string("\u{0}")),
        ("\"\u{7F}\"", .string("\u{7F}")),
        ("\"\u{10FFFF}\"", .string("\u{10FFFF}")),
        ("[]", .array([])),
        ("[ ]", .array([])),
        ("{}", .object([])),
        ("{ }", .object([])),
        ("[1,\"a\",null,[true,{}]]", .array([.number("1"), .string("a"), .null, .array([.bool(true), .object([])])])),
        (" { \"a\" : 1 , \"b\" : [ 2 ] } ", .object([JSONMember(key: "a", value: .number("1")), JSONMember(key: "b", value: .array([.number("2")]))])),
        ("{\"a\":1,\"a\":2}", .object([JSONMember(key: "a", value: .number("1")), JSONMember(key: "a", value: .number("2"))])),
        ("{\"\":{\"\":[]}}", .object([JSONMember(key: "", value: .object([JSONMember(key: "", value: .array([]))]))])),
        (#"{"k\u00e9y":"v"}"#, .object([JSONMember(key: "kéy", value: .string("v"))])),
    ])
    func accepts(text: String, expected: JSONValue) throws {
        #expect(try parse(text) == expected)
    }

    @Test(arguments: [
        ("", 0, "unexpected end of input"),
        ("   ", 3, "unexpected end of input"),
        ("[1,]", 3, "expected a JSON value"),
        ("[1,2", 4, "unexpected end of input"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("{\"a\":1,}", 7, "expected a string key"),
        ("{\"a\":1", 6, "unexpected end of input"),
        ("{\"a\" 1}", 5, "expected ':'"),
        ("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"),
        ("{a:1}", 1, "expected a string key"),
        ("{1:1}", 1, "expected a string key"),
        ("['a']", 1, "expected a JSON value"),
        ("'a'", 0, "expected a JSON value"),
        ("[1] // c", 4, "unexpected data after the JSON value"),
        ("/* c */ 1", 0, "expected a JSON value"),
        ("[1]]", 3, "unexpected data after the JSON value"),
        ("1 2", 2, "unexpected data after the JSON value"),
        ("nul", 0, "expected a JSON value"),
        ("True", 0, "expected a JSON value"),
        ("nulls", 4, "unexpected data after the JSON value"),
        ("NaN", 0, "expected a JSON value"),
        ("Infinity", 0, "expected a JSON value"),
        ("-Infinity", 1, "expected a digit"),
        ("01", 0, "leading zeros are not allowed in numbers"),
        ("-012", 1, "leading zeros are not allowed in numbers"),
        ("+1", 0, "expected a JSON value"),
        ("-", 1, "unexpected end of input"),
        (".5", 0, "expected a JSON value"),
        ("1.", 2, "unexpected end of input"),
        ("1.e5", 2, "expected a digit after '.'"),
        ("1e", 2, "unexpected end of input"),
        ("1e+", 3, "unexpected end of input"),
        ("1ex", 2, "expected a digit in the exponent"),
        ("0x10", 1, "unexpected data after the JSON value"),
        ("\"abc", 0, "unterminated string"),
        ("\"ab\\", 3, "unterminated string"),
        ("\"a\\\"", 0, "unterminated string"),
        ("\"a\tb\"", 2, "control character in string"),
        ("\"a\nb\"", 2, "control character in string"),
        ("\"\\x41\"", 1, "invalid escape sequence"),
        ("\"\\'\"", 1, "invalid escape sequence"),
        ("\"\\u12\"", 1, "invalid \\u escape"),
        ("\"\\u12G4\"", 1, "invalid \\u escape"),
        ("\"\\ud800\"", 1, "lone surrogate in \\u escape"),
        ("\"\\udc00\\ud800\"", 1, "lone surrogate in \\u escape"),
        ("\"\\ud800\\u0041\"", 1, "lone surrogate in \\u escape"),
        ("\"\\ud800x\"", 1, "lone surrogate in \\u escape"),
        ("\"\\ud800\\n\"", 1, "lone surrogate in \\u escape"),
        ("[\"a\",\"\\ud83d\\u", 12, "invalid \\u escape"),
        ("\u{FEFF}1", 0, "expected a JSON value"),
        ("\u{A0}1", 0, "expected a JSON value"),
    ])
    func rejects(text: String, offset: Int, message: String) {
        #expect(throws: JSONParseError(offset: offset, message: message)) { try parse(text) }
    }

    @Test(arguments: [
        ([0x22, 0x80, 0x22], 1),  // a lone continuation byte
        ([0x22, 0xC0, 0xAF, 0x22], 1),  // overlong "/"
        ([0x22, 0xC1, 0xBF, 0x22], 1),  // overlong
        ([0x22, 0xE0, 0x80, 0xAF, 0x22], 1),  // overlong three-byte form
        ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),  // an encoded surrogate
        ([0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22], 1),  // overlong four-byte form
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),  // past U+10FFFF
        ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], 1),
        ([0x22, 0xFF, 0x22], 1),
        ([0x22, 0x61, 0xC3, 0x22], 2),  // truncated two-byte form
        ([0x22, 0xE2, 0x82, 0x22], 1),  // truncated three-byte form
        ([0x22, 0xE2, 0x82], 1),
        ([0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], 3),  // after an escape
        ([0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D], 2),  // in a key
    ] as [([UInt8], Int)])
    func rejectsInvalidUTF8(bytes: [UInt8], offset: Int) {
        #expect(throws: JSONParseError(offset: offset, message: "invalid UTF-8")) { try JSONParser.parse(bytes, maxDepth: 8) }
    }

    @Test func rejectsNonASCIIOutsideStrings() {
        #expect(throws: JSONParseError(offset: 1, message: "expected a JSON value")) { try JSONParser.parse([0x5B, 0xFF, 0x5D], maxDepth: 8) }
    }

    @Test func acceptsEveryUTF8Length() throws {
        let bytes: [UInt8] = [0x22, 0x24, 0xC2, 0xA2, 0xE2, 0x82, 0xAC, 0xF0, 0x90, 0x8D, 0x88, 0xEF, 0xBF, 0xBF, 0x22]
        #expect(try JSONParser.parse(bytes, maxDepth: 0) == .string("$¢€𐍈\u{FFFF}"))
    }

    @Test func depthLimit() throws {
        #expect(try parse("[[1]]", maxDepth: 2) == .array([.array([.number("1")])]))
        #expect(try parse("{\"a\":[{}]}", maxDepth: 3) == .object([JSONMember(key: "a", value: .array([.object([])]))]))
        #expect(try parse("1", maxDepth: 0) == .number("1"))
        #expect(throws: JSONParseError(offset: 0, message: "JSON nested deeper than 0 levels")) { try parse("[]", maxDepth: 0) }
        #expect(throws: JSONParseError(offset: 1, message: "JSON nested deeper than 1 levels")) { try parse("[[]]", maxDepth: 1) }
        #expect(throws: JSONParseError(offset: 6, message: "JSON nested deeper than 2 levels")) { try parse("{\"a\":[{}]}", maxDepth: 2) }
    }

    @Test func deepNestingIsAnErrorNotACrash() throws {
        let open = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(throws: JSONParseError(offset: 64, message: "JSON nested deeper than 64 levels")) {
            try JSONParser.parse(open, maxDepth: 64)
        }
        // Even with a limit that allows it, nesting costs no recursion while parsing.
        #expect(throws: JSONParseError(offset: 100_000, message: "unexpected end of input")) {
            try JSONParser.parse(open, maxDepth: 200_000)
        }
        let balanced = open + [UInt8](repeating: UInt8(ascii: "]"), count: 100_000)
        #expect(throws: JSONParseError(offset: 1_000, message: "JSON nested deeper than 1000 levels")) {
            try JSONParser.parse(balanced, maxDepth: 1_000)
        }
    }

    @Test func acceptsNonContiguousCollections() throws {
        let bytes = "[1,{\"a\":\"b\"}]".utf8.reversed().reversed()
        #expect(try JSONParser.parse(bytes, maxDepth: 4) == .array([.number("1"), .object([JSONMember(key: "a", value: .string("b"))])]))
    }

    @Test func lookupLastDuplicateWins() throws {
        let value = try parse("{\"a\":1,\"b\":2,\"a\":3}")
        #expect(value["a"] == .number("3"))
        #expect(value["b"] == .number("2"))
        #expect(value["c"] == nil)
        #expect(JSONValue.array([]).self["a"] == nil)
        #expect(JSONValue.string("a")["a"] == nil)
    }

    @Test(arguments: [
        ("null", "null"),
        (" [ 1 , -2.5E3 , true , false , null ] ", "[1,-2.5E3,true,false,null]"),
        ("{ \"b\" : 1 , \"a\" : { } , \"b\" : [ ] }", "{\"b\":1,\"a\":{},\"b\":[]}"),
        (#""\u0041\/\u00e9""#, "\"A/é\""),
        (#""q\"b\\s""#, #""q\"b\\s""#),
        (#""\b\f\n\r\t""#, #""\b\f\n\r\t""#),
        (#""\u0000\u0001\u001f\u001F\u0010 \u007f""#, "\"\\u0000\\u0001\\u001f\\u001f\\u0010 \u{7F}\""),
        (#""\ud83d\ude00 😀""#, "\"😀 😀\""),
        (#"{"\n":"\u2028"}"#, "{\"\\n\":\"\u{2028}\"}"),
    ])
    func serialises(text: String, expected: String) throws {
        let value = try parse(text)
        #expect(value.serialized == expected)
        #expect(try parse(value.serialized) == value)
    }

    @Test func serialisesBuiltValues() {
        let value = JSONValue.object([
            JSONMember(key: "name", value: .string("a \"b\"\n")),
            JSONMember(key: "tags", value: .array([.string("x"), .number("1.50"), .null])),
        ])
        #expect(value.serialized == #"{"name":"a \"b\"\n","tags":["x",1.50,null]}"#)
    }
}
