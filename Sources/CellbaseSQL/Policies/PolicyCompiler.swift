/// Compiles a table's policies into the predicate a role is held to for one command.
///
/// A pure function of the schema, the table, the role and the command, so its templates can be
/// cached on those; the request's claims stay slots until a statement binds them.
struct PolicyCompiler: Sendable {
    var schema: Schema
    var namespace: SQLNamespace

    /// Which expression of a policy a predicate is made of.
    enum Clause: Sendable, Hashable {
        /// `USING`: the existing rows a command may see.
        case using
        /// `WITH CHECK`: the rows a command may write; a policy without one checks with its `USING`.
        case check
    }

    /// The predicate as PostgreSQL combines policies: permissive ones OR together, restrictive ones
    /// AND onto that, and without a permissive one that applies, nothing passes. For a table whose
    /// row-level security is on.
    func predicate(for table: Table, role: String, command: Policy.Command, clause: Clause) throws(RESTError) -> SQLTemplate {
        try predicate(for: table, role: role, command: command, clause: clause, reading: [table.name])
    }

    /// `reading`: the tables whose policies are being expanded, outermost first; reading one of
    /// them again would never end, which PostgreSQL refuses with 42P17.
    private func predicate(for table: Table, role: String, command: Policy.Command, clause: Clause, reading: [String]) throws(RESTError) -> SQLTemplate {
        let applicable = table.policies.filter { policy in
            (policy.command == .all || policy.command == command) && (policy.roles.contains(role) || policy.roles.contains("public"))
        }
        var permissive: [SQLTemplate] = []
        var restrictive: [SQLTemplate] = []
        for policy in applicable {
            guard let expression = clause == .using ? policy.using : policy.withCheck ?? policy.using else { continue }
            let rendered = try render(expression, of: table, role: role, reading: reading)
            if policy.isPermissive { permissive.append(rendered) } else { restrictive.append(rendered) }
        }
        guard let allowed = SQLTemplate.joined(permissive, separator: " OR ") else {
            return ExpressionRenderer(namespace: namespace).render(.literal(.bool(false)), table: table.name)
        }
        return SQLTemplate.joined([allowed] + restrictive, separator: " AND ") ?? allowed
    }

    private func render(_ expression: Expression, of table: Table, role: String, reading: [String]) throws(RESTError) -> SQLTemplate {
        try ExpressionRenderer(namespace: namespace, schema: schema).render(expression, table: table.name) { (name, qualifier) throws(RESTError) in
            guard let read = schema.table(named: name), read.rowLevelSecurity else { return nil }
            guard !reading.contains(name) else {
                throw RESTError(status: 500, code: "42P17", message: "infinite recursion detected in policy for relation \"\(name)\"")
            }
            let filter = try predicate(for: read, role: role, command: .select, clause: .using, reading: reading + [name])
            return filter.naming { SQLNamespace.quote(qualifier) + "." + SQLNamespace.quote($0) }
        }
    }
}
