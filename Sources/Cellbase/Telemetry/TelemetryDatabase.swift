import CellbaseSQL

/// What a shard provides for telemetry: statements run in one project's database, with cells
/// read as the type the database holds them in, and the batch write that each dialect does its
/// own way (multi-row statements per partition table on SQLite, arrays through the partitioned
/// parent on PostgreSQL).
protocol TelemetryDatabase: Sendable {
    func namespace(for ref: String) -> SQLNamespace
    func telemetryRows(ref: String, _ statement: SQLStatement) async throws -> [[SQLValue]]
    /// Runs the statements in order in one transaction and returns each one's rows.
    func telemetryTransaction(ref: String, _ statements: [SQLStatement]) async throws -> [[[SQLValue]]]
    /// Writes a batch in one transaction: touches its devices (throwing
    /// `TelemetryStoreError.unknownDevice` for one the project does not have), merges their last
    /// state, moves their series' last values and inserts the points into partitions that exist.
    func writeTelemetry(ref: String, _ write: TelemetryWrite, layout: PartitionLayout, arrival: String) async throws
}

enum TelemetryStoreError: Error, Equatable {
    case unknownDevice(String)
    /// A point fell into a partition that is not there (dropped by retention since it was known).
    case missingPartition
}

extension TelemetryWrite {
    /// The device's merged last state, from what is stored now.
    func mergedState(_ members: [JSONMember], current: [[SQLValue]]) -> String {
        guard case .text(let existing)? = current.first?.first else { return LastState.merge(nil, with: members) }
        return LastState.merge(existing, with: members)
    }
}
