import CellbaseSQL
import Logging
import Synchronization
import Testing

@testable import Cellbase

@Suite("Log lines")
struct LogLineTests {
    /// Every day from 1970 to 2400 against a walk through the calendar one day at a time.
    @Test func civilDatesMatchTheCalendar() {
        var (year, month, day) = (1970, 1, 1)
        func daysIn(_ month: Int, of year: Int) -> Int {
            switch month {
            case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
            case 4, 6, 9, 11: 30
            default: 31
            }
        }
        var mismatches = 0
        for daysSinceEpoch in 0..<157_000 {
            let computed = Canonical.civilFromDays(daysSinceEpoch)
            if computed != (year, month, day) { mismatches += 1 }
            day += 1
            if day > daysIn(month, of: year) { day = 1; month += 1 }
            if month > 12 { month = 1; year += 1 }
        }
        #expect(mismatches == 0)
        #expect(year == 2399)
    }

    @Test(arguments: [
        (Int64(0), Int32(0), "1970-01-01T00:00:00.000Z"),
        (951_782_399, 999_999_999, "2000-02-28T23:59:59.999Z"),
        (951_868_800, 1_000_000, "2000-03-01T00:00:00.001Z"),
        (1_795_489_147, 42_500_000, "2026-11-24T02:59:07.042Z"),
        (-1, 500_000_000, "1969-12-31T23:59:59.500Z"),
    ])
    func timestampsRenderInUTC(seconds: Int64, nanoseconds: Int32, expected: String) {
        var output = ""
        LogTimestamp(secondsSinceEpoch: seconds, nanoseconds: nanoseconds).append(to: &output)
        #expect(output == expected)
        var spaced = ""
        LogTimestamp(secondsSinceEpoch: seconds, nanoseconds: nanoseconds).append(to: &spaced, separator: " ")
        #expect(spaced == expected.replacing("T", with: " "))
    }

    struct Failure: Error, CustomDebugStringConvertible {
        var debugDescription: String { "Failure(\"disk \\\"full\\\"\nretry\")" }
    }

    static let fields: [(key: String, value: Logger.MetadataValue)] = [
        ("bool", .stringConvertible(true)),
        ("count", .stringConvertible(UInt16(7))),
        ("duration_ms", .stringConvertible(0.842)),
        ("empty", .string("")),
        ("infinite", .stringConvertible(Double.infinity)),
        ("list", .array([.string("a"), .stringConvertible(1)])),
        ("nested", .dictionary(["z": .string("last"), "a": .string("first")])),
        ("quoted", .string("say \"hi\"\n\tthen=go")),
        ("status", .stringConvertible(200)),
    ]

    @Test func jsonLinesAreOneObjectWithTypedValues() throws {
        let line = LogLine.render(
            format: .json, timestamp: LogTimestamp(secondsSinceEpoch: 0, nanoseconds: 0), level: .error,
            message: "request \"failed\"", metadata: Self.fields, error: Failure()
        )
        #expect(line.hasSuffix("\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try JSONParser.parse(Array(line.utf8), maxDepth: 8)
        #expect(object["time"] == .string("1970-01-01T00:00:00.000Z"))
        #expect(object["level"] == .string("error"))
        #expect(object["message"] == .string("request \"failed\""))
        #expect(object["bool"] == .bool(true))
        #expect(object["count"] == .number("7"))
        #expect(object["duration_ms"] == .number("0.842"))
        #expect(object["status"] == .number("200"))
        #expect(object["empty"] == .string(""))
        #expect(object["infinite"] == .string("inf"))
        #expect(object["list"] == .array([.string("a"), .number("1")]))
        #expect(object["nested"] == .object([JSONMember(key: "a", value: .string("first")), JSONMember(key: "z", value: .string("last"))]))
        #expect(object["quoted"] == .string("say \"hi\"\n\tthen=go"))
        #expect(object["error"] == .string(String(reflecting: Failure())))
    }

    @Test func textLinesSplitIntoTheirFields() {
        let line = LogLine.render(
            format: .text, timestamp: LogTimestamp(secondsSinceEpoch: 0, nanoseconds: 0), level: .info,
            message: "request", metadata: Self.fields, error: Failure()
        )
        #expect(line.hasPrefix("1970-01-01 00:00:00.000Z INFO request bool=true count=7 duration_ms=0.842 empty=\"\" "))
        #expect(line.contains(#" quoted="say \"hi\"\n\tthen=go" status=200 "#))
        #expect(line.contains(#" list=["a",1] nested={"a":"first","z":"last"} "#))
        #expect(line.hasSuffix(#" error="Failure(\"disk \\\"full\\\"\nretry\")""# + "\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    /// One call of the output per event; the event's metadata over the provider's over the logger's.
    @Test func handlerMergesMetadataAndWritesOnce() throws {
        let lines = Mutex<[String]>([])
        let provider = Logger.MetadataProvider { ["trace": "from-provider", "request_id": "from-provider"] }
        var logger = Logger(label: "test") { _ in
            LogLineHandler(format: .json, metadataProvider: provider) { line in lines.withLock { $0.append(line) } }
        }
        logger.logLevel = .debug
        logger[metadataKey: "request_id"] = "from-logger"
        logger[metadataKey: "project"] = "from-logger"
        logger.trace("not written")
        logger.debug("one", metadata: ["project": "from-event"])
        logger.info("two")
        let written = lines.withLock { $0 }
        #expect(written.count == 2)
        let one = try JSONParser.parse(Array(written[0].utf8), maxDepth: 4)
        #expect(one["message"] == .string("one") && one["level"] == .string("debug"))
        #expect(one["project"] == .string("from-event") && one["request_id"] == .string("from-provider") && one["trace"] == .string("from-provider"))
        guard case .object(let members) = one else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["time", "level", "message", "project", "request_id", "trace"])
        let two = try JSONParser.parse(Array(written[1].utf8), maxDepth: 4)
        #expect(two["project"] == .string("from-logger"))
    }

    @Test func autoFormatFollowsTheTerminal() {
        #expect(LogFormat.automatic(isTerminal: true) == .text)
        #expect(LogFormat.automatic(isTerminal: false) == .json)
    }
}
