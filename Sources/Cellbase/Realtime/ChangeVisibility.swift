import CellbaseSQL

/// Decides whether a subscriber may see a changed row: row-level security for realtime.
///
/// Asked once per change per distinct access among the change's subscribers (subscribers signed
/// in as the same user, or using the same key, share one answer), never per binding.
protocol ChangeVisibility: Sendable {
    func isVisible(_ change: RowChange, in table: Table, to access: RESTAccess, project: Project) async -> Bool
}
