import CellbaseSQL

/// Decides whether a subscriber may see a changed row: row-level security for realtime.
///
/// Asked once per change per distinct access among the change's subscribers (subscribers signed
/// in as the same user, or using the same key, share one answer), never per binding.
protocol ChangeVisibility: Sendable {
    func isVisible(_ change: RowChange, in table: Table, to access: RESTAccess, project: Project) async -> Bool
}

/// The decisions that need no policy evaluation: a table without row-level security is visible
/// to everyone, `service_role` sees every row, and a role that no SELECT policy names sees none.
/// A row that policies decide about stays hidden: failing closed, a subscriber never receives a
/// row its policies might forbid.
struct PolicyFreeVisibility: ChangeVisibility {
    func isVisible(_ change: RowChange, in table: Table, to access: RESTAccess, project: Project) async -> Bool {
        Self.decision(in: table, to: access) ?? false
    }

    /// `true` or `false` when the table and the role decide alone; `nil` when policies must.
    static func decision(in table: Table, to access: RESTAccess) -> Bool? {
        guard table.rowLevelSecurity, case .role(let role, _) = access else { return true }
        let selecting = table.policies.filter { policy in
            (policy.command == .select || policy.command == .all) && (policy.roles.contains(role) || policy.roles.contains("public"))
        }
        // Restrictive policies only narrow what permissive ones grant: without a permissive one, nothing.
        return selecting.contains(where: \.isPermissive) ? nil : false
    }
}
