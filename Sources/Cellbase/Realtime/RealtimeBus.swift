import CellbaseSQL
import Synchronization

/// A broadcast or presence change that every node serving the topic delivers to its own
/// members. Row changes do not travel here: each node reads them from the project's change log.
struct RealtimeBusMessage: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case broadcast(event: String, payload: JSONValue)
        /// A presence tracked under `key`, identified by its `phx_ref`.
        case presenceJoin(key: String, ref: String, state: JSONValue)
        case presenceLeave(key: String, ref: String)
    }

    var project: String
    var topic: String
    var kind: Kind
}

/// Relays broadcast and presence between the nodes that serve realtime.
///
/// Each node delivers what its own sockets publish itself, at once, and publishes it here for
/// the others; what arrives here comes from other nodes only.
protocol RealtimeBus: Sendable {
    /// Sends `message` to every node but `node`.
    func publish(_ message: RealtimeBusMessage, from node: String) async
    /// What the other nodes publish, from now until the stream is dropped.
    func messages(for node: String) -> AsyncStream<RealtimeBusMessage>
}

/// The bus between nodes of one process: a single node, or several in one test.
final class InProcessRealtimeBus: RealtimeBus {
    /// Messages a node has not taken yet; a node that falls this far behind misses the oldest.
    static let maxQueued = 10_000

    private let subscribers = Mutex<[String: AsyncStream<RealtimeBusMessage>.Continuation]>([:])

    func publish(_ message: RealtimeBusMessage, from node: String) async {
        let others = subscribers.withLock { $0.filter { $0.key != node }.map(\.value) }
        for continuation in others {
            continuation.yield(message)
        }
    }

    func messages(for node: String) -> AsyncStream<RealtimeBusMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: RealtimeBusMessage.self, bufferingPolicy: .bufferingNewest(Self.maxQueued))
        subscribers.withLock { $0[node] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { _ = $0.removeValue(forKey: node) }
        }
        return stream
    }
}
