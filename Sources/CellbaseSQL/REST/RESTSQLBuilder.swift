/// Builds the text and binds of one statement against one table, in one dialect.
///
/// Every identifier is checked against the schema before it is quoted; every value is bound.
/// Placeholders are numbered, so a fragment (the WHERE clause) can be written twice, as the
/// total-count subquery does, with one set of binds.
struct RESTSQLBuilder {
    let table: Table
    let namespace: SQLNamespace
    private(set) var binds: [SQLValue] = []
    /// The claims bound so far: each is one parameter however often the statement reads it.
    private var claimPlaceholders: [PolicyClaim: String] = [:]

    init(table: Table, namespace: SQLNamespace) {
        self.table = table
        self.namespace = namespace
    }

    var dialect: SQLDialect { namespace.dialect }
    var qualifiedTable: String { namespace.qualified(table.name) }

    // MARK: binds

    /// A placeholder for `value`. On PostgreSQL it names the type the value is sent as, then casts
    /// to the column's type (`$1::int8::int4`): the statement text alone fixes every parameter's
    /// type, so it can be prepared once and executed again with other values of the same kinds.
    mutating func bind(_ value: SQLValue, as type: ColumnType) -> String {
        binds.append(value)
        let placeholder = namespace.placeholder(binds.count)
        guard dialect == .postgres else { return placeholder }
        let cast = ValueCoercion.postgresCast(for: type)
        guard let wire = value.postgresWireType.map({ "::" + $0 }), wire != cast else { return placeholder + cast }
        return placeholder + wire + cast
    }

    mutating func bindText(_ text: String) -> String {
        bind(.text(text), as: .text)
    }

    mutating func bindInteger(_ value: Int) -> String {
        bind(.integer(Int64(value)), as: .bigint)
    }

    /// A policy template as SQL: the columns of its row named by `row`, its claims bound as `access`
    /// gives them, never spliced.
    mutating func fill(_ template: SQLTemplate, for access: RESTAccess, row: (String) -> String) -> String {
        for case .claim(let claim) in template.pieces where claimPlaceholders[claim] == nil {
            let (value, type) = access.value(of: claim)
            claimPlaceholders[claim] = bind(value, as: type)
        }
        let placeholders = claimPlaceholders
        return template.sql(column: row) { placeholders[$0]! }
    }

    /// Names the columns of a row as `"qualifier"."column"`.
    static func columns(of qualifier: String) -> (String) -> String {
        { SQLNamespace.quote(qualifier) + "." + SQLNamespace.quote($0) }
    }

    // MARK: identifiers

    func column(_ name: String) throws(RESTError) -> Column {
        guard let column = table.column(named: name) else {
            throw RESTError(status: 400, code: "42703", message: "column \(table.name).\(name) does not exist")
        }
        return column
    }

    // MARK: fields

    /// A field as an operand of a comparison: the column itself, or for a JSON path its text
    /// (`->>`), compared as text. `type` is `nil` for JSON paths.
    mutating func operand(_ field: RESTField) throws(RESTError) -> (sql: String, type: ColumnType?) {
        let column = try column(field.column)
        if field.path.isEmpty { return (SQLNamespace.quote(column.name), column.type) }
        return (try path(field, of: column, asText: true), nil)
    }

    /// A JSON path expression. `asText` forces the last step to `->>`; otherwise the path is
    /// rendered as written (text for `->>`, JSON for `->`).
    mutating func path(_ field: RESTField, of column: Column, asText: Bool) throws(RESTError) -> String {
        guard column.type.isJSON, let last = field.path.last else {
            let arrow = field.path.first?.asText == true ? "->>" : "->"
            throw RESTError(
                status: 400, code: "42883",
                message: "operator does not exist: \(column.type.postgresName) \(arrow) unknown",
                hint: "JSON paths apply to json and jsonb columns only."
            )
        }
        let text = asText || last.asText
        let quoted = SQLNamespace.quote(column.name)
        switch dialect {
        case .postgres:
            var sql = quoted
            for (position, step) in field.path.enumerated() {
                let isLast = position == field.path.count - 1
                sql += (isLast ? text : step.asText) ? "->>" : "->"
                if let index = step.arrayIndex {
                    sql += bind(.integer(Int64(index)), as: .integer)
                } else {
                    sql += bindText(step.key)
                }
            }
            return sql
        case .sqlite:
            let placeholder = bindText(try Self.sqlitePath(field.path))
            if text {
                // PostgreSQL's ->> renders booleans as true/false and numbers as written; SQLite's
                // json_extract gives 1/0 for booleans, hence the CASE.
                return "CASE json_type(\(quoted), \(placeholder)) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                    + "ELSE CAST(json_extract(\(quoted), \(placeholder)) AS TEXT) END"
            }
            return "(\(quoted) -> \(placeholder))"
        }
    }

    /// `$."a"[0]."b"`: SQLite's JSON path syntax, bound as text.
    static func sqlitePath(_ steps: [RESTPathStep]) throws(RESTError) -> String {
        var path = "$"
        for step in steps {
            if let index = step.arrayIndex {
                path += index < 0 ? "[#\(index)]" : "[\(index)]"
            } else {
                guard !step.key.contains("\"") else {
                    throw RESTError(status: 400, code: "PGRST100", message: "JSON keys containing '\"' are not supported on this database")
                }
                path += ".\"\(step.key)\""
            }
        }
        return path
    }

    // MARK: WHERE

    /// ` WHERE a AND b`, or an empty string without conditions.
    mutating func whereClause(_ conditions: [RESTCondition]) throws(RESTError) -> String {
        if conditions.isEmpty { return "" }
        var parts: [String] = []
        for condition in conditions { parts.append(try self.condition(condition)) }
        return " WHERE " + parts.joined(separator: " AND ")
    }

    mutating func condition(_ condition: RESTCondition) throws(RESTError) -> String {
        switch condition {
        case .filter(let filter):
            let sql = try self.filter(filter)
            return filter.negated ? "NOT (\(sql))" : sql
        case .group(let logic, let members, let negated):
            var parts: [String] = []
            for member in members { parts.append(try self.condition(member)) }
            let joined = "(" + parts.joined(separator: logic == .and ? " AND " : " OR ") + ")"
            return negated ? "NOT \(joined)" : joined
        }
    }

    mutating func filter(_ filter: RESTFilter) throws(RESTError) -> String {
        let (lhs, type) = try operand(filter.field)
        switch (filter.op, filter.operand) {
        case (.is, .isValue(let value)):
            switch value {
            case .null, .unknown: return "\(lhs) IS NULL"
            case .notNull: return "\(lhs) IS NOT NULL"
            case .true, .false:
                guard type == .boolean else {
                    throw RESTError(
                        status: 400, code: "42804",
                        message: "argument of IS \(value.rawValue.uppercased()) must be type boolean, not type \(type?.postgresName ?? "text")"
                    )
                }
                return "\(lhs) IS \(value.rawValue.uppercased())"
            }
        case (.in, .list(let values)):
            if values.isEmpty { return "1 = 0" }
            var placeholders: [String] = []
            for value in values { placeholders.append(try self.value(value, as: type)) }
            return "\(lhs) IN (\(placeholders.joined(separator: ", ")))"
        case (.like, .value(let pattern)), (.ilike, .value(let pattern)):
            return likeCondition(lhs, type: type, pattern: pattern, caseInsensitive: filter.op == .ilike)
        case (.cs, .value(let text)), (.cd, .value(let text)), (.ov, .value(let text)):
            return try containment(filter, lhs: lhs, text: text)
        case (let op, .value(let text)):
            let symbol: String
            switch op {
            case .eq: symbol = "="
            case .neq: symbol = "<>"
            case .gt: symbol = ">"
            case .gte: symbol = ">="
            case .lt: symbol = "<"
            default: symbol = "<="
            }
            return "\(lhs) \(symbol) \(try value(text, as: type))"
        default:
            throw RESTError(status: 400, code: "PGRST100", message: "operator \(filter.op.rawValue) does not take this operand")
        }
    }

    /// A filter value coerced to the column type; JSON path operands are compared as text.
    mutating func value(_ text: String?, as type: ColumnType?) throws(RESTError) -> String {
        guard let text else { return bind(.null, as: type ?? .text) }
        guard let type else { return bindText(text) }
        return bind(try ValueCoercion.bind(text: text, as: type, dialect: dialect), as: type)
    }

    mutating func likeCondition(_ lhs: String, type: ColumnType?, pattern: String, caseInsensitive: Bool) -> String {
        switch dialect {
        case .postgres:
            let subject = (type?.isTextual ?? true) ? lhs : "\(lhs)::text"
            return "\(subject) \(caseInsensitive ? "ILIKE" : "LIKE") \(bindText(pattern))"
        case .sqlite:
            // SQLite's LIKE ignores ASCII case, so a case-sensitive LIKE becomes a GLOB.
            if caseInsensitive { return "\(lhs) LIKE \(bindText(pattern)) ESCAPE '\\'" }
            return "\(lhs) GLOB \(bindText(Self.globPattern(like: pattern)))"
        }
    }

    /// A LIKE pattern (`%`, `_`, `\` escapes) as the equivalent GLOB pattern.
    static func globPattern(like pattern: String) -> String {
        var glob = ""
        var escaping = false
        for character in pattern {
            if escaping {
                escaping = false
                glob += globLiteral(character)
                continue
            }
            switch character {
            case "\\": escaping = true
            case "%": glob += "*"
            case "_": glob += "?"
            default: glob += globLiteral(character)
            }
        }
        if escaping { glob += globLiteral("\\") }
        return glob
    }

    static func globLiteral(_ character: Character) -> String {
        switch character {
        case "*", "?", "[": "[\(character)]"
        default: String(character)
        }
    }

    /// `cs`, `cd`, `ov` on arrays and json/jsonb.
    mutating func containment(_ filter: RESTFilter, lhs: String, text: String) throws(RESTError) -> String {
        let column = try column(filter.field.column)
        let type = column.type
        let symbol = filter.op == .cs ? "@>" : filter.op == .cd ? "<@" : "&&"
        guard filter.field.path.isEmpty, type.isArray || type.isJSON, !(type.isJSON && filter.op == .ov) else {
            let left = filter.field.path.isEmpty ? type.postgresName : "text"
            throw RESTError(
                status: 400, code: "42883",
                message: "operator does not exist: \(left) \(symbol) unknown",
                hint: "cs and cd apply to array and json/jsonb columns, ov to array columns."
            )
        }
        let coerced = try ValueCoercion.bind(text: text, as: type, dialect: dialect)
        if dialect == .postgres {
            if type == .json {
                return "\(lhs)::jsonb \(symbol) \(bind(coerced, as: .jsonb))"
            }
            return "\(lhs) \(symbol) \(bind(coerced, as: type))"
        }
        return try sqliteContainment(filter.op, lhs: lhs, filterValue: coerced, isJSON: type.isJSON)
    }

    /// Containment through `json_each` (docs/DATA_API.md describes what it covers): scalar
    /// elements compare by value, with integers and reals alike and booleans apart from 1/0.
    mutating func sqliteContainment(_ op: RESTOperator, lhs: String, filterValue: SQLValue, isJSON: Bool) throws(RESTError) -> String {
        guard case .text(let json) = filterValue, let document = try? JSONParser.parse(Array(json.utf8), maxDepth: 64) else {
            throw RESTError(status: 400, code: "22P02", message: "invalid input syntax for containment: a JSON array or object is expected")
        }
        let isObject: Bool
        switch document {
        case .object(let members):
            isObject = true
            guard members.allSatisfy({ $0.value.isScalar }) else { throw Self.nestedContainment }
        case .array(let elements):
            isObject = false
            guard elements.allSatisfy(\.isScalar) else { throw Self.nestedContainment }
        default:
            throw RESTError(status: 400, code: "22P02", message: "invalid input syntax for containment: a JSON array or object is expected")
        }
        if op == .ov && isObject {
            throw RESTError(status: 400, code: "42883", message: "operator does not exist: jsonb && jsonb")
        }
        let placeholder = bindText(json)
        let kind = isObject ? "object" : "array"
        let keyMatch = isObject ? "e.key = f.key AND " : ""
        let same = keyMatch + "e.atom IS f.atom AND (e.type = f.type OR (e.type IN ('integer', 'real') AND f.type IN ('integer', 'real')))"
        let test: String
        switch op {
        case .cs:
            test = "(json_type(\(lhs)) = '\(kind)' AND NOT EXISTS (SELECT 1 FROM json_each(\(placeholder)) AS f "
                + "WHERE NOT EXISTS (SELECT 1 FROM json_each(\(lhs)) AS e WHERE \(same))))"
        case .cd:
            test = "(json_type(\(lhs)) = '\(kind)' AND NOT EXISTS (SELECT 1 FROM json_each(\(lhs)) AS e "
                + "WHERE NOT EXISTS (SELECT 1 FROM json_each(\(placeholder)) AS f WHERE \(same))))"
        default:
            test = "EXISTS (SELECT 1 FROM json_each(\(lhs)) AS e, json_each(\(placeholder)) AS f WHERE \(same))"
        }
        // NULL in, NULL out, as PostgreSQL's @>, <@ and && answer: so `not.cs` skips NULL rows too.
        return "CASE WHEN \(lhs) IS NULL THEN NULL ELSE \(test) END"
    }

    static let nestedContainment = RESTError(
        status: 400, code: "PGRST100",
        message: "nested objects and arrays in cs/cd/ov filters are not supported on this database",
        hint: "Filter on scalar values, or on a JSON path with eq."
    )

    // MARK: ORDER BY

    /// ` ORDER BY ...` with explicit NULLS FIRST/LAST (PostgreSQL's defaults) so both dialects agree.
    /// Without `order`, the primary key keeps pagination stable.
    mutating func orderClause(_ terms: [RESTOrderTerm]?) throws(RESTError) -> String {
        var parts: [String] = []
        if let terms {
            for term in terms {
                let column = try column(term.field.column)
                let sql = term.field.path.isEmpty ? SQLNamespace.quote(column.name) : try path(term.field, of: column, asText: false)
                let nullsFirst = term.nullsFirst ?? term.descending
                parts.append("\(sql) \(term.descending ? "DESC" : "ASC") NULLS \(nullsFirst ? "FIRST" : "LAST")")
            }
        } else {
            parts = table.primaryKey.map { "\(SQLNamespace.quote($0)) ASC NULLS LAST" }
        }
        return parts.isEmpty ? "" : " ORDER BY " + parts.joined(separator: ", ")
    }

    // MARK: selected columns

    /// One key of the rendered JSON objects with its expression: a plain SQL value on PostgreSQL
    /// (rendered by `json_agg`), a `json_object` value on SQLite.
    struct Output {
        var key: String
        var sql: String
    }

    mutating func outputs(_ items: [RESTSelectItem]) throws(RESTError) -> [Output] {
        var outputs: [Output] = []
        for item in items {
            switch item {
            case .all:
                for column in table.columns {
                    outputs.append(Output(key: column.name, sql: rendered(SQLNamespace.quote(column.name), type: column.type)))
                }
            case .field(let field, let alias, let cast):
                let column = try column(field.column)
                let key = alias ?? field.defaultName
                guard !key.contains("\u{0}") else {
                    throw RESTError(status: 400, code: "PGRST100", message: "select keys may not contain NUL characters")
                }
                var sql = SQLNamespace.quote(column.name)
                var type: ColumnType? = column.type
                if !field.path.isEmpty {
                    sql = try path(field, of: column, asText: false)
                    type = field.path.last?.asText == true ? .text : .jsonb
                }
                if let cast {
                    outputs.append(Output(key: key, sql: casted(sql, from: type ?? .text, to: cast)))
                } else {
                    outputs.append(Output(key: key, sql: rendered(sql, type: type ?? .text)))
                }
            case .embedded(let embed):
                throw RESTError(
                    status: 400, code: "PGRST200",
                    message: "Could not find a relationship between '\(table.name)' and '\(embed.relation)' in the schema cache",
                    details: "Searched for a foreign key relationship between '\(table.name)' and '\(embed.relation)' in the schema 'public', but no matches were found.",
                    hint: "Embedding related resources is not supported yet; query '\(embed.relation)' in a separate request."
                )
            }
        }
        return outputs
    }

    /// A value as the JSON renderer of the dialect needs it (see docs/TYPES.md).
    func rendered(_ sql: String, type: ColumnType) -> String {
        dialect == .sqlite ? Self.sqliteJSONValue(sql, type: type) : sql
    }

    /// A SQLite value as `json_object` must receive it to render the column as PostgreSQL would
    /// (booleans as JSON booleans, JSON text as JSON, bytea as `\x` hex).
    static func sqliteJSONValue(_ sql: String, type: ColumnType) -> String {
        switch type {
        case .boolean: return "CASE WHEN \(sql) IS NULL THEN NULL WHEN \(sql) THEN json('true') ELSE json('false') END"
        case .json, .jsonb, .array: return "json(\(sql))"
        // hex(NULL) is '', so NULL needs its own branch.
        case .bytea: return "CASE WHEN \(sql) IS NULL THEN NULL ELSE '\\x' || lower(hex(\(sql))) END"
        default: return sql
        }
    }

    func casted(_ sql: String, from type: ColumnType, to cast: RESTCast) -> String {
        guard dialect == .sqlite else { return "(\(sql))::\(cast.rawValue)" }
        switch cast {
        case .text:
            switch type {
            case .boolean: return "CASE WHEN \(sql) IS NULL THEN NULL WHEN \(sql) THEN 'true' ELSE 'false' END"
            case .bytea: return rendered(sql, type: .bytea)
            // PostgreSQL's text output of timestamps: a space for the `T`, `+00` for `+00:00`.
            case .timestamptz: return "replace(substr(\(sql), 1, length(\(sql)) - 3), 'T', ' ')"
            case .timestamp: return "replace(\(sql), 'T', ' ')"
            default: return type.isNumeric ? "CAST(\(sql) AS TEXT)" : sql
            }
        case .int, .bigint: return "CAST(\(sql) AS INTEGER)"
        case .numeric: return "CAST(\(sql) AS NUMERIC)"
        case .float: return "CAST(\(sql) AS REAL)"
        case .bool:
            if type == .boolean || type.isNumeric { return rendered(sql, type: .boolean) }
            // Text is false to SQLite whatever it says, so spell out PostgreSQL's boolean input.
            return "CASE WHEN \(sql) IS NULL THEN NULL WHEN lower(\(sql)) IN ('true', 't', 'yes', 'y', 'on', '1') THEN json('true') ELSE json('false') END"
        case .json, .jsonb: return "json(\(sql))"
        }
    }

    /// `'key'` for SQLite's `json_object`: keys are column names or aliases, never values.
    static func keyLiteral(_ key: String) -> String {
        var literal = "'"
        for character in key {
            if character == "'" { literal.append("'") }
            literal.append(character)
        }
        return literal + "'"
    }

    /// `"a" AS "a", ...` for PostgreSQL, `json_object('a', "a", ...)` for SQLite.
    func projection(_ outputs: [Output]) -> String {
        switch dialect {
        case .postgres:
            return outputs.map { "\($0.sql) AS \(SQLNamespace.quote($0.key))" }.joined(separator: ", ")
        case .sqlite:
            return "json_object(" + outputs.map { "\(Self.keyLiteral($0.key)), \($0.sql)" }.joined(separator: ", ") + ")"
        }
    }
}

extension JSONValue {
    fileprivate var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }
}
