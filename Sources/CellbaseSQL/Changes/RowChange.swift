/// One committed row change from a project's change log: the project's event stream, read by
/// realtime subscriptions, jobs and project moves alike.
public struct RowChange: Sendable, Hashable {
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case insert = "INSERT"
        case update = "UPDATE"
        case delete = "DELETE"
    }

    /// Position in the project's log: strictly increasing in commit order, never reused.
    public var sequence: Int64
    public var table: String
    public var operation: Operation
    /// The row after the change (inserts and updates), as a JSON object of column values.
    public var record: JSONValue?
    /// The row before the change (updates and deletes): its primary key columns, or every column
    /// when the table has `REPLICA IDENTITY FULL` (or no primary key).
    public var oldRecord: JSONValue?
    /// Commit time, ISO 8601 in UTC with milliseconds (`2024-05-01T12:00:00.123Z`).
    public var committedAt: String

    public init(sequence: Int64, table: String, operation: Operation, record: JSONValue?, oldRecord: JSONValue?, committedAt: String) {
        self.sequence = sequence
        self.table = table
        self.operation = operation
        self.record = record
        self.oldRecord = oldRecord
        self.committedAt = committedAt
    }
}
