import CellbaseSQL
import NIOPosix
import Synchronization

/// One SQLite database file in WAL mode: a writer handle whose transactions are serialised, and
/// reader handles that run concurrently with it, each on a consistent snapshot.
///
/// Every read and every whole write transaction is one job on the thread pool, so SQLite's
/// blocking calls never run on an event loop and a request pays for one thread hop.
final class SQLiteFile: Sendable {
    let path: String
    private let synchronous: String
    private let threadPool: NIOThreadPool
    private let writer: SQLiteHandle
    private let writeLock = AsyncLock()
    /// Idle reader handles. A job checks one out; more are opened when all are busy.
    private let idleReaders = Mutex<[SQLiteHandle]>([])
    private static let maxIdleReaders = 4

    private init(path: String, synchronous: String, threadPool: NIOThreadPool, writer: SQLiteHandle) {
        self.path = path
        self.synchronous = synchronous
        self.threadPool = threadPool
        self.writer = writer
    }

    static func open(path: String, synchronous: String, threadPool: NIOThreadPool) async throws -> SQLiteFile {
        let level = ["off", "normal", "full", "extra"].contains(synchronous) ? synchronous : "normal"
        let writer = try await threadPool.runIfActive {
            let writer = try SQLiteHandle(path: path)
            try writer.execute("PRAGMA journal_mode=WAL")
            try Self.configure(writer, synchronous: level)
            return writer
        }
        return SQLiteFile(path: path, synchronous: level, threadPool: threadPool, writer: writer)
    }

    private static func configure(_ handle: SQLiteHandle, synchronous: String) throws {
        try handle.execute("PRAGMA synchronous=\(synchronous.uppercased()); PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000")
    }

    /// Runs `body` on a reader handle, outside any explicit transaction: each statement sees a
    /// consistent snapshot of its own.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteHandle) throws -> T) async throws -> T {
        try await threadPool.runIfActive { [self] in
            let reader = try idleReaders.withLock { $0.popLast() } ?? openReader()
            defer {
                idleReaders.withLock { readers in
                    if readers.count < Self.maxIdleReaders { readers.append(reader) }
                }
            }
            return try body(reader)
        }
    }

    private func openReader() throws -> SQLiteHandle {
        let reader = try SQLiteHandle(path: path)
        try Self.configure(reader, synchronous: synchronous)
        try reader.execute("PRAGMA query_only=ON")
        return reader
    }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT` on the writer, rolled back if it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteHandle) throws -> T) async throws -> T {
        try await writeLock.withLock {
            try await threadPool.runIfActive { [writer] in
                try writer.execute("BEGIN IMMEDIATE")
                do {
                    let result = try body(writer)
                    try writer.execute("COMMIT")
                    return result
                } catch {
                    try? writer.execute("ROLLBACK")
                    throw error
                }
            }
        }
    }

    /// Waits for the running write, then lets the idle readers go. The writer closes when the
    /// file is released; callers stop using the file before closing it.
    func close() async {
        try? await writeLock.withLock {
            idleReaders.withLock { $0.removeAll() }
        }
    }
}
