/// Renders a CHECK expression for one dialect. Nested operations are parenthesised so the text
/// never depends on operator precedence.
struct MigrationCheckRenderer {
    var namespace: SQLNamespace

    func render(_ expression: Expression) -> String {
        render(expression, nested: false)
    }

    private func render(_ expression: Expression, nested: Bool) -> String {
        func group(_ text: String) -> String { nested ? "(\(text))" : text }
        switch expression {
        case .column(_, let name):
            return SQLNamespace.quote(name)
        case .literal(let literal):
            switch literal {
            case .null: return "NULL"
            case .bool(let flag): return namespace.dialect == .sqlite ? (flag ? "1" : "0") : (flag ? "true" : "false")
            case .number(let text): return text
            case .string(let text): return MigrationDDL.literal(text)
            }
        case .function(let schema, let name, let arguments):
            let function = namespace.dialect == .sqlite && name == "char_length" ? "length" : name
            let qualified = schema.map { "\($0).\(function)" } ?? function
            return "\(qualified)(\(arguments.map { render($0, nested: false) }.joined(separator: ", ")))"
        case .binary(let op, let left, let right):
            return group("\(render(left, nested: true)) \(op) \(render(right, nested: true))")
        case .unary(let op, let operand):
            return group("\(op) \(render(operand, nested: true))")
        case .isNull(let operand, let negated):
            return group("\(render(operand, nested: true)) IS \(negated ? "NOT " : "")NULL")
        case .inList(let operand, let list, let negated):
            let items = list.map { render($0, nested: false) }.joined(separator: ", ")
            return group("\(render(operand, nested: true)) \(negated ? "NOT " : "")IN (\(items))")
        case .cast(let operand, let type):
            if namespace.dialect == .sqlite {
                return "CAST(\(render(operand, nested: false)) AS \(MigrationDDL.sqliteType(type)))"
            }
            return "\(render(operand, nested: true))::\(type.postgresName)"
        case .exists(let subquery):
            let alias = subquery.alias.map { " " + SQLNamespace.quote($0) } ?? ""
            let condition = subquery.condition.map { " WHERE " + render($0, nested: false) } ?? ""
            return "EXISTS (SELECT 1 FROM \(namespace.qualified(subquery.table))\(alias)\(condition))"
        }
    }
}
