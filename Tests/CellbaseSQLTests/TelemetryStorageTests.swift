import CellbaseSQL
import Testing

@Suite struct PartitionLayoutTests {
    private let day = PartitionLayout.dayMicros
    private let noon: Int64 = 1_764_000_000_000_000 // 2025-11-24T16:00:00Z

    @Test func dailyPartitionsStartAtMidnightUTC() {
        let layout = PartitionLayout.daily
        let start = layout.start(containing: noon)
        #expect(start == noon / day * day)
        #expect(layout.tableName(start: start) == "_cellbase_points_20251124")
        #expect(layout.start(containing: start) == start)
        #expect(layout.start(containing: start - 1) == start - day)
    }

    @Test func shorterPartitionsNameTheirHour() throws {
        let layout = try #require(PartitionLayout(hours: 6))
        let start = layout.start(containing: noon)
        #expect(layout.tableName(start: start) == "_cellbase_points_20251124_12")
    }

    @Test(arguments: [1, 2, 3, 4, 6, 8, 12, 24, 48, 168, 744])
    func widthsThatTileTheCalendar(_ hours: Int) {
        #expect(PartitionLayout(hours: hours) != nil)
    }

    @Test(arguments: [0, -1, 5, 7, 25, 36, 768])
    func widthsThatDoNot(_ hours: Int) {
        #expect(PartitionLayout(hours: hours) == nil)
    }

    @Test func startsCoverTheRange() {
        let layout = PartitionLayout.daily
        let starts = layout.starts(from: noon, through: noon + 2 * day)
        #expect(starts.count == 3)
        #expect(starts.first == layout.start(containing: noon))
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $1 - $0 == day })
        #expect(layout.starts(from: noon, through: noon - 1).isEmpty)
    }
}

@Suite struct TelemetryWriteTests {
    private let day = PartitionLayout.dayMicros
    private let now: Int64 = 1_764_000_000_000_000

    @Test func groupsPointsBySeriesAndPartitionAndKeepsTheNewestValue() throws {
        var builder = TelemetryWriteBuilder(layout: .daily, earliest: 0, latest: .max)
        builder.add(TelemetryRecord(timestamp: now, points: [TelemetryPoint(metric: "t", value: 1), TelemetryPoint(metric: "h", value: 50)]), device: "a")
        builder.add(TelemetryRecord(timestamp: now - day, points: [TelemetryPoint(metric: "t", value: 0)], state: [JSONMember(key: "s", value: .string("x"))]), device: "a")
        builder.add(TelemetryRecord(timestamp: now, points: [TelemetryPoint(metric: "t", value: 2)]), device: "a")
        builder.add(TelemetryRecord(timestamp: now, points: [TelemetryPoint(metric: "t", value: 7)]), device: "b")
        let write = builder.build()
        #expect(write.devices == ["a", "b"])
        #expect(write.series.map(\.metric) == ["t", "h", "t"])
        #expect(write.series.map(\.device) == ["a", "a", "b"])
        // The later record at the same time wins; the older point does not move the last value.
        #expect(write.series[0].lastValue == 2)
        #expect(write.series[0].lastTimestamp == now)
        #expect(write.partitions.map(\.start) == [PartitionLayout.daily.start(containing: now - day), PartitionLayout.daily.start(containing: now)])
        #expect(write.partitions[0].points == [TelemetryWrite.Point(series: 0, timestamp: now - day, value: 0)])
        #expect(write.partitions[1].points.count == 3)
        #expect(write.pointCount == 4)
        #expect(write.states.map(\.device) == ["a"])
    }

    @Test func windowRefusesOldAndFuturePoints() {
        let builder = TelemetryWriteBuilder(layout: .daily, earliest: now - 30 * day, latest: now + day)
        #expect(throws: Never.self) { try builder.check(TelemetryRecord(timestamp: now - 30 * day)) }
        #expect(throws: TelemetryError.self) { try builder.check(TelemetryRecord(timestamp: now - 30 * day - 1)) }
        #expect(throws: TelemetryError.self) { try builder.check(TelemetryRecord(timestamp: now + day)) }
    }

    @Test func aRecordWithoutPointsStillTouchesItsDevice() {
        var builder = TelemetryWriteBuilder(layout: .daily, earliest: 0, latest: .max)
        builder.add(TelemetryRecord(timestamp: now), device: "quiet")
        let write = builder.build()
        #expect(write.devices == ["quiet"])
        #expect(write.pointCount == 0)
        #expect(!write.isEmpty)
    }
}

@Suite struct TelemetrySQLTests {
    @Test func sqliteInsertNumbersEveryParameter() {
        let sql = TelemetrySQL(namespace: .sqlite).sqliteInsertPoints(table: "_cellbase_points_20251124", rows: 2)
        #expect(sql == #"INSERT OR REPLACE INTO "_cellbase_points_20251124" (series, ts, value) VALUES (?1,?2,?3),(?4,?5,?6)"#)
    }

    @Test func partitionsAreTablesOnSQLiteAndRangePartitionsOnPostgres() {
        let start = PartitionLayout.daily.start(containing: 1_764_000_000_000_000)
        let sqlite = TelemetrySQL(namespace: .sqlite).createPartition(start: start, layout: .daily)
        #expect(sqlite[0].sql.contains(#"CREATE TABLE IF NOT EXISTS "_cellbase_points_20251124""#))
        #expect(sqlite[0].sql.contains("WITHOUT ROWID"))
        let postgres = TelemetrySQL(namespace: .postgres(schema: "proj_x")).createPartition(start: start, layout: .daily)
        #expect(postgres[0].sql == #"CREATE TABLE IF NOT EXISTS "proj_x"."_cellbase_points_20251124" PARTITION OF "proj_x"."_cellbase_points" FOR VALUES FROM (\#(start)) TO (\#(start + PartitionLayout.dayMicros))"#)
        #expect(postgres[1].binds == [.integer(start), .integer(start + PartitionLayout.dayMicros), .text("_cellbase_points_20251124")])
        #expect(TelemetrySQL(namespace: .postgres(schema: "proj_x")).createTables(layout: .daily, retentionDays: 30).contains { $0.sql.contains("PARTITION BY RANGE (ts)") })
        #expect(!TelemetrySQL(namespace: .sqlite).createTables(layout: .daily, retentionDays: 30).contains { $0.sql.contains("PARTITION BY") })
    }
}

@Suite struct SeriesQueryTests {
    private let now: Int64 = 1_764_000_000_000_000
    private let hour = PartitionLayout.hourMicros

    private func parse(_ query: String) throws(TelemetryError) -> SeriesQuery {
        let pairs = query.split(separator: "&").map { part -> (name: String, value: String) in
            let pieces = part.split(separator: "=", maxSplits: 1)
            return (String(pieces[0]), pieces.count > 1 ? String(pieces[1]) : "")
        }
        return try SeriesQuery.parse(pairs, now: now)
    }

    private func code(_ query: String) -> TelemetryError.Code? {
        do {
            _ = try parse(query)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func defaultsToTheLastDayOfRawPoints() throws {
        let query = try parse("device=d&metric=t")
        #expect(query.to == now)
        #expect(query.from == now - PartitionLayout.dayMicros)
        #expect(query.bucket == nil)
        #expect(query.limit == TelemetryLimits.maxRawPoints)
    }

    @Test func bucketsAndAggregates() throws {
        let query = try parse("device=d&metric=t&from=1764000000&to=1764003600&bucket=1m&agg=max")
        #expect(query.from == now)
        #expect(query.to == now + hour)
        #expect(query.bucket == 60_000_000)
        #expect(query.aggregate == .max)
    }

    @Test(arguments: [("1ms", Int64(1_000)), ("250000us", 250_000), ("1000000ns", 1_000), ("30s", 30_000_000), ("15m", 900_000_000), ("2h", 7_200_000_000), ("1d", 86_400_000_000)])
    func durations(_ text: String, _ micros: Int64) throws {
        #expect(try SeriesQuery.duration(text) == micros)
    }

    @Test(arguments: ["1ns", "999us", "1500ns", "0s", "s", "1w", "-1m", "1.5m", "99999999999999999999d", "9223372036854775807d"])
    func badBuckets(_ text: String) {
        #expect(throws: TelemetryError.self) { try SeriesQuery.duration(text) }
    }

    @Test(arguments: [
        ("device=d&metric=t&from=1764003600&to=1764000000", TelemetryError.Code.invalidRange),
        ("device=d&metric=t&bucket=1ns&from=1732464000&to=1764000000", .invalidBucket),
        ("device=d&metric=t&bucket=1ms&from=1732464000&to=1764000000", .tooManyBuckets),
        ("device=d&metric=t&bucket=1s&from=1732464000&to=1764000000", .tooManyBuckets),
        ("device=d&metric=t&bucket=1m&agg=median", .invalidAggregate),
        ("device=d&metric=t&agg=avg", .invalidAggregate),
        ("metric=t", .invalidParameter),
        ("device=a/b&metric=t", .invalidParameter),
        ("device=d", .invalidParameter),
        ("device=d&metric=t&limit=0", .invalidParameter),
        ("device=d&metric=t&limit=10001", .invalidParameter),
        ("device=d&metric=t&from=soon", .invalidTimestamp),
    ])
    func refusals(_ query: String, _ expected: TelemetryError.Code) {
        #expect(code(query) == expected)
    }

    @Test func aYearOfOneHourBucketsIsAllowed() throws {
        #expect(try parse("device=d&metric=t&bucket=1h&from=1732464000&to=1764000000").bucket == hour)
    }

    @Test func rawStatementUnionsTheSQLitePartitions() throws {
        let query = try parse("device=d&metric=t&from=1764000000&to=1764003600&limit=5")
        let statement = query.statement(seriesID: 9, sources: [#""p1""#, #""p2""#], dialect: .sqlite)
        #expect(statement.sql == #"SELECT ts, value FROM (SELECT ts, value FROM "p1" WHERE series = ?1 AND ts >= ?2 AND ts < ?3 UNION ALL SELECT ts, value FROM "p2" WHERE series = ?1 AND ts >= ?2 AND ts < ?3) AS points ORDER BY ts LIMIT ?4"#)
        #expect(statement.binds == [.integer(9), .integer(now), .integer(now + hour), .integer(5)])
    }

    @Test func bucketStatementsOnPostgres() throws {
        let average = try parse("device=d&metric=t&from=1764000000&to=1764003600&bucket=1m&agg=avg")
            .statement(seriesID: 1, sources: [#""s"."_cellbase_points""#], dialect: .postgres)
        #expect(average.sql.contains("avg(value)"))
        #expect(average.sql.contains("GROUP BY 1 ORDER BY 1"))
        #expect(average.binds.last == .integer(60_000_000))
        let last = try parse("device=d&metric=t&from=1764000000&to=1764003600&bucket=1m&agg=last")
            .statement(seriesID: 1, sources: [#""s"."_cellbase_points""#], dialect: .postgres)
        #expect(last.sql.contains("ORDER BY ts DESC"))
        #expect(last.sql.contains("WHERE position = 1"))
        let count = try parse("device=d&metric=t&from=1764000000&to=1764003600&bucket=1m&agg=count")
            .statement(seriesID: 1, sources: [#""s"."_cellbase_points""#], dialect: .postgres)
        #expect(count.sql.contains("CAST(count(*) AS double precision)"))
    }
}
