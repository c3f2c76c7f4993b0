import HTTPTypes
import Synchronization

/// A node's place in the deployment: its cell, and its id (which owns the projects of its own `local` shard).
public struct NodePlace: Sendable, Hashable {
    public var cell: String
    /// `nil` for a directory that serves whatever it is asked (the CLI's snapshots).
    public var node: String?

    public init(cell: String, node: String?) {
        self.cell = cell
        self.node = node
    }
}

/// Why a node does not serve a project: it is placed in another cell, or on another node's own SQLite shard.
enum Misplacement: Sendable, Equatable {
    case cell(String)
    case node(String)

    static let cellField = HTTPField.Name("Cellbase-Cell")!
    static let nodeField = HTTPField.Name("Cellbase-Node")!
    /// Sent by the gateway: the placement version it routed by.
    static let placementVersionField = HTTPField.Name("Cellbase-Placement-Version")!

    /// 421 Misdirected Request, with the place that serves the project in a header the gateway reads
    /// (and in the body, for people).
    func error(ref: String, shape: APIError.Shape) -> APIError {
        switch self {
        case .cell(let cell):
            APIError(
                .init(code: 421, reasonPhrase: "Misdirected Request"), code: "wrong_cell",
                message: "Project \(ref) is served by the nodes of cell '\(cell)', not by this node", shape: shape,
                headers: [Self.cellField: cell]
            )
        case .node(let node):
            APIError(
                .init(code: 421, reasonPhrase: "Misdirected Request"), code: "wrong_node",
                message: "Project \(ref) is on the SQLite shard of node \(node), not of this node", shape: shape,
                headers: [Self.nodeField: node]
            )
        }
    }
}

/// Lets a placement refresh through at most once per interval.
final class PlacementRefreshes: Sendable {
    static let minimumInterval: Duration = .milliseconds(100)
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    func mayRefresh(now: ContinuousClock.Instant = .now) -> Bool {
        last.withLock { last in
            if let previous = last, previous.duration(to: now) < Self.minimumInterval { return false }
            last = now
            return true
        }
    }
}
