/// A table visible to an expression, and the name that qualifies its columns there
/// (the table's own name, or the alias of an EXISTS subquery).
struct MigrationScope: Sendable, Hashable {
    var table: String
    var qualifier: String
}

/// A column reference resolved to its table.
struct MigrationColumnReference: Sendable, Hashable {
    var table: String
    var column: String
}

/// Finds and renames what stored CHECK and policy expressions refer to, resolving names as SQL does.
enum MigrationRewriter {
    /// The scope a reference resolves to: the innermost one that matches, as SQL resolves names in
    /// nested subqueries.
    static func resolve(qualifier: String?, name: String, in scopes: [MigrationScope], schema: Schema) -> MigrationScope? {
        resolvedIndex(qualifier: qualifier, name: name, in: scopes, schema: schema).map { scopes[$0] }
    }

    /// The position in `scopes` of the scope a reference resolves to.
    static func resolvedIndex(qualifier: String?, name: String, in scopes: [MigrationScope], schema: Schema) -> Int? {
        if let qualifier {
            return scopes.lastIndex { $0.qualifier == qualifier }
        }
        return scopes.lastIndex { schema.table(named: $0.table)?.column(named: name) != nil }
    }

    /// Rewrites column references and subquery tables, resolving names against `schema` as it
    /// was before the change the rewrite is for.
    static func rewrite(
        _ expression: Expression,
        scopes: [MigrationScope],
        schema: Schema,
        column: (_ scope: MigrationScope?, _ qualifier: String?, _ name: String) -> Expression,
        table: (String) -> String
    ) -> Expression {
        func walk(_ expression: Expression, _ scopes: [MigrationScope]) -> Expression {
            switch expression {
            case .column(let qualifier, let name):
                return column(resolve(qualifier: qualifier, name: name, in: scopes, schema: schema), qualifier, name)
            case .literal:
                return expression
            case .function(let schemaName, let name, let arguments):
                return .function(schema: schemaName, name: name, arguments: arguments.map { walk($0, scopes) })
            case .binary(let op, let left, let right):
                return .binary(op, walk(left, scopes), walk(right, scopes))
            case .unary(let op, let operand):
                return .unary(op, walk(operand, scopes))
            case .isNull(let operand, let negated):
                return .isNull(walk(operand, scopes), negated: negated)
            case .inList(let operand, let list, let negated):
                return .inList(walk(operand, scopes), list.map { walk($0, scopes) }, negated: negated)
            case .cast(let operand, let type):
                return .cast(walk(operand, scopes), type)
            case .exists(let subquery):
                let inner = scopes + [MigrationScope(table: subquery.table, qualifier: subquery.alias ?? subquery.table)]
                return .exists(Subquery(table: table(subquery.table), alias: subquery.alias, condition: subquery.condition.map { walk($0, inner) }))
            }
        }
        return walk(expression, scopes)
    }

    /// The columns and the subquery tables an expression reads.
    static func dependencies(of expression: Expression, scopes: [MigrationScope], schema: Schema) -> (columns: [MigrationColumnReference], tables: [String]) {
        var columns: [MigrationColumnReference] = []
        var tables: [String] = []
        _ = rewrite(
            expression, scopes: scopes, schema: schema,
            column: { scope, qualifier, name in
                if let scope { columns.append(MigrationColumnReference(table: scope.table, column: name)) }
                return .column(qualifier: qualifier, name: name)
            },
            table: { name in
                tables.append(name)
                return name
            }
        )
        return (columns, tables)
    }

    static func renamingColumn(_ old: String, to new: String, ofTable table: String, in expression: Expression, scopes: [MigrationScope], schema: Schema) -> Expression {
        rewrite(
            expression, scopes: scopes, schema: schema,
            column: { scope, qualifier, name in
                .column(qualifier: qualifier, name: scope?.table == table && name == old ? new : name)
            },
            table: { $0 }
        )
    }

    /// Renames the table in subqueries and in qualifiers that use its name (not an alias).
    static func renamingTable(_ old: String, to new: String, in expression: Expression, scopes: [MigrationScope], schema: Schema) -> Expression {
        rewrite(
            expression, scopes: scopes, schema: schema,
            column: { scope, qualifier, name in
                let renamed = qualifier != nil && scope?.table == old && scope?.qualifier == old
                return .column(qualifier: renamed ? new : qualifier, name: name)
            },
            table: { $0 == old ? new : $0 }
        )
    }
}
