import CellbaseSQL
import Logging
import PostgresNIO
import Synchronization

/// Named prepared statements per pooled PostgreSQL connection.
///
/// A read is parsed and planned once per connection, then only bound and executed: planning is
/// most of what PostgreSQL spends on a single-row read. Statement texts fix their parameters' types
/// (`$1::int8::int4`, see `SQLValue.postgresWireType`), so one prepared statement serves every value
/// of the same kinds. Each connection keeps at most `capacity` statements; the least recently used
/// one is deallocated to make room. A statement whose execution failed is deallocated too, and
/// everything known about a connection is dropped when it closes.
final class PreparedStatements: Sendable {
    private struct Entry {
        var query: PreparedQuery
        var lastUse: UInt64
    }

    private struct Connection {
        var statements: [String: Entry] = [:]
        var clock: UInt64 = 0

        mutating func use(_ sql: String) -> PreparedQuery? {
            guard let entry = statements[sql] else { return nil }
            clock += 1
            statements[sql]!.lastUse = clock
            return entry.query
        }

        /// Stores `query`, returning the least recently used statement if that makes room for it.
        mutating func insert(_ query: PreparedQuery, for sql: String, capacity: Int) -> PreparedQuery? {
            clock += 1
            var evicted: PreparedQuery?
            if statements.count >= capacity, let oldest = statements.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                evicted = statements.removeValue(forKey: oldest.key)?.query
            }
            statements[sql] = Entry(query: query, lastUse: clock)
            return evicted
        }
    }

    let capacity: Int
    private let connections = Mutex<[PostgresConnection.ID: Connection]>([:])

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// How many statements are prepared on `connection`.
    func count(on connection: PostgresConnection) -> Int {
        connections.withLock { $0[connection.id]?.statements.count ?? 0 }
    }

    /// Runs `statement` as a prepared statement on `connection`, which the caller holds for the
    /// duration: a connection is only ever used by its current lessee, so no two calls race on
    /// one connection's statements.
    func rows(of statement: SQLStatement, on connection: PostgresConnection) async throws -> [PostgresRow] {
        let query = try await prepared(statement.sql, on: connection)
        do {
            return try await query.execute(statement.binds.map(\.postgresData)).get()
        } catch {
            let dropped = connections.withLock { $0[connection.id]?.statements.removeValue(forKey: statement.sql) }
            if let dropped { _ = try? await dropped.query.deallocate().get() }
            throw error
        }
    }

    private func prepared(_ sql: String, on connection: PostgresConnection) async throws -> PreparedQuery {
        let (cached, isNew) = connections.withLock { connections -> (PreparedQuery?, Bool) in
            guard connections[connection.id] != nil else {
                connections[connection.id] = Connection()
                return (nil, true)
            }
            return (connections[connection.id]!.use(sql), false)
        }
        if isNew {
            let id = connection.id
            connection.closeFuture.whenComplete { [weak self] _ in
                _ = self?.connections.withLock { $0.removeValue(forKey: id) }
            }
        }
        if let cached { return cached }

        let query = try await connection.prepare(query: sql).get()
        let evicted = connections.withLock { connections -> PreparedQuery? in
            guard connections[connection.id] != nil else { return nil }  // closed meanwhile
            return connections[connection.id]!.insert(query, for: sql, capacity: capacity)
        }
        if let evicted { _ = try? await evicted.deallocate().get() }
        return query
    }
}

extension SQLValue {
    /// The value as sent to PostgreSQL, in the type `postgresWireType` names.
    var postgresData: PostgresData {
        switch self {
        case .null: .null
        case .integer(let value): PostgresData(int64: value)
        case .double(let value): PostgresData(double: value)
        case .text(let value): PostgresData(string: value)
        case .bool(let value): PostgresData(bool: value)
        case .blob(let bytes): PostgresData(bytes: bytes)
        }
    }
}
