/// A schema's row-level security policies compiled once for every table, role and command, so
/// planning a request only looks its predicates up and fills in the claims.
///
/// Built with the catalog it belongs to (a project's schema changes only through migrations).
public struct CompiledPolicies: Sendable {
    struct Key: Sendable, Hashable {
        var table: String
        var role: String
        var command: Policy.Command
        var clause: PolicyCompiler.Clause
    }

    private let compiler: PolicyCompiler
    private var predicates: [Key: Result<SQLTemplate, RESTError>] = [:]

    /// The roles requests held to policies run as (`service_role` bypasses them; migrations
    /// accept no other role in a policy).
    static let requestRoles = ["anon", "authenticated"]

    public init(schema: Schema, namespace: SQLNamespace) {
        self.init(compiling: PolicyCompiler(schema: schema, namespace: namespace))
        for table in schema.tables where table.rowLevelSecurity {
            for role in Self.requestRoles {
                for command in [Policy.Command.select, .insert, .update, .delete] {
                    for clause in [PolicyCompiler.Clause.using, .check] {
                        let key = Key(table: table.name, role: role, command: command, clause: clause)
                        predicates[key] = Result { () throws(RESTError) in
                            try compiler.predicate(for: table, role: role, command: command, clause: clause)
                        }
                    }
                }
            }
        }
    }

    /// Nothing compiled ahead: each predicate is compiled when asked, as for any role other than
    /// the request roles.
    init(compiling compiler: PolicyCompiler) {
        self.compiler = compiler
    }

    func predicate(for table: Table, role: String, command: Policy.Command, clause: PolicyCompiler.Clause) throws(RESTError) -> SQLTemplate {
        if let compiled = predicates[Key(table: table.name, role: role, command: command, clause: clause)] {
            return try compiled.get()
        }
        return try compiler.predicate(for: table, role: role, command: command, clause: clause)
    }

    /// How many predicates were compiled ahead (for tests).
    var count: Int { predicates.count }
}
