import CellbaseSQL
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
        let (year, month, day) = Canonical.civilFromDays(Int(days))
        Self.appendDigits(Int64(year), width: 4, to: &output)
        output.append("-")
        Self.appendDigits(Int64(month), width: 2, to: &output)
        output.append("-")
        Self.appendDigits(Int64(day), width: 2, to: &output)
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
