/// `GET /telemetry/v1/series`: one metric of one device over `[from, to)`, as raw points or
/// downsampled into buckets aligned to the Unix epoch.
public struct SeriesQuery: Sendable, Hashable {
    public enum Aggregate: String, Sendable, CaseIterable {
        case avg, min, max, sum, count, first, last
    }

    public var device: String
    public var metric: String
    public var from: Int64
    public var to: Int64
    /// Bucket width in microseconds; `nil` for raw points.
    public var bucket: Int64?
    public var aggregate: Aggregate
    /// Raw points answered at most.
    public var limit: Int

    /// Without `to`, the range ends now; without `from`, it starts a day before `to`. `agg`
    /// defaults to `avg` and is refused without `bucket`.
    public static let defaultSpan: Int64 = PartitionLayout.dayMicros

    public static func parse(_ parameters: [(name: String, value: String)], now: Int64) throws(TelemetryError) -> SeriesQuery {
        func value(_ name: String) -> String? { parameters.last { $0.name == name }?.value }
        guard let device = value("device"), DeviceID.isValid(device) else {
            throw TelemetryError(.invalidParameter, "device is required: 1 to 64 letters, digits, '-' or '_'")
        }
        guard let metric = value("metric") else { throw TelemetryError(.invalidParameter, "metric is required") }
        try MetricName.validate(metric)
        let to = try value("to").map { text throws(TelemetryError) in try TelemetryTimestamp.micros(text: text) } ?? now
        let from = try value("from").map { text throws(TelemetryError) in try TelemetryTimestamp.micros(text: text) } ?? max(0, to - defaultSpan)
        guard from <= to else {
            throw TelemetryError(.invalidRange, "from (\(TelemetryTimestamp.rfc3339(from))) is after to (\(TelemetryTimestamp.rfc3339(to)))")
        }
        var query = SeriesQuery(device: device, metric: metric, from: from, to: to, bucket: nil, aggregate: .avg, limit: TelemetryLimits.maxRawPoints)
        if let text = value("bucket") {
            let bucket = try duration(text)
            let buckets = (to - from) / bucket + 1
            guard buckets <= Int64(TelemetryLimits.maxBuckets) else {
                throw TelemetryError(.tooManyBuckets, "\(text) buckets over this range would be \(buckets); at most \(TelemetryLimits.maxBuckets) are answered — widen the bucket or narrow the range")
            }
            query.bucket = bucket
        }
        if let text = value("agg") {
            guard let aggregate = Aggregate(rawValue: text) else {
                throw TelemetryError(.invalidAggregate, "agg must be one of avg, min, max, sum, count, first, last")
            }
            guard query.bucket != nil else { throw TelemetryError(.invalidAggregate, "agg needs a bucket") }
            query.aggregate = aggregate
        }
        if let text = value("limit") {
            guard let limit = Int(text), (1...TelemetryLimits.maxRawPoints).contains(limit) else {
                throw TelemetryError(.invalidParameter, "limit is 1 to \(TelemetryLimits.maxRawPoints)")
            }
            query.limit = limit
        }
        return query
    }

    /// `30s`, `1m`, `15m`, `1h`, `1d`, `500ms`, `250000us`, `1000000ns`: at least one millisecond
    /// and a whole number of microseconds.
    public static func duration(_ text: String) throws(TelemetryError) -> Int64 {
        let units: [(suffix: String, nanoseconds: Int64)] = [
            ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
            ("m", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            let digits = text.dropLast(unit.suffix.count)
            // `ms` also ends in `s`: the longer suffixes come first, and digits must be digits.
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { continue }
            guard let count = Int64(digits) else { break }
            let (nanoseconds, overflow) = count.multipliedReportingOverflow(by: unit.nanoseconds)
            guard !overflow, nanoseconds % 1_000 == 0, nanoseconds / 1_000 >= TelemetryLimits.minBucketMicros else { break }
            return nanoseconds / 1_000
        }
        throw TelemetryError(.invalidBucket, "bucket '\(text.prefix(32))' must be a whole number of ns, us, ms, s, m, h or d, at least 1ms")
    }

    /// The statement reading the points from `source`: a parenthesised union of the covering
    /// SQLite partitions, or PostgreSQL's partitioned table, which prunes by the `ts` range itself.
    /// Columns: the point's or bucket's time, then the value.
    public func statement(seriesID: Int64, sources: [String], dialect: SQLDialect) -> SQLStatement {
        let p: (Int) -> String = { dialect == .postgres ? "$\($0)" : "?\($0)" }
        let cast = dialect == .postgres ? "::int8" : ""
        let filter = "series = \(p(1))\(cast) AND ts >= \(p(2))\(cast) AND ts < \(p(3))\(cast)"
        let source = sources.count == 1
            ? "(SELECT ts, value FROM \(sources[0]) WHERE \(filter))"
            : "(" + sources.map { "SELECT ts, value FROM \($0) WHERE \(filter)" }.joined(separator: " UNION ALL ") + ")"
        var binds: [SQLValue] = [.integer(seriesID), .integer(from), .integer(to)]
        guard let bucket else {
            binds.append(.integer(Int64(limit)))
            return SQLStatement("SELECT ts, value FROM \(source) AS points ORDER BY ts LIMIT \(p(4))\(cast)", binds: binds)
        }
        binds.append(.integer(bucket))
        let start = "(ts / \(p(4))\(cast)) * \(p(4))\(cast)"
        switch aggregate {
        case .first, .last:
            let order = aggregate == .first ? "ASC" : "DESC"
            return SQLStatement("""
                SELECT bucket, value FROM (SELECT \(start) AS bucket, value, \
                row_number() OVER (PARTITION BY \(start) ORDER BY ts \(order)) AS position FROM \(source) AS points) AS ranked \
                WHERE position = 1 ORDER BY bucket
                """, binds: binds)
        default:
            let value = aggregate == .count ? "CAST(count(*) AS double precision)" : "\(aggregate.rawValue)(value)"
            return SQLStatement("SELECT \(start) AS bucket, \(value) FROM \(source) AS points GROUP BY 1 ORDER BY 1", binds: binds)
        }
    }
}
