import CellbaseSQL

/// A table of a project as a move copies it: its columns with their database type (PostgreSQL's
/// `udt_name`, SQLite's declared type in lower case) and its primary key.
struct MoveTable: Sendable, Hashable {
    var name: String
    var columns: [MoveColumn]
    var primaryKey: [String]

    func column(_ name: String) -> MoveColumn? { columns.first { $0.name == name } }
}

struct MoveColumn: Sendable, Hashable {
    var name: String
    var type: String

    /// Held as JSON text on SQLite and as `json`, `jsonb` or an array on PostgreSQL.
    var isJSONOnPostgres: Bool { type == "json" || type == "jsonb" || type.hasPrefix("_") }

    /// The Data API's type for a PostgreSQL column, which says how its JSON value is written into
    /// SQLite (as the Data API itself would write it); `nil` for types the Data API does not know.
    var postgresColumnType: ColumnType? {
        // Blank-padded and name columns hold text as far as the Data API is concerned.
        ColumnType(udtName: type == "bpchar" || type == "name" ? "text" : type)
    }
}

/// A row on its way: its key (a JSON object of the primary-key columns) and the whole row (a
/// JSON object of every column).
struct MoveRow: Sendable, Hashable {
    var key: String
    var row: String
}

/// What the move log recorded: a row of `table` with this key was written.
struct MoveLogEntry: Sendable, Hashable {
    var sequence: Int64
    var table: String
    var key: String
}

/// A table's row count and a checksum of its keys (the sum of the first 32 bits of each key's
/// MD5, keys written as text the same way on both dialects).
struct MoveSummary: Sendable, Hashable, Codable {
    var rows: Int64
    var checksum: String
}

/// What the source answered as it stopped serving the project: the rows written since the
/// last catch-up, and every table's summary as it is left.
struct MoveRetirement: Sendable {
    /// Per table, the keys the last changes touched and the rows those keys now have (a key
    /// without a row was deleted).
    var changes: [(table: String, keys: [String], rows: [MoveRow])]
    var summaries: [String: MoveSummary]
}

/// Thrown by a shard asked for a project it has handed over to another shard.
struct ProjectMoved: Error, CustomStringConvertible {
    var ref: String
    var description: String { "project \(ref) has moved to another shard" }
}

/// A shard's side of an online move (see `ProjectMover`): reading a project's tables in key
/// order, recording which rows change while they are copied, writing rows copied from another
/// shard, and retiring its copy once the other one takes over.
protocol MoveShard: Shard {
    /// The project's tables (bookkeeping of the move itself left out), with their columns and keys.
    func moveTables(ref: String) async throws -> [MoveTable]
    /// Whether the project has a database here at all.
    func hasProject(ref: String) async throws -> Bool
    /// Records, from now on, the key of every row written in `tables`.
    func startMoveLog(ref: String, tables: [MoveTable]) async throws
    /// The oldest entries not yet forgotten. PostgreSQL numbers entries before their
    /// transactions commit, so an entry may appear below one already read: entries are forgotten
    /// once applied, and what remains is read again.
    func moveLog(ref: String, limit: Int) async throws -> [MoveLogEntry]
    func forgetMoveLog(ref: String, sequences: [Int64]) async throws
    func stopMoveLog(ref: String, tables: [MoveTable]) async throws
    /// Up to `limit` rows after `key` (`nil`: from the start), in key order. Columns `target`
    /// holds as JSON are read as JSON.
    func readPage(ref: String, table: MoveTable, after key: String?, limit: Int, target: MoveTable) async throws -> [MoveRow]
    /// The rows that have these keys now; keys without a row are left out.
    func readRows(ref: String, table: MoveTable, keys: [String], target: MoveTable) async throws -> [MoveRow]
    func summary(ref: String, table: MoveTable) async throws -> MoveSummary
    /// Runs statements (DDL the move needs) in one transaction.
    func runStatements(ref: String, _ statements: [String]) async throws
    /// Deletes the rows with `keys`, then inserts `rows` (read from `source`), in one transaction,
    /// with foreign keys and triggers not enforced: the copy is consistent only once it is whole.
    func writeRows(ref: String, table: MoveTable, deleting keys: [String], rows: [MoveRow], source: MoveTable) async throws
    /// Sets the sequences behind the project's columns past the values copied.
    func finishCopy(ref: String, tables: [MoveTable]) async throws
    /// Stops serving the project: waits for the writes under way, then answers what changed after
    /// `sequence` and every table's summary, and refuses everything after.
    func retire(ref: String, tables: [MoveTable], targets: [String: MoveTable]) async throws -> MoveRetirement
    /// Serves the project again after a move that did not switch.
    func unretire(ref: String) async throws
    /// Deletes what a failed or cancelled move left of the project here, so a copy can start afresh.
    func dropProject(ref: String) async throws
    /// Deletes the retired copy once the project is served from its new shard.
    func dropRetired(ref: String) async throws
}

enum MoveLogEntries {
    /// Keys per table, each once, tables in the order they were first written.
    static func grouped(_ entries: [MoveLogEntry]) -> [(table: String, keys: [String])] {
        var order: [String] = []
        var keys: [String: [String]] = [:]
        var seen: [String: Set<String>] = [:]
        for entry in entries {
            if keys[entry.table] == nil { order.append(entry.table) }
            if seen[entry.table, default: []].insert(entry.key).inserted { keys[entry.table, default: []].append(entry.key) }
        }
        return order.map { ($0, keys[$0] ?? []) }
    }
}
