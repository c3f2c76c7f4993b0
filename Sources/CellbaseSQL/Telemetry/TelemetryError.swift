/// Why telemetry input or a telemetry query was refused: a stable snake_case code (the HTTP
/// answer's `code`, see docs/ERROR_CODES.md, and the MQTT listener's reason string) and a message
/// that says where the input went wrong.
public struct TelemetryError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The payload is not JSON (syntax, a bad `\` escape, a control character in a string).
        public static let invalidJSON = Code(rawValue: "invalid_json")
        /// The payload is not valid UTF-8.
        public static let invalidUTF8 = Code(rawValue: "invalid_utf8")
        /// JSON nested deeper than `TelemetryPayload.maxDepth`.
        public static let jsonTooDeep = Code(rawValue: "json_too_deep")
        /// A value that is not a finite double: NaN, Infinity, or a number too large for one.
        public static let invalidNumber = Code(rawValue: "invalid_number")
        /// A `ts` (or line protocol timestamp, or `from`/`to`) that is neither epoch seconds,
        /// milliseconds nor RFC 3339.
        public static let invalidTimestamp = Code(rawValue: "invalid_timestamp")
        /// A timestamp before 1970, from year 3000 on, older than the project's retention or more
        /// than a day ahead of the node's clock.
        public static let timestampOutOfRange = Code(rawValue: "timestamp_out_of_range")
        /// A line of Influx line protocol that does not parse, bad escapes included.
        public static let invalidLineProtocol = Code(rawValue: "invalid_line_protocol")
        /// A metric name that is empty, too long or holds control characters.
        public static let invalidMetric = Code(rawValue: "invalid_metric")
        /// A device id outside 1–64 letters, digits, `-` and `_`.
        public static let invalidDeviceID = Code(rawValue: "invalid_device_id")
        /// A record that names no device, sent with a project key.
        public static let deviceRequired = Code(rawValue: "device_required")
        /// More points in one request than `TelemetryLimits.maxPointsPerRequest`.
        public static let tooManyPoints = Code(rawValue: "too_many_points")
        /// A query whose `from` is after its `to`, or whose range is unreadable.
        public static let invalidRange = Code(rawValue: "invalid_range")
        /// A `bucket` that is not a duration of at least one millisecond.
        public static let invalidBucket = Code(rawValue: "invalid_bucket")
        /// An `agg` other than avg, min, max, sum, count, first or last.
        public static let invalidAggregate = Code(rawValue: "invalid_aggregate")
        /// A range and bucket that would answer more than `TelemetryLimits.maxBuckets` buckets.
        public static let tooManyBuckets = Code(rawValue: "too_many_buckets")
        /// A query parameter that is missing or malformed (`device`, `metric`, `limit`, `precision`).
        public static let invalidParameter = Code(rawValue: "invalid_parameter")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { code.rawValue + ": " + message }
}

/// The bounds that keep one request's work finite. Documented in docs/TELEMETRY.md.
public enum TelemetryLimits {
    /// Points one ingest request or one MQTT publish may carry.
    public static let maxPointsPerRequest = 1_000_000
    /// Points a raw series query answers at most (and its default `limit`).
    public static let maxRawPoints = 10_000
    /// Buckets a downsampled series query may span.
    public static let maxBuckets = 10_000
    /// The shortest bucket: one millisecond.
    public static let minBucketMicros: Int64 = 1_000
    /// Metric names, in UTF-8 bytes.
    public static let maxMetricBytes = 200
    /// How far ahead of the node's clock a point may be.
    public static let maxFutureMicros: Int64 = 86_400_000_000
}

/// Device ids: chosen by the user, used in MQTT topics (`devices/{id}/...`), usernames
/// (`REF:ID`) and device tokens, so they exclude `/`, `:`, `.`, `+`, `#` and whitespace.
public enum DeviceID {
    public static func isValid(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }
}
