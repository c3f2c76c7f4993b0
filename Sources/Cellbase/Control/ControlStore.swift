/// The control plane's storage: projects and their placements, cells, the shards of each cell,
/// the nodes that run, and the gateway's rate-limit plans.
///
/// SQLite under the data directory for a single node; PostgreSQL when several processes share it.
public protocol ControlStore: Sendable {
    /// Creates the control tables if they do not exist (and the cell `default`), adding the
    /// columns a control database of an earlier release lacks.
    func prepare() async throws
    func allProjects() async throws -> [Project]
    func project(ref: String) async throws -> Project?
    /// The projects whose placement changed after `version` (created, moved), lowest version first.
    func projects(placedAfter version: Int64) async throws -> [Project]
    /// Inserts a project with the next placement version and answers it as stored; throws
    /// `ControlStoreError.duplicateName` when the name is taken.
    func insert(_ project: Project) async throws -> Project
    /// Sets a project's rate-limit plan (`nil`: the gateway's default), raising its placement version
    /// so that gateways see it; `false` when there is no such project.
    func setPlan(_ plan: String?, ofProject ref: String) async throws -> Bool
    /// Raises the project's placement version without moving it: its schema changed, and the other
    /// nodes read it again when they see the new version.
    func touch(ref: String) async throws
    /// Moves the project from shard `from` to shard `to` of `cell` (on `node`'s own SQLite shard,
    /// or `nil` for a shared one) with the next placement version, only if it is still on `from`:
    /// the compare-and-set that ends a move. Answers the project as stored, or `nil` when it was not on `from`.
    func movePlacement(ref: String, from: String, to: String, node: String?, cell: String) async throws -> Project?

    func cells() async throws -> [Cell]
    /// Throws `ControlStoreError.duplicateCell` when it exists.
    func insert(_ cell: Cell) async throws
    /// Shared shard → the cell it belongs to.
    func shardCells() async throws -> [String: String]
    /// Records that `shard` belongs to `cell` unless it is recorded already; answers the cell it
    /// belongs to, which a node compares with its own. A node of that cell also records the
    /// shard's `url`, so that a move from another cell can reach it.
    func claimShard(_ shard: String, cell: String, url: String?) async throws -> String
    /// The cell of a shared shard and the URL its nodes recorded; `nil` for a shard never claimed.
    func shardLocation(_ shard: String) async throws -> ShardLocation?

    /// Inserts or replaces the node's record, its heartbeat now.
    func register(_ node: NodeRecord) async throws
    /// `false` when the record is gone (an operator removed it, or it was never made).
    func heartbeat(node id: String) async throws -> Bool
    func removeNode(id: String) async throws
    func nodes() async throws -> [NodeRecord]

    func plans() async throws -> [RatePlan]
    /// Inserts or replaces a plan.
    func save(_ plan: RatePlan) async throws

    func checkReachable() async throws
    func shutdown() async throws
}

public enum ControlStoreError: Error, Equatable {
    case duplicateName(String)
    case duplicateCell(String)
}

/// Where a shared shard is: its cell, and the database URL the cell's nodes recorded (`nil` where
/// the control plane keeps none: the single-node SQLite control plane).
public struct ShardLocation: Sendable, Hashable {
    public var cell: String
    public var url: String?
}
