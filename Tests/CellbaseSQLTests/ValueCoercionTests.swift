import CellbaseSQL
import Testing

/// One accepted input and what it binds to on each backend.
struct Coerced: Sendable, CustomTestStringConvertible {
    var type: ColumnType
    var sqlite: SQLValue
    var postgres: SQLValue
    var input: Input

    enum Input: Sendable {
        case json(String)
        case text(String)
    }

    init(_ type: ColumnType, json: String, _ sqlite: SQLValue, _ postgres: SQLValue? = nil) {
        (self.type, self.input, self.sqlite, self.postgres) = (type, .json(json), sqlite, postgres ?? sqlite)
    }

    init(_ type: ColumnType, text: String, _ sqlite: SQLValue, _ postgres: SQLValue? = nil) {
        (self.type, self.input, self.sqlite, self.postgres) = (type, .text(text), sqlite, postgres ?? sqlite)
    }

    func bind(_ dialect: SQLDialect) throws -> SQLValue {
        switch input {
        case .json(let json):
            try ValueCoercion.bind(JSONParser.parse(json.utf8, maxDepth: 8), to: type, column: "c", dialect: dialect)
        case .text(let text):
            try ValueCoercion.bind(text: text, as: type, dialect: dialect)
        }
    }

    var testDescription: String { "\(type.postgresName) ← \(input)" }
}

/// One rejected input and the exact error, the same on both backends.
struct Rejected: Sendable, CustomTestStringConvertible {
    var type: ColumnType
    var input: Coerced.Input
    var error: RESTError

    init(_ type: ColumnType, json: String, _ code: String, _ message: String, details: String? = nil, hint: String? = nil) {
        (self.type, self.input) = (type, .json(json))
        error = RESTError(status: 400, code: code, message: message, details: details, hint: hint)
    }

    init(_ type: ColumnType, text: String, _ code: String, _ message: String, details: String? = nil) {
        (self.type, self.input) = (type, .text(text))
        error = RESTError(status: 400, code: code, message: message, details: details)
    }

    var testDescription: String { "\(type.postgresName) ← \(input)" }
}

@Suite struct ValueCoercionTests {
    static let accepted: [Coerced] = [
        // JSON null is NULL for every type.
        Coerced(.integer, json: "null", .null),
        Coerced(.text, json: "null", .null),
        Coerced(.jsonb, json: "null", .null),
        Coerced(.array(.text), json: "null", .null),
        Coerced(.boolean, json: "null", .null),

        // Integers.
        Coerced(.integer, json: "5", .integer(5)),
        Coerced(.integer, json: "-0", .integer(0)),
        Coerced(.integer, json: "\"5\"", .integer(5)),
        Coerced(.integer, json: "\" 42 \"", .integer(42)),
        Coerced(.integer, json: "\"+7\"", .integer(7)),
        Coerced(.integer, json: "2147483647", .integer(2_147_483_647)),
        Coerced(.integer, json: "-2147483648", .integer(-2_147_483_648)),
        Coerced(.smallint, json: "32767", .integer(32767)),
        Coerced(.smallint, json: "-32768", .integer(-32768)),
        Coerced(.bigint, json: "9223372036854775807", .integer(.max)),
        Coerced(.bigint, json: "-9223372036854775808", .integer(.min)),
        Coerced(.bigint, json: "\"0009\"", .integer(9)),
        Coerced(.integer, text: "5", .integer(5)),
        Coerced(.integer, text: "-5", .integer(-5)),
        Coerced(.integer, text: " 5 ", .integer(5)),
        Coerced(.bigint, text: "\t-12\n", .integer(-12)),

        // Floating point.
        Coerced(.doublePrecision, json: "1.5", .double(1.5)),
        Coerced(.doublePrecision, json: "-2", .double(-2)),
        Coerced(.doublePrecision, json: "1e3", .double(1000)),
        Coerced(.doublePrecision, json: "\" .5 \"", .double(0.5)),
        Coerced(.doublePrecision, json: "\"5.\"", .double(5)),
        Coerced(.doublePrecision, json: "1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
        Coerced(.doublePrecision, json: "0e-999", .double(0)),
        Coerced(.real, json: "0.1", .double(0.1)),
        Coerced(.real, json: "3.4e38", .double(3.4e38)),
        Coerced(.real, text: "-1.25E-2", .double(-0.0125)),

        // numeric: exact text for PostgreSQL, integer or double for SQLite.
        Coerced(.numeric(precision: nil, scale: nil), json: "12", .integer(12), .text("12")),
        Coerced(.numeric(precision: nil, scale: nil), json: "1.50", .double(1.5), .text("1.50")),
        Coerced(.numeric(precision: nil, scale: nil), json: "2.000", .integer(2), .text("2.000")),
        Coerced(.numeric(precision: nil, scale: nil), json: "-0.0", .integer(0), .text("0.0")),
        Coerced(.numeric(precision: nil, scale: nil), json: "1e3", .integer(1000), .text("1000")),
        Coerced(.numeric(precision: nil, scale: nil), json: "1.50e1", .integer(15), .text("15.0")),
        Coerced(.numeric(precision: nil, scale: nil), json: "1.5e-3", .double(0.0015), .text("0.0015")),
        Coerced(.numeric(precision: nil, scale: nil), json: "\" +007.25 \"", .double(7.25), .text("7.25")),
        Coerced(.numeric(precision: nil, scale: nil), json: "\".5\"", .double(0.5), .text("0.5")),
        Coerced(.numeric(precision: nil, scale: nil), json: "123456789012345678901234567890",
                .double(1.2345678901234568e29), .text("123456789012345678901234567890")),
        Coerced(.numeric(precision: nil, scale: nil), json: "9223372036854775807", .integer(.max), .text("9223372036854775807")),
        Coerced(.numeric(precision: 5, scale: 2), json: "123.456", .double(123.46), .text("123.46")),
        Coerced(.numeric(precision: 5, scale: 2), json: "-123.455", .double(-123.46), .text("-123.46")),
        Coerced(.numeric(precision: 5, scale: 2), json: "999.994", .double(999.99), .text("999.99")),
        Coerced(.numeric(precision: 5, scale: 2), json: "0.001", .integer(0), .text("0.00")),
        Coerced(.numeric(precision: 3, scale: nil), json: "999.4", .integer(999), .text("999")),
        Coerced(.numeric(precision: 3, scale: nil), json: "-0.5", .integer(-1), .text("-1")),
        Coerced(.numeric(precision: 3, scale: 5), json: "0.001234", .double(0.00123), .text("0.00123")),
        Coerced(.numeric(precision: 2, scale: -3), json: "12499", .integer(12000), .text("12000")),
        Coerced(.numeric(precision: nil, scale: nil), text: "-3.14", .double(-3.14), .text("-3.14")),

        // Text: JSON scalars become their text, containers their JSON.
        Coerced(.text, json: "\"hello\"", .text("hello")),
        Coerced(.text, json: "\"\"", .text("")),
        Coerced(.text, json: "12.50", .text("12.50")),
        Coerced(.text, json: "true", .text("true")),
        Coerced(.text, json: "{ \"a\" : [1, 2] }", .text("{\"a\":[1,2]}")),
        Coerced(.text, json: "[\"x\"]", .text("[\"x\"]")),
        Coerced(.text, json: "\"é😀\\n\"", .text("é😀\n")),
        Coerced(.varchar(length: 3), json: "\"abc\"", .text("abc")),
        Coerced(.varchar(length: 3), json: "\"é😀x\"", .text("é😀x")),
        Coerced(.varchar(length: 3), json: "\"ab   \"", .text("ab ")),
        Coerced(.varchar(length: nil), json: "\"any length at all\"", .text("any length at all")),
        Coerced(.text, text: "a,b (c)", .text("a,b (c)")),
        // Filters compare; they are not limited to the column's length.
        Coerced(.varchar(length: 2), text: "longer", .text("longer")),

        // Booleans.
        Coerced(.boolean, json: "true", .integer(1), .bool(true)),
        Coerced(.boolean, json: "false", .integer(0), .bool(false)),
        Coerced(.boolean, json: "\"t\"", .integer(1), .bool(true)),
        Coerced(.boolean, json: "\"FALSE\"", .integer(0), .bool(false)),
        Coerced(.boolean, json: "\" yes \"", .integer(1), .bool(true)),
        Coerced(.boolean, json: "1", .integer(1), .bool(true)),
        Coerced(.boolean, json: "0", .integer(0), .bool(false)),
        Coerced(.boolean, text: "true", .integer(1), .bool(true)),
        Coerced(.boolean, text: "tr", .integer(1), .bool(true)),
        Coerced(.boolean, text: "f", .integer(0), .bool(false)),
        Coerced(.boolean, text: "fals", .integer(0), .bool(false)),
        Coerced(.boolean, text: "Y", .integer(1), .bool(true)),
        Coerced(.boolean, text: "no", .integer(0), .bool(false)),
        Coerced(.boolean, text: "n", .integer(0), .bool(false)),
        Coerced(.boolean, text: "On", .integer(1), .bool(true)),
        Coerced(.boolean, text: "of", .integer(0), .bool(false)),
        Coerced(.boolean, text: "OFF", .integer(0), .bool(false)),
        Coerced(.boolean, text: "1", .integer(1), .bool(true)),
        Coerced(.boolean, text: "0", .integer(0), .bool(false)),

        // Dates, times and uuids: canonical text on both backends.
        Coerced(.date, json: "\"2024-02-29\"", .text("2024-02-29")),
        Coerced(.timestamp, json: "\"2024-01-01 10:00:00.500+02\"", .text("2024-01-01T10:00:00.5")),
        Coerced(.timestamptz, json: "\"2024-01-01T10:00:00+02:00\"", .text("2024-01-01T08:00:00+00:00")),
        Coerced(.timestamptz, text: "2024-01-01T10:00:00 +02:00", .text("2024-01-01T08:00:00+00:00")),
        Coerced(.timestamptz, text: "2024-01-01", .text("2024-01-01T00:00:00+00:00")),
        Coerced(.uuid, json: "\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\"", .text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        Coerced(.uuid, text: "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", .text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),

        // JSON: any value, minified; a string stays a JSON string.
        Coerced(.jsonb, json: "{ \"a\" : 1, \"b\" : [true, null] }", .text("{\"a\":1,\"b\":[true,null]}")),
        Coerced(.json, json: "\"text\"", .text("\"text\"")),
        Coerced(.json, json: "1.50", .text("1.50")),
        Coerced(.jsonb, json: "[]", .text("[]")),
        Coerced(.json, json: "\"\\u0000\"", .text("\"\\u0000\"")),
        Coerced(.jsonb, text: "{\"a\": [1, 2]}", .text("{\"a\":[1,2]}")),
        Coerced(.jsonb, text: " \"x\" ", .text("\"x\"")),
        Coerced(.json, text: "5", .text("5")),

        // bytea.
        Coerced(.bytea, json: "\"\\\\x0a0B\"", .blob([0x0A, 0x0B])),
        Coerced(.bytea, json: "\"\\\\x\"", .blob([])),
        Coerced(.bytea, json: "\"\\\\x 01 ff\"", .blob([0x01, 0xFF])),
        Coerced(.bytea, json: "\"ab\"", .blob([0x61, 0x62])),
        Coerced(.bytea, json: "\"a\\\\\\\\b\\\\001\\\\377\"", .blob([0x61, 0x5C, 0x62, 0x01, 0xFF])),
        Coerced(.bytea, text: "\\xdeadBEEF", .blob([0xDE, 0xAD, 0xBE, 0xEF])),

        // Arrays from JSON arrays: elements coerced, then a literal (PostgreSQL) or JSON (SQLite).
        Coerced(.array(.text), json: "[\"a\", \"b c\", null, \"q\\\"\\\\\", \"NULL\"]",
                .text("[\"a\",\"b c\",null,\"q\\\"\\\\\",\"NULL\"]"), .text("{\"a\",\"b c\",NULL,\"q\\\"\\\\\",\"NULL\"}")),
        Coerced(.array(.integer), json: "[1, \"2\", null]", .text("[1,2,null]"), .text("{\"1\",\"2\",NULL}")),
        Coerced(.array(.integer), json: "[]", .text("[]"), .text("{}")),
        Coerced(.array(.boolean), json: "[true, \"f\"]", .text("[true,false]"), .text("{\"t\",\"f\"}")),
        Coerced(.array(.doublePrecision), json: "[1.5, 2]", .text("[1.5,2.0]"), .text("{\"1.5\",\"2.0\"}")),
        Coerced(.array(.numeric(precision: nil, scale: nil)), json: "[1.50, 1e2]", .text("[1.50,100]"), .text("{\"1.50\",\"100\"}")),
        Coerced(.array(.timestamptz), json: "[\"2024-01-01 01:00+01\"]",
                .text("[\"2024-01-01T00:00:00+00:00\"]"), .text("{\"2024-01-01T00:00:00+00:00\"}")),
        Coerced(.array(.jsonb), json: "[{\"a\": 1}, \"s\", null]", .text("[{\"a\":1},\"s\",null]"), .text("{\"{\\\"a\\\":1}\",\"\\\"s\\\"\",NULL}")),
        Coerced(.array(.bytea), json: "[\"\\\\x0a\"]", .text("[\"\\\\x0a\"]"), .text("{\"\\\\x0a\"}")),
        Coerced(.array(.varchar(length: 2)), json: "[\"ab\"]", .text("[\"ab\"]"), .text("{\"ab\"}")),

        // Arrays from PostgreSQL array literals, in a JSON string or a filter.
        Coerced(.array(.text), json: "\"{a, \\\"b c\\\" ,NULL}\"", .text("[\"a\",\"b c\",null]"), .text("{\"a\",\"b c\",NULL}")),
        Coerced(.array(.text), text: "{a,\"b c\",NULL}", .text("[\"a\",\"b c\",null]"), .text("{\"a\",\"b c\",NULL}")),
        Coerced(.array(.text), text: " { } ", .text("[]"), .text("{}")),
        Coerced(.array(.text), text: "{\"NULL\",null2,\\null,\"\"}", .text("[\"NULL\",\"null2\",\"null\",\"\"]"), .text("{\"NULL\",\"null2\",\"null\",\"\"}")),
        Coerced(.array(.text), text: "{ a b ,c\\ }", .text("[\"a b\",\"c \"]"), .text("{\"a b\",\"c \"}")),
        Coerced(.array(.text), text: "{\"a\\\\b\",\"c\\\"d\"}", .text("[\"a\\\\b\",\"c\\\"d\"]"), .text("{\"a\\\\b\",\"c\\\"d\"}")),
        Coerced(.array(.integer), text: "{1, 2 ,-3}", .text("[1,2,-3]"), .text("{\"1\",\"2\",\"-3\"}")),
        Coerced(.array(.uuid), text: "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
                .text("[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]"), .text("{\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"}")),
        Coerced(.array(.jsonb), text: "{\"{\\\"a\\\": 1}\"}", .text("[{\"a\":1}]"), .text("{\"{\\\"a\\\":1}\"}")),
    ]

    @Test(arguments: accepted)
    func accepts(_ sample: Coerced) throws {
        #expect(try sample.bind(.sqlite) == sample.sqlite)
        #expect(try sample.bind(.postgres) == sample.postgres)
    }

    static let rejected: [Rejected] = [
        // Integers.
        Rejected(.integer, json: "\"abc\"", "22P02", "invalid input syntax for type integer: \"abc\""),
        Rejected(.integer, json: "1.5", "22P02", "invalid input syntax for type integer: \"1.5\""),
        Rejected(.integer, json: "1e2", "22P02", "invalid input syntax for type integer: \"1e2\""),
        Rejected(.integer, json: "true", "22P02", "invalid input syntax for type integer: \"true\""),
        Rejected(.integer, json: "{\"a\": 1}", "22P02", "invalid input syntax for type integer: \"{\"a\":1}\""),
        Rejected(.integer, json: "[1]", "22P02", "invalid input syntax for type integer: \"[1]\""),
        Rejected(.integer, json: "\"\"", "22P02", "invalid input syntax for type integer: \"\""),
        Rejected(.integer, json: "\" \"", "22P02", "invalid input syntax for type integer: \" \""),
        Rejected(.integer, json: "\"-\"", "22P02", "invalid input syntax for type integer: \"-\""),
        Rejected(.integer, json: "\"1 2\"", "22P02", "invalid input syntax for type integer: \"1 2\""),
        Rejected(.integer, json: "\"0x1F\"", "22P02", "invalid input syntax for type integer: \"0x1F\""),
        Rejected(.integer, json: "99999999999", "22003", "value \"99999999999\" is out of range for type integer"),
        Rejected(.integer, json: "2147483648", "22003", "value \"2147483648\" is out of range for type integer"),
        Rejected(.integer, json: "-2147483649", "22003", "value \"-2147483649\" is out of range for type integer"),
        Rejected(.smallint, json: "32768", "22003", "value \"32768\" is out of range for type smallint"),
        Rejected(.smallint, text: "x", "22P02", "invalid input syntax for type smallint: \"x\""),
        Rejected(.bigint, json: "9223372036854775808", "22003", "value \"9223372036854775808\" is out of range for type bigint"),
        Rejected(.bigint, text: "-99999999999999999999", "22003", "value \"-99999999999999999999\" is out of range for type bigint"),
        Rejected(.bigint, text: "12abc", "22P02", "invalid input syntax for type bigint: \"12abc\""),
        Rejected(.integer, text: " 5 5", "22P02", "invalid input syntax for type integer: \" 5 5\""),

        // Floating point.
        Rejected(.doublePrecision, json: "\"NaN\"", "22P02", "invalid input syntax for type double precision: \"NaN\""),
        Rejected(.doublePrecision, json: "\"Infinity\"", "22P02", "invalid input syntax for type double precision: \"Infinity\""),
        Rejected(.doublePrecision, json: "\"0x1p3\"", "22P02", "invalid input syntax for type double precision: \"0x1p3\""),
        Rejected(.doublePrecision, json: "\"1e\"", "22P02", "invalid input syntax for type double precision: \"1e\""),
        Rejected(.doublePrecision, json: "\".\"", "22P02", "invalid input syntax for type double precision: \".\""),
        Rejected(.doublePrecision, json: "false", "22P02", "invalid input syntax for type double precision: \"false\""),
        Rejected(.doublePrecision, json: "1e400", "22003", "\"1e400\" is out of range for type double precision"),
        Rejected(.doublePrecision, json: "-1e400", "22003", "\"-1e400\" is out of range for type double precision"),
        Rejected(.doublePrecision, json: "1e-400", "22003", "\"1e-400\" is out of range for type double precision"),
        Rejected(.real, json: "1e39", "22003", "\"1e39\" is out of range for type real"),
        Rejected(.real, text: "1e-50", "22003", "\"1e-50\" is out of range for type real"),
        Rejected(.real, text: "one", "22P02", "invalid input syntax for type real: \"one\""),

        // numeric.
        Rejected(.numeric(precision: nil, scale: nil), json: "\"abc\"", "22P02", "invalid input syntax for type numeric: \"abc\""),
        Rejected(.numeric(precision: nil, scale: nil), json: "\"NaN\"", "22P02", "invalid input syntax for type numeric: \"NaN\""),
        Rejected(.numeric(precision: nil, scale: nil), json: "\"1..2\"", "22P02", "invalid input syntax for type numeric: \"1..2\""),
        Rejected(.numeric(precision: nil, scale: nil), json: "\"1e\"", "22P02", "invalid input syntax for type numeric: \"1e\""),
        Rejected(.numeric(precision: nil, scale: nil), json: "1e1001", "22P02", "invalid input syntax for type numeric: \"1e1001\""),
        Rejected(.numeric(precision: nil, scale: nil), json: "true", "22P02", "invalid input syntax for type numeric: \"true\""),
        Rejected(.numeric(precision: 5, scale: 2), json: "1000", "22003", "numeric field overflow",
                 details: "A field with precision 5, scale 2 must round to an absolute value less than 10^3."),
        Rejected(.numeric(precision: 5, scale: 2), json: "999.995", "22003", "numeric field overflow",
                 details: "A field with precision 5, scale 2 must round to an absolute value less than 10^3."),
        Rejected(.numeric(precision: 2, scale: 2), json: "-1", "22003", "numeric field overflow",
                 details: "A field with precision 2, scale 2 must round to an absolute value less than 1."),
        Rejected(.numeric(precision: 3, scale: nil), text: "999.5", "22003", "numeric field overflow",
                 details: "A field with precision 3, scale 0 must round to an absolute value less than 10^3."),

        // Text.
        Rejected(.varchar(length: 3), json: "\"abcd\"", "22001", "value too long for type character varying(3)"),
        Rejected(.varchar(length: 3), json: "\"abc d\"", "22001", "value too long for type character varying(3)"),
        Rejected(.varchar(length: 1), json: "12", "22001", "value too long for type character varying(1)"),
        Rejected(.text, json: "\"a\\u0000b\"", "22P05", "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."),
        Rejected(.integer, json: "\"\\u0000\"", "22P05", "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."),
        Rejected(.text, text: "a\u{0}b", "22021", "invalid byte sequence for encoding \"UTF8\": 0x00"),

        // Booleans.
        Rejected(.boolean, json: "\"x\"", "22P02", "invalid input syntax for type boolean: \"x\""),
        Rejected(.boolean, json: "2", "22P02", "invalid input syntax for type boolean: \"2\""),
        Rejected(.boolean, json: "\"\"", "22P02", "invalid input syntax for type boolean: \"\""),
        Rejected(.boolean, text: "o", "22P02", "invalid input syntax for type boolean: \"o\""),
        Rejected(.boolean, text: "truee", "22P02", "invalid input syntax for type boolean: \"truee\""),
        Rejected(.boolean, text: "00", "22P02", "invalid input syntax for type boolean: \"00\""),
        Rejected(.boolean, text: "yess", "22P02", "invalid input syntax for type boolean: \"yess\""),
        Rejected(.boolean, text: "onn", "22P02", "invalid input syntax for type boolean: \"onn\""),

        // Dates, times and uuids.
        Rejected(.timestamptz, json: "\"x\"", "22007", "invalid input syntax for type timestamp with time zone: \"x\""),
        Rejected(.timestamptz, json: "\"now\"", "22007", "invalid input syntax for type timestamp with time zone: \"now\""),
        Rejected(.timestamptz, json: "17", "22007", "invalid input syntax for type timestamp with time zone: \"17\""),
        Rejected(.timestamp, text: "2024-01-01T25:00", "22007", "invalid input syntax for type timestamp: \"2024-01-01T25:00\""),
        Rejected(.date, json: "\"2023-02-29\"", "22007", "invalid input syntax for type date: \"2023-02-29\""),
        Rejected(.date, text: "2024-01-01T00:00", "22007", "invalid input syntax for type date: \"2024-01-01T00:00\""),
        Rejected(.uuid, json: "\"x\"", "22P02", "invalid input syntax for type uuid: \"x\""),
        Rejected(.uuid, text: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "22P02", "invalid input syntax for type uuid: \"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\""),

        // JSON.
        Rejected(.jsonb, json: "{\"k\": \"\\u0000\"}", "22P05", "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."),
        Rejected(.jsonb, json: "{\"\\u0000\": 1}", "22P05", "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."),
        Rejected(.jsonb, text: "[\"\\u0000\"]", "22P05", "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."),
        Rejected(.json, text: "abc", "22P02", "invalid input syntax for type json", details: "expected a JSON value at offset 0."),
        Rejected(.jsonb, text: "{\"a\":1,}", "22P02", "invalid input syntax for type json", details: "expected a string key at offset 7."),

        // bytea.
        Rejected(.bytea, json: "\"\\\\x0g\"", "22023", "invalid hexadecimal digit: \"g\""),
        Rejected(.bytea, json: "\"\\\\x012\"", "22023", "invalid hexadecimal data: odd number of digits"),
        Rejected(.bytea, json: "\"\\\\x0 1\"", "22023", "invalid hexadecimal digit: \" \""),
        Rejected(.bytea, text: "a\\b", "22P02", "invalid input syntax for type bytea"),
        Rejected(.bytea, text: "\\400", "22P02", "invalid input syntax for type bytea"),
        Rejected(.bytea, text: "\\", "22P02", "invalid input syntax for type bytea"),

        // Arrays.
        Rejected(.array(.text), json: "5", "22P02", "expected JSON array", hint: "See the value of key \"c\"."),
        Rejected(.array(.text), json: "{\"a\": 1}", "22P02", "expected JSON array", hint: "See the value of key \"c\"."),
        Rejected(.array(.text), json: "[[\"a\"]]", "22P02", "malformed array literal: \"[[\"a\"]]\"", details: "Nested arrays are not supported."),
        Rejected(.array(.integer), json: "[1, \"x\"]", "22P02", "invalid input syntax for type integer: \"x\""),
        Rejected(.array(.varchar(length: 1)), json: "[\"ab\"]", "22001", "value too long for type character varying(1)"),
        Rejected(.array(.varchar(length: 1)), json: "\"{ab}\"", "22001", "value too long for type character varying(1)"),
        Rejected(.array(.text), json: "[\"\\u0000\"]", "22P05", "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."),
        Rejected(.array(.text), json: "\"a,b\"", "22P02", "malformed array literal: \"a,b\"",
                 details: "Array value must start with \"{\" or dimension information."),
        Rejected(.array(.text), text: "{a,b", "22P02", "malformed array literal: \"{a,b\"", details: "Unexpected end of input."),
        Rejected(.array(.text), text: "{a,,b}", "22P02", "malformed array literal: \"{a,,b}\"", details: "Unexpected \",\" character."),
        Rejected(.array(.text), text: "{,}", "22P02", "malformed array literal: \"{,}\"", details: "Unexpected \",\" character."),
        Rejected(.array(.text), text: "{a}b", "22P02", "malformed array literal: \"{a}b\"", details: "Junk after closing right brace."),
        Rejected(.array(.text), text: "{a\"b\"}", "22P02", "malformed array literal: \"{a\"b\"}\"", details: "Unexpected \"\"\" character."),
        Rejected(.array(.text), text: "{\"a\" b}", "22P02", "malformed array literal: \"{\"a\" b}\"", details: "Unexpected \"b\" character."),
        Rejected(.array(.text), text: "{\"a}", "22P02", "malformed array literal: \"{\"a}\"", details: "Unexpected end of input."),
        Rejected(.array(.text), text: "{{a}}", "22P02", "malformed array literal: \"{{a}}\"", details: "Nested arrays are not supported."),
        Rejected(.array(.text), text: "[1:1]={a}", "22P02", "malformed array literal: \"[1:1]={a}\"",
                 details: "Array value must start with \"{\" or dimension information."),
        Rejected(.array(.integer), text: "{1,two}", "22P02", "invalid input syntax for type integer: \"two\""),
        Rejected(.array(.array(.text)), json: "[]", "22P02", "malformed array literal: \"[]\"", details: "Nested arrays are not supported."),
    ]

    @Test(arguments: rejected)
    func rejects(_ sample: Rejected) {
        for dialect in [SQLDialect.sqlite, .postgres] {
            #expect(throws: sample.error) {
                switch sample.input {
                case .json(let json):
                    _ = try ValueCoercion.bind(JSONParser.parse(json.utf8, maxDepth: 8), to: sample.type, column: "c", dialect: dialect)
                case .text(let text):
                    _ = try ValueCoercion.bind(text: text, as: sample.type, dialect: dialect)
                }
            }
        }
    }

    /// PostgreSQL's numeric holds what a double cannot; SQLite stores numerics as doubles.
    @Test func numericBeyondDoubleRange() throws {
        let value = JSONValue.number("1e999")
        let numeric = ColumnType.numeric(precision: nil, scale: nil)
        #expect(try ValueCoercion.bind(value, to: numeric, column: "c", dialect: .postgres) == .text("1" + String(repeating: "0", count: 999)))
        #expect(throws: RESTError(status: 400, code: "22003", message: "value overflows numeric format")) {
            try ValueCoercion.bind(value, to: numeric, column: "c", dialect: .sqlite)
        }
    }

    @Test(arguments: [
        (ColumnType.smallint, "::int2"), (.integer, "::int4"), (.bigint, "::int8"),
        (.real, "::float4"), (.doublePrecision, "::float8"),
        (.numeric(precision: nil, scale: nil), "::numeric"), (.numeric(precision: 5, scale: 2), "::numeric"),
        (.text, "::text"), (.varchar(length: 10), "::varchar"), (.varchar(length: nil), "::varchar"),
        (.boolean, "::bool"), (.date, "::date"), (.timestamp, "::timestamp"), (.timestamptz, "::timestamptz"),
        (.uuid, "::uuid"), (.json, "::json"), (.jsonb, "::jsonb"), (.bytea, "::bytea"),
        (.array(.text), "::text[]"), (.array(.integer), "::int4[]"), (.array(.varchar(length: 3)), "::varchar[]"),
        (.array(.timestamptz), "::timestamptz[]"), (.array(.jsonb), "::jsonb[]"),
    ])
    func postgresCast(type: ColumnType, cast: String) {
        #expect(ValueCoercion.postgresCast(for: type) == cast)
    }
}
