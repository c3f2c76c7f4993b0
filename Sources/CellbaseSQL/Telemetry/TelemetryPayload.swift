/// One reading of one device: its time, its numeric points and the rest of its values.
public struct TelemetryRecord: Sendable, Hashable {
    /// The device the record names (`"device"` in an HTTP batch, the `device` tag in line
    /// protocol); `nil` when the device is known from elsewhere (the MQTT topic, a device token).
    public var device: String?
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
    /// Numbers and booleans (as 0 and 1), in payload order.
    public var points: [TelemetryPoint]
    /// Strings, arrays, objects and nulls: merged into the device's last state, key by key.
    public var state: [JSONMember]

    public init(device: String? = nil, timestamp: Int64, points: [TelemetryPoint] = [], state: [JSONMember] = []) {
        self.device = device
        self.timestamp = timestamp
        self.points = points
        self.state = state
    }
}

public struct TelemetryPoint: Sendable, Hashable {
    public var metric: String
    public var value: Double

    public init(metric: String, value: Double) {
        self.metric = metric
        self.value = value
    }
}

/// JSON telemetry: `{"ts": …, "temp": 21.5, "rpm": 1200}` or `{"ts": …, "metrics": {…}}`, and for
/// HTTP a batch of them (an array, each object naming its `device`).
///
/// Every key other than `ts` (and `device` in a batch) is a measurement; the members of a
/// `metrics` object are measurements too. Numbers and booleans become points named by their key;
/// strings, arrays, objects and nulls go to the device's last state under their key.
public enum TelemetryPayload {
    /// Telemetry is flat: a record, a `metrics` object and some structure in last-state values.
    public static let maxDepth = 8

    /// One MQTT publish's payload. `arrival` is the record's time when it has no `ts`.
    public static func parseRecord(_ bytes: some Collection<UInt8>, arrival: Int64) throws(TelemetryError) -> TelemetryRecord {
        let value = try parseJSON(bytes)
        guard case .object(let members) = value else {
            throw TelemetryError(.invalidJSON, "the payload must be a JSON object")
        }
        return try record(members, arrival: arrival, deviceKey: false, position: nil)
    }

    /// An HTTP ingest body: one object or an array of objects, each naming its device with
    /// `"device"` unless the request was made with a device token.
    public static func parseBatch(_ bytes: some Collection<UInt8>, arrival: Int64) throws(TelemetryError) -> [TelemetryRecord] {
        let value = try parseJSON(bytes)
        var records: [TelemetryRecord] = []
        var points = 0
        switch value {
        case .object(let members):
            records.append(try record(members, arrival: arrival, deviceKey: true, position: nil))
        case .array(let elements):
            records.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                guard case .object(let members) = element else {
                    throw TelemetryError(.invalidJSON, "record \(index): every element of the batch must be a JSON object")
                }
                let record = try record(members, arrival: arrival, deviceKey: true, position: index)
                points += record.points.count
                guard points <= TelemetryLimits.maxPointsPerRequest else {
                    throw TelemetryError(.tooManyPoints, "a request carries at most \(TelemetryLimits.maxPointsPerRequest) points")
                }
                records.append(record)
            }
        default:
            throw TelemetryError(.invalidJSON, "the body must be a JSON object or an array of objects")
        }
        return records
    }

    private static func parseJSON(_ bytes: some Collection<UInt8>) throws(TelemetryError) -> JSONValue {
        let valid = bytes.withContiguousStorageIfAvailable { String(validating: $0, as: UTF8.self) != nil }
            ?? (String(validating: Array(bytes), as: UTF8.self) != nil)
        guard valid else { throw TelemetryError(.invalidUTF8, "the payload is not valid UTF-8") }
        do throws(JSONParseError) {
            return try JSONParser.parse(bytes, maxDepth: maxDepth)
        } catch {
            if error.message.hasPrefix("JSON nested deeper") {
                throw TelemetryError(.jsonTooDeep, "JSON nested deeper than \(maxDepth) levels at byte \(error.offset)")
            }
            throw TelemetryError(.invalidJSON, "\(error.message) at byte \(error.offset)")
        }
    }

    private static func record(_ members: [JSONMember], arrival: Int64, deviceKey: Bool, position: Int?) throws(TelemetryError) -> TelemetryRecord {
        let prefix = position.map { "record \($0): " } ?? ""
        var record = TelemetryRecord(timestamp: arrival)
        do throws(TelemetryError) {
            for member in members {
                switch member.key {
                case "ts":
                    record.timestamp = try TelemetryTimestamp.micros(member.value)
                case "device" where deviceKey:
                    guard case .string(let id) = member.value, DeviceID.isValid(id) else {
                        throw TelemetryError(.invalidDeviceID, "device must be 1 to 64 letters, digits, '-' or '_'")
                    }
                    record.device = id
                case "metrics":
                    if case .object(let metrics) = member.value {
                        for metric in metrics { try add(metric, to: &record) }
                    } else {
                        try add(member, to: &record)
                    }
                default:
                    try add(member, to: &record)
                }
            }
        } catch {
            throw TelemetryError(error.code, prefix + error.message)
        }
        return record
    }

    private static func add(_ member: JSONMember, to record: inout TelemetryRecord) throws(TelemetryError) {
        try MetricName.validate(member.key)
        switch member.value {
        case .number(let text):
            guard let value = Double(text), value.isFinite else {
                throw TelemetryError(.invalidNumber, "'\(member.key)': \(text.prefix(32)) does not fit a double")
            }
            record.points.append(TelemetryPoint(metric: member.key, value: value))
        case .bool(let flag):
            record.points.append(TelemetryPoint(metric: member.key, value: flag ? 1 : 0))
        default:
            record.state.append(member)
        }
    }
}

public enum MetricName {
    /// 1 to `TelemetryLimits.maxMetricBytes` bytes of UTF-8 without control characters.
    public static func validate(_ name: String) throws(TelemetryError) {
        guard (1...TelemetryLimits.maxMetricBytes).contains(name.utf8.count),
              !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
        else {
            throw TelemetryError(.invalidMetric, "a metric name is 1 to \(TelemetryLimits.maxMetricBytes) bytes without control characters")
        }
    }
}
