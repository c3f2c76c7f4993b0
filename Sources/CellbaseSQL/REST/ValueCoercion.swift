/// Turns request values into bound parameters of a column's type, accepting and rejecting what
/// PostgreSQL would, with PostgreSQL's SQLSTATE and message.
///
/// PostgREST hands a JSON body to `json_populate_record`, which feeds every scalar's text to the
/// column type's input function; query-string values reach the same input functions as literals.
/// Doing that check here gives both backends PostgreSQL's errors, and gives SQLite the canonical
/// stored forms of docs/TYPES.md.
public enum ValueCoercion {
    /// A JSON body value for a column → the bound value for `dialect`.
    public static func bind(_ value: JSONValue, to type: ColumnType, column: String, dialect: SQLDialect) throws(RESTError) -> SQLValue {
        switch (value, type) {
        case (.null, _):
            return .null
        case (_, .json):
            return .text(value.serialized)
        case (_, .jsonb):
            if value.containsNUL { throw unsupportedEscape }
            return .text(value.serialized)
        case (.array(let items), .array(let element)):
            var values: [SQLValue] = []
            values.reserveCapacity(items.count)
            for item in items {
                if case .array = item { throw nestedArray(value.serialized) }
                values.append(try bind(item, to: element, column: column, dialect: .postgres))
            }
            return try arrayValue(values, element: element, dialect: dialect, input: value.serialized)
        case (.string(let text), .array):
            if text.utf8.contains(0) { throw unsupportedEscape }
            return try coerce(text, as: type, dialect: dialect, source: .body)
        case (_, .array):
            throw RESTError(status: 400, code: "22P02", message: "expected JSON array", hint: "See the value of key \"\(column)\".")
        case (.string(let text), _):
            if text.utf8.contains(0) { throw unsupportedEscape }
            return try coerce(text, as: type, dialect: dialect, source: .body)
        case (.number(let text), _):
            return try coerce(text, as: type, dialect: dialect, source: .body)
        case (.bool(let flag), _):
            return try coerce(flag ? "true" : "false", as: type, dialect: dialect, source: .body)
        case (.object, _), (.array, _):
            return try coerce(value.serialized, as: type, dialect: dialect, source: .body)
        }
    }

    /// A filter value from the query string (never quoted; already decoded) → the bound value.
    /// Array types take a PostgreSQL array literal (`cs.{a,b}`); `json`/`jsonb` take JSON text.
    public static func bind(text: String, as type: ColumnType, dialect: SQLDialect) throws(RESTError) -> SQLValue {
        // PostgreSQL rejects a NUL byte in any text it receives, before looking at the type.
        if text.utf8.contains(0) {
            throw RESTError(status: 400, code: "22021", message: "invalid byte sequence for encoding \"UTF8\": 0x00")
        }
        return try coerce(text, as: type, dialect: dialect, source: .filter)
    }

    /// The cast to append to a PostgreSQL placeholder for this type, e.g. "::int8", "::text[]", "::jsonb".
    /// `varchar(n)` casts to plain `::varchar`: the length is checked before binding, and a cast
    /// to `varchar(n)` would silently truncate instead of failing.
    public static func postgresCast(for type: ColumnType) -> String {
        guard case .array(let element) = type else { return "::" + type.udtName }
        return postgresCast(for: element) + "[]"
    }

    /// Where a value comes from: a written value must fit the column, a compared value need not.
    private enum Source {
        case body
        case filter
    }

    /// `text` through the input function of `type`.
    private static func coerce(_ text: String, as type: ColumnType, dialect: SQLDialect, source: Source) throws(RESTError) -> SQLValue {
        switch type {
        case .smallint, .integer, .bigint:
            return .integer(try integer(text, type: type))
        case .real, .doublePrecision:
            return .double(try floatingPoint(text, type: type))
        case .numeric(let precision, let scale):
            return try numeric(text, precision: precision, scale: scale, dialect: dialect)
        case .text:
            return .text(text)
        case .varchar(let length):
            guard source == .body, let length else { return .text(text) }
            return .text(try fitting(text, length: length))
        case .boolean:
            guard let flag = boolean(text) else { throw invalidSyntax("boolean", text) }
            return dialect == .postgres ? .bool(flag) : .integer(flag ? 1 : 0)
        case .date:
            guard let canonical = Canonical.date(text) else { throw invalidDateTime("date", text) }
            return .text(canonical)
        case .timestamp:
            guard let canonical = Canonical.timestamp(text) else { throw invalidDateTime("timestamp", text) }
            return .text(canonical)
        case .timestamptz:
            guard let canonical = Canonical.timestamptz(text) else { throw invalidDateTime("timestamp with time zone", text) }
            return .text(canonical)
        case .uuid:
            guard let canonical = Canonical.uuid(text) else { throw invalidSyntax("uuid", text) }
            return .text(canonical)
        case .json, .jsonb:
            let value: JSONValue
            do {
                value = try JSONParser.parse(text.utf8, maxDepth: RESTLimits().maxJSONDepth)
            } catch {
                throw RESTError(status: 400, code: "22P02", message: "invalid input syntax for type json", details: "\(error.message) at offset \(error.offset).")
            }
            if type == .jsonb, value.containsNUL { throw unsupportedEscape }
            return .text(value.serialized)
        case .bytea:
            return .blob(try bytea(text))
        case .array(let element):
            let items: [String?]
            switch ValueArrayLiteral.parse(text) {
            case .success(let parsed): items = parsed
            case .failure(let malformed): throw malformedArray(text, details: malformed.details)
            }
            if case .array = element { throw nestedArray(text) }
            var values: [SQLValue] = []
            values.reserveCapacity(items.count)
            for item in items {
                guard let item else {
                    values.append(.null)
                    continue
                }
                values.append(try coerce(item, as: element, dialect: .postgres, source: source))
            }
            return try arrayValue(values, element: element, dialect: dialect, input: text)
        }
    }

    // MARK: - Scalars

    /// `int2in` / `int4in` / `int8in`: optional sign and decimal digits, surrounding whitespace allowed.
    private static func integer(_ text: String, type: ColumnType) throws(RESTError) -> Int64 {
        let name = type.postgresName
        var bytes = Substring(text).utf8[...]
        ValueDecimal.trimWhitespace(&bytes)
        var isNegative = false
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            isNegative = sign == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        guard !bytes.isEmpty else { throw invalidSyntax(name, text) }
        // Accumulated towards the sign so that Int64.min parses.
        var value: Int64 = 0
        var overflow = false
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { throw invalidSyntax(name, text) }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = isNegative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            overflow = overflow || overflowA || overflowB
            value = next
        }
        let range: ClosedRange<Int64> =
            switch type {
            case .smallint: Int64(Int16.min)...Int64(Int16.max)
            case .integer: Int64(Int32.min)...Int64(Int32.max)
            default: Int64.min...Int64.max
            }
        guard !overflow, range.contains(value) else {
            throw RESTError(status: 400, code: "22003", message: "value \"\(text)\" is out of range for type \(name)")
        }
        return value
    }

    /// `float4in` / `float8in` for finite decimal input. `NaN` and `Infinity` are refused because
    /// SQLite cannot store them; values that overflow (or underflow to zero) are out of range.
    private static func floatingPoint(_ text: String, type: ColumnType) throws(RESTError) -> Double {
        let name = type.postgresName
        var bytes = Substring(text).utf8[...]
        ValueDecimal.trimWhitespace(&bytes)
        guard let hasNonzeroDigit = decimalSyntax(bytes), let value = Double(String(Substring(bytes))) else {
            throw invalidSyntax(name, text)
        }
        let narrowed = type == .real ? Double(Float(value)) : value
        guard narrowed.isFinite, narrowed != 0 || !hasNonzeroDigit else {
            throw RESTError(status: 400, code: "22003", message: "\"\(text)\" is out of range for type \(name)")
        }
        return value
    }

    /// Whether `bytes` is `[+-](digits[.[digits]]|.digits)[(e|E)[+-]digits]`; if so, whether the
    /// mantissa has a nonzero digit (so a zero result is an underflow).
    private static func decimalSyntax(_ bytes: Substring.UTF8View) -> Bool? {
        var bytes = bytes
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { bytes.removeFirst() }
        var sawDigit = false, sawPoint = false, hasNonzeroDigit = false
        while let byte = bytes.first {
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                sawDigit = true
                hasNonzeroDigit = hasNonzeroDigit || byte != UInt8(ascii: "0")
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                break
            }
            bytes.removeFirst()
        }
        guard sawDigit else { return nil }
        if let marker = bytes.first, marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") {
            bytes.removeFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { bytes.removeFirst() }
            guard let first = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return nil }
            while let byte = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { bytes.removeFirst() }
        }
        return bytes.isEmpty ? hasNonzeroDigit : nil
    }

    /// `numeric_in` plus the column's typmod. PostgreSQL gets the exact decimal text; SQLite stores
    /// an integer when the value is integral and fits, else the nearest double.
    private static func numeric(_ text: String, precision: Int?, scale: Int?, dialect: SQLDialect) throws(RESTError) -> SQLValue {
        var decimal: ValueDecimal
        do {
            decimal = try ValueDecimal(parsing: text)
        } catch {
            throw invalidSyntax("numeric", text)
        }
        if let precision {
            let scale = scale ?? 0
            decimal = decimal.rounded(toScale: scale)
            let maxDigits = precision - scale
            if let digits = decimal.integerDigitCount, digits > maxDigits {
                let limit = maxDigits > 0 ? "10^\(maxDigits)" : "1"
                throw RESTError(
                    status: 400, code: "22003", message: "numeric field overflow",
                    details: "A field with precision \(precision), scale \(scale) must round to an absolute value less than \(limit)."
                )
            }
        }
        if dialect == .postgres { return .text(decimal.text) }
        if let integer = decimal.exactInteger { return .integer(integer) }
        guard let value = Double(decimal.text), value.isFinite else {
            throw RESTError(status: 400, code: "22003", message: "value overflows numeric format")
        }
        return .double(value)
    }

    /// `varchar(n)`: longer values fail, except that trailing spaces beyond `n` are cut, as the SQL
    /// standard (and PostgreSQL) require. Length is counted in code points, as PostgreSQL does.
    private static func fitting(_ text: String, length: Int) throws(RESTError) -> String {
        let scalars = text.unicodeScalars
        guard let cut = scalars.index(scalars.startIndex, offsetBy: length, limitedBy: scalars.endIndex),
              cut != scalars.endIndex
        else { return text }
        guard scalars[cut...].allSatisfy({ $0 == " " }) else {
            throw RESTError(status: 400, code: "22001", message: "value too long for type character varying(\(length))")
        }
        return String(scalars[..<cut])
    }

    /// `boolin`: any unambiguous prefix of true/false/yes/no, `on`/`off`, `1`/`0`, in any case and
    /// with surrounding whitespace.
    private static func boolean(_ text: String) -> Bool? {
        var bytes = Substring(text).utf8[...]
        ValueDecimal.trimWhitespace(&bytes)
        let word = String(Substring(bytes)).lowercased()
        guard let first = word.first else { return nil }
        func isPrefix(of full: String, minimum: Int = 1) -> Bool { word.count >= minimum && full.hasPrefix(word) }
        switch first {
        case "t": return isPrefix(of: "true") ? true : nil
        case "f": return isPrefix(of: "false") ? false : nil
        case "y": return isPrefix(of: "yes") ? true : nil
        case "n": return isPrefix(of: "no") ? false : nil
        case "o":
            if isPrefix(of: "on", minimum: 2) { return true }
            return isPrefix(of: "off", minimum: 2) ? false : nil
        case "1": return word.count == 1 ? true : nil
        case "0": return word.count == 1 ? false : nil
        default: return nil
        }
    }

    /// `byteain`: hex format `\x…` (whitespace allowed between digit pairs), or escape format
    /// where `\\` is a backslash and `\ooo` an octal byte.
    private static func bytea(_ text: String) throws(RESTError) -> [UInt8] {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x") {
            output.reserveCapacity((bytes.count - 2) / 2)
            var index = 2
            while index < bytes.count {
                if [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                    index += 1
                    continue
                }
                guard let high = bytes[index].hexDigitValue else { throw invalidHexDigit(bytes[index]) }
                guard index + 1 < bytes.count else {
                    throw RESTError(status: 400, code: "22023", message: "invalid hexadecimal data: odd number of digits")
                }
                guard let low = bytes[index + 1].hexDigitValue else { throw invalidHexDigit(bytes[index + 1]) }
                output.append(high << 4 | low)
                index += 2
            }
            return output
        }
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\\") {
                output.append(byte)
                index += 2
            } else if index + 3 < bytes.count,
                      (UInt8(ascii: "0")...UInt8(ascii: "3")).contains(bytes[index + 1]),
                      (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[index + 2]),
                      (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[index + 3]) {
                output.append((bytes[index + 1] - 48) << 6 | (bytes[index + 2] - 48) << 3 | (bytes[index + 3] - 48))
                index += 4
            } else {
                throw RESTError(status: 400, code: "22P02", message: "invalid input syntax for type bytea")
            }
        }
        return output
    }

    // MARK: - Arrays

    /// Coerced elements (PostgreSQL forms) → a `::type[]` literal for PostgreSQL, or the JSON
    /// array SQLite stores, with each element as it would appear in a JSON response.
    private static func arrayValue(_ values: [SQLValue], element: ColumnType, dialect: SQLDialect, input: String) throws(RESTError) -> SQLValue {
        if case .array = element { throw nestedArray(input) }
        switch dialect {
        case .postgres:
            return .text(ValueArrayLiteral.render(values.map(literalText)))
        case .sqlite:
            var output = "["
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(",") }
                switch value {
                case .null: output.append("null")
                case .bool(let flag): output.append(flag ? "true" : "false")
                case .integer, .double: output.append(literalText(value)!)
                case .text(let text) where element.isJSON || element.isNumeric: output.append(text)
                case .text(let text): JSONValue.appendQuoted(text, to: &output)
                case .blob: JSONValue.appendQuoted(literalText(value)!, to: &output)
                }
            }
            output.append("]")
            return .text(output)
        }
    }

    /// An element's text in PostgreSQL's input syntax for its type.
    private static func literalText(_ value: SQLValue) -> String? {
        switch value {
        case .null: return nil
        case .integer(let integer): return String(integer)
        case .double(let double): return double.description
        case .bool(let flag): return flag ? "t" : "f"
        case .text(let text): return text
        case .blob(let bytes):
            let digits = Array("0123456789abcdef".utf8)
            var hex: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
            hex.reserveCapacity(2 + bytes.count * 2)
            for byte in bytes {
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 0xF)])
            }
            return String(decoding: hex, as: UTF8.self)
        }
    }

    // MARK: - Errors

    private static func invalidSyntax(_ typeName: String, _ input: String) -> RESTError {
        RESTError(status: 400, code: "22P02", message: "invalid input syntax for type \(typeName): \"\(input)\"")
    }

    private static func invalidDateTime(_ typeName: String, _ input: String) -> RESTError {
        RESTError(status: 400, code: "22007", message: "invalid input syntax for type \(typeName): \"\(input)\"")
    }

    private static func invalidHexDigit(_ byte: UInt8) -> RESTError {
        RESTError(status: 400, code: "22023", message: "invalid hexadecimal digit: \"\(String(decoding: [byte], as: UTF8.self))\"")
    }

    private static func malformedArray(_ input: String, details: String) -> RESTError {
        RESTError(status: 400, code: "22P02", message: "malformed array literal: \"\(input)\"", details: details)
    }

    private static func nestedArray(_ input: String) -> RESTError {
        malformedArray(input, details: "Nested arrays are not supported.")
    }

    /// PostgreSQL's text types cannot hold NUL, so a `\u0000` in JSON cannot become text or jsonb.
    private static let unsupportedEscape = RESTError(
        status: 400, code: "22P05", message: "unsupported Unicode escape sequence", details: "\\u0000 cannot be converted to text."
    )
}

extension JSONValue {
    /// Whether any string or key holds U+0000.
    fileprivate var containsNUL: Bool {
        switch self {
        case .null, .bool, .number: false
        case .string(let text): text.utf8.contains(0)
        case .array(let elements): elements.contains { $0.containsNUL }
        case .object(let members): members.contains { $0.key.utf8.contains(0) || $0.value.containsNUL }
        }
    }
}
