import CellbaseSQL
import VaporCSQLite

extension SQLiteShard: TelemetryDatabase {
    func telemetryRows(ref: String, _ statement: SQLStatement) async throws -> [[SQLValue]] {
        try await withFile(ref) { file in
            try await file.read { handle in try Self.values(of: statement, on: handle) }
        }
    }

    func telemetryTransaction(ref: String, _ statements: [SQLStatement]) async throws -> [[[SQLValue]]] {
        try await withFile(ref) { file in
            try await file.write { handle in try statements.map { try Self.values(of: $0, on: handle) } }
        }
    }

    func writeTelemetry(ref: String, _ write: TelemetryWrite, layout: PartitionLayout, arrival: String) async throws {
        let sql = TelemetrySQL(namespace: .sqlite)
        try await withFile(ref) { file in
            try await file.write { handle in
                do {
                    try Self.write(write, sql: sql, layout: layout, arrival: arrival, on: handle)
                } catch let failure as SQLiteFailure where failure.code == SQLITE_ERROR && failure.message.hasPrefix("no such table") {
                    throw TelemetryStoreError.missingPartition
                }
            }
        }
    }

    private static func write(_ write: TelemetryWrite, sql: TelemetrySQL, layout: PartitionLayout, arrival: String, on handle: SQLiteHandle) throws {
        for device in write.devices {
            guard try !values(of: sql.touchDevice(device, at: arrival), on: handle).isEmpty else {
                throw TelemetryStoreError.unknownDevice(device)
            }
        }
        for (device, members) in write.states {
            let current = try values(of: sql.deviceStateForUpdate(device), on: handle)
            let update = sql.setDeviceState(device, state: write.mergedState(members, current: current))
            try handle.query(update.sql, update.binds)
        }
        var seriesIDs: [Int64] = []
        seriesIDs.reserveCapacity(write.series.count)
        for entry in write.series {
            let statement = sql.upsertSeries(entry)
            try handle.query(statement.sql, statement.binds) { row in seriesIDs.append(Int64(row.integer(0) ?? 0)) }
        }
        var binds: [SQLValue] = []
        binds.reserveCapacity(TelemetrySQL.sqliteInsertSizes[0] * 3)
        for partition in write.partitions {
            let table = layout.tableName(start: partition.start)
            var remaining = partition.points[...]
            for size in TelemetrySQL.sqliteInsertSizes {
                let insert = sql.sqliteInsertPoints(table: table, rows: size)
                while remaining.count >= size {
                    binds.removeAll(keepingCapacity: true)
                    for point in remaining.prefix(size) {
                        binds.append(.integer(seriesIDs[point.series]))
                        binds.append(.integer(point.timestamp))
                        binds.append(.double(point.value))
                    }
                    try handle.query(insert, binds)
                    remaining = remaining.dropFirst(size)
                }
            }
        }
    }

    private static func values(of statement: SQLStatement, on handle: SQLiteHandle) throws -> [[SQLValue]] {
        var rows: [[SQLValue]] = []
        try handle.query(statement.sql, statement.binds) { row in
            rows.append((0..<row.columnCount).map(row.value))
        }
        return rows
    }
}
