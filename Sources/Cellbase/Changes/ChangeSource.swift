import CellbaseSQL

/// Where a node reads projects' committed row changes from.
///
/// A subscription sees every change committed after it began, in commit order, exactly once,
/// including changes written by other nodes or by plain SQL on the shard; a missed wake-up only
/// delays a delivery. Ending the iteration (or cancelling its task) ends the subscription.
protocol ChangeSource: Sendable {
    func changes(of project: Project) async throws -> ChangeSubscription
}

/// Batches of changes in commit order. Batches never overlap and never skip a sequence number
/// that the log held when it was read.
typealias ChangeSubscription = AsyncStream<[RowChange]>
