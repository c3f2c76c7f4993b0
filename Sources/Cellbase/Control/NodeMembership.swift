import Logging
import ServiceLifecycle
import Synchronization

/// The node's standing in the control plane: once the server listens it registers (cell, URL,
/// shards), then beats every interval and takes in the placements that changed, so a project
/// created or moved elsewhere is served — or refused with its new place — from the next request.
/// A graceful stop removes the record; a killed node's record stops beating and is out.
final class NodeMembership: Service {
    private let store: any ControlStore
    private let directory: ProjectDirectory
    private let nodeID: String
    private let cell: String
    private let shards: [String]
    private let advertiseURL: String?
    private let interval: Duration
    private let bound = StartupEvent()
    private let boundURL = Mutex<String?>(nil)
    private let logger: Logger

    init(store: any ControlStore, directory: ProjectDirectory, nodeID: String, cell: String, shards: [String], advertiseURL: String?, interval: Duration, logger: Logger) {
        self.store = store
        self.directory = directory
        self.nodeID = nodeID
        self.cell = cell
        self.shards = shards
        self.advertiseURL = advertiseURL
        self.interval = interval
        self.logger = logger
    }

    /// Checks, before the node serves anything, that its cell exists and that every shared shard it
    /// is configured with belongs to that cell (a shard seen for the first time is claimed for it).
    /// A node that would serve another cell's shard does not start.
    /// `shards`: each shared shard's name and database URL; the URL is recorded for moves from other cells.
    static func checkPlace(cell: String, shards: [String: String], store: any ControlStore) async throws {
        guard try await store.cells().contains(where: { $0.name == cell }) else {
            throw ConfigurationError("the cell '\(cell)' does not exist: create it first (cellbase cells create \(cell))")
        }
        for (shard, url) in shards.sorted(by: { $0.key < $1.key }) {
            let owner = try await store.claimShard(shard, cell: cell, url: url)
            guard owner == cell else {
                throw ConfigurationError("the shard '\(shard)' belongs to the cell '\(owner)': a node of the cell '\(cell)' cannot serve it")
            }
        }
    }

    /// The port the server listens on; registration waits for it.
    func serverBound(host: String, port: Int) {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        boundURL.withLock { $0 = "http://\(shownHost):\(port)" }
        bound.signal()
    }

    func run() async throws {
        // A node stopped before it listened (or run without a server, as the router tests do) registers nothing.
        await withGracefulShutdownHandler { await bound.wait() } onGracefulShutdown: { self.bound.signal() }
        guard let boundURL = boundURL.withLock({ $0 }) else { return }
        let url = advertiseURL ?? boundURL
        let record = NodeRecord(id: nodeID, cell: cell, url: url, shards: shards.sorted(), startedAt: Timestamp.now(), beatAt: "", secondsSinceBeat: 0)
        try await store.register(record)
        logger.info("node registered", metadata: ["node": .string(nodeID), "cell": .string(cell), "url": .string(url)])
        try? await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: self.interval)) != nil {
                do {
                    if try await !self.store.heartbeat(node: self.nodeID) {
                        try await self.store.register(record)
                        self.logger.warning("the node's record was gone from the control plane; registered again", metadata: ["node": .string(self.nodeID)])
                    }
                    try await self.directory.refreshPlacements()
                } catch where !Task.isCancelled {
                    self.logger.warning("control plane unreachable for the heartbeat", metadata: ["error": "\(error)"])
                }
            }
        }
        try? await store.removeNode(id: nodeID)
    }
}
