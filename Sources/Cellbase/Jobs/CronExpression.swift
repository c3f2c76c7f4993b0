/// A five-field cron schedule: minute, hour, day of month, month, day of week.
///
/// Parsed once when a schedule is declared (`init(parsing:)`), then asked for its next fire time
/// (`nextFire(after:in:)`, in `CronExpression+NextFire.swift`). The syntax is Vixie cron's without its
/// extensions that cannot be scheduled: see docs/JOBS.md. Values are kept as bit sets, so
/// expressions that differ only in spelling (names, Sunday as 7, macros, the order of a list) are
/// equal and print the same normalised text.
struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The five fields, in the order they are written.
    enum Field: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case minute, hour, dayOfMonth, month, dayOfWeek

        var description: String {
            switch self {
            case .minute: "minute"
            case .hour: "hour"
            case .dayOfMonth: "day-of-month"
            case .month: "month"
            case .dayOfWeek: "day-of-week"
            }
        }

        /// The values the field holds. Day-of-week also accepts 7 for Sunday, stored as 0.
        var bounds: ClosedRange<Int> {
            switch self {
            case .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...6
            }
        }
    }

    /// The longest text `init(parsing:)` reads; longer input is refused before it is looked at.
    static let maxLength = 256

    var minutes: CronValueSet
    var hours: CronValueSet
    var daysOfMonth: CronValueSet
    var months: CronValueSet
    /// Sunday is 0.
    var daysOfWeek: CronValueSet
    /// Whether the day-of-month field was written starting with `*` (`*` or `*/n`). As in Vixie cron,
    /// this and not the set of days decides how the two day fields combine (`matchesDay`).
    var dayOfMonthIsStar: Bool
    /// Whether the day-of-week field was written starting with `*`.
    var dayOfWeekIsStar: Bool

    /// Whether a calendar day matches: when either day field starts with `*`, both fields must match
    /// (so a `*` field matches every day); when both are restricted, either one matching is enough,
    /// so `0 0 1 * MON` fires on the first of the month and on every Monday.
    func matchesDay(day: Int, weekday: Int) -> Bool {
        if dayOfMonthIsStar || dayOfWeekIsStar {
            return daysOfMonth.contains(day) && daysOfWeek.contains(weekday)
        }
        return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
    }

    /// The normalised expression: five fields, numbers rather than names, Sunday as 0, macros expanded,
    /// each field in its shortest canonical form. Parsing it gives back an equal expression.
    var description: String {
        [
            Self.render(minutes, of: .minute, isStar: false),
            Self.render(hours, of: .hour, isStar: false),
            Self.render(daysOfMonth, of: .dayOfMonth, isStar: dayOfMonthIsStar),
            Self.render(months, of: .month, isStar: false),
            Self.render(daysOfWeek, of: .dayOfWeek, isStar: dayOfWeekIsStar),
        ].joined(separator: " ")
    }

    /// `*` or `*/n` for a field that was written with `*` (which matters for the two day fields) or,
    /// for the other fields, whose values are exactly those; otherwise `a-b/n` for an arithmetic
    /// progression of at least three values, or a list of single values and runs (`a-b`, three or more).
    private static func render(_ values: CronValueSet, of field: Field, isStar: Bool) -> String {
        let elements = values.elements
        let step = elements.count >= 2 ? elements[1] - elements[0] : 0
        let isProgression = elements.count >= 2 && zip(elements, elements.dropFirst()).allSatisfy { $1 - $0 == step }
        let spansField = elements.first == field.bounds.lowerBound && elements.last! + step > field.bounds.upperBound
        let starSignificant = field == .dayOfMonth || field == .dayOfWeek
        if isStar || (!starSignificant && (elements.count == field.bounds.count || (isProgression && spansField && elements.count >= 3))) {
            return elements.count == field.bounds.count ? "*" : "*/\(step)"
        }
        if isProgression && step >= 2 && elements.count >= 3 {
            return "\(elements.first!)-\(elements.last!)/\(step)"
        }
        var items: [String] = []
        var index = 0
        while index < elements.count {
            var end = index
            while end + 1 < elements.count && elements[end + 1] == elements[end] + 1 { end += 1 }
            if end - index >= 2 {
                items.append("\(elements[index])-\(elements[end])")
            } else {
                items.append(contentsOf: elements[index...end].map(String.init))
            }
            index = end + 1
        }
        return items.joined(separator: ",")
    }
}

/// A set of values from 0 to 63 as a bit mask: every cron field fits, and finding the next member
/// at or after a value is one shift.
struct CronValueSet: Sendable, Hashable {
    private(set) var bits: UInt64 = 0

    init() {}

    init(_ values: some Sequence<Int>) {
        for value in values { insert(value) }
    }

    func contains(_ value: Int) -> Bool {
        (0..<64).contains(value) && bits & (1 << UInt64(value)) != 0
    }

    mutating func insert(_ value: Int) {
        precondition((0..<64).contains(value), "cron values are below 64")
        bits |= 1 << UInt64(value)
    }

    mutating func formUnion(_ other: CronValueSet) {
        bits |= other.bits
    }

    /// The smallest member that is at least `value`.
    func first(atOrAfter value: Int) -> Int? {
        guard value < 64 else { return nil }
        let remaining = bits >> UInt64(max(value, 0))
        guard remaining != 0 else { return nil }
        return max(value, 0) + remaining.trailingZeroBitCount
    }

    var isEmpty: Bool { bits == 0 }

    /// The members in ascending order.
    var elements: [Int] {
        (0..<64).filter { bits & (1 << UInt64($0)) != 0 }
    }
}
