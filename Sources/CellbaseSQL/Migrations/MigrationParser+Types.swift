extension MigrationParser {
    static let supportedTypes = "text, varchar(n), smallint, integer, bigint, serial, bigserial, smallserial, real, double precision, numeric(p,s), boolean, date, timestamp, timestamptz, uuid, json, jsonb, bytea, and one-dimensional arrays of these (text[])"

    /// A column type; `serial` says whether it was one of the serial pseudo-types.
    mutating func columnType(allowSerial: Bool) throws(MigrationError) -> (type: ColumnType, serial: Bool) {
        let start = current
        guard case .word(let word) = current.kind else {
            throw expected("a column type (\(Self.supportedTypes))")
        }
        advance()
        var serial = false
        var type: ColumnType
        switch word {
        case "text": type = .text
        case "varchar": type = .varchar(length: try length())
        case "character":
            guard accept("varying") else {
                throw MigrationError(at: start.position, "character(n) is not supported (it pads with spaces); use text or varchar(n)")
            }
            type = .varchar(length: try length())
        case "char", "bpchar":
            throw MigrationError(at: start.position, "\(word)(n) is not supported (it pads with spaces); use text or varchar(n)")
        case "smallint", "int2": type = .smallint
        case "integer", "int", "int4": type = .integer
        case "bigint", "int8": type = .bigint
        case "smallserial", "serial2": type = .smallint; serial = true
        case "serial", "serial4": type = .integer; serial = true
        case "bigserial", "serial8": type = .bigint; serial = true
        case "real", "float4": type = .real
        case "float8": type = .doublePrecision
        case "double":
            try expect("precision", "after DOUBLE")
            type = .doublePrecision
        case "numeric", "decimal":
            type = try numeric()
        case "boolean", "bool": type = .boolean
        case "date": type = .date
        case "timestamp":
            if isSymbol("(") {
                throw MigrationError(at: current.position, "timestamp precision is not supported; timestamps keep microseconds")
            }
            type = .timestamp
            if accept("with") {
                try expect("time", "after WITH")
                try expect("zone", "after WITH TIME")
                type = .timestamptz
            } else if accept("without") {
                try expect("time", "after WITHOUT")
                try expect("zone", "after WITHOUT TIME")
            }
        case "timestamptz": type = .timestamptz
        case "uuid": type = .uuid
        case "json": type = .json
        case "jsonb": type = .jsonb
        case "bytea": type = .bytea
        default:
            throw MigrationError(at: start.position, "found the type \(start.described); supported types: \(Self.supportedTypes)")
        }
        if isSymbol("[") || isWord("array") {
            let arrayPosition = current.position
            if accept("array") {
                if isSymbol("[") {
                    throw MigrationError(at: current.position, "array sizes are not supported; write type[]")
                }
            } else {
                advance()
                guard acceptSymbol("]") else {
                    throw MigrationError(at: current.position, "array sizes are not supported; write type[]")
                }
            }
            if isSymbol("[") || isWord("array") {
                throw MigrationError(at: current.position, "only one-dimensional arrays are supported")
            }
            if serial {
                throw MigrationError(at: arrayPosition, "\(word) cannot be an array type")
            }
            type = .array(type)
        }
        if serial && !allowSerial {
            throw MigrationError(at: start.position, "\(word) is only a column type; use \(type.postgresName) here")
        }
        return (type, serial)
    }

    /// `(n)` after varchar, if present.
    private mutating func length() throws(MigrationError) -> Int? {
        guard acceptSymbol("(") else { return nil }
        let value = try integer("a length", in: 1...10_485_760)
        try expectSymbol(")", "after the length")
        return value
    }

    private mutating func numeric() throws(MigrationError) -> ColumnType {
        guard acceptSymbol("(") else { return .numeric(precision: nil, scale: nil) }
        let precision = try integer("a precision", in: 1...1000)
        var scale: Int?
        if acceptSymbol(",") {
            scale = try integer("a scale", in: 0...precision)
        }
        try expectSymbol(")", "after the precision and scale")
        return .numeric(precision: precision, scale: scale)
    }

    private mutating func integer(_ what: String, in range: ClosedRange<Int>) throws(MigrationError) -> Int {
        guard case .number(let text) = current.kind, let value = Int(text), range.contains(value) else {
            throw expected("\(what) from \(range.lowerBound) to \(range.upperBound)")
        }
        advance()
        return value
    }

    /// A DEFAULT: a literal, `now()`, `current_timestamp`, `current_date` or `gen_random_uuid()`,
    /// optionally parenthesised and optionally cast (`'{}'::jsonb`).
    mutating func defaultValue() throws(MigrationError) -> MigrationDefault {
        let start = current.position
        if acceptSymbol("(") {
            var inner = try defaultValue()
            try expectSymbol(")", "after the default")
            inner.position = start
            return try cast(inner)
        }
        let value: DefaultValue
        switch current.kind {
        case .number(let text):
            value = .number(text)
        case .symbol("-"):
            advance()
            guard case .number(let text) = current.kind else {
                throw expected("a number after \"-\"")
            }
            value = .number("-" + text)
        case .string(let text):
            value = .string(text)
        case .word("true"):
            value = .bool(true)
        case .word("false"):
            value = .bool(false)
        case .word("null"):
            value = .null
        case .word("current_timestamp"):
            value = .now
        case .word("current_date"):
            value = .currentDate
        case .word("now"), .word("gen_random_uuid"):
            value = current.kind == .word("now") ? .now : .randomUUID
            advance()
            try expectSymbol("(", "after \(peek(-1).text)")
            guard isSymbol(")") else { throw expected("\")\": \(peek(-2).text)() takes no arguments") }
        default:
            throw MigrationError(at: current.position, "found \(current.described) as a default; supported defaults: numbers, 'strings', true, false, NULL, now(), current_timestamp, current_date and gen_random_uuid(), optionally cast with ::type")
        }
        advance()
        return try cast(MigrationDefault(value: value, cast: nil, position: start))
    }

    private mutating func cast(_ value: MigrationDefault) throws(MigrationError) -> MigrationDefault {
        guard acceptSymbol("::") else { return value }
        var value = value
        value.cast = try columnType(allowSerial: false).type
        if isSymbol("::") {
            throw MigrationError(at: current.position, "a default may be cast only once")
        }
        return value
    }
}
