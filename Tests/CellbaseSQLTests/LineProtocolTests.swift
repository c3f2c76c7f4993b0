import CellbaseSQL
import Testing

@Suite struct LineProtocolTests {
    private let arrival: Int64 = 1_764_000_000_000_000

    private func parse(_ text: String, precision: LineProtocol.Precision = .ns) throws(TelemetryError) -> [TelemetryRecord] {
        try LineProtocol.parse(Array(text.utf8), precision: precision, arrival: arrival)
    }

    private func code(_ text: String) -> TelemetryError.Code? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func fieldsOfEveryType() throws {
        let records = try parse(#"env,device=d1,site=a temp=21.5,count=3i,big=18446744073709551615u,on=t,off=FALSE,label="hi" 1764000000000000000"#)
        #expect(records == [TelemetryRecord(
            device: "d1", timestamp: 1_764_000_000_000_000,
            points: [
                TelemetryPoint(metric: "env.temp", value: 21.5), TelemetryPoint(metric: "env.count", value: 3),
                TelemetryPoint(metric: "env.big", value: 18_446_744_073_709_551_615), TelemetryPoint(metric: "env.on", value: 1),
                TelemetryPoint(metric: "env.off", value: 0),
            ],
            state: [JSONMember(key: "env.label", value: .string("hi"))]
        )])
    }

    @Test func escapes() throws {
        let records = try parse(#"we\ ird\,m,device=d-1 f\=x\ y=1,s="a \"q\" \\ b""#)
        #expect(records.first?.points == [TelemetryPoint(metric: "we ird,m.f=x y", value: 1)])
        #expect(records.first?.state == [JSONMember(key: "we ird,m.s", value: .string(#"a "q" \ b"#))])
        #expect(records.first?.timestamp == arrival)
    }

    @Test func skipsBlankAndCommentLinesAndAcceptsCRLF() throws {
        let records = try parse("# a comment\n\n  m,device=a v=1 1000000000\r\nm,device=b v=2\n")
        #expect(records.map(\.device) == ["a", "b"])
        #expect(records.map(\.timestamp) == [1_000_000, arrival])
    }

    @Test(arguments: [
        (LineProtocol.Precision.ns, Int64(1_764_000_000_000_000_123), Int64(1_764_000_000_000_000)),
        (.us, 1_764_000_000_000_000, 1_764_000_000_000_000),
        (.ms, 1_764_000_000_000, 1_764_000_000_000_000),
        (.s, 1_764_000_000, 1_764_000_000_000_000),
    ])
    func precision(_ precision: LineProtocol.Precision, _ stamp: Int64, _ micros: Int64) throws {
        #expect(try parse("m v=1 \(stamp)", precision: precision).first?.timestamp == micros)
    }

    @Test(arguments: [
        (#"m,device=a v=1 -5"#, TelemetryError.Code.timestampOutOfRange),
        ("m v=1 -99999999999", .timestampOutOfRange),
        ("m a,b=1", .invalidLineProtocol),
        ("m v=1 1x", .invalidLineProtocol),
        (#"m\x v=1"#, .invalidLineProtocol),
        (#"m,t=a\b v=1"#, .invalidLineProtocol),
        (#"m v="a\nb""#, .invalidLineProtocol),
        (#"m v="open"#, .invalidLineProtocol),
        ("m\\", .invalidLineProtocol),
        ("m v=nan", .invalidLineProtocol),
        ("m v=inf", .invalidLineProtocol),
        ("m v=1e999", .invalidNumber),
        ("m v=9223372036854775808i", .invalidLineProtocol),
        ("m v=-1u", .invalidLineProtocol),
        ("m v=", .invalidLineProtocol),
        ("m", .invalidLineProtocol),
        ("m v", .invalidLineProtocol),
        (",t=1 v=1", .invalidLineProtocol),
        ("m,device=a/b v=1", .invalidDeviceID),
        ("m v=1 1 2", .invalidLineProtocol),
    ])
    func malformedLinesAreRefused(_ text: String, _ expected: TelemetryError.Code) {
        #expect(code(text) == expected)
    }

    @Test func secondsPrecisionOverflowIsOutOfRange() {
        do {
            _ = try parse("m v=1 9223372036854775807", precision: .s)
            Issue.record("accepted an overflowing timestamp")
        } catch {
            #expect(error.code == .timestampOutOfRange)
        }
    }

    @Test func errorsNameTheLine() {
        do {
            _ = try parse("m v=1\nm v=oops\n")
            Issue.record("accepted a bad field")
        } catch {
            #expect(error.message.hasPrefix("line 2: "))
        }
    }

    @Test func invalidUTF8() {
        #expect(throws: TelemetryError(.invalidUTF8, "the body is not valid UTF-8")) {
            try LineProtocol.parse([UInt8(ascii: "m"), 0xFF, UInt8(ascii: " ")], precision: .ns, arrival: 0)
        }
    }
}
