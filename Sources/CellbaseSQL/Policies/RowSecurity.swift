/// The row-level security one request is held to on one table, per Data API command, following
/// PostgreSQL's "Policies Applied by Command Type". PostgREST's UPDATE and DELETE always filter, so
/// they always read the table and its SELECT policies apply to them too.
struct RowSecurity: Sendable {
    let table: Table
    let role: String
    let policies: CompiledPolicies

    /// `nil` when the request bypasses row-level security or the table has it off.
    init?(table: Table, access: RESTAccess, policies: CompiledPolicies) {
        guard table.rowLevelSecurity, let role = access.policyRole else { return nil }
        self.table = table
        self.role = role
        self.policies = policies
    }

    private func predicate(_ command: Policy.Command, _ clause: PolicyCompiler.Clause) throws(RESTError) -> SQLTemplate {
        try policies.predicate(for: table, role: role, command: command, clause: clause)
    }

    /// The rows a read sees.
    func readable() throws(RESTError) -> SQLTemplate {
        try predicate(.select, .using)
    }

    /// The existing rows an UPDATE changes: those it sees that the UPDATE policies admit.
    func updatable() throws(RESTError) -> SQLTemplate {
        SQLTemplate.and(try predicate(.select, .using), try predicate(.update, .using))
    }

    func deletable() throws(RESTError) -> SQLTemplate {
        SQLTemplate.and(try predicate(.select, .using), try predicate(.delete, .using))
    }

    /// What every row an UPDATE writes must pass, or the request is refused: the UPDATE policies'
    /// check, and visibility, as PostgreSQL checks new rows of an update that reads the table.
    func updateCheck() throws(RESTError) -> SQLTemplate {
        SQLTemplate.and(try predicate(.update, .check), try predicate(.select, .using))
    }

    /// What every row an INSERT writes must pass; rows it returns must be visible too.
    func insertCheck(returning: Bool) throws(RESTError) -> SQLTemplate {
        SQLTemplate.and(try predicate(.insert, .check), returning ? try predicate(.select, .using) : nil)
    }
}

extension RESTError {
    /// PostgreSQL's refusal of a row that fails a policy, as PostgREST answers it. `usingExpression`:
    /// the row an upsert would update is one the UPDATE policies do not admit.
    static func rowSecurityViolation(table: String, usingExpression: Bool = false) -> RESTError {
        RESTError(status: 403, code: "42501", message: "new row violates row-level security policy \(usingExpression ? "(USING expression) " : "")for table \"\(table)\"")
    }
}
