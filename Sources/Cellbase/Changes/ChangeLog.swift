import CellbaseSQL

/// A shard's side of the change log: reading a project's log, and hearing that some project's log
/// may have grown.
protocol ChangeLog: Sendable {
    /// The highest sequence number in the project's log; 0 when nothing was ever recorded.
    func changeLogHead(ref: String) async throws -> Int64
    /// Changes with a sequence number above `sequence`, oldest first, at most `limit` of them.
    func changes(ref: String, after sequence: Int64, limit: Int) async throws -> [RowChange]
    /// Calls `onCommit` with a project's ref whenever a transaction that may have recorded changes
    /// commits, until the calling task is cancelled. A wake-up may be spurious or, when the shard
    /// is briefly unreachable, missed: readers also poll.
    func watchCommits(_ onCommit: @escaping @Sendable (String) -> Void) async throws
    /// What the log keeps; `nil` while the project has never published a table.
    func changeLogRetention(ref: String) async throws -> ChangeLogRetention?
    /// Creates the log if needed and sets what it keeps.
    func setChangeLogRetention(_ retention: ChangeLogRetention, ref: String) async throws
}

/// How much of its change log a project keeps: the newest `max_rows` changes, none older than
/// `max_age_seconds`. The log trims itself every 1024 changes.
struct ChangeLogRetention: Codable, Sendable, Hashable {
    var max_rows: Int
    var max_age_seconds: Int
}

enum ChangeLogRows {
    /// Records are rendered by the database; anything deeper than this is not a row.
    static let maxDepth = 512

    static func change(sequence: Int64, table: String, operation: String, record: String?, oldRecord: String?, committedAt: String) throws -> RowChange {
        guard let operation = RowChange.Operation(rawValue: operation) else {
            throw ChangeLogError.unknownOperation(operation, sequence: sequence)
        }
        return RowChange(
            sequence: sequence,
            table: table,
            operation: operation,
            record: try record.map { try JSONParser.parse($0.utf8, maxDepth: maxDepth) },
            oldRecord: try oldRecord.map { try JSONParser.parse($0.utf8, maxDepth: maxDepth) },
            committedAt: committedAt
        )
    }
}

enum ChangeLogError: Error {
    case unknownOperation(String, sequence: Int64)
}
