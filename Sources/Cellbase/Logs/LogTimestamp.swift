import FoundationEssentials

/// A wall-clock instant in UTC, rendered as `2026-11-24T02:59:07.042Z`.
///
/// Computed from the seconds since the epoch with plain arithmetic: no time zone database, no
/// `gmtime` call and no formatter object, so stamping a log line costs a clock read and a few
/// divisions. (`Date` here is only that clock read: a `Double` of seconds, precise to well under a
/// microsecond for present-day times.)
public struct LogTimestamp: Sendable, Equatable {
    public var secondsSinceEpoch: Int64
    public var nanoseconds: Int32

    public init(secondsSinceEpoch: Int64, nanoseconds: Int32) {
        self.secondsSinceEpoch = secondsSinceEpoch
        self.nanoseconds = nanoseconds
    }

    public static func now() -> LogTimestamp {
        let seconds = Date.now.timeIntervalSince1970
        let whole = seconds.rounded(.down)
        return LogTimestamp(secondsSinceEpoch: Int64(whole), nanoseconds: Int32(min((seconds - whole) * 1e9, 999_999_999)))
    }

    /// ISO 8601 with milliseconds; `separator` is `T` in JSON and a space for people.
    public func append(to output: inout String, separator: Character = "T") {
        let days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400
        let secondOfDay = secondsSinceEpoch - days * 86_400
        let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
        Self.appendDigits(year, width: 4, to: &output)
        output.append("-")
        Self.appendDigits(month, width: 2, to: &output)
        output.append("-")
        Self.appendDigits(day, width: 2, to: &output)
        output.append(separator)
        Self.appendDigits(secondOfDay / 3600, width: 2, to: &output)
        output.append(":")
        Self.appendDigits(secondOfDay / 60 % 60, width: 2, to: &output)
        output.append(":")
        Self.appendDigits(secondOfDay % 60, width: 2, to: &output)
        output.append(".")
        Self.appendDigits(Int64(nanoseconds / 1_000_000), width: 3, to: &output)
        output.append("Z")
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (days in 400-year eras,
    /// with March as the first month so that the leap day ends a year).
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = daysSinceEpoch + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `value` (not negative) in decimal, zero-padded to `width` digits.
    private static func appendDigits(_ value: Int64, width: Int, to output: inout String) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            output.unicodeScalars.append(Unicode.Scalar(UInt8(truncatingIfNeeded: value / divisor % 10) + UInt8(ascii: "0")))
            divisor /= 10
        }
    }
}
