/// Point times: microseconds since the Unix epoch, from 1970-01-01 up to (not including) the year 3000.
///
/// A number is epoch seconds when its magnitude is below 10^11 (up to the year 5138), otherwise
/// epoch milliseconds (from 1973-03-03 on): the two ranges cover every time a device sends today
/// without ambiguity. Text is RFC 3339 (`2026-11-24T10:00:00.5Z`, any offset; a time without an
/// offset is UTC), or the same epoch number written as a string.
public enum TelemetryTimestamp {
    /// 3000-01-01T00:00:00Z in microseconds: the first instant out of range.
    public static let endMicros: Int64 = 32_503_680_000 * 1_000_000
    private static let secondsLimit = 100_000_000_000.0

    /// A JSON `ts` value.
    public static func micros(_ value: JSONValue) throws(TelemetryError) -> Int64 {
        switch value {
        case .number(let text): return try micros(epoch: text)
        case .string(let text): return try micros(text: text)
        default: throw TelemetryError(.invalidTimestamp, "ts must be epoch seconds, epoch milliseconds or an RFC 3339 string")
        }
    }

    /// RFC 3339 or an epoch number in text (a query's `from` and `to`, a JSON string `ts`).
    public static func micros(text: String) throws(TelemetryError) -> Int64 {
        if let first = text.utf8.first, first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")),
           !text.utf8.contains(UInt8(ascii: "T")), !text.utf8.contains(UInt8(ascii: ":")), !text.utf8.dropFirst().contains(UInt8(ascii: "-")) {
            return try micros(epoch: text)
        }
        guard let canonical = Canonical.timestamptz(text), let micros = parseCanonical(canonical) else {
            throw TelemetryError(.invalidTimestamp, "'\(text.prefix(64))' is neither an epoch number nor an RFC 3339 time")
        }
        return try checked(micros)
    }

    /// Epoch seconds or milliseconds, by magnitude.
    public static func micros(epoch text: String) throws(TelemetryError) -> Int64 {
        guard isDecimalNumber(text), let number = Double(text), number.isFinite else {
            throw TelemetryError(.invalidTimestamp, "'\(text.prefix(64))' is not an epoch number")
        }
        let scaled = (abs(number) < secondsLimit ? number * 1_000_000 : number * 1_000).rounded()
        guard scaled >= 0, scaled < Double(endMicros) else {
            throw TelemetryError(.timestampOutOfRange, "ts \(text.prefix(64)) is outside 1970-01-01 to 2999-12-31")
        }
        return Int64(scaled)
    }

    /// `micros` when it lies in 1970 … 2999.
    public static func checked(_ micros: Int64) throws(TelemetryError) -> Int64 {
        guard micros >= 0, micros < endMicros else {
            throw TelemetryError(.timestampOutOfRange, "the time \(micros) µs since the epoch is outside 1970-01-01 to 2999-12-31")
        }
        return micros
    }

    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, the fraction trimmed of trailing zeros (none when 0).
    public static func rfc3339(_ micros: Int64) -> String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = Int(micros - seconds * 1_000_000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let date = Canonical.civilFromDays(Int(days))
        var output = ""
        output.reserveCapacity(27)
        pad(date.year, 4, &output); output.append("-")
        pad(date.month, 2, &output); output.append("-")
        pad(date.day, 2, &output); output.append("T")
        pad(secondOfDay / 3600, 2, &output); output.append(":")
        pad(secondOfDay / 60 % 60, 2, &output); output.append(":")
        pad(secondOfDay % 60, 2, &output)
        if fraction > 0 {
            var digits = ""
            pad(fraction, 6, &digits)
            while digits.last == "0" { digits.removeLast() }
            output.append("." + digits)
        }
        output.append("Z")
        return output
    }

    private static func pad(_ value: Int, _ width: Int, _ output: inout String) {
        let text = String(value)
        output.append(String(repeating: "0", count: max(0, width - text.count)) + text)
    }

    /// JSON's number grammar (so `nan`, `inf` and hex, which `Double.init` accepts, are not).
    static func isDecimalNumber(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        func digits(_ bytes: inout Substring.UTF8View.SubSequence) -> Int {
            var count = 0
            while let byte = bytes.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                bytes = bytes.dropFirst()
                count += 1
            }
            return count
        }
        var integer = digits(&bytes)
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            integer += digits(&bytes)
        }
        guard integer > 0 else { return false }
        if let byte = bytes.first, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits(&bytes) > 0 else { return false }
        }
        return bytes.isEmpty
    }

    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, the only form `Canonical.timestamptz` returns.
    private static func parseCanonical(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int {
            bytes[range].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        guard bytes.count >= 25 else { return nil }
        let days = Canonical.daysFromCivil(year: number(0..<4), month: number(5..<7), day: number(8..<10))
        var micros = Int64(days) * 86_400_000_000
        micros += Int64(number(11..<13) * 3600 + number(14..<16) * 60 + number(17..<19)) * 1_000_000
        if bytes[19] == UInt8(ascii: ".") {
            let end = bytes.count - 6
            var fraction = number(20..<end)
            for _ in 0..<(6 - (end - 20)) { fraction *= 10 }
            micros += Int64(fraction)
        }
        return micros
    }
}
