import FoundationEssentials

extension CronExpression {
    /// How many years ahead of `date` `nextFire` looks. 400 years is the Gregorian calendar's full
    /// cycle, within which every calendar pattern an accepted expression describes recurs (a
    /// February 29 that falls on a Sunday comes back after at most 40 years).
    static let searchHorizonYears = 400

    /// The first instant strictly after `date` whose wall-clock time in `timeZone` matches.
    ///
    /// Time zone transitions follow one rule. A wall-clock time that a transition skips (the hour
    /// lost when clocks spring forward) does not fire that day. A wall-clock time that a transition
    /// repeats (the hour gained when clocks fall back) fires once, at its first occurrence; so for
    /// an hour after a fall back, a schedule such as `*/5 * * * *` is quiet while the clock goes over
    /// wall-clock times it already fired at.
    ///
    /// The search walks wall-clock time from field to field, skipping whole months, days and hours
    /// that cannot match, and asks the time zone only about matching times. It returns `nil` when
    /// nothing fires within `searchHorizonYears` (which needs a time zone whose transitions always
    /// skip the expression's only times) or when `date` is not within about 3,000 years of 1970.
    func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        let after = date.timeIntervalSince1970
        guard after.isFinite, abs(after) < 1e11 else { return nil }
        let afterSecond = Int(after.rounded(.down))
        let startWall = afterSecond + timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(afterSecond)))
        // Wall-clock times before `date`'s own had their first occurrence before it, so the walk starts there.
        var from = WallClockTime(secondsSinceEpoch: startWall)
        let lastYear = from.year + Self.searchHorizonYears
        while let candidate = nextMatch(atOrAfter: from, throughYear: lastYear) {
            if let instant = timeZone.firstInstant(atWallClock: candidate.secondsSinceEpoch), Double(instant) > after {
                return Date(timeIntervalSince1970: Double(instant))
            }
            from = WallClockTime(secondsSinceEpoch: candidate.secondsSinceEpoch + 60)
        }
        return nil
    }

    /// The first wall-clock minute at or after `start` that the expression matches, by the calendar alone.
    private func nextMatch(atOrAfter start: WallClockTime, throughYear lastYear: Int) -> WallClockTime? {
        var time = start
        while time.year <= lastYear {
            guard let month = months.first(atOrAfter: time.month) else {
                time = WallClockTime(year: time.year + 1, month: 1, day: 1, hour: 0, minute: 0)
                continue
            }
            if month != time.month {
                time = WallClockTime(year: time.year, month: month, day: 1, hour: 0, minute: 0)
            }
            let length = WallClockTime.daysIn(month: time.month, year: time.year)
            var weekday = WallClockTime.weekday(year: time.year, month: time.month, day: time.day)
            while time.day <= length && !matchesDay(day: time.day, weekday: weekday) {
                time = WallClockTime(year: time.year, month: time.month, day: time.day + 1, hour: 0, minute: 0)
                weekday = (weekday + 1) % 7
            }
            guard time.day <= length else {
                time = WallClockTime(year: time.year, month: time.month + 1, day: 1, hour: 0, minute: 0)
                continue
            }
            guard let hour = hours.first(atOrAfter: time.hour) else {
                time = WallClockTime(year: time.year, month: time.month, day: time.day + 1, hour: 0, minute: 0)
                continue
            }
            if hour != time.hour {
                time = WallClockTime(year: time.year, month: time.month, day: time.day, hour: hour, minute: 0)
            }
            guard let minute = minutes.first(atOrAfter: time.minute) else {
                time = WallClockTime(year: time.year, month: time.month, day: time.day, hour: time.hour + 1, minute: 0)
                continue
            }
            return WallClockTime(year: time.year, month: time.month, day: time.day, hour: time.hour, minute: minute)
        }
        return nil
    }
}

/// A proleptic Gregorian wall-clock minute. The walk in `nextMatch` may leave the day, hour or month
/// one past its end (day 32, hour 24, month 13); the next field test then carries it over.
private struct WallClockTime {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        (self.year, self.month, self.day, self.hour, self.minute) = (year, month, day, hour, minute)
    }

    /// The minute containing `seconds` counted from 1970-01-01T00:00 on the same wall clock.
    init(secondsSinceEpoch seconds: Int) {
        let days = seconds.floorDivided(by: 86_400)
        let secondOfDay = seconds - days * 86_400
        (year, month, day) = CivilCalendar.date(fromDays: days)
        hour = secondOfDay / 3_600
        minute = secondOfDay % 3_600 / 60
    }

    var secondsSinceEpoch: Int {
        CivilCalendar.days(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60
    }

    static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        month == 2 && !isLeap(year) ? 28 : CronExpression.longestMonths[month - 1]
    }

    /// 0 for Sunday.
    static func weekday(year: Int, month: Int, day: Int) -> Int {
        CivilCalendar.weekday(days: CivilCalendar.days(year: year, month: month, day: day))
    }
}

extension TimeZone {
    /// The earliest instant (seconds since 1970) whose wall-clock time here is `wall` (seconds since
    /// 1970-01-01T00:00 on this zone's clock), or `nil` when a transition skips that time.
    ///
    /// An instant `t` shows `wall` when `t + offset(t) == wall`. Offsets stay within a day of UTC, so
    /// every such `t` lies within a day of `wall`, and the offsets in force there are the ones at the
    /// window's ends and after each transition inside it.
    fileprivate func firstInstant(atWallClock wall: Int) -> Int? {
        let window = 86_400
        func offset(at instant: Int) -> Int {
            secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
        }
        var offsets: Set = [offset(at: wall - window), offset(at: wall + window)]
        var cursor = Date(timeIntervalSince1970: Double(wall - window))
        let end = Date(timeIntervalSince1970: Double(wall + window))
        while let transition = nextDaylightSavingTimeTransition(after: cursor), transition > cursor, transition < end {
            offsets.insert(secondsFromGMT(for: transition))
            cursor = transition
        }
        return offsets.map { wall - $0 }.filter { offset(at: $0) == wall - $0 }.min()
    }
}

