import CellbaseSQL
import PostgresNIO

extension PostgresShard: TelemetryDatabase {
    func telemetryRows(ref: String, _ statement: SQLStatement) async throws -> [[SQLValue]] {
        try await inProject(ref) {
            try await withConnection(.read) { connection in try await Self.values(of: statement, on: connection) }
        }
    }

    func telemetryTransaction(ref: String, _ statements: [SQLStatement]) async throws -> [[[SQLValue]]] {
        try await inProject(ref) {
            try await transaction { connection in
                var results: [[[SQLValue]]] = []
                for statement in statements { results.append(try await Self.values(of: statement, on: connection)) }
                return results
            }
        }
    }

    func writeTelemetry(ref: String, _ write: TelemetryWrite, layout: PartitionLayout, arrival: String) async throws {
        let sql = TelemetrySQL(namespace: namespace(for: ref))
        do {
            try await inProject(ref) { try await transaction { connection in
                for device in write.devices {
                    guard try await !Self.values(of: sql.touchDevice(device, at: arrival), on: connection).isEmpty else {
                        throw TelemetryStoreError.unknownDevice(device)
                    }
                }
                for (device, members) in write.states {
                    let current = try await Self.values(of: sql.deviceStateForUpdate(device), on: connection)
                    _ = try await Self.values(of: sql.setDeviceState(device, state: write.mergedState(members, current: current)), on: connection)
                }
                var seriesIDs: [Int64] = []
                seriesIDs.reserveCapacity(write.series.count)
                for entry in write.series {
                    guard case .integer(let id)? = try await Self.values(of: sql.upsertSeries(entry), on: connection).first?.first else {
                        throw PostgresShardError.unexpectedCell(column: "id", type: .int8, byteCount: 0)
                    }
                    seriesIDs.append(id)
                }
                var series: [Int64] = [], times: [Int64] = [], values: [Double] = []
                let count = write.pointCount
                series.reserveCapacity(count); times.reserveCapacity(count); values.reserveCapacity(count)
                for partition in write.partitions {
                    for point in partition.points {
                        series.append(seriesIDs[point.series])
                        times.append(point.timestamp)
                        values.append(point.value)
                    }
                }
                guard count > 0 else { return }
                var binds = PostgresBindings(capacity: 3)
                binds.append(series)
                binds.append(times)
                binds.append(values)
                try await connection.query(PostgresQuery(unsafeSQL: sql.postgresInsertPoints, binds: binds), logger: logger)
            } }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23514" {
            // "no partition of relation found for row"
            throw TelemetryStoreError.missingPartition
        }
    }

    private static func values(of statement: SQLStatement, on connection: PostgresConnection) async throws -> [[SQLValue]] {
        let result = try await connection.query(PostgresQuery(unsafeSQL: statement.sql, binds: statement.binds.postgresBindings), logger: connection.logger).get()
        return try result.rows.map { row in try row.makeRandomAccess().map(Self.value) }
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8, .numeric: return .double(try cell.decode(Double.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        default: return .text(try cell.decode(String.self))
        }
    }
}
