extension CronExpression {
    /// The macros and the five fields each stands for. `@reboot` is not among them: a schedule
    /// runs at times, not at node starts.
    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    private static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    private static let weekdayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    /// The longest each month can be, February in a leap year.
    static let longestMonths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    /// Parses five fields separated by whitespace or a macro, refusing anything that is not exactly
    /// understood and any expression that could never fire.
    init(parsing text: String) throws(CronExpressionError) {
        guard text.utf8.count <= Self.maxLength else {
            throw CronExpressionError(.tooLong, "a cron expression is at most \(Self.maxLength) bytes long; this one has \(text.utf8.count)")
        }
        let fields = text.split(whereSeparator: \.isWhitespace)
        if let first = fields.first, first.hasPrefix("@") {
            guard fields.count == 1 else {
                throw CronExpressionError(.fieldCount, "the macro \(first) is a whole expression: nothing may follow it")
            }
            let macro = first.lowercased()
            guard let expansion = Self.macros[macro] else {
                let reason = macro == "@reboot" ? "a schedule fires at times of day, not when a node starts" : "the macros are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly"
                throw CronExpressionError(.unsupportedMacro, "\(first) is not supported: \(reason)")
            }
            self = try CronExpression(parsing: expansion)
            return
        }
        let layout = "five fields (minute hour day-of-month month day-of-week) are expected"
        switch fields.count {
        case 5: break
        case 0: throw CronExpressionError(.fieldCount, "the cron expression is empty: \(layout)")
        case 6, 7: throw CronExpressionError(.fieldCount, "seconds are not supported: \(layout), found \(fields.count)")
        default: throw CronExpressionError(.fieldCount, "\(layout), found \(fields.count)")
        }
        (minutes, _) = try Self.parseField(fields[0], as: .minute)
        (hours, _) = try Self.parseField(fields[1], as: .hour)
        (daysOfMonth, dayOfMonthIsStar) = try Self.parseField(fields[2], as: .dayOfMonth)
        (months, _) = try Self.parseField(fields[3], as: .month)
        (daysOfWeek, dayOfWeekIsStar) = try Self.parseField(fields[4], as: .dayOfWeek)

        // Every month has every weekday, so only a day-of-month that must match on its own can make
        // the expression impossible, and only through a month too short for it (February 29 exists).
        if dayOfMonthIsStar || dayOfWeekIsStar {
            let earliestDay = daysOfMonth.elements.first ?? Int.max
            guard months.elements.contains(where: { earliestDay <= Self.longestMonths[$0 - 1] }) else {
                throw CronExpressionError(
                    .neverFires, field: .dayOfMonth,
                    "the expression never fires: day-of-month \"\(fields[2])\" does not occur in month \"\(fields[3])\""
                )
            }
        }
    }

    /// One field: `*`, `*/n`, or a comma-separated list of `a`, `a-b`, `a-b/n` and `a/n` (from `a` to
    /// the field's end). Returns the values and whether the field was written with `*`.
    private static func parseField(_ token: Substring, as field: Field) throws(CronExpressionError) -> (CronValueSet, isStar: Bool) {
        func fail(_ code: CronExpressionError.Code, _ reason: String) -> CronExpressionError {
            CronExpressionError(code, field: field, "\(field) field \"\(token)\": \(reason)")
        }

        if token.hasPrefix("*") {
            if token == "*" { return (CronValueSet(field.bounds), true) }
            guard token.hasPrefix("*/") else {
                throw fail(.invalidToken, "a * stands for the whole field, alone or with a step (*/n)")
            }
            let step = try parseStep(token.dropFirst(2), of: field, fail: fail)
            return (CronValueSet(stride(from: field.bounds.lowerBound, through: field.bounds.upperBound, by: step)), true)
        }
        guard !token.contains("*") else {
            throw fail(.invalidToken, "a * stands for the whole field and cannot be part of a list or range")
        }

        var values = CronValueSet()
        for item in token.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail(.emptyItem, "the list has an empty item") }
            let stepParts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let step = try stepParts.count == 2 ? parseStep(stepParts[1], of: field, fail: fail) : 1
            let rangeParts = stepParts[0].split(separator: "-", omittingEmptySubsequences: false)
            let start: Int
            let end: Int
            switch rangeParts.count {
            case 1:
                start = try parseValue(rangeParts[0], of: field, fail: fail)
                // `a/n` runs to the end of the field (`7/2` in day-of-week is just Sunday).
                end = stepParts.count == 2 ? max(field.bounds.upperBound, start) : start
            case 2:
                start = try parseValue(rangeParts[0], of: field, fail: fail)
                let written = try parseValue(rangeParts[1], of: field, fail: fail)
                // `FRI-SUN`: a range that ends on Sunday's name ends on 7.
                end = field == .dayOfWeek && written == 0 && rangeParts[1].first?.isLetter == true ? 7 : written
            default:
                throw fail(.invalidToken, "\"\(item)\" is not a number, a range a-b or a step")
            }
            guard start <= end else {
                throw fail(.reversedRange, "the range \(start)-\(end) is reversed (ranges do not wrap around; write two ranges instead)")
            }
            for value in stride(from: start, through: end, by: step) {
                values.insert(field == .dayOfWeek && value == 7 ? 0 : value)
            }
        }
        return (values, false)
    }

    /// A value of the field: decimal digits, or for month and day-of-week a three-letter English name
    /// in any letter case. Day-of-week takes 7 for Sunday.
    private static func parseValue(
        _ text: Substring,
        of field: Field,
        fail: (CronExpressionError.Code, String) -> CronExpressionError
    ) throws(CronExpressionError) -> Int {
        guard !text.isEmpty else {
            throw fail(.invalidToken, "a range needs a value on each side of the -")
        }
        let upper = field == .dayOfWeek ? 7 : field.bounds.upperBound
        if text.utf8.allSatisfy(\.isASCIIDigit) {
            // Too many digits to be in any field; parsing them could overflow.
            guard text.count <= 4, let value = Int(text), (field.bounds.lowerBound...upper).contains(value) else {
                throw fail(.outOfRange, "\(text) is out of range \(field.bounds.lowerBound)-\(upper)")
            }
            return value
        }
        let names: [String]
        let offset: Int
        switch field {
        case .month: (names, offset) = (monthNames, 1)
        case .dayOfWeek: (names, offset) = (weekdayNames, 0)
        default: throw fail(.invalidToken, "\"\(text)\" is not a number")
        }
        guard let index = names.firstIndex(of: text.uppercased()) else {
            throw fail(.invalidToken, "\"\(text)\" is neither a number nor a name (\(names.first!)-\(names.last!))")
        }
        return index + offset
    }

    /// The `n` of a step: at least 1, and no wider than the field's span, where it would pick one value.
    private static func parseStep(
        _ text: Substring,
        of field: Field,
        fail: (CronExpressionError.Code, String) -> CronExpressionError
    ) throws(CronExpressionError) -> Int {
        let span = field.bounds.upperBound - field.bounds.lowerBound
        guard !text.isEmpty, text.utf8.allSatisfy(\.isASCIIDigit) else {
            throw fail(.invalidStep, "the step \"\(text)\" is not a number")
        }
        guard text.count <= 4, let step = Int(text), step <= span else {
            throw fail(.invalidStep, "the step \(text) is wider than the field (at most \(span))")
        }
        guard step >= 1 else { throw fail(.invalidStep, "the step must be at least 1") }
        return step
    }
}

extension UInt8 {
    fileprivate var isASCIIDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}
