/// Where an expression appears, which decides what it may contain.
enum MigrationExpressionContext: Sendable {
    case check
    case policy

    var name: String {
        switch self {
        case .check: "CHECK constraints"
        case .policy: "policies"
        }
    }

    var supportedFunctions: String {
        switch self {
        case .check: "length() and char_length()"
        case .policy: "auth.uid(), auth.role(), auth.jwt(), auth.email(), (storage.foldername(name))[n], storage.filename(name), storage.extension(name), lower(), upper(), length(), char_length(), coalesce() and now()"
        }
    }

    var supportedOperators: String {
        switch self {
        case .check: "= <> != < <= > >=, AND, OR, NOT, IS [NOT] NULL and IN (...)"
        case .policy: "= <> != < <= > >=, AND, OR, NOT, IS [NOT] NULL, IN (...), ->, ->>, ::type, LIKE, ILIKE and EXISTS (SELECT 1 FROM table WHERE ...)"
        }
    }

    /// The number of arguments each supported function takes (`nil`: one or more).
    func arity(schema: String?, name: String) -> Int?? {
        switch (self, schema, name) {
        case (.policy, "auth", "uid"), (.policy, "auth", "role"), (.policy, "auth", "jwt"), (.policy, "auth", "email"), (.policy, nil, "now"):
            0
        case (.policy, nil, "lower"), (.policy, nil, "upper"), (_, nil, "length"), (_, nil, "char_length"),
            (.policy, "storage", "foldername"), (.policy, "storage", "filename"), (.policy, "storage", "extension"):
            1
        case (.policy, nil, "coalesce"):
            .some(nil)
        default:
            nil
        }
    }
}

extension MigrationParser {
    private static let comparisons: Set<String> = ["=", "<>", "!=", "<", "<=", ">", ">="]

    /// `( expression )`, as after CHECK, USING and WITH CHECK.
    mutating func parenthesizedExpression(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        try expectSymbol("(", "before the expression")
        let expression = try or(context)
        try expectSymbol(")", "after the expression")
        return expression
    }

    private func unsupportedOperator(_ context: MigrationExpressionContext) -> MigrationError {
        MigrationError(at: current.position, "\(current.described) is not supported in \(context.name); supported: \(context.supportedOperators)")
    }

    private mutating func or(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        var left = try and(context)
        while accept("or") {
            let right = try and(context)
            left = MigrationExpression(node: .binary("OR", left, right), position: left.position)
        }
        return left
    }

    private mutating func and(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        var left = try not(context)
        while accept("and") {
            let right = try not(context)
            left = MigrationExpression(node: .binary("AND", left, right), position: left.position)
        }
        return left
    }

    private mutating func not(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        let position = current.position
        if accept("not") {
            return MigrationExpression(node: .unary("NOT", try not(context)), position: position)
        }
        return try isNull(context)
    }

    private mutating func isNull(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        var operand = try comparison(context)
        while accept("is") {
            let negated = accept("not")
            guard accept("null") else {
                throw MigrationError(at: current.position, "expected NULL after IS\(negated ? " NOT" : ""), found \(current.described); only IS [NOT] NULL is supported")
            }
            operand = MigrationExpression(node: .isNull(operand, negated: negated), position: operand.position)
        }
        return operand
    }

    private mutating func comparison(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        let left = try like(context)
        guard case .symbol(let symbol) = current.kind, Self.comparisons.contains(symbol) else { return left }
        advance()
        let right = try like(context)
        return MigrationExpression(node: .binary(symbol == "!=" ? "<>" : symbol, left, right), position: left.position)
    }

    private mutating func like(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        let left = try json(context)
        let notPosition = current.position
        var negated = false
        if isWord("not"), peek(1).kind == .word("like") || peek(1).kind == .word("ilike") || peek(1).kind == .word("in") {
            advance()
            negated = true
        }
        if isWord("like") || isWord("ilike") {
            guard context == .policy else { throw unsupportedOperator(context) }
            let op = current.text.uppercased()
            advance()
            let right = try json(context)
            let match = MigrationExpression(node: .binary(op, left, right), position: left.position)
            return negated ? MigrationExpression(node: .unary("NOT", match), position: notPosition) : match
        }
        if accept("in") {
            try expectSymbol("(", "after IN")
            if isWord("select") {
                throw MigrationError(at: current.position, "IN (SELECT ...) is not supported; use EXISTS (SELECT 1 FROM table WHERE ...)")
            }
            var list: [MigrationExpression] = []
            repeat {
                list.append(try json(context))
            } while acceptSymbol(",")
            try expectSymbol(")", "after the IN list")
            return MigrationExpression(node: .inList(left, list, negated: negated), position: left.position)
        }
        return left
    }

    private mutating func json(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        var left = try negative(context)
        while isSymbol("->") || isSymbol("->>") {
            guard context == .policy else { throw unsupportedOperator(context) }
            let op = current.text
            advance()
            let right = try negative(context)
            left = MigrationExpression(node: .binary(op, left, right), position: left.position)
        }
        if case .symbol(let symbol) = current.kind, ["+", "-", "*", "/", "||"].contains(symbol) {
            throw unsupportedOperator(context)
        }
        return left
    }

    /// Minus is supported only as the sign of a number literal.
    private mutating func negative(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        guard isSymbol("-") else { return try cast(context) }
        let position = current.position
        advance()
        guard case .number(let text) = current.kind else {
            throw MigrationError(at: position, "\"-\" is supported only as the sign of a number in \(context.name)")
        }
        advance()
        return MigrationExpression(node: .literal(.number("-" + text)), position: position)
    }

    private mutating func cast(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        var operand = try primary(context)
        while isSymbol("::") {
            guard context == .policy else { throw unsupportedOperator(context) }
            advance()
            let type = try columnType(allowSerial: false).type
            operand = MigrationExpression(node: .cast(operand, type), position: operand.position)
        }
        return operand
    }

    private mutating func primary(_ context: MigrationExpressionContext) throws(MigrationError) -> MigrationExpression {
        let position = current.position
        switch current.kind {
        case .number(let text):
            advance()
            return MigrationExpression(node: .literal(.number(text)), position: position)
        case .string(let text):
            advance()
            return MigrationExpression(node: .literal(.string(text)), position: position)
        case .word("true"), .word("false"):
            let value = isWord("true")
            advance()
            return MigrationExpression(node: .literal(.bool(value)), position: position)
        case .word("null"):
            advance()
            return MigrationExpression(node: .literal(.null), position: position)
        case .symbol("("):
            advance()
            if accept("select") {
                return try scalarSelect(context, at: position)
            }
            let inner = try or(context)
            try expectSymbol(")", "to close the parenthesis")
            if isSymbol("[") { return try folderSubscript(of: inner) }
            return inner
        case .word("exists"):
            guard context == .policy else { throw unsupportedOperator(context) }
            advance()
            return try exists(at: position)
        case .word("current_timestamp") where context == .policy:
            advance()
            return MigrationExpression(node: .function(schema: nil, name: "now", arguments: []), position: position)
        case .word where !isIdentifier:
            throw MigrationError(at: position, "found \(current.described) where an expression was expected in \(context.name); supported: \(context.supportedOperators)")
        case .word(let word):
            if case .symbol("(") = peek(1).kind {
                advance()
                return try call(context, schema: nil, name: word, at: position)
            }
            if case .symbol(".") = peek(1).kind, case .word(let function) = peek(2).kind, case .symbol("(") = peek(3).kind {
                advance()
                advance()
                advance()
                return try call(context, schema: word, name: function, at: position)
            }
            return try column()
        case .quotedIdentifier:
            return try column()
        default:
            throw expected("an expression")
        }
    }

    /// `name` or `qualifier.name`.
    private mutating func column() throws(MigrationError) -> MigrationExpression {
        let first = try identifier("a column name")
        if acceptSymbol(".") {
            let name = try identifier("a column name")
            return MigrationExpression(node: .column(qualifier: first, name: name), position: first.position)
        }
        return MigrationExpression(node: .column(qualifier: nil, name: first), position: first.position)
    }

    /// A call, with the name already read and the current token at `(`.
    private mutating func call(_ context: MigrationExpressionContext, schema: String?, name: String, at position: MigrationPosition) throws(MigrationError) -> MigrationExpression {
        let written = (schema.map { "\($0)." } ?? "") + name
        guard let arity = context.arity(schema: schema, name: name) else {
            throw MigrationError(at: position, "the function \(written)() is not supported in \(context.name); supported: \(context.supportedFunctions)")
        }
        try expectSymbol("(", "after \(written)")
        var arguments: [MigrationExpression] = []
        if !isSymbol(")") {
            repeat {
                arguments.append(try or(context))
            } while acceptSymbol(",")
        }
        try expectSymbol(")", "after the arguments of \(written)()")
        if let arity, arguments.count != arity {
            throw MigrationError(at: position, "\(written)() takes \(arity == 0 ? "no arguments" : "\(arity) argument"), found \(arguments.count)")
        } else if arity == nil, arguments.isEmpty {
            throw MigrationError(at: position, "\(written)() needs at least one argument")
        }
        return MigrationExpression(node: .function(schema: schema, name: name, arguments: arguments), position: position)
    }

    /// `(storage.foldername(name))[n]`, the current token at `[`: Supabase's folder function
    /// returns an array, and a subscript by a constant is the one way policies use it. Stored as
    /// `storage.foldername(name, n)`, which both dialects render as the n-th folder or NULL.
    private mutating func folderSubscript(of array: MigrationExpression) throws(MigrationError) -> MigrationExpression {
        guard case .function("storage", "foldername", let arguments) = array.node, arguments.count == 1 else {
            throw MigrationError(at: current.position, "a subscript [n] is supported only on (storage.foldername(name))")
        }
        advance()
        guard case .number(let text) = current.kind, let index = Int(text), index >= 1 else {
            throw expected("a positive whole number in the subscript of storage.foldername()")
        }
        advance()
        try expectSymbol("]", "after the subscript")
        let literal = MigrationExpression(node: .literal(.number(String(index))), position: array.position)
        return MigrationExpression(node: .function(schema: "storage", name: "foldername", arguments: arguments + [literal]), position: array.position)
    }

    /// `(SELECT expr)` — Supabase's advice to wrap `auth.uid()` this way so it runs once; the
    /// compiled policy needs no wrapper, so only the inner expression is kept.
    private mutating func scalarSelect(_ context: MigrationExpressionContext, at position: MigrationPosition) throws(MigrationError) -> MigrationExpression {
        guard context == .policy else {
            throw MigrationError(at: position, "subqueries are not supported in \(context.name)")
        }
        let inner = try or(context)
        if isWord("from") {
            throw MigrationError(at: current.position, "a subquery with FROM is supported only as EXISTS (SELECT 1 FROM table WHERE ...)")
        }
        try expectSymbol(")", "after (SELECT expression")
        return inner
    }

    /// `EXISTS (SELECT 1 FROM table [AS] alias [WHERE condition])`, the current token at `(`.
    private mutating func exists(at position: MigrationPosition) throws(MigrationError) -> MigrationExpression {
        try expectSymbol("(", "after EXISTS")
        try expect("select", "after EXISTS (")
        if case .number = current.kind {
            advance()
        } else if !acceptSymbol("*") {
            throw expected("1 or * after SELECT in EXISTS")
        }
        try expect("from", "after EXISTS (SELECT 1")
        let table = try tableName()
        var alias: MigrationName?
        if accept("as") {
            alias = try identifier("an alias")
        } else if isIdentifier {
            alias = try identifier("an alias")
        }
        if isSymbol(",") || isWord("join") || isWord("inner") || isWord("left") {
            throw MigrationError(at: current.position, "an EXISTS subquery reads one table; joins are not supported (nest another EXISTS)")
        }
        var condition: MigrationExpression?
        if accept("where") {
            condition = try or(.policy)
        }
        try expectSymbol(")", "to close EXISTS (SELECT ...")
        return MigrationExpression(node: .exists(table: table, alias: alias, condition: condition), position: position)
    }
}
