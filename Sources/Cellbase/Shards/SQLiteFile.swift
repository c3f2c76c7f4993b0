import CellbaseSQL
import NIOPosix
import Synchronization

/// One SQLite database file in WAL mode: a writer handle whose transactions are serialised and
/// committed in groups, and reader handles that run concurrently with it, each on a consistent
/// snapshot.
///
/// Every read and every whole write transaction is one job on the thread pool, so SQLite's
/// blocking calls never run on an event loop and a request pays for one thread hop.
final class SQLiteFile: Sendable {
    let path: String
    private let synchronous: String
    private let threadPool: NIOThreadPool
    /// `nil` when the node does not trace.
    private let spans: DatabaseSpans?
    private let writer: SQLiteHandle
    private let queue = Mutex(WriteQueue())
    /// Idle reader handles. A job checks one out; more are opened when all are busy.
    private let idleReaders = Mutex<[SQLiteHandle]>([])
    private static let maxIdleReaders = 4
    /// Set once the project moved to another shard: every read and write after is refused.
    private let retirement = Mutex<ProjectMoved?>(nil)

    /// Called from inside a write: the writes queued after it are refused, and so is every read.
    func retire(_ moved: ProjectMoved) { retirement.withLock { $0 = moved } }
    func unretire() { retirement.withLock { $0 = nil } }

    private init(path: String, synchronous: String, threadPool: NIOThreadPool, spans: DatabaseSpans?, writer: SQLiteHandle) {
        self.path = path
        self.synchronous = synchronous
        self.threadPool = threadPool
        self.spans = spans
        self.writer = writer
    }

    /// - Parameter spans: when given, each read and each write gets a span.
    static func open(path: String, synchronous: String, threadPool: NIOThreadPool, spans: DatabaseSpans? = nil) async throws -> SQLiteFile {
        let level = ["off", "normal", "full", "extra"].contains(synchronous) ? synchronous : "normal"
        let writer = try await threadPool.runIfActive {
            let writer = try SQLiteHandle(path: path)
            try writer.execute("PRAGMA journal_mode=WAL")
            try Self.configure(writer, synchronous: level)
            return writer
        }
        return SQLiteFile(path: path, synchronous: level, threadPool: threadPool, spans: spans, writer: writer)
    }

    private static func configure(_ handle: SQLiteHandle, synchronous: String) throws {
        try handle.execute("PRAGMA synchronous=\(synchronous.uppercased()); PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000")
    }

    /// Runs `body` on a reader handle, outside any explicit transaction: each statement sees a
    /// consistent snapshot of its own.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteHandle) throws -> T) async throws -> T {
        try await spans.withSpan(.read) {
            try await threadPool.runIfActive { [self] in
                if let moved = retirement.withLock({ $0 }) { throw moved }
                let reader = try idleReaders.withLock { $0.popLast() } ?? openReader()
                defer {
                    idleReaders.withLock { readers in
                        if readers.count < Self.maxIdleReaders { readers.append(reader) }
                    }
                }
                return try body(reader)
            }
        }
    }

    private func openReader() throws -> SQLiteHandle {
        let reader = try SQLiteHandle(path: path)
        try Self.configure(reader, synchronous: synchronous)
        try reader.execute("PRAGMA query_only=ON")
        return reader
    }

    /// Runs `body` in a write transaction on the writer and returns once it has committed.
    ///
    /// Writes are committed in groups: whichever write finds the writer idle drains the queue on
    /// the thread pool, running each waiting write in a savepoint of one shared transaction, so a
    /// burst of single-row inserts costs one commit instead of one each. A write that throws rolls
    /// back to its savepoint and fails alone; a failed commit fails the whole group. Nobody is
    /// answered before the group's COMMIT returns. A write's span covers its wait in the queue and
    /// its group's commit.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteHandle) throws -> T) async throws -> T {
        try await spans.withSpan(.write) {
            let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
                let startDraining = queue.withLock { queue -> Bool in
                    queue.pending.append(PendingWrite(body: { try body($0) }, continuation: continuation))
                    guard !queue.isDraining else { return false }
                    queue.isDraining = true
                    return true
                }
                if startDraining {
                    threadPool.submit { [self] state in
                        guard case .active = state else { return failPending(ThreadPoolStopped()) }
                        drain()
                    }
                }
            }
            return result as! T
        }
    }

    private struct PendingWrite {
        var body: @Sendable (SQLiteHandle) throws -> any Sendable
        var continuation: CheckedContinuation<any Sendable, any Error>
    }

    private struct WriteQueue {
        var pending: [PendingWrite] = []
        var isDraining = false
    }

    private struct ThreadPoolStopped: Error {}

    private static let maxGroupSize = 256

    /// On a pool thread, alone: commits groups until the queue is empty.
    private func drain() {
        while true {
            let group = queue.withLock { queue -> [PendingWrite] in
                guard !queue.pending.isEmpty else {
                    queue.isDraining = false
                    return []
                }
                let group = Array(queue.pending.prefix(Self.maxGroupSize))
                queue.pending.removeFirst(group.count)
                return group
            }
            if group.isEmpty { return }
            for (write, result) in zip(group, commit(group)) {
                write.continuation.resume(with: result)
            }
        }
    }

    private func commit(_ group: [PendingWrite]) -> [Result<any Sendable, any Error>] {
        do {
            try writer.execute("BEGIN IMMEDIATE")
        } catch {
            return group.map { _ in .failure(error) }
        }
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(group.count)
        for write in group {
            if let moved = retirement.withLock({ $0 }) {
                results.append(.failure(moved))
                continue
            }
            do {
                try writer.execute("SAVEPOINT write")
                let value = try write.body(writer)
                try writer.execute("RELEASE write")
                results.append(.success(value))
            } catch {
                if writer.isInTransaction {
                    try? writer.execute("ROLLBACK TO write")
                    try? writer.execute("RELEASE write")
                    results.append(.failure(error))
                    continue
                }
                // SQLite rolled the whole transaction back: the group's earlier writes are gone too.
                results = results.map { _ in .failure(error) } + [.failure(error)]
                do {
                    try writer.execute("BEGIN IMMEDIATE")
                } catch {
                    return results + group.dropFirst(results.count).map { _ in .failure(error) }
                }
            }
        }
        do {
            try writer.execute("COMMIT")
            return results
        } catch {
            try? writer.execute("ROLLBACK")
            return group.map { _ in .failure(error) }
        }
    }

    private func failPending(_ error: any Error) {
        let pending = queue.withLock { queue -> [PendingWrite] in
            defer {
                queue.pending.removeAll()
                queue.isDraining = false
            }
            return queue.pending
        }
        for write in pending { write.continuation.resume(throwing: error) }
    }

    /// Lets the idle readers go. The writer closes when the file is released; callers stop using
    /// the file (every write has been answered) before closing it.
    func close() async {
        idleReaders.withLock { $0.removeAll() }
    }
}
