import CellbaseSQL
import Testing

@Suite struct TelemetryPayloadTests {
    private let arrival: Int64 = 1_764_000_000_000_000

    private func record(_ text: String) throws(TelemetryError) -> TelemetryRecord {
        try TelemetryPayload.parseRecord(Array(text.utf8), arrival: arrival)
    }

    private func code(_ text: String) -> TelemetryError.Code? {
        do {
            _ = try record(text)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func flatRecordBecomesPointsAndState() throws {
        let parsed = try record(#"{"ts": 1764000000, "temp": 21.5, "rpm": 1200, "on": true, "off": false, "mode": "eco", "pos": {"x": 1}, "gone": null}"#)
        #expect(parsed.timestamp == 1_764_000_000_000_000)
        #expect(parsed.points == [
            TelemetryPoint(metric: "temp", value: 21.5), TelemetryPoint(metric: "rpm", value: 1200),
            TelemetryPoint(metric: "on", value: 1), TelemetryPoint(metric: "off", value: 0),
        ])
        #expect(parsed.state == [
            JSONMember(key: "mode", value: .string("eco")),
            JSONMember(key: "pos", value: .object([JSONMember(key: "x", value: .number("1"))])),
            JSONMember(key: "gone", value: .null),
        ])
        #expect(parsed.device == nil)
    }

    @Test func metricsObjectIsReadLikeTopLevelKeys() throws {
        let parsed = try record(#"{"ts": "2025-11-24T16:00:00.25Z", "metrics": {"temp": 20, "label": "a"}, "extra": 3}"#)
        #expect(parsed.timestamp == 1_764_000_000_250_000)
        #expect(parsed.points == [TelemetryPoint(metric: "temp", value: 20), TelemetryPoint(metric: "extra", value: 3)])
        #expect(parsed.state == [JSONMember(key: "label", value: .string("a"))])
    }

    @Test func aMetricsValueThatIsNotAnObjectIsAMeasurement() throws {
        #expect(try record(#"{"metrics": 4}"#).points == [TelemetryPoint(metric: "metrics", value: 4)])
    }

    @Test func missingTimestampIsArrival() throws {
        #expect(try record(#"{"temp": 1}"#).timestamp == arrival)
    }

    @Test func deviceIsAMeasurementInAPublishButNamesTheDeviceInABatch() throws {
        #expect(try record(#"{"device": "d1"}"#).state == [JSONMember(key: "device", value: .string("d1"))])
        let batch = try TelemetryPayload.parseBatch(Array(#"[{"device": "d1", "t": 1}, {"device": "d2", "t": 2}]"#.utf8), arrival: arrival)
        #expect(batch.map(\.device) == ["d1", "d2"])
        #expect(try TelemetryPayload.parseBatch(Array(#"{"device": "d1", "t": 1}"#.utf8), arrival: arrival).map(\.device) == ["d1"])
    }

    @Test(arguments: [
        (#"{"t": 1e400}"#, TelemetryError.Code.invalidNumber),
        (#"{"t": -1e309}"#, .invalidNumber),
        (#"{"t": NaN}"#, .invalidJSON),
        (#"{"t": Infinity}"#, .invalidJSON),
        (#"{"t": -Infinity}"#, .invalidJSON),
        (#"{"t": 1,}"#, .invalidJSON),
        (#"{"t": "\x"}"#, .invalidJSON),
        (#"[1, 2]"#, .invalidJSON),
        (#""text""#, .invalidJSON),
        (#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}"#, .jsonTooDeep),
        (#"{"ts": -1, "t": 1}"#, .timestampOutOfRange),
        (#"{"ts": 32503680000, "t": 1}"#, .timestampOutOfRange),
        (#"{"ts": 32503680000000, "t": 1}"#, .timestampOutOfRange),
        (#"{"ts": "3000-01-01T00:00:00Z", "t": 1}"#, .timestampOutOfRange),
        (#"{"ts": "1969-12-31T23:59:59Z", "t": 1}"#, .timestampOutOfRange),
        (#"{"ts": "yesterday", "t": 1}"#, .invalidTimestamp),
        (#"{"ts": true, "t": 1}"#, .invalidTimestamp),
        (#"{"ts": "2025-13-01T00:00:00Z", "t": 1}"#, .invalidTimestamp),
        (#"{"": 1}"#, .invalidMetric),
        ("{\"a\\u0001b\": 1}", .invalidMetric),
    ])
    func hostilePayloadsAreRefusedWithTheirCode(_ text: String, _ expected: TelemetryError.Code) {
        #expect(code(text) == expected)
    }

    @Test func invalidUTF8IsRefusedBeforeParsing() {
        var bytes = Array(#"{"mode": "x"#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""}"#.utf8)
        #expect(throws: TelemetryError.self) { try TelemetryPayload.parseRecord(bytes, arrival: 0) }
        do {
            _ = try TelemetryPayload.parseRecord(bytes, arrival: 0)
        } catch {
            #expect(error.code == .invalidUTF8)
        }
    }

    @Test func aHugeMetricNameIsRefused() {
        #expect(code("{\"\(String(repeating: "m", count: 201))\": 1}") == .invalidMetric)
        #expect(code("{\"\(String(repeating: "m", count: 200))\": 1}") == nil)
    }

    @Test func batchErrorsNameTheRecord() {
        do {
            _ = try TelemetryPayload.parseBatch(Array(#"[{"device": "a", "t": 1}, {"device": "a b"}]"#.utf8), arrival: 0)
            Issue.record("accepted a bad device id")
        } catch {
            #expect(error.code == .invalidDeviceID)
            #expect(error.message.hasPrefix("record 1: "))
        }
        do {
            _ = try TelemetryPayload.parseBatch(Array(#"[{"device": "a"}, 3]"#.utf8), arrival: 0)
            Issue.record("accepted a number in a batch")
        } catch {
            #expect(error.code == .invalidJSON)
        }
    }

    @Test func lastStateMergesKeyByKey() throws {
        let merged = LastState.merge(#"{"a":"x","b":{"c":1}}"#, with: [JSONMember(key: "b", value: .string("y")), JSONMember(key: "d", value: .null)])
        #expect(merged == #"{"a":"x","b":"y","d":null}"#)
        #expect(LastState.merge(nil, with: [JSONMember(key: "a", value: .string("x"))]) == #"{"a":"x"}"#)
        #expect(LastState.merge("not json", with: []) == "{}")
    }
}

@Suite struct TelemetryTimestampTests {
    @Test(arguments: [
        ("0", Int64(0)),
        ("1764000000", 1_764_000_000_000_000),
        ("1764000000.5", 1_764_000_000_500_000),
        ("1764000000123", 1_764_000_000_123_000),
        ("32503679999", 32_503_679_999_000_000),
        ("100000000000", 100_000_000_000_000),
        ("1.7e9", 1_700_000_000_000_000),
    ])
    func epochNumbersAreSecondsOrMillisecondsByMagnitude(_ text: String, _ micros: Int64) throws {
        #expect(try TelemetryTimestamp.micros(epoch: text) == micros)
        #expect(try TelemetryTimestamp.micros(text: text) == micros)
    }

    @Test(arguments: ["nan", "inf", "0x10", "1e", "", "-", "1.2.3", "+5"])
    func nonNumbersAreNotEpochs(_ text: String) {
        #expect(throws: TelemetryError.self) { try TelemetryTimestamp.micros(epoch: text) }
    }

    @Test(arguments: [
        ("2025-11-24T16:00:00Z", Int64(1_764_000_000_000_000)),
        ("2025-11-24T17:00:00+01:00", 1_764_000_000_000_000),
        ("2025-11-24T16:00:00.000001Z", 1_764_000_000_000_001),
        ("2025-11-24 16:00:00", 1_764_000_000_000_000),
        ("1970-01-01T00:00:00Z", 0),
    ])
    func rfc3339(_ text: String, _ micros: Int64) throws {
        #expect(try TelemetryTimestamp.micros(text: text) == micros)
    }

    @Test(arguments: [Int64(0), 1, 999_999, 1_764_000_000_000_000, 1_764_000_000_250_000, TelemetryTimestamp.endMicros - 1])
    func formattingRoundTrips(_ micros: Int64) throws {
        #expect(try TelemetryTimestamp.micros(text: TelemetryTimestamp.rfc3339(micros)) == micros)
    }

    @Test func formatting() {
        #expect(TelemetryTimestamp.rfc3339(1_764_000_000_250_000) == "2025-11-24T16:00:00.25Z")
        #expect(TelemetryTimestamp.rfc3339(0) == "1970-01-01T00:00:00Z")
    }
}
