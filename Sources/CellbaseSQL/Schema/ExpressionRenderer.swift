/// Renders a stored expression, a CHECK constraint or a policy, for one dialect.
///
/// Nested operations are parenthesised so the text never depends on operator precedence. Columns
/// of the expression's own table become row slots and `auth.*()` claim slots (see `SQLTemplate`);
/// columns of EXISTS subqueries are qualified by their alias, names resolving as SQL resolves them.
struct ExpressionRenderer {
    var namespace: SQLNamespace
    /// Where EXISTS subqueries look up their columns.
    var schema = Schema()

    func render(_ expression: Expression, table: String) -> SQLTemplate {
        render(expression, table: table) { (_, _) throws(Never) in nil }
    }

    /// `subqueryFilter` says what a row read by an EXISTS subquery must satisfy besides its
    /// condition, given the table and the name that qualifies its columns: PostgreSQL applies a
    /// table's row-level security to every query that reads it, policies included.
    func render<Failure: Error>(
        _ expression: Expression, table: String,
        subqueryFilter: @escaping (_ table: String, _ qualifier: String) throws(Failure) -> SQLTemplate?
    ) throws(Failure) -> SQLTemplate {
        var walk = Walk(namespace: namespace, schema: schema, subqueryFilter: subqueryFilter)
        try walk.render(expression, nested: false, scopes: [MigrationScope(table: table, qualifier: table)])
        return walk.output
    }

    private struct Walk<Failure: Error> {
        let namespace: SQLNamespace
        let schema: Schema
        let subqueryFilter: (_ table: String, _ qualifier: String) throws(Failure) -> SQLTemplate?
        var output = SQLTemplate()

        var isSQLite: Bool { namespace.dialect == .sqlite }

        mutating func render(_ expression: Expression, nested: Bool, scopes: [MigrationScope]) throws(Failure) {
            let (open, close) = nested ? ("(", ")") : ("", "")
            switch expression {
            case .column(let qualifier, let name):
                let scope = MigrationRewriter.resolvedIndex(qualifier: qualifier, name: name, in: scopes, schema: schema) ?? 0
                if scope == 0 {
                    output.append(.column(name))
                } else {
                    output.append(SQLNamespace.quote(scopes[scope].qualifier) + "." + SQLNamespace.quote(name))
                }
            case .literal(let literal):
                switch literal {
                case .null: output.append("NULL")
                case .bool(let flag): output.append(isSQLite ? (flag ? "1" : "0") : (flag ? "true" : "false"))
                case .number(let text): output.append(text)
                case .string(let text): output.append(MigrationDDL.literal(text))
                }
            case .function("auth", let name, _):
                guard let claim = PolicyClaim(rawValue: name) else {
                    preconditionFailure("migrations admit auth.uid(), auth.role(), auth.email() and auth.jwt() only")
                }
                output.append(.claim(claim))
            case .function("storage", let name, let arguments):
                try storageFunction(name, arguments, scopes: scopes)
            case .function(nil, "now", _) where isSQLite:
                // What `DEFAULT now()` stores in a timestamptz column on SQLite, so comparisons hold.
                output.append("(\(MigrationDDL.sqliteNow) || '+00:00')")
            case .function(let schema, let name, let arguments):
                let function = isSQLite && name == "char_length" ? "length" : name
                output.append((schema.map { "\($0)." } ?? "") + function + "(")
                try list(arguments, scopes: scopes)
                output.append(")")
            case .binary("->>", let left, let right) where isSQLite:
                // SQLite's ->> gives SQL values (1 for true, numbers as numbers); PostgreSQL's gives
                // the text of the JSON value, which SQLite's -> (JSON text) is for all but strings.
                output.append("CASE json_type(")
                try jsonStep(left, right, scopes: scopes)
                output.append(") WHEN 'null' THEN NULL WHEN 'text' THEN ")
                try render(left, nested: true, scopes: scopes)
                output.append(" ->> ")
                try render(right, nested: true, scopes: scopes)
                output.append(" ELSE ")
                try jsonStep(left, right, scopes: scopes)
                output.append(" END")
            case .binary("LIKE", let left, .literal(.string(let pattern))) where isSQLite:
                // SQLite's LIKE ignores ASCII case; a literal pattern becomes the equivalent GLOB.
                output.append(open)
                try render(left, nested: true, scopes: scopes)
                output.append(" GLOB " + MigrationDDL.literal(RESTSQLBuilder.globPattern(like: pattern)) + close)
            case .binary(let op, let left, let right) where isSQLite && (op == "LIKE" || op == "ILIKE"):
                output.append(open)
                try render(left, nested: true, scopes: scopes)
                output.append(" LIKE ")
                try render(right, nested: true, scopes: scopes)
                output.append(" ESCAPE '\\'" + close)
            case .binary(let op, let left, let right):
                output.append(open)
                try render(left, nested: true, scopes: scopes)
                output.append(" \(op) ")
                try render(right, nested: true, scopes: scopes)
                output.append(close)
            case .unary(let op, let operand):
                output.append(open + op + " ")
                try render(operand, nested: true, scopes: scopes)
                output.append(close)
            case .isNull(let operand, let negated):
                output.append(open)
                try render(operand, nested: true, scopes: scopes)
                output.append((negated ? " IS NOT NULL" : " IS NULL") + close)
            case .inList(let operand, let elements, let negated):
                output.append(open)
                try render(operand, nested: true, scopes: scopes)
                output.append(negated ? " NOT IN (" : " IN (")
                try list(elements, scopes: scopes)
                output.append(")" + close)
            case .cast(let operand, let type):
                guard isSQLite else {
                    try render(operand, nested: true, scopes: scopes)
                    output.append("::" + type.postgresName)
                    return
                }
                // uuids are lowercase text on SQLite; a cast is what makes a literal one.
                output.append(type == .uuid ? "lower(CAST(" : "CAST(")
                try render(operand, nested: false, scopes: scopes)
                output.append(" AS \(MigrationDDL.sqliteType(type)))" + (type == .uuid ? ")" : ""))
            case .exists(let subquery):
                try exists(subquery, scopes: scopes)
            }
        }

        mutating func list(_ expressions: [Expression], scopes: [MigrationScope]) throws(Failure) {
            for (index, expression) in expressions.enumerated() {
                if index > 0 { output.append(", ") }
                try render(expression, nested: false, scopes: scopes)
            }
        }

        /// Supabase's name functions. SQLite has no string splitting, so there they are functions
        /// every connection registers (`StorageObjectName`); PostgreSQL computes them in place.
        mutating func storageFunction(_ name: String, _ arguments: [Expression], scopes: [MigrationScope]) throws(Failure) {
            if isSQLite {
                output.append("cellbase_storage_\(name)(")
                try list(arguments, scopes: scopes)
                output.append(")")
                return
            }
            switch name {
            case "foldername":
                // The n-th element of string_to_array(name, '/') without its last (the file name).
                guard case .literal(.number(let index)) = arguments[1] else { preconditionFailure("the parser stores a literal subscript") }
                output.append("(CASE WHEN array_length(string_to_array(")
                try render(arguments[0], nested: false, scopes: scopes)
                output.append(", '/'), 1) > \(index) THEN split_part(")
                try render(arguments[0], nested: false, scopes: scopes)
                output.append(", '/', \(index)) END)")
            case "filename":
                output.append("reverse(split_part(reverse(")
                try render(arguments[0], nested: false, scopes: scopes)
                output.append("), '/', 1))")
            default:
                output.append("reverse(split_part(split_part(reverse(")
                try render(arguments[0], nested: false, scopes: scopes)
                output.append("), '/', 1), '.', 1))")
            }
        }

        /// `(left -> right)` on SQLite: the JSON text of one step.
        mutating func jsonStep(_ left: Expression, _ right: Expression, scopes: [MigrationScope]) throws(Failure) {
            output.append("(")
            try render(left, nested: true, scopes: scopes)
            output.append(" -> ")
            try render(right, nested: true, scopes: scopes)
            output.append(")")
        }

        mutating func exists(_ subquery: Subquery, scopes: [MigrationScope]) throws(Failure) {
            let qualifier = subquery.alias ?? subquery.table
            let inner = scopes + [MigrationScope(table: subquery.table, qualifier: qualifier)]
            output.append("EXISTS (SELECT 1 FROM " + namespace.qualified(subquery.table))
            if let alias = subquery.alias { output.append(" " + SQLNamespace.quote(alias)) }
            let filter = try subqueryFilter(subquery.table, qualifier)
            if let condition = subquery.condition {
                output.append(" WHERE ")
                try render(condition, nested: filter != nil, scopes: inner)
                if filter != nil { output.append(" AND ") }
            } else if filter != nil {
                output.append(" WHERE ")
            }
            if let filter {
                output.append("(")
                output.append(filter)
                output.append(")")
            }
            output.append(")")
        }
    }
}
