/// How a project's points are split in time: partitions of a fixed width aligned to the Unix
/// epoch (so daily partitions run from 00:00 UTC to 00:00 UTC), each named by its start.
public struct PartitionLayout: Sendable, Hashable {
    public static let hourMicros: Int64 = 3_600_000_000
    public static let dayMicros: Int64 = 86_400_000_000
    public static let daily = PartitionLayout(hours: 24)!

    public let hours: Int
    public var widthMicros: Int64 { Int64(hours) * Self.hourMicros }

    /// A width that tiles a day (1, 2, 3, 4, 6, 8 or 12 hours) or is a whole number of days up to
    /// 31, so partitions never straddle a name's date.
    public init?(hours: Int) {
        guard [1, 2, 3, 4, 6, 8, 12].contains(hours) || (hours % 24 == 0 && (24...744).contains(hours)) else { return nil }
        self.hours = hours
    }

    /// The start of the partition holding `micros`.
    public func start(containing micros: Int64) -> Int64 {
        let width = widthMicros
        return micros >= 0 ? micros / width * width : (micros - width + 1) / width * width
    }

    /// Partition starts from the one holding `from` to the one holding `to`, inclusive.
    public func starts(from: Int64, through to: Int64) -> [Int64] {
        guard from <= to else { return [] }
        return Array(stride(from: start(containing: from), through: to, by: Int(widthMicros)).map { Int64($0) })
    }

    /// `_cellbase_points_20261124`, or `_cellbase_points_20261124_06` when partitions are shorter than a day.
    public func tableName(start: Int64) -> String {
        let day = start >= 0 ? start / Self.dayMicros : (start - Self.dayMicros + 1) / Self.dayMicros
        let date = Canonical.civilFromDays(Int(day))
        var name = TelemetrySQL.pointsTable + "_" + String(date.year) + Self.twoDigits(date.month) + Self.twoDigits(date.day)
        if hours < 24 { name += "_" + Self.twoDigits(Int((start - day * Self.dayMicros) / Self.hourMicros)) }
        return name
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0" + String(value) : String(value) }
}
