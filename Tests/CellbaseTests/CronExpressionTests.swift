import Foundation
import Testing

@testable import Cellbase

/// Cron expressions: parsing, refusals, normalised text, and `nextFire` across calendars and time
/// zones, checked against a brute-force minute-by-minute search. No I/O, no clock.
@Suite struct CronExpressionTests {
    // MARK: - Helpers

    private static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// `2026-03-29T01:00Z` (optionally with seconds) as a date.
    private static func instant(_ text: String) -> Date {
        let digits = text.split(whereSeparator: { !$0.isNumber }).map { Int($0)! }
        let components = DateComponents(
            year: digits[0], month: digits[1], day: digits[2], hour: digits[3], minute: digits[4], second: digits.count > 5 ? digits[5] : 0
        )
        return utcCalendar.date(from: components)!
    }

    /// A date as `2026-03-29T01:00Z`, or with seconds when it has them.
    private static func iso(_ date: Date?) -> String? {
        guard let date else { return nil }
        let parts = utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { value! < 10 ? "0\(value!)" : "\(value!)" }
        let seconds = parts.second == 0 ? "" : ":" + two(parts.second)
        return "\(parts.year!)-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute))\(seconds)Z"
    }

    private static func zone(_ identifier: String) throws -> TimeZone {
        try #require(TimeZone(identifier: identifier))
    }

    private func next(_ expression: String, after: String, in zone: String = "UTC") throws -> String? {
        let cron = try CronExpression(parsing: expression)
        return Self.iso(cron.nextFire(after: Self.instant(after), in: try Self.zone(zone)))
    }

    /// The first `count` fire times after `after`, each found from the one before.
    private func fires(_ expression: String, after: String, count: Int, in zone: String = "UTC") throws -> [String] {
        let cron = try CronExpression(parsing: expression)
        let timeZone = try Self.zone(zone)
        var date = Self.instant(after)
        var result: [String] = []
        for _ in 0..<count {
            guard let fire = cron.nextFire(after: date, in: timeZone) else { break }
            result.append(Self.iso(fire)!)
            date = fire
        }
        return result
    }

    private func refusal(_ expression: String) -> CronExpressionError? {
        do {
            _ = try CronExpression(parsing: expression)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Syntax

    private static let minuteForms: [(String, [Int])] = [
        ("*", Array(0...59)),
        ("*/15", [0, 15, 30, 45]),
        ("*/59", [0, 59]),
        ("7", [7]),
        ("07", [7]),
        ("0", [0]),
        ("59", [59]),
        ("1-5", [1, 2, 3, 4, 5]),
        ("5-5", [5]),
        ("1,3,5", [1, 3, 5]),
        ("5,1,5", [1, 5]),
        ("10-20/5", [10, 15, 20]),
        ("10-21/5", [10, 15, 20]),
        ("50/3", [50, 53, 56, 59]),
        ("0/20", [0, 20, 40]),
        ("1-3,10-12", [1, 2, 3, 10, 11, 12]),
        ("1,2-4,10/20", [1, 2, 3, 4, 10, 30, 50]),
    ]

    @Test(arguments: minuteForms)
    func minuteSyntax(token: String, values: [Int]) throws {
        let cron = try CronExpression(parsing: "\(token) * * * *")
        #expect(cron.minutes.elements == values)
    }

    @Test func everyFieldHasItsOwnRange() throws {
        let cron = try CronExpression(parsing: "* * * * *")
        #expect(cron.minutes.elements == Array(0...59))
        #expect(cron.hours.elements == Array(0...23))
        #expect(cron.daysOfMonth.elements == Array(1...31))
        #expect(cron.months.elements == Array(1...12))
        #expect(cron.daysOfWeek.elements == Array(0...6))

        let stepped = try CronExpression(parsing: "*/7 */7 */10 */5 */3")
        #expect(stepped.minutes.elements == [0, 7, 14, 21, 28, 35, 42, 49, 56])
        #expect(stepped.hours.elements == [0, 7, 14, 21])
        #expect(stepped.daysOfMonth.elements == [1, 11, 21, 31])
        #expect(stepped.months.elements == [1, 6, 11])
        #expect(stepped.daysOfWeek.elements == [0, 3, 6])
    }

    @Test func fieldsMaySitBetweenAnyWhitespace() throws {
        let cron = try CronExpression(parsing: "  5\t4  *   * \t 1 \n")
        #expect(cron.description == "5 4 * * 1")
    }

    private static let monthForms: [(String, [Int])] = [
        ("JAN", [1]), ("jan", [1]), ("Dec", [12]), ("JAN-MAR", [1, 2, 3]), ("jan,jun,DeC", [1, 6, 12]),
        ("FEB-NOV/3", [2, 5, 8, 11]), ("OCT/1", [10, 11, 12]), ("1,FEB", [1, 2]), ("mar-5", [3, 4, 5]),
    ]

    @Test(arguments: monthForms)
    func monthNames(token: String, values: [Int]) throws {
        #expect(try CronExpression(parsing: "0 0 1 \(token) *").months.elements == values)
    }

    private static let weekdayForms: [(String, [Int])] = [
        ("0", [0]), ("7", [0]), ("SUN", [0]), ("sun", [0]), ("Sat", [6]), ("MON-FRI", [1, 2, 3, 4, 5]),
        ("5-7", [0, 5, 6]), ("FRI-SUN", [0, 5, 6]), ("0-7", [0, 1, 2, 3, 4, 5, 6]), ("0,7", [0]),
        ("*/2", [0, 2, 4, 6]), ("1-7/2", [0, 1, 3, 5]), ("tue,THU", [2, 4]), ("7/2", [0]),
    ]

    @Test(arguments: weekdayForms)
    func weekdayNamesAndSunday(token: String, values: [Int]) throws {
        #expect(try CronExpression(parsing: "0 0 * * \(token)").daysOfWeek.elements == values)
    }

    @Test func sundayIsZeroAndSeven() throws {
        let zero = try CronExpression(parsing: "0 0 * * 0")
        #expect(try CronExpression(parsing: "0 0 * * 7") == zero)
        #expect(try CronExpression(parsing: "0 0 * * SUN") == zero)
        #expect(try next("0 12 * * 7", after: "2026-11-24T00:00Z") == "2026-11-29T12:00Z")
        #expect(try next("0 12 * * 0", after: "2026-11-24T00:00Z") == "2026-11-29T12:00Z")
    }

    @Test(arguments: [
        ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"),
        ("  @Hourly ", "0 * * * *"),
    ])
    func macros(macro: String, expansion: String) throws {
        let cron = try CronExpression(parsing: macro)
        #expect(cron == (try CronExpression(parsing: expansion)))
        #expect(cron.description == expansion)
    }

    @Test(arguments: [
        ("0 0 * * 7", "0 0 * * 0"),
        ("*/15 9-17 * JAN-MAR MON-FRI", "*/15 9-17 * 1-3 1-5"),
        ("0,15,30,45 * * * *", "*/15 * * * *"),
        ("0-59/15 * * * *", "*/15 * * * *"),
        ("*/30 * * * *", "0,30 * * * *"),
        ("5-59/20 * * * *", "5-45/20 * * * *"),
        ("0 0 */2 * *", "0 0 */2 * *"),
        ("0 0 1-31/2 * *", "0 0 1-31/2 * *"),
        ("0 0 1-31 * *", "0 0 1-31 * *"),
        ("0 0 * * 0-7", "0 0 * * 0-6"),
        ("1,2,3,5,6,9 * * * *", "1-3,5,6,9 * * * *"),
        ("0 0 * */2 *", "0 0 * */2 *"),
        ("0 0 * 1-12/2 *", "0 0 * */2 *"),
        ("0 0 * * FRI-SUN", "0 0 * * 0,5,6"),
        ("@weekly", "0 0 * * 0"),
    ])
    func normalisedText(expression: String, normalised: String) throws {
        let cron = try CronExpression(parsing: expression)
        #expect(cron.description == normalised)
        #expect(try CronExpression(parsing: cron.description) == cron)
    }

    // MARK: - Refusals

    private static let refusals: [(String, CronExpressionError.Code, CronExpression.Field?, String)] = [
        ("", .fieldCount, nil, "empty"),
        ("   ", .fieldCount, nil, "empty"),
        ("* * * *", .fieldCount, nil, "found 4"),
        ("* * * * * * * *", .fieldCount, nil, "found 8"),
        ("0 * * * * *", .fieldCount, nil, "seconds are not supported: five fields"),
        ("0 0 * * * * 2026", .fieldCount, nil, "seconds are not supported"),
        ("@reboot", .unsupportedMacro, nil, "@reboot is not supported"),
        ("@REBOOT", .unsupportedMacro, nil, "@REBOOT is not supported"),
        ("@every", .unsupportedMacro, nil, "@every is not supported"),
        ("@daily 5", .fieldCount, nil, "@daily"),
        ("60 * * * *", .outOfRange, .minute, "minute field \"60\": 60 is out of range 0-59"),
        ("* 24 * * *", .outOfRange, .hour, "hour field \"24\": 24 is out of range 0-23"),
        ("* * 0 * *", .outOfRange, .dayOfMonth, "day-of-month field \"0\": 0 is out of range 1-31"),
        ("* * 1-32 * *", .outOfRange, .dayOfMonth, "32 is out of range 1-31"),
        ("* * * 13 *", .outOfRange, .month, "month field \"13\""),
        ("* * * 0 *", .outOfRange, .month, "0 is out of range 1-12"),
        ("* * * * 8", .outOfRange, .dayOfWeek, "day-of-week field \"8\": 8 is out of range 0-7"),
        ("99999999999999999999 * * * *", .outOfRange, .minute, "out of range"),
        ("* 20-5 * * *", .reversedRange, .hour, "hour field \"20-5\": the range 20-5 is reversed"),
        ("* * * DEC-JAN *", .reversedRange, .month, "the range 12-1 is reversed"),
        ("* * * * SAT-MON", .reversedRange, .dayOfWeek, "day-of-week"),
        ("*/0 * * * *", .invalidStep, .minute, "minute field \"*/0\": the step must be at least 1"),
        ("* 1-5/0 * * *", .invalidStep, .hour, "at least 1"),
        ("*/60 * * * *", .invalidStep, .minute, "wider than the field (at most 59)"),
        ("* * * * */7", .invalidStep, .dayOfWeek, "at most 6"),
        ("*/ * * * *", .invalidStep, .minute, "the step \"\" is not a number"),
        ("*/x * * * *", .invalidStep, .minute, "not a number"),
        ("1/2/3 * * * *", .invalidStep, .minute, "\"2/3\""),
        ("1,,2 * * * *", .emptyItem, .minute, "minute field \"1,,2\": the list has an empty item"),
        ("* 1, * * *", .emptyItem, .hour, "empty item"),
        ("* * ,1 * *", .emptyItem, .dayOfMonth, "empty item"),
        ("x * * * *", .invalidToken, .minute, "minute field \"x\": \"x\" is not a number"),
        ("* MON * * *", .invalidToken, .hour, "\"MON\" is not a number"),
        ("* * * FOO *", .invalidToken, .month, "neither a number nor a name (JAN-DEC)"),
        ("* * * * MONDAY", .invalidToken, .dayOfWeek, "(SUN-SAT)"),
        ("* * * JAN-MON *", .invalidToken, .month, "\"MON\""),
        ("-5 * * * *", .invalidToken, .minute, "a value on each side"),
        ("1- * * * *", .invalidToken, .minute, "a value on each side"),
        ("1-2-3 * * * *", .invalidToken, .minute, "not a number, a range"),
        ("*5 * * * *", .invalidToken, .minute, "alone or with a step"),
        ("1,* * * * *", .invalidToken, .minute, "cannot be part of a list"),
        ("** * * * *", .invalidToken, .minute, "minute field \"**\""),
        ("? * * * *", .invalidToken, .minute, "\"?\""),
        ("1.5 * * * *", .invalidToken, .minute, "\"1.5\""),
        ("０ * * * *", .invalidToken, .minute, "\"０\""),
        ("* * L * *", .invalidToken, .dayOfMonth, "day-of-month"),
        ("0 0 30 2 *", .neverFires, .dayOfMonth, "never fires: day-of-month \"30\" does not occur in month \"2\""),
        ("0 0 31 4,6,9,11 *", .neverFires, .dayOfMonth, "day-of-month \"31\" does not occur in month \"4,6,9,11\""),
        ("0 0 30-31 FEB *", .neverFires, .dayOfMonth, "never fires"),
        ("0 0 31 2 */2", .neverFires, .dayOfMonth, "never fires"),
        ("0 0 31 2 *", .neverFires, .dayOfMonth, "never fires"),
    ]

    @Test(arguments: refusals)
    func refuses(expression: String, code: CronExpressionError.Code, field: CronExpression.Field?, fragment: String) throws {
        let error = try #require(refusal(expression))
        #expect(error.code == code)
        #expect(error.field == field)
        #expect(error.description.contains(fragment), "\(error.description)")
        if let field { #expect(error.description.contains(field.description)) }
    }

    @Test func refusesOverlongInput() throws {
        let long = "0 0 * * " + String(repeating: "1,", count: 200) + "1"
        let error = try #require(refusal(long))
        #expect(error.code == .tooLong)
        #expect(error.description.contains("at most 256 bytes"))
        #expect(refusal(String(repeating: " ", count: 247) + "* * * * *") == nil)
        #expect(refusal(String(repeating: " ", count: 248) + "* * * * *")?.code == .tooLong)
    }

    @Test func feasibleDayAndMonthCombinationsAreAccepted() throws {
        // February 29 exists in leap years; a restricted weekday lets any day-of-month through.
        for expression in ["0 0 29 2 *", "0 0 30 2 MON", "0 0 31 4 1-5", "0 0 30,31 2,3 *", "0 0 31 * *"] {
            #expect(refusal(expression) == nil, "\(expression)")
        }
    }

    // MARK: - Days

    @Test func restrictedDayOfMonthAndDayOfWeekFireOnEither() throws {
        // 2026-02-13 and 2026-03-13 are Fridays; the other Fridays fire too, and so does each 13th.
        #expect(try fires("0 0 13 * FRI", after: "2026-02-01T00:00Z", count: 7) == [
            "2026-02-06T00:00Z", "2026-02-13T00:00Z", "2026-02-20T00:00Z", "2026-02-27T00:00Z",
            "2026-03-06T00:00Z", "2026-03-13T00:00Z", "2026-03-20T00:00Z",
        ])
        #expect(try fires("0 0 1,15 * MON", after: "2026-06-01T00:00Z", count: 5) == [
            "2026-06-08T00:00Z", "2026-06-15T00:00Z", "2026-06-22T00:00Z", "2026-06-29T00:00Z", "2026-07-01T00:00Z",
        ])
    }

    @Test func aDayFieldStartingWithStarMakesBothMatch() throws {
        // `*/2` is a star field, as in Vixie cron: odd days that are Mondays.
        #expect(try fires("0 0 */2 * MON", after: "2026-06-01T00:00Z", count: 4) == [
            "2026-06-15T00:00Z", "2026-06-29T00:00Z", "2026-07-13T00:00Z", "2026-07-27T00:00Z",
        ])
        #expect(try fires("0 0 13 * */1", after: "2026-02-01T00:00Z", count: 2) == ["2026-02-13T00:00Z", "2026-03-13T00:00Z"])
        #expect(try fires("0 0 * * FRI", after: "2026-02-01T00:00Z", count: 2) == ["2026-02-06T00:00Z", "2026-02-13T00:00Z"])
        #expect(try fires("0 0 13 * *", after: "2026-02-01T00:00Z", count: 2) == ["2026-02-13T00:00Z", "2026-03-13T00:00Z"])
    }

    @Test func stepArithmetic() throws {
        #expect(try fires("*/7 * * * *", after: "2026-05-05T12:55Z", count: 3) == ["2026-05-05T12:56Z", "2026-05-05T13:00Z", "2026-05-05T13:07Z"])
        #expect(try fires("5-59/20 * * * *", after: "2026-05-05T12:00Z", count: 4) == [
            "2026-05-05T12:05Z", "2026-05-05T12:25Z", "2026-05-05T12:45Z", "2026-05-05T13:05Z",
        ])
        #expect(try fires("0 */5 * * *", after: "2026-05-05T21:00Z", count: 2) == ["2026-05-06T00:00Z", "2026-05-06T05:00Z"])
        #expect(try fires("0 0 */10 * *", after: "2026-01-21T00:00Z", count: 3) == ["2026-01-31T00:00Z", "2026-02-01T00:00Z", "2026-02-11T00:00Z"])
    }

    @Test func leapDayFiresEveryMinuteThenWaitsFourYears() throws {
        let cron = try CronExpression(parsing: "* * 29 2 *")
        let utc = try Self.zone("UTC")
        var date = Self.instant("2028-02-28T23:59Z")
        var expected = Self.instant("2028-02-29T00:00Z")
        for _ in 0..<1_440 {
            let fire = try #require(cron.nextFire(after: date, in: utc))
            #expect(fire == expected)
            date = fire
            expected += 60
        }
        #expect(Self.iso(cron.nextFire(after: date, in: utc)) == "2032-02-29T00:00Z")
        #expect(try next("* * 29 2 *", after: "2029-03-01T00:00Z") == "2032-02-29T00:00Z")
        // 2100 is not a leap year.
        #expect(try next("0 0 29 2 *", after: "2096-03-01T00:00Z") == "2104-02-29T00:00Z")
        // A leap day on a Saturday or Sunday: `*/6` is a star field, so both day fields must match.
        #expect(try fires("0 0 29 2 */6", after: "2026-01-01T00:00Z", count: 2) == ["2032-02-29T00:00Z", "2048-02-29T00:00Z"])
    }

    @Test func monthEnds() throws {
        #expect(try fires("0 0 31 * *", after: "2026-01-31T00:00Z", count: 7) == [
            "2026-03-31T00:00Z", "2026-05-31T00:00Z", "2026-07-31T00:00Z", "2026-08-31T00:00Z",
            "2026-10-31T00:00Z", "2026-12-31T00:00Z", "2027-01-31T00:00Z",
        ])
        #expect(try fires("30 12 30 * *", after: "2027-01-30T12:30Z", count: 2) == ["2027-03-30T12:30Z", "2027-04-30T12:30Z"])
        #expect(try fires("0 0 29 * *", after: "2027-01-29T00:00Z", count: 1) == ["2027-03-29T00:00Z"])
        #expect(try fires("0 0 29 * *", after: "2028-01-29T00:00Z", count: 1) == ["2028-02-29T00:00Z"])
    }

    @Test func yearRollover() throws {
        #expect(try next("0 0 1 1 *", after: "2026-12-31T23:59Z") == "2027-01-01T00:00Z")
        #expect(try next("59 23 31 12 *", after: "2026-12-31T23:59Z") == "2027-12-31T23:59Z")
        #expect(try next("* * * * *", after: "2026-12-31T23:59Z") == "2027-01-01T00:00Z")
        #expect(try next("0 0 * JAN MON", after: "2026-12-31T00:00Z") == "2027-01-04T00:00Z")
        #expect(try next("@yearly", after: "1999-12-31T23:59:59Z") == "2000-01-01T00:00Z")
    }

    @Test func theNextFireIsStrictlyAfter() throws {
        let cron = try CronExpression(parsing: "* * * * *")
        let utc = try Self.zone("UTC")
        let noon = Self.instant("2026-05-05T12:00Z")
        #expect(cron.nextFire(after: noon, in: utc) == noon + 60)
        #expect(cron.nextFire(after: noon - 0.001, in: utc) == noon)
        #expect(cron.nextFire(after: noon + 0.5, in: utc) == noon + 60)
        #expect(cron.nextFire(after: noon + 59.999, in: utc) == noon + 60)
        #expect(try next("0 0 * * *", after: "1969-12-31T12:00Z") == "1970-01-01T00:00Z")
        #expect(try next("0 0 1 1 *", after: "1900-06-01T00:00Z") == "1901-01-01T00:00Z")
    }

    @Test func datesThatCannotBeSearchedHaveNoFire() throws {
        let cron = try CronExpression(parsing: "* * * * *")
        let utc = try Self.zone("UTC")
        #expect(cron.nextFire(after: Date(timeIntervalSince1970: .nan), in: utc) == nil)
        #expect(cron.nextFire(after: Date(timeIntervalSince1970: .infinity), in: utc) == nil)
        #expect(cron.nextFire(after: Date(timeIntervalSince1970: 1e12), in: utc) == nil)
        #expect(Self.iso(cron.nextFire(after: Date.distantFuture, in: utc)) == "4001-01-01T00:01Z")
    }

    // MARK: - Time zones

    @Test func fixedOffsetZones() throws {
        #expect(try next("30 5 * * *", after: "2026-05-05T00:00Z", in: "Asia/Kolkata") == "2026-05-06T00:00Z")
        #expect(try fires("@hourly", after: "2026-05-05T00:00Z", count: 2, in: "Asia/Kolkata") == ["2026-05-05T00:30Z", "2026-05-05T01:30Z"])
        // Midnight in Kolkata is 18:30 UTC the day before: the day fields are read on the local calendar.
        #expect(try next("0 0 1 * *", after: "2026-05-05T00:00Z", in: "Asia/Kolkata") == "2026-05-31T18:30Z")
        #expect(try next("0 0 * * MON", after: "2026-11-24T00:00Z", in: "Asia/Kolkata") == "2026-11-29T18:30Z")
        #expect(try next("45 23 * * *", after: "2026-05-05T00:00Z", in: "Asia/Kathmandu") == "2026-05-05T18:00Z")
    }

    @Test func berlinSpringForwardSkipsTheLostHour() throws {
        // 2026-03-29: at 01:00 UTC the clocks go from 02:00 CET to 03:00 CEST; 02:xx does not exist.
        #expect(try next("30 2 * * *", after: "2026-03-28T12:00Z", in: "Europe/Berlin") == "2026-03-30T00:30Z")
        #expect(try next("30 2 * * *", after: "2026-03-27T12:00Z", in: "Europe/Berlin") == "2026-03-28T01:30Z")
        #expect(try next("0 3 * * *", after: "2026-03-28T12:00Z", in: "Europe/Berlin") == "2026-03-29T01:00Z")
        #expect(try next("59 1 * * *", after: "2026-03-28T12:00Z", in: "Europe/Berlin") == "2026-03-29T00:59Z")
        #expect(try fires("* * * * *", after: "2026-03-29T00:58Z", count: 3, in: "Europe/Berlin") == [
            "2026-03-29T00:59Z", "2026-03-29T01:00Z", "2026-03-29T01:01Z",
        ])
        #expect(try fires("0 * * * *", after: "2026-03-28T23:30Z", count: 3, in: "Europe/Berlin") == [
            "2026-03-29T00:00Z", "2026-03-29T01:00Z", "2026-03-29T02:00Z",
        ])
    }

    @Test func berlinFallBackFiresRepeatedTimesOnce() throws {
        // 2026-10-25: at 01:00 UTC the clocks go from 03:00 CEST back to 02:00 CET; 02:xx happens twice.
        #expect(try fires("30 2 * * *", after: "2026-10-24T12:00Z", count: 2, in: "Europe/Berlin") == [
            "2026-10-25T00:30Z", "2026-10-26T01:30Z",
        ])
        #expect(try next("30 2 * * *", after: "2026-10-25T01:00Z", in: "Europe/Berlin") == "2026-10-26T01:30Z")
        #expect(try next("0 3 * * *", after: "2026-10-25T00:30Z", in: "Europe/Berlin") == "2026-10-25T02:00Z")
        // An hourly schedule: 02:00 fires in summer time, the repeated 02:00 does not, 03:00 CET does.
        #expect(try fires("0 * * * *", after: "2026-10-24T23:30Z", count: 3, in: "Europe/Berlin") == [
            "2026-10-25T00:00Z", "2026-10-25T02:00Z", "2026-10-25T03:00Z",
        ])
        // After the second 02:30 the next minute to fire is 03:00 CET.
        #expect(try next("* * * * *", after: "2026-10-25T01:30Z", in: "Europe/Berlin") == "2026-10-25T02:00Z")
        #expect(try next("* * * * *", after: "2026-10-25T00:30Z", in: "Europe/Berlin") == "2026-10-25T00:31Z")
    }

    @Test func newYorkTransitions() throws {
        // 2026-03-08: 02:00 EST (07:00 UTC) becomes 03:00 EDT.
        #expect(try next("30 2 * * *", after: "2026-03-08T05:00Z", in: "America/New_York") == "2026-03-09T06:30Z")
        #expect(try next("0 9 * * MON-FRI", after: "2026-03-06T15:00Z", in: "America/New_York") == "2026-03-09T13:00Z")
        #expect(try next("0 9 * * *", after: "2026-03-07T15:00Z", in: "America/New_York") == "2026-03-08T13:00Z")
        // 2026-11-01: 02:00 EDT (06:00 UTC) becomes 01:00 EST; 01:xx happens twice.
        #expect(try fires("30 1 * * *", after: "2026-10-31T12:00Z", count: 2, in: "America/New_York") == [
            "2026-11-01T05:30Z", "2026-11-02T06:30Z",
        ])
        #expect(try next("0 2 * * *", after: "2026-11-01T05:00Z", in: "America/New_York") == "2026-11-01T07:00Z")
        #expect(try next("0 0 1 * *", after: "2026-10-15T00:00Z", in: "America/New_York") == "2026-11-01T04:00Z")
    }

    @Test func halfHourDaylightSaving() throws {
        // Lord Howe Island moves its clocks by 30 minutes: on 2026-10-04, 02:00 becomes 02:30 (+10:30 → +11).
        #expect(try next("15 2 * * *", after: "2026-10-03T12:00Z", in: "Australia/Lord_Howe") == "2026-10-04T15:15Z")
        #expect(try next("45 2 * * *", after: "2026-10-03T12:00Z", in: "Australia/Lord_Howe") == "2026-10-03T15:45Z")
    }

    // MARK: - Against a brute-force search

    /// SplitMix64: a fixed seed gives the same expressions and instants on every run.
    private struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A field's text with the values and star flag it must parse to, computed here independently.
    private struct FieldSample {
        var text: String
        var values: Set<Int>
        var isStar: Bool
    }

    private static func sampleField(_ range: ClosedRange<Int>, names: [String]?, starBias: Int, using random: inout SeededGenerator) -> FieldSample {
        let isWeekday = names?.count == 7
        let writable = isWeekday ? range.lowerBound...7 : range
        func normalise(_ value: Int) -> Int { isWeekday && value == 7 ? 0 : value }
        func spell(_ value: Int) -> String {
            guard let names, value - range.lowerBound < names.count, Int.random(in: 0..<4, using: &random) == 0 else { return String(value) }
            let name = names[value - range.lowerBound]
            return Bool.random(using: &random) ? name : name.lowercased()
        }
        let roll = Int.random(in: 0..<100, using: &random)
        if roll < starBias {
            return FieldSample(text: "*", values: Set(range), isStar: true)
        }
        if roll < starBias + 10 {
            let step = Int.random(in: 1...(range.upperBound - range.lowerBound), using: &random)
            return FieldSample(text: "*/\(step)", values: Set(stride(from: range.lowerBound, through: range.upperBound, by: step)), isStar: true)
        }
        var items: [String] = []
        var values: Set<Int> = []
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let start = Int.random(in: writable, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                items.append(spell(start))
                values.insert(normalise(start))
            case 1, 2:
                let written = Int.random(in: start...writable.upperBound, using: &random)
                let endText = spell(written)
                // A day-of-week range that ends on the name SUN ends on 7.
                let end = isWeekday && endText.first!.isLetter && written == 0 ? 7 : written
                let step = Int.random(in: 1...(range.upperBound - range.lowerBound), using: &random)
                let stepped = Bool.random(using: &random)
                items.append("\(spell(start))-\(endText)" + (stepped ? "/\(step)" : ""))
                values.formUnion(stride(from: start, through: end, by: stepped ? step : 1).map(normalise))
            default:
                let from = min(start, range.upperBound)
                let step = Int.random(in: 1...(range.upperBound - range.lowerBound), using: &random)
                items.append("\(from)/\(step)")
                values.formUnion(stride(from: from, through: range.upperBound, by: step).map(normalise))
            }
        }
        return FieldSample(text: items.joined(separator: ","), values: values, isStar: false)
    }

    @Test func nextFireAgreesWithAMinuteByMinuteSearch() throws {
        var random = SeededGenerator(state: 20_261_124)
        let utc = try Self.zone("UTC")
        let calendar = Self.utcCalendar
        let window = 4 * 1_440
        var compared = 0
        var foundInWindow = 0
        for _ in 0..<3_000 {
            let minute = Self.sampleField(0...59, names: nil, starBias: 25, using: &random)
            let hour = Self.sampleField(0...23, names: nil, starBias: 45, using: &random)
            let day = Self.sampleField(1...31, names: nil, starBias: 60, using: &random)
            let month = Self.sampleField(1...12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], starBias: 65, using: &random)
            let weekday = Self.sampleField(0...6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], starBias: 60, using: &random)
            let text = [minute, hour, day, month, weekday].map(\.text).joined(separator: " ")

            // The calendar day of a minute comes from Foundation, read once per day.
            var cachedDay: (index: Int, matches: Bool)?
            func matches(_ date: Date) -> Bool {
                let seconds = Int(date.timeIntervalSince1970)
                let dayIndex = seconds / 86_400
                if cachedDay?.index != dayIndex {
                    let parts = calendar.dateComponents([.day, .month, .weekday], from: date)
                    let dayMatches = day.isStar || weekday.isStar
                        ? day.values.contains(parts.day!) && weekday.values.contains(parts.weekday! - 1)
                        : day.values.contains(parts.day!) || weekday.values.contains(parts.weekday! - 1)
                    cachedDay = (dayIndex, dayMatches && month.values.contains(parts.month!))
                }
                let secondOfDay = seconds - dayIndex * 86_400
                return cachedDay!.matches && hour.values.contains(secondOfDay / 3_600) && minute.values.contains(secondOfDay % 3_600 / 60)
            }

            let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            let possible = !(day.isStar || weekday.isStar) || month.values.contains { day.values.min()! <= longest[$0 - 1] }
            let cron: CronExpression
            do {
                cron = try CronExpression(parsing: text)
            } catch {
                #expect(!possible && error.code == .neverFires, "\(text): \(error)")
                continue
            }
            #expect(possible, "\(text) was accepted but can never fire")
            #expect(try CronExpression(parsing: cron.description) == cron, "\(text) → \(cron)")

            let after = Date(timeIntervalSince1970: Double(Int.random(in: 1_704_067_200..<1_924_992_000, using: &random)) + Double(Int.random(in: 0..<4, using: &random)) * 0.25)
            let fire = cron.nextFire(after: after, in: utc)
            compared += 1
            // Walk the following minutes one by one, reading each day's calendar fields from Foundation.
            var expected: Date?
            var candidate = (after.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
            for _ in 0..<window {
                if matches(Date(timeIntervalSince1970: candidate)) {
                    expected = Date(timeIntervalSince1970: candidate)
                    break
                }
                candidate += 60
            }
            if let expected {
                foundInWindow += 1
                #expect(fire == expected, "\(text) after \(after)")
            } else {
                let fire = try #require(fire, "\(text) after \(after)")
                #expect(fire.timeIntervalSince1970 >= candidate, "\(text) after \(after)")
                #expect(matches(fire), "\(text) after \(after) → \(fire)")
            }
        }
        // The samples are dense enough that most fire within the brute-force window.
        #expect(compared > 2_500)
        #expect(foundInWindow > compared / 2)
    }
}
