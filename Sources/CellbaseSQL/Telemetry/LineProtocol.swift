/// Influx line protocol, as Telegraf and device firmware write it:
/// `measurement[,tag=value…] field=value[,field=value…] [timestamp]`, one point per line.
///
/// Each field becomes the metric `measurement.field`. Floats, integers (`12i`), unsigned integers
/// (`12u`) and booleans (`t`, `true`, `F`, …) are points; string fields go to the device's last state
/// under the same name. The `device` tag names the device; other tags are not stored. Escapes are
/// strict: in names and tags a `\` must precede `,`, `=`, a space or `\`, and in string fields
/// `"` or `\`; anything else is refused rather than guessed at.
public enum LineProtocol {
    public enum Precision: String, Sendable, CaseIterable {
        case ns, us, ms, s

        /// Multiplies (`s`, `ms`) or divides (`ns`) a timestamp into microseconds.
        func micros(_ value: Int64) -> Int64? {
            switch self {
            case .ns: return value >= 0 ? value / 1_000 : (value - 999) / 1_000
            case .us: return value
            case .ms: return value.multipliedReportingOverflow(by: 1_000).overflow ? nil : value * 1_000
            case .s: return value.multipliedReportingOverflow(by: 1_000_000).overflow ? nil : value * 1_000_000
            }
        }
    }

    /// Parses a whole body. Empty lines and lines starting with `#` are skipped; `arrival` is the
    /// time of lines without a timestamp.
    public static func parse(_ bytes: some Collection<UInt8>, precision: Precision, arrival: Int64) throws(TelemetryError) -> [TelemetryRecord] {
        let bytes = Array(bytes)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw TelemetryError(.invalidUTF8, "the body is not valid UTF-8")
        }
        var records: [TelemetryRecord] = []
        var points = 0
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = bytes[start..<lineEnd].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            start = end + 1
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            do throws(TelemetryError) {
                var parser = LineParser(bytes: line, precision: precision, arrival: arrival)
                let record = try parser.parse()
                points += record.points.count
                records.append(record)
            } catch {
                throw TelemetryError(error.code, "line \(lineNumber): " + error.message)
            }
            guard points <= TelemetryLimits.maxPointsPerRequest else {
                throw TelemetryError(.tooManyPoints, "a request carries at most \(TelemetryLimits.maxPointsPerRequest) points")
            }
        }
        return records
    }
}

private struct LineParser {
    let bytes: ArraySlice<UInt8>
    let precision: LineProtocol.Precision
    let arrival: Int64
    var position: Int

    init(bytes: ArraySlice<UInt8>, precision: LineProtocol.Precision, arrival: Int64) {
        self.bytes = bytes
        self.precision = precision
        self.arrival = arrival
        self.position = bytes.startIndex
    }

    private var atEnd: Bool { position == bytes.endIndex }
    private var current: UInt8? { atEnd ? nil : bytes[position] }

    mutating func parse() throws(TelemetryError) -> TelemetryRecord {
        let measurement = try name(stoppingAt: [UInt8(ascii: ","), UInt8(ascii: " ")], escapable: [UInt8(ascii: ","), UInt8(ascii: " ")], what: "measurement")
        var record = TelemetryRecord(timestamp: arrival)
        while current == UInt8(ascii: ",") {
            position += 1
            let key = try name(stoppingAt: Self.keyEscapes, escapable: Self.keyEscapes, what: "tag key")
            try expect(UInt8(ascii: "="), "'=' after the tag key")
            let value = try name(stoppingAt: [UInt8(ascii: ","), UInt8(ascii: " ")], escapable: Self.keyEscapes, what: "tag value")
            if key == "device" {
                guard DeviceID.isValid(value) else {
                    throw TelemetryError(.invalidDeviceID, "the device tag must be 1 to 64 letters, digits, '-' or '_'")
                }
                record.device = value
            }
        }
        try expect(UInt8(ascii: " "), "a space before the fields")
        repeat {
            if current == UInt8(ascii: ",") { position += 1 }
            let field = try name(stoppingAt: Self.keyEscapes, escapable: Self.keyEscapes, what: "field key")
            try expect(UInt8(ascii: "="), "'=' after the field key")
            let metric = measurement + "." + field
            try MetricName.validate(metric)
            switch try fieldValue() {
            case .number(let value): record.points.append(TelemetryPoint(metric: metric, value: value))
            case .text(let text): record.state.append(JSONMember(key: metric, value: .string(text)))
            }
        } while current == UInt8(ascii: ",")
        if current == UInt8(ascii: " ") {
            position += 1
            record.timestamp = try timestamp()
        }
        guard atEnd else { throw failure("unexpected '\(Character(Unicode.Scalar(bytes[position])))' after the fields") }
        return record
    }

    private static let keyEscapes: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "="), UInt8(ascii: " ")]

    private func failure(_ message: String) -> TelemetryError {
        TelemetryError(.invalidLineProtocol, "column \(position - bytes.startIndex + 1): " + message)
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(TelemetryError) {
        guard current == byte else { throw failure("expected " + what) }
        position += 1
    }

    /// An escaped identifier: a measurement, tag key or value, or field key.
    private mutating func name(stoppingAt stops: Set<UInt8>, escapable: Set<UInt8>, what: String) throws(TelemetryError) -> String {
        var output: [UInt8] = []
        while let byte = current, !stops.contains(byte) {
            if byte == UInt8(ascii: "\\") {
                position += 1
                guard let escaped = current, escapable.contains(escaped) || escaped == UInt8(ascii: "\\") else {
                    throw failure("bad escape in the \(what): '\\' must precede \(Self.describe(escapable)) or '\\'")
                }
                output.append(escaped)
            } else {
                output.append(byte)
            }
            position += 1
        }
        guard !output.isEmpty else { throw failure("empty \(what)") }
        return String(decoding: output, as: UTF8.self)
    }

    private static func describe(_ bytes: Set<UInt8>) -> String {
        bytes.sorted().map { $0 == UInt8(ascii: " ") ? "a space" : "'\(Character(Unicode.Scalar($0)))'" }.joined(separator: ", ")
    }

    private enum FieldValue {
        case number(Double)
        case text(String)
    }

    private mutating func fieldValue() throws(TelemetryError) -> FieldValue {
        if current == UInt8(ascii: "\"") {
            position += 1
            var output: [UInt8] = []
            while true {
                guard let byte = current else { throw failure("unterminated string field") }
                position += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = current, escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else {
                        throw failure("bad escape in a string field: '\\' must precede '\"' or '\\'")
                    }
                    position += 1
                    output.append(escaped)
                } else {
                    output.append(byte)
                }
            }
            return .text(String(decoding: output, as: UTF8.self))
        }
        let start = position
        while let byte = current, byte != UInt8(ascii: ","), byte != UInt8(ascii: " ") { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        switch text {
        case "t", "T", "true", "True", "TRUE": return .number(1)
        case "f", "F", "false", "False", "FALSE": return .number(0)
        case "": throw failure("empty field value")
        default: break
        }
        if text.hasSuffix("i") {
            guard let integer = Int64(text.dropLast()) else { throw failure("'\(text.prefix(32))' is not a 64-bit integer") }
            return .number(Double(integer))
        }
        if text.hasSuffix("u") {
            guard let unsigned = UInt64(text.dropLast()) else { throw failure("'\(text.prefix(32))' is not a 64-bit unsigned integer") }
            return .number(Double(unsigned))
        }
        guard TelemetryTimestamp.isDecimalNumber(text), let value = Double(text) else {
            throw failure("'\(text.prefix(32))' is not a float, integer, boolean or string")
        }
        guard value.isFinite else {
            throw TelemetryError(.invalidNumber, "column \(start - bytes.startIndex + 1): \(text.prefix(32)) does not fit a double")
        }
        return .number(value)
    }

    private mutating func timestamp() throws(TelemetryError) -> Int64 {
        let start = position
        while !atEnd { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Int64(text) else { throw failure("the timestamp '\(text.prefix(32))' is not an integer") }
        guard let micros = precision.micros(value) else {
            throw TelemetryError(.timestampOutOfRange, "the timestamp \(text) is outside 1970-01-01 to 2999-12-31")
        }
        return try TelemetryTimestamp.checked(micros)
    }
}
