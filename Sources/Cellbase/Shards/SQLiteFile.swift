import CellbaseSQL
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

/// One SQLite database file in WAL mode: a writer connection whose transactions are serialised,
/// and reader connections that run single statements concurrently with it.
final class SQLiteFile: Sendable {
    let path: String
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let nextReader = Atomic<Int>(0)
    private let writeLock = AsyncLock()

    private init(path: String, writer: SQLiteConnection, readers: [SQLiteConnection]) {
        self.path = path
        self.writer = writer
        self.readers = readers
    }

    static func open(path: String, readers readerCount: Int, synchronous: String, threadPool: NIOThreadPool, eventLoop: any EventLoop, logger: Logger) async throws -> SQLiteFile {
        let writer = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
        do {
            _ = try await writer.query("PRAGMA journal_mode=WAL")
            try await Self.configure(writer, synchronous: synchronous)
            var readers: [SQLiteConnection] = []
            for _ in 0..<max(1, readerCount) {
                let reader = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
                try await Self.configure(reader, synchronous: synchronous)
                _ = try await reader.query("PRAGMA query_only=ON")
                readers.append(reader)
            }
            return SQLiteFile(path: path, writer: writer, readers: readers)
        } catch {
            try? await writer.close()
            throw error
        }
    }

    private static func configure(_ connection: SQLiteConnection, synchronous: String) async throws {
        let level = ["off", "normal", "full", "extra"].contains(synchronous) ? synchronous : "normal"
        _ = try await connection.query("PRAGMA synchronous=\(level.uppercased())")
        _ = try await connection.query("PRAGMA foreign_keys=ON")
        _ = try await connection.query("PRAGMA busy_timeout=5000")
    }

    /// Runs one statement outside any explicit transaction (a consistent snapshot of its own).
    func read(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        let index = nextReader.add(1, ordering: .relaxed).newValue % readers.count
        return try await readers[index].query(sql, binds)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT` on the writer, rolled back if it throws.
    func write<T: Sendable>(_ body: @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            _ = try await writer.query("BEGIN IMMEDIATE")
            do {
                let result = try await body(writer)
                _ = try await writer.query("COMMIT")
                return result
            } catch {
                _ = try? await writer.query("ROLLBACK")
                throw error
            }
        }
    }

    func close() async {
        for reader in readers { try? await reader.close() }
        try? await writer.close()
    }
}

extension SQLValue {
    var sqliteData: SQLiteData {
        switch self {
        case .null: .null
        case .integer(let value): .integer(Int(value))
        case .double(let value): .float(value)
        case .text(let value): .text(value)
        case .bool(let value): .integer(value ? 1 : 0)
        case .blob(let bytes): .blob(ByteBuffer(bytes: bytes))
        }
    }
}
