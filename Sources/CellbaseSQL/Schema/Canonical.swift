/// Canonical text forms of the date, time and uuid types.
///
/// On SQLite these values are stored and compared as text, so every write and every filter value is
/// normalised to the one form PostgreSQL prints in JSON (see docs/TYPES.md). Each function accepts
/// the ISO 8601 subset of what PostgreSQL accepts and returns `nil` for anything else, including the
/// special inputs `now`, `today`, `infinity` and `epoch`, which depend on the clock or have no
/// portable storage.
///
/// Accepted timestamp forms, with surrounding whitespace ignored:
/// `YYYY-M[M]-D[D]` optionally followed by `T`, `t` or spaces and `H[H]:MM[:SS[.fraction]]`,
/// optionally followed (after optional spaces) by `Z`, `z`, `±H[H]`, `±H[H]:MM` or `±HHMM`.
/// Years are 0001–9999 (also after conversion to UTC), offsets at most ±15:59 as in PostgreSQL.
/// `24:00:00` is accepted and means midnight of the next day, as in PostgreSQL. Fractions longer
/// than six digits are rounded to microseconds as PostgreSQL does (to nearest, ties to even), with
/// a carry into the seconds.
public enum Canonical {
    /// Any accepted timestamptz input → UTC canonical text
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, the fraction trimmed of trailing zeros (none when 0).
    /// A value without an offset is taken as UTC, the session time zone of a PostgreSQL shard.
    public static func timestamptz(_ text: String) -> String? {
        guard let parts = DateTimeText.parse(text, allowTime: true) else { return nil }
        return parts.render(applyingOffset: true, withOffsetSuffix: true)
    }

    /// timestamp without time zone → `YYYY-MM-DDTHH:MM:SS[.ffffff]`. An offset in the input is
    /// validated and then ignored, as PostgreSQL does.
    public static func timestamp(_ text: String) -> String? {
        guard let parts = DateTimeText.parse(text, allowTime: true) else { return nil }
        return parts.render(applyingOffset: false, withOffsetSuffix: false)
    }

    /// `YYYY-MM-DD`. A time part is rejected rather than truncated.
    public static func date(_ text: String) -> String? {
        guard let parts = DateTimeText.parse(text, allowTime: false) else { return nil }
        var output = ""
        output.reserveCapacity(10)
        appendDate(year: parts.year, month: parts.month, day: parts.day, to: &output)
        return output
    }

    /// Lowercase 8-4-4-4-12. Like PostgreSQL, accepts upper case, one pair of braces around the
    /// value and a hyphen (or none) after any group of four hex digits; no surrounding whitespace.
    public static func uuid(_ text: String) -> String? {
        var bytes = text.utf8.makeIterator()
        var next = bytes.next()
        let braced = next == UInt8(ascii: "{")
        if braced { next = bytes.next() }
        var output = ""
        output.reserveCapacity(36)
        for index in 0..<32 {
            guard let byte = next, let digit = byte.hexDigitValue.map(Int.init) else { return nil }
            if index == 8 || index == 12 || index == 16 || index == 20 { output.append("-") }
            output.append(Character(Unicode.Scalar(hexDigits[digit])))
            next = bytes.next()
            if index % 4 == 3, index < 31, next == UInt8(ascii: "-") { next = bytes.next() }
        }
        if braced {
            guard next == UInt8(ascii: "}") else { return nil }
            next = bytes.next()
        }
        return next == nil ? output : nil
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days-from-civil).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `daysFromCivil`: the proleptic Gregorian date of a day counted from
    /// 1970-01-01.
    public static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    fileprivate static func appendDate(year: Int, month: Int, day: Int, to output: inout String) {
        appendPadded(year, width: 4, to: &output)
        output.append("-")
        appendPadded(month, width: 2, to: &output)
        output.append("-")
        appendPadded(day, width: 2, to: &output)
    }

    fileprivate static func appendPadded(_ value: Int, width: Int, to output: inout String) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var remaining = value
        while divisor > 0 {
            output.append(Character(Unicode.Scalar(UInt8(ascii: "0") + UInt8(remaining / divisor))))
            remaining %= divisor
            divisor /= 10
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// The fields of a date or timestamp as written, validated but not yet converted.
private struct DateTimeText {
    var year = 0, month = 0, day = 0
    var hour = 0, minute = 0, second = 0, microsecond = 0
    /// Seconds east of UTC.
    var offset = 0

    static func parse(_ text: String, allowTime: Bool) -> DateTimeText? {
        var scanner = Scanner(bytes: Array(text.utf8))
        scanner.skipSpaces()
        var parts = DateTimeText()
        guard let year = scanner.digits(min: 4, max: 4), scanner.take(UInt8(ascii: "-")),
              let month = scanner.digits(min: 1, max: 2), scanner.take(UInt8(ascii: "-")),
              let day = scanner.digits(min: 1, max: 2),
              year >= 1, (1...12).contains(month), day >= 1,
              day <= Canonical.daysInMonth(year: year, month: month)
        else { return nil }
        (parts.year, parts.month, parts.day) = (year, month, day)

        let hasTime: Bool
        if scanner.take(UInt8(ascii: "T")) || scanner.take(UInt8(ascii: "t")) {
            hasTime = true
        } else {
            hasTime = scanner.skipSpaces() && !scanner.isAtEnd
        }
        if hasTime {
            guard allowTime, parts.parseTime(&scanner) else { return nil }
            scanner.skipSpaces()
            if !scanner.isAtEnd {
                guard let offset = Self.parseOffset(&scanner) else { return nil }
                parts.offset = offset
            }
        }
        scanner.skipSpaces()
        return scanner.isAtEnd ? parts : nil
    }

    private mutating func parseTime(_ scanner: inout Scanner) -> Bool {
        guard let hour = scanner.digits(min: 1, max: 2), scanner.take(UInt8(ascii: ":")),
              let minute = scanner.digits(min: 2, max: 2)
        else { return false }
        var second = 0
        var microsecond = 0
        if scanner.take(UInt8(ascii: ":")) {
            guard let value = scanner.digits(min: 2, max: 2) else { return false }
            second = value
            if scanner.take(UInt8(ascii: ".")) {
                guard let fraction = scanner.fractionMicroseconds() else { return false }
                microsecond = fraction
            }
        }
        // 24:00:00 is PostgreSQL's end of day; any later time of that hour is not.
        let isEndOfDay = hour == 24 && minute == 0 && second == 0 && microsecond == 0
        guard hour <= 23 || isEndOfDay, minute <= 59, second <= 59 else { return false }
        (self.hour, self.minute, self.second, self.microsecond) = (hour, minute, second, microsecond)
        return true
    }

    private static func parseOffset(_ scanner: inout Scanner) -> Int? {
        if scanner.take(UInt8(ascii: "Z")) || scanner.take(UInt8(ascii: "z")) { return 0 }
        let sign: Int
        if scanner.take(UInt8(ascii: "+")) {
            sign = 1
        } else if scanner.take(UInt8(ascii: "-")) {
            sign = -1
        } else {
            return nil
        }
        let hours: Int
        var minutes = 0
        if scanner.digitCount == 4 {
            // ±HHMM
            guard let value = scanner.digits(min: 4, max: 4) else { return nil }
            (hours, minutes) = (value / 100, value % 100)
        } else {
            guard let value = scanner.digits(min: 1, max: 2) else { return nil }
            hours = value
            if scanner.take(UInt8(ascii: ":")) {
                guard let value = scanner.digits(min: 2, max: 2) else { return nil }
                minutes = value
            }
        }
        guard hours <= 15, minutes <= 59 else { return nil }
        return sign * (hours * 3600 + minutes * 60)
    }

    func render(applyingOffset: Bool, withOffsetSuffix: Bool) -> String? {
        let secondOfDay = hour * 3600 + minute * 60 + second - (applyingOffset ? offset : 0)
        // A fraction rounded up to a whole second carries into the seconds.
        let carry = microsecond / 1_000_000
        let total = Canonical.daysFromCivil(year: year, month: month, day: day) * 86_400 + secondOfDay + carry
        let days = total >= 0 ? total / 86_400 : (total - 86_399) / 86_400
        let seconds = total - days * 86_400
        let date = Canonical.civilFromDays(days)
        guard (1...9999).contains(date.year) else { return nil }

        var output = ""
        output.reserveCapacity(32)
        Canonical.appendDate(year: date.year, month: date.month, day: date.day, to: &output)
        output.append("T")
        Canonical.appendPadded(seconds / 3600, width: 2, to: &output)
        output.append(":")
        Canonical.appendPadded(seconds % 3600 / 60, width: 2, to: &output)
        output.append(":")
        Canonical.appendPadded(seconds % 60, width: 2, to: &output)
        var fraction = microsecond % 1_000_000
        if fraction > 0 {
            var width = 6
            while fraction % 10 == 0 {
                fraction /= 10
                width -= 1
            }
            output.append(".")
            Canonical.appendPadded(fraction, width: width, to: &output)
        }
        if withOffsetSuffix { output.append("+00:00") }
        return output
    }
}

/// A cursor over ASCII bytes.
private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    var isAtEnd: Bool { position == bytes.count }

    mutating func take(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Skips spaces, tabs and line breaks; whether any were skipped.
    @discardableResult
    mutating func skipSpaces() -> Bool {
        let start = position
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        return position > start
    }

    /// How many decimal digits follow the cursor.
    var digitCount: Int {
        var end = position
        while end < bytes.count, Self.digit(bytes[end]) != nil { end += 1 }
        return end - position
    }

    /// A run of `min...max` decimal digits, not followed by another digit.
    mutating func digits(min: Int, max: Int) -> Int? {
        var value = 0
        var count = 0
        while position < bytes.count, count <= max, let digit = Self.digit(bytes[position]) {
            value = value * 10 + digit
            count += 1
            position += 1
        }
        return (min...max).contains(count) ? value : nil
    }

    /// The digits after a decimal point as microseconds. Beyond six digits PostgreSQL converts the
    /// fraction to a double and rounds `fraction * 1e6` to nearest-even; doing the same keeps
    /// stored values identical on both backends. May return 1,000,000 (a carry).
    mutating func fractionMicroseconds() -> Int? {
        let start = position
        while position < bytes.count, Self.digit(bytes[position]) != nil { position += 1 }
        let count = position - start
        guard count > 0 else { return nil }
        if count <= 6 {
            var value = 0
            for index in start..<start + 6 {
                value = value * 10 + (index < position ? Self.digit(bytes[index])! : 0)
            }
            return value
        }
        guard let fraction = Double("0." + String(decoding: bytes[start..<position], as: UTF8.self)) else { return nil }
        return Int((fraction * 1_000_000).rounded(.toNearestOrEven))
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }
}
