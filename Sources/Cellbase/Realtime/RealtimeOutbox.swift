import Synchronization

/// The messages waiting to be written to one client, bounded in bytes.
///
/// Fan-out never waits for a client: it queues here and moves on. A client that reads slower
/// than it is sent to fills its outbox; the message that would pass the bound ends the outbox
/// instead, and `onOverflow` disconnects the client, so a client that never reads costs at most
/// `maxPendingBytes` of memory.
final class RealtimeOutbox: Sendable {
    let messages: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let pendingBytes = Atomic<Int>(0)
    private let overflowedFlag = Atomic<Bool>(false)
    let maxPendingBytes: Int
    private let onOverflow: @Sendable () -> Void

    init(maxPendingBytes: Int, onOverflow: @escaping @Sendable () -> Void) {
        (messages, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        self.maxPendingBytes = maxPendingBytes
        self.onOverflow = onOverflow
    }

    /// Queues `text`; `false` when the outbox is closed or this message overflowed it.
    @discardableResult
    func send(_ text: String) -> Bool {
        let size = text.utf8.count
        let pending = pendingBytes.add(size, ordering: .relaxed).newValue
        if pending > maxPendingBytes {
            pendingBytes.subtract(size, ordering: .relaxed)
            if !overflowedFlag.exchange(true, ordering: .relaxed) {
                continuation.finish()
                onOverflow()
            }
            return false
        }
        if case .terminated = continuation.yield(text) {
            pendingBytes.subtract(size, ordering: .relaxed)
            return false
        }
        return true
    }

    /// The writer wrote `text` out: its bytes no longer count against the bound.
    func written(_ text: String) {
        pendingBytes.subtract(text.utf8.count, ordering: .relaxed)
    }

    /// Ends the outbox: what is queued is still read, nothing more is accepted.
    func finish() {
        continuation.finish()
    }

    /// Whether the client was disconnected for not reading.
    var overflowed: Bool { overflowedFlag.load(ordering: .relaxed) }

    var bytesPending: Int { pendingBytes.load(ordering: .relaxed) }
}
