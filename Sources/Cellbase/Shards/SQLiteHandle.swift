import CellbaseSQL
import VaporCSQLite

/// One SQLite connection, driven through SQLite's C API (the copy SQLiteNIO compiles in).
///
/// SQLiteNIO prepares every statement anew and hops to its thread pool once per statement; the
/// Data API runs the same few statements over and over, and a write is several statements in one
/// transaction. This handle keeps its prepared statements and is driven synchronously, so a whole
/// read or a whole write transaction is one job on the thread pool (see `SQLiteFile`).
///
/// A handle is opened with `SQLITE_OPEN_NOMUTEX`: it must be used by one thread at a time, which
/// `SQLiteFile` guarantees by checking handles out to one job each.
final class SQLiteHandle: @unchecked Sendable {
    private let database: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    private static let maxCachedStatements = 128
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    nonisolated(unsafe) private static let emptyText: UnsafePointer<CChar> = {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return UnsafePointer(pointer)
    }()

    init(path: String) throws(SQLiteFailure) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite_nio_sqlite3_close_v2(handle) }
            throw SQLiteFailure(code: status, message: "cannot open \(path): \(message)")
        }
        do {
            try SQLiteStorageFunctions.register(on: handle)
        } catch {
            sqlite_nio_sqlite3_close_v2(handle)
            throw error
        }
        database = handle
    }

    deinit {
        for statement in statements.values { sqlite_nio_sqlite3_finalize(statement) }
        sqlite_nio_sqlite3_close_v2(database)
    }

    /// Runs SQL text that binds nothing and returns nothing: pragmas, DDL, BEGIN/COMMIT.
    func execute(_ sql: String) throws(SQLiteFailure) {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite_nio_sqlite3_exec(database, sql, nil, nil, &error)
        guard status == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite_nio_sqlite3_errmsg(database))
            sqlite_nio_sqlite3_free(error)
            throw SQLiteFailure(code: status, message: message)
        }
    }

    /// Runs one statement, calling `row` for each result row.
    func query(_ sql: String, _ binds: [SQLValue], row: (SQLiteRow) throws -> Void = { _ in }) throws {
        let statement = try prepared(sql)
        // Bindings are not cleared after a run: clearing a LIMIT parameter makes SQLite re-prepare
        // the statement on its next step. Every parameter is bound anew on every run instead.
        defer { sqlite_nio_sqlite3_reset(statement) }
        guard Int(sqlite_nio_sqlite3_bind_parameter_count(statement)) == binds.count else {
            throw SQLiteFailure(code: SQLITE_RANGE, message: "statement has \(sqlite_nio_sqlite3_bind_parameter_count(statement)) parameters, \(binds.count) values given")
        }
        for (offset, value) in binds.enumerated() {
            try bind(value, at: Int32(offset + 1), to: statement)
        }
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            switch status {
            case SQLITE_ROW: try row(SQLiteRow(statement: statement))
            case SQLITE_DONE: return
            default: throw failure(status)
            }
        }
    }

    /// Whether a transaction is open. SQLite ends one by itself on some errors (disk full, I/O).
    var isInTransaction: Bool { sqlite_nio_sqlite3_get_autocommit(database) == 0 }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite_nio_sqlite3_changes64(database)) }

    private func prepared(_ sql: String) throws(SQLiteFailure) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let status = sqlite_nio_sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status) }
        if statements.count >= Self.maxCachedStatements {
            for cached in statements.values { sqlite_nio_sqlite3_finalize(cached) }
            statements.removeAll(keepingCapacity: true)
        }
        statements[sql] = statement
        return statement
    }

    private func bind(_ value: SQLValue, at index: Int32, to statement: OpaquePointer) throws(SQLiteFailure) {
        let status: Int32
        switch value {
        case .null: status = sqlite_nio_sqlite3_bind_null(statement, index)
        case .integer(let value): status = sqlite_nio_sqlite3_bind_int64(statement, index, value)
        case .double(let value): status = sqlite_nio_sqlite3_bind_double(statement, index, value)
        case .bool(let value): status = sqlite_nio_sqlite3_bind_int64(statement, index, value ? 1 : 0)
        case .text(let value):
            var value = value
            status = value.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { characters in
                    // A zero-length buffer may have no address; SQLite needs one to bind '' rather than NULL.
                    sqlite_nio_sqlite3_bind_text64(statement, index, characters.baseAddress ?? Self.emptyText, UInt64(characters.count), Self.transient, UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let bytes):
            status = bytes.withUnsafeBytes { buffer in
                sqlite_nio_sqlite3_bind_blob64(statement, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64(buffer.count), Self.transient)
            }
        }
        guard status == SQLITE_OK else { throw failure(status) }
    }

    private func failure(_ status: Int32) -> SQLiteFailure {
        SQLiteFailure(code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(database)))
    }
}

/// The current row of a statement being stepped; valid only inside the row callback.
struct SQLiteRow {
    fileprivate let statement: OpaquePointer

    var columnCount: Int { Int(sqlite_nio_sqlite3_column_count(statement)) }

    func isNull(_ column: Int) -> Bool {
        sqlite_nio_sqlite3_column_type(statement, Int32(column)) == SQLITE_NULL
    }

    func text(_ column: Int) -> String? {
        guard !isNull(column), let bytes = sqlite_nio_sqlite3_column_text(statement, Int32(column)) else { return nil }
        let count = Int(sqlite_nio_sqlite3_column_bytes(statement, Int32(column)))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func integer(_ column: Int) -> Int? {
        isNull(column) ? nil : Int(sqlite_nio_sqlite3_column_int64(statement, Int32(column)))
    }

    /// The cell as the type SQLite stored it in (a REAL stays a double, unlike through `text`).
    func value(_ column: Int) -> SQLValue {
        switch sqlite_nio_sqlite3_column_type(statement, Int32(column)) {
        case SQLITE_INTEGER: .integer(sqlite_nio_sqlite3_column_int64(statement, Int32(column)))
        case SQLITE_FLOAT: .double(sqlite_nio_sqlite3_column_double(statement, Int32(column)))
        case SQLITE_NULL: .null
        default: text(column).map(SQLValue.text) ?? .null
        }
    }
}

/// An error SQLite reported: its (extended) result code and message.
struct SQLiteFailure: Error, CustomStringConvertible {
    var code: Int32
    var message: String

    var description: String { "SQLite error \(code): \(message)" }
}
