/// The PostgREST query grammar: `select`, filters, logic trees, `order`, `columns`, `on_conflict`,
/// `limit` and `offset`, parsed into values the planner checks against the schema.
///
/// Parsers are pure and know nothing of the schema; an unknown column is the planner's error, a
/// malformed parameter is theirs (400 `PGRST100`, worded as PostgREST words it).

/// A column, optionally followed by a JSON path: `data->a->>b`.
public struct RESTField: Sendable, Hashable {
    public var column: String
    public var path: [RESTPathStep]

    public init(column: String, path: [RESTPathStep] = []) {
        self.column = column
        self.path = path
    }

    /// The key a selected field gets without an alias: the last JSON key, as PostgREST names it.
    public var defaultName: String { path.last?.key ?? column }
}

/// One `->key` (JSON) or `->>key` (text) step of a JSON path.
public struct RESTPathStep: Sendable, Hashable {
    public var key: String
    public var asText: Bool

    public init(key: String, asText: Bool) {
        self.key = key
        self.asText = asText
    }

    /// A key of digits (optionally negative) indexes an array, as in PostgreSQL's `->0`.
    public var arrayIndex: Int? {
        guard let first = key.first, first == "-" || first.isASCII && first.isNumber else { return nil }
        return Int(key)
    }
}

/// The casts `select` accepts (`col::text`).
public enum RESTCast: String, Sendable, Hashable, CaseIterable {
    case text, int, bigint, numeric, float, bool, json, jsonb
}

public enum RESTSelectItem: Sendable, Hashable {
    /// `*`: every column, in declaration order.
    case all
    case field(RESTField, alias: String?, cast: RESTCast?)
    /// `rel(cols)`, `alias:rel!hint(cols)`, `...rel(cols)`: parsed so that it can be refused clearly.
    case embedded(RESTEmbed)
}

public struct RESTEmbed: Sendable, Hashable {
    public var relation: String
    public var alias: String?
    public var hint: String?
    public var isSpread: Bool
    public var items: [RESTSelectItem]

    public init(relation: String, alias: String? = nil, hint: String? = nil, isSpread: Bool = false, items: [RESTSelectItem]) {
        self.relation = relation
        self.alias = alias
        self.hint = hint
        self.isSpread = isSpread
        self.items = items
    }
}

public enum RESTOperator: String, Sendable, Hashable, CaseIterable {
    case eq, neq, gt, gte, lt, lte, like, ilike, `is`, `in`, cs, cd, ov

    /// PostgREST operators that are recognised but not served yet; each is refused by name.
    public static let unsupported: Set<String> = [
        "match", "imatch", "fts", "plfts", "phfts", "wfts", "sl", "sr", "nxl", "nxr", "adj", "isdistinct",
    ]
}

public enum RESTIsValue: String, Sendable, Hashable, CaseIterable {
    case null
    case notNull = "not_null"
    case `true`
    case `false`
    case unknown
}

public enum RESTOperand: Sendable, Hashable {
    /// Taken verbatim (`eq.a,b(c)` is the value `a,b(c)`); `like` patterns already have `*` as `%`.
    case value(String)
    /// `in.(a,"b,c",null)`: an unquoted `null` is SQL NULL (`nil`).
    case list([String?])
    case isValue(RESTIsValue)
}

public struct RESTFilter: Sendable, Hashable {
    public var field: RESTField
    public var negated: Bool
    public var op: RESTOperator
    public var operand: RESTOperand

    public init(field: RESTField, negated: Bool = false, op: RESTOperator, operand: RESTOperand) {
        self.field = field
        self.negated = negated
        self.op = op
        self.operand = operand
    }
}

public enum RESTLogic: String, Sendable, Hashable {
    case and, or
}

public indirect enum RESTCondition: Sendable, Hashable {
    case filter(RESTFilter)
    case group(RESTLogic, [RESTCondition], negated: Bool)
}

public struct RESTOrderTerm: Sendable, Hashable {
    public var field: RESTField
    public var descending: Bool
    /// `nil` when not given: PostgreSQL's default (NULLS LAST ascending, NULLS FIRST descending).
    public var nullsFirst: Bool?

    public init(field: RESTField, descending: Bool = false, nullsFirst: Bool? = nil) {
        self.field = field
        self.descending = descending
        self.nullsFirst = nullsFirst
    }
}

public enum RESTGrammar {
    /// `select=...`. An empty value means `*`.
    public static func select(_ text: String) throws(RESTError) -> [RESTSelectItem] {
        if text.isEmpty { return [.all] }
        var scanner = GrammarScanner(text, what: "select parameter")
        let items = try scanner.selectItems()
        guard scanner.isAtEnd else { throw scanner.unexpected(expecting: "\",\"") }
        return items
    }

    /// A filter parameter `key=value`, such as `age=not.gte.18` or `data->>k=in.(a,b)`.
    public static func filter(key: String, value: String) throws(RESTError) -> RESTFilter {
        var keyScanner = GrammarScanner(key, what: "filter")
        let field = try keyScanner.field(stops: [])
        guard keyScanner.isAtEnd else { throw keyScanner.unexpected(expecting: "end of input") }
        var scanner = GrammarScanner(value, what: "filter")
        let (negated, op) = try scanner.operatorPrefix()
        let operand: RESTOperand
        switch op {
        case .is:
            operand = .isValue(try scanner.isValue(scanner.rest()))
        case .in:
            operand = .list(try scanner.inList(untilEnd: true))
        case .like, .ilike:
            operand = .value(likePattern(scanner.rest()))
        default:
            operand = .value(scanner.rest())
        }
        return RESTFilter(field: field, negated: negated, op: op, operand: operand)
    }

    /// `or=(...)`, `and=(...)`, `not.or=(...)`, `not.and=(...)`; `key` is the parameter name.
    /// Returns `nil` when `key` is not a logic key.
    public static func logic(key: String, value: String) throws(RESTError) -> RESTCondition? {
        let negated = key.hasPrefix("not.")
        guard let logic = RESTLogic(rawValue: negated ? String(key.dropFirst(4)) : key) else { return nil }
        var scanner = GrammarScanner(value, what: "logic tree")
        let conditions = try scanner.logicGroupBody()
        guard scanner.isAtEnd else { throw scanner.unexpected(expecting: "end of input") }
        return .group(logic, conditions, negated: negated)
    }

    /// `order=a.desc.nullsfirst,b,data->>k.asc`.
    public static func order(_ text: String) throws(RESTError) -> [RESTOrderTerm] {
        var scanner = GrammarScanner(text, what: "order")
        var terms: [RESTOrderTerm] = []
        repeat {
            var term = RESTOrderTerm(field: try scanner.field(stops: [".", ","]))
            while scanner.consume(".") {
                let start = scanner.index
                switch scanner.word() {
                case "asc": term.descending = false
                case "desc": term.descending = true
                case "nullsfirst": term.nullsFirst = true
                case "nullslast": term.nullsFirst = false
                default:
                    scanner.index = start
                    throw scanner.unexpected(expecting: "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"")
                }
            }
            terms.append(term)
        } while scanner.consume(",")
        guard scanner.isAtEnd else { throw scanner.unexpected(expecting: "\",\" or \".\"") }
        return terms
    }

    /// `columns="a","b"` and `on_conflict=a,b`: column names, quoted or not, comma-separated.
    public static func columnList(_ text: String, parameter: String) throws(RESTError) -> [String] {
        var scanner = GrammarScanner(text, what: "\(parameter) parameter")
        var names: [String] = []
        repeat {
            names.append(try scanner.name(stops: [","]))
        } while scanner.consume(",")
        guard scanner.isAtEnd else { throw scanner.unexpected(expecting: "\",\"") }
        return names
    }

    /// `limit` and `offset`: a non-negative integer.
    public static func count(_ text: String, parameter: String) throws(RESTError) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text) else {
            throw RESTError(
                status: 400, code: "PGRST100",
                message: "\"failed to parse \(parameter) parameter (\(text))\" (line 1, column 1)",
                details: "expecting a non-negative integer"
            )
        }
        return value
    }

    /// PostgREST lets `*` stand for `%` so that patterns survive URL encoding untouched.
    static func likePattern(_ text: String) -> String {
        String(text.map { $0 == "*" ? "%" : $0 })
    }
}

/// A cursor over one parameter's text that produces PostgREST-style parse errors.
struct GrammarScanner {
    let text: String
    /// Unicode scalars rather than Characters: the grammar's delimiters are all ASCII, and
    /// scanning scalars skips grapheme breaking on every request.
    let characters: [Unicode.Scalar]
    let what: String
    var index = 0
    /// Groups and embeddings open at the cursor; bounded so hostile input cannot exhaust the stack.
    var depth = 0
    static let maxDepth = 32

    init(_ text: String, what: String) {
        self.text = text
        self.characters = Array(text.unicodeScalars)
        self.what = what
    }

    var isAtEnd: Bool { index >= characters.count }
    var peek: Unicode.Scalar? { isAtEnd ? nil : characters[index] }

    func string(_ range: Range<Int>) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: characters[range])
        return String(scalars)
    }

    func peek(_ literal: String) -> Bool {
        var position = index
        for character in literal.unicodeScalars {
            guard position < characters.count, characters[position] == character else { return false }
            position += 1
        }
        return true
    }

    mutating func consume(_ literal: String) -> Bool {
        guard peek(literal) else { return false }
        index += literal.unicodeScalars.count
        return true
    }

    mutating func rest() -> String {
        defer { index = characters.count }
        return string(index..<characters.count)
    }

    /// Letters, digits and `_`, possibly empty.
    mutating func word() -> String {
        let start = index
        while let character = peek, character.properties.isAlphabetic || character.properties.numericType != nil || character == "_" { index += 1 }
        return string(start..<index)
    }

    func error(details: String) -> RESTError {
        RESTError(
            status: 400, code: "PGRST100",
            message: "\"failed to parse \(what) (\(text))\" (line 1, column \(index + 1))",
            details: details
        )
    }

    func unexpected(expecting: String) -> RESTError {
        let found = peek.map { "unexpected \"\($0)\"" } ?? "unexpected end of input"
        return error(details: "\(found) expecting \(expecting)")
    }

    mutating func enter() throws(RESTError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw error(details: "nested deeper than \(Self.maxDepth) levels") }
    }

    /// A quoted name (`"a,b"`, with `\` escapes), or the characters up to one of `stops` or `->`.
    mutating func name(stops: Set<Unicode.Scalar>) throws(RESTError) -> String {
        if consume("\"") { return try quotedRest() }
        let start = index
        while let character = peek, !stops.contains(character), !peek("->") { index += 1 }
        guard index > start else { throw unexpected(expecting: "field name") }
        return string(start..<index)
    }

    /// After an opening `"`: up to the closing one, with `\x` meaning `x`.
    mutating func quotedRest() throws(RESTError) -> String {
        var value = ""
        while let character = peek {
            index += 1
            switch character {
            case "\"": return value
            case "\\":
                guard let escaped = peek else { throw unexpected(expecting: "escaped character") }
                value.unicodeScalars.append(escaped)
                index += 1
            default: value.unicodeScalars.append(character)
            }
        }
        throw unexpected(expecting: "closing quote")
    }

    mutating func field(stops: Set<Unicode.Scalar>) throws(RESTError) -> RESTField {
        var field = RESTField(column: try name(stops: stops))
        while let step = try pathStep(stops: stops) { field.path.append(step) }
        return field
    }

    /// `->key` or `->>key`, or `nil` when no arrow follows.
    mutating func pathStep(stops: Set<Unicode.Scalar>) throws(RESTError) -> RESTPathStep? {
        let asText: Bool
        if consume("->>") {
            asText = true
        } else if consume("->") {
            asText = false
        } else {
            return nil
        }
        return RESTPathStep(key: try name(stops: stops), asText: asText)
    }

    // MARK: select

    static let selectStops: Set<Unicode.Scalar> = [",", ":", "(", ")", "!", ".", "\""]

    mutating func selectItems() throws(RESTError) -> [RESTSelectItem] {
        var items: [RESTSelectItem] = []
        repeat {
            items.append(try selectItem())
        } while consume(",")
        return items
    }

    mutating func selectItem() throws(RESTError) -> RESTSelectItem {
        if consume("*") { return .all }
        if consume("...") {
            return .embedded(try embed(relation: try name(stops: Self.selectStops), alias: nil, isSpread: true))
        }
        var alias: String?
        var first = try name(stops: Self.selectStops)
        if peek(":") && !peek("::") {
            index += 1
            alias = first
            first = try name(stops: Self.selectStops)
        }
        if peek == "(" || peek == "!" {
            return .embedded(try embed(relation: first, alias: alias, isSpread: false))
        }
        var field = RESTField(column: first)
        while let step = try pathStep(stops: Self.selectStops) { field.path.append(step) }
        var cast: RESTCast?
        if consume("::") {
            let typeName = word()
            guard let known = RESTCast(rawValue: typeName) else {
                throw RESTError(
                    status: 400, code: "PGRST100",
                    message: "cast to \"\(typeName)\" is not supported",
                    details: "Casts may be one of: " + RESTCast.allCases.map(\.rawValue).joined(separator: ", ")
                )
            }
            cast = known
        }
        return .field(field, alias: alias, cast: cast)
    }

    mutating func embed(relation: String, alias: String?, isSpread: Bool) throws(RESTError) -> RESTEmbed {
        try enter()
        defer { depth -= 1 }
        var hint: String?
        if consume("!") { hint = try name(stops: Self.selectStops) }
        guard consume("(") else { throw unexpected(expecting: "\"(\"") }
        let items = peek == ")" ? [] : try selectItems()
        guard consume(")") else { throw unexpected(expecting: "\")\"") }
        return RESTEmbed(relation: relation, alias: alias, hint: hint, isSpread: isSpread, items: items)
    }

    // MARK: filters

    /// `[not.]op.`, leaving the scanner at the operand.
    mutating func operatorPrefix() throws(RESTError) -> (negated: Bool, op: RESTOperator) {
        let negated = consume("not.")
        let start = index
        let name = word()
        if peek == "(" || RESTOperator.unsupported.contains(name) {
            var spelled = name
            if consume("(") {
                let modifier = string(index..<(characters[index...].firstIndex(of: ")") ?? characters.count))
                spelled += "(\(modifier))"
            }
            throw RESTError(
                status: 400, code: "PGRST100",
                message: "operator \"\(spelled)\" is not supported",
                details: "Supported operators: " + RESTOperator.allCases.map(\.rawValue).joined(separator: ", ") + ", each optionally preceded by not.",
                hint: "Full-text search, regular expressions, range operators and like(any)/like(all) are not supported yet."
            )
        }
        guard let op = RESTOperator(rawValue: name), consume(".") else {
            index = start
            throw unexpected(expecting: "\"not\" or operator (eq, gt, ...)")
        }
        return (negated, op)
    }

    func isValue(_ text: String) throws(RESTError) -> RESTIsValue {
        guard let value = RESTIsValue(rawValue: text.lowercased()) else {
            throw error(details: "unexpected \"\(text)\" expecting null, not_null, true, false or unknown")
        }
        return value
    }

    /// `(a,"b,c",null)`. With `untilEnd`, nothing may follow the closing parenthesis.
    mutating func inList(untilEnd: Bool) throws(RESTError) -> [String?] {
        guard consume("(") else { throw unexpected(expecting: "\"(\"") }
        var values: [String?] = []
        if consume(")") { return values }
        repeat {
            if consume("\"") {
                values.append(try quotedRest())
            } else {
                let start = index
                while let character = peek, character != ",", character != ")" { index += 1 }
                let raw = string(start..<index)
                values.append(raw.lowercased() == "null" ? nil : raw)
            }
        } while consume(",")
        guard consume(")") else { throw unexpected(expecting: "\",\" or \")\"") }
        if untilEnd, !isAtEnd { throw unexpected(expecting: "end of input") }
        return values
    }

    // MARK: logic trees

    static let logicStops: Set<Unicode.Scalar> = [".", ",", "(", ")"]

    mutating func logicGroupBody() throws(RESTError) -> [RESTCondition] {
        guard consume("(") else { throw unexpected(expecting: "\"(\"") }
        try enter()
        defer { depth -= 1 }
        var conditions: [RESTCondition] = []
        repeat {
            conditions.append(try logicCondition())
        } while consume(",")
        guard consume(")") else { throw unexpected(expecting: "\",\" or \")\"") }
        return conditions
    }

    mutating func logicCondition() throws(RESTError) -> RESTCondition {
        for (prefix, negated) in [("not.", true), ("", false)] {
            for logic in [RESTLogic.and, .or] where peek(prefix + logic.rawValue + "(") {
                index += prefix.count + logic.rawValue.count
                return .group(logic, try logicGroupBody(), negated: negated)
            }
        }
        let field = try field(stops: Self.logicStops)
        guard consume(".") else { throw unexpected(expecting: "\".\"") }
        let (negated, op) = try operatorPrefix()
        let operand: RESTOperand
        switch op {
        case .in:
            operand = .list(try inList(untilEnd: false))
        case .is:
            operand = .isValue(try isValue(try logicValue()))
        case .like, .ilike:
            operand = .value(RESTGrammar.likePattern(try logicValue()))
        default:
            operand = .value(try logicValue())
        }
        return .filter(RESTFilter(field: field, negated: negated, op: op, operand: operand))
    }

    /// A value inside a logic tree: `"quoted"`, a `{...}` array literal, or up to `,` / `)`.
    mutating func logicValue() throws(RESTError) -> String {
        if consume("\"") { return try quotedRest() }
        let start = index
        if peek == "{" {
            var inQuotes = false
            while let character = peek {
                index += 1
                if character == "\\" { index += 1; continue }
                if character == "\"" { inQuotes.toggle() }
                if character == "}" && !inQuotes { return string(start..<index) }
            }
            throw unexpected(expecting: "\"}\"")
        }
        while let character = peek, character != ",", character != ")" { index += 1 }
        return string(start..<index)
    }
}
