/// An expression of a CHECK constraint or a policy, with the position of every part, so that
/// checks against the schema can point at the offending column.
struct MigrationExpression: Sendable {
    indirect enum Node: Sendable {
        case column(qualifier: MigrationName?, name: MigrationName)
        case literal(Expression.Literal)
        case function(schema: String?, name: String, arguments: [MigrationExpression])
        case binary(String, MigrationExpression, MigrationExpression)
        case unary(String, MigrationExpression)
        case isNull(MigrationExpression, negated: Bool)
        case inList(MigrationExpression, [MigrationExpression], negated: Bool)
        case cast(MigrationExpression, ColumnType)
        case exists(table: MigrationName, alias: MigrationName?, condition: MigrationExpression?)
    }

    var node: Node
    var position: MigrationPosition

    /// The expression as the schema model stores it.
    var expression: Expression {
        switch node {
        case .column(let qualifier, let name):
            .column(qualifier: qualifier?.value, name: name.value)
        case .literal(let literal):
            .literal(literal)
        case .function(let schema, let name, let arguments):
            .function(schema: schema, name: name, arguments: arguments.map(\.expression))
        case .binary(let op, let left, let right):
            .binary(op, left.expression, right.expression)
        case .unary(let op, let operand):
            .unary(op, operand.expression)
        case .isNull(let operand, let negated):
            .isNull(operand.expression, negated: negated)
        case .inList(let operand, let list, let negated):
            .inList(operand.expression, list.map(\.expression), negated: negated)
        case .cast(let operand, let type):
            .cast(operand.expression, type)
        case .exists(let table, let alias, let condition):
            .exists(Subquery(table: table.value, alias: alias?.value, condition: condition?.expression))
        }
    }
}
