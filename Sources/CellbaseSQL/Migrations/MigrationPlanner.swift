/// Plans a migration file: parse it whole, apply it to the schema, generate DDL for one namespace.
public enum MigrationPlanner {
    /// Parses the whole file first; applies it to `schema`; generates DDL for `namespace`.
    /// Nothing is generated if any statement is outside the subset or invalid.
    ///
    /// Deterministic: the same file on the same schema always gives the same plan, so a project's
    /// schema can be rebuilt by re-planning its applied migrations in order from `Schema()`.
    public static func plan(_ sql: String, on schema: Schema, namespace: SQLNamespace) throws(MigrationError) -> MigrationPlan {
        let statements = try MigrationParser.statements(sql)
        var applier = MigrationApplier(schema: schema)
        for statement in statements {
            try applier.apply(statement)
        }
        applier.finish()
        let generator = MigrationDDL(namespace: namespace)
        let capture = ChangeCaptureDDL(namespace: namespace).statements(from: schema, to: applier.schema)
        return MigrationPlan(
            schema: applier.schema,
            statements: capture.prefix + applier.changes.flatMap(generator.statements(for:)) + capture.suffix,
            warnings: applier.warnings
        )
    }
}
