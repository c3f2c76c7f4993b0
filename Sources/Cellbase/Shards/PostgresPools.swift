import NIOCore
import NIOPosix
import PostgresNIO

/// A shard's connection pools, one per event loop of the node.
///
/// Requests run on the event loops (they are Swift concurrency's executor). A request that uses a
/// connection whose channel lives on its own loop is answered without moving between threads:
/// the query is written, its rows arrive and the task resumes on the same loop. With one shared
/// pool it would move to the connection's loop and back, twice per query.
struct PostgresPools: Sendable {
    let clients: [PostgresClient]
    private let byLoop: [ObjectIdentifier: PostgresClient]

    /// One pool per loop of `loops`, splitting `maximumConnections` between them.
    init(configuration: PostgresClient.Configuration, maximumConnections: Int, loops: [any EventLoop], logger: Logger) {
        precondition(!loops.isEmpty, "an event loop group has at least one loop")
        var perLoop = configuration
        perLoop.options.maximumConnections = max(1, (maximumConnections + loops.count - 1) / loops.count)
        perLoop.options.minimumConnections = min(perLoop.options.minimumConnections, perLoop.options.maximumConnections)
        let pairs = loops.map { loop in (ObjectIdentifier(loop), PostgresClient(configuration: perLoop, eventLoopGroup: loop, backgroundLogger: logger)) }
        clients = pairs.map(\.1)
        byLoop = Dictionary(uniqueKeysWithValues: pairs)
    }

    /// A single pool, used from every loop.
    init(client: PostgresClient) {
        clients = [client]
        byLoop = [:]
    }

    /// The pool of the loop the caller runs on; the first one off the loops.
    var current: PostgresClient {
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let client = byLoop[ObjectIdentifier(loop)] {
            return client
        }
        return clients[0]
    }
}
