import CellbaseSQL
import Testing

/// CSV export encoding: every quoting rule, each kind of value, and a round trip through a strict
/// RFC 4180 reader written here.
@Suite struct CSVEncoderTests {
    private func encode(_ rows: [[CSVField]], header: [String]? = nil, encoder: CSVEncoder = CSVEncoder()) -> String {
        var buffer: [UInt8] = []
        if let header { encoder.appendHeader(header, to: &buffer) }
        for row in rows { encoder.appendRow(row, to: &buffer) }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// One field alone, without the record's CRLF.
    private func field(_ value: CSVField, encoder: CSVEncoder = CSVEncoder()) -> String {
        var buffer: [UInt8] = []
        encoder.appendRow([value], to: &buffer)
        #expect(buffer.suffix(2) == [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        return String(decoding: buffer.dropLast(2), as: UTF8.self)
    }

    @Test func headerAndRowsEndInCRLF() {
        let csv = encode([[.integer(1), .text("Ada")], [.integer(2), .text("Grace")]], header: ["id", "name"])
        #expect(csv == "id,name\r\n1,Ada\r\n2,Grace\r\n")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("two words", "two words"),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("\"", "\"\"\"\""),
        ("line\nbreak", "\"line\nbreak\""),
        ("carriage\rreturn", "\"carriage\rreturn\""),
        ("crlf\r\n", "\"crlf\r\n\""),
        (" leading", "\" leading\""),
        ("trailing ", "\"trailing \""),
        (" ", "\" \""),
        ("\ttab", "\ttab"),
        ("tab\t", "tab\t"),
        ("semi;colon", "semi;colon"),
        ("back\\slash", "back\\slash"),
        ("'quote'", "'quote'"),
        ("", "\"\""),
    ])
    func textQuoting(text: String, encoded: String) {
        #expect(field(.text(text)) == encoded)
        #expect(field(.json(text)) == encoded)
    }

    @Test func unicodeIsWrittenAsUTF8() {
        #expect(field(.text("Zürich")) == "Zürich")
        #expect(field(.text("東京, 日本")) == "\"東京, 日本\"")
        #expect(field(.text("🙂👍🏽")) == "🙂👍🏽")
        var buffer: [UInt8] = []
        CSVEncoder().appendRow([.text("e\u{301}")], to: &buffer)
        #expect(buffer == [0x65, 0xCC, 0x81, 0x0D, 0x0A])
        buffer = []
        CSVEncoder().appendRow([.text("\u{FEFF}x")], to: &buffer)
        #expect(buffer == [0xEF, 0xBB, 0xBF, 0x78, 0x0D, 0x0A])
    }

    @Test func nullIsEmptyAndTheEmptyStringIsQuoted() {
        #expect(encode([[.null, .text(""), .null]]) == ",\"\",\r\n")
        #expect(encode([[.text(""), .null]]) == "\"\",\r\n")
        #expect(encode([[.null]]) == "\r\n")
        #expect(encode([[.json("")]]) == "\"\"\r\n")
    }

    @Test func integersAndBooleans() {
        #expect(encode([[.integer(0), .integer(-1), .integer(.max), .integer(.min), .boolean(true), .boolean(false)]])
            == "0,-1,9223372036854775807,-9223372036854775808,true,false\r\n")
    }

    @Test(arguments: [
        (0.1, "0.1"), (1.0, "1.0"), (-2.5, "-2.5"), (1e-05, "1e-05"), (1e300, "1e+300"), (0.0, "0.0"), (-0.0, "-0.0"),
        (123456789.125, "123456789.125"), (Double.pi, "3.141592653589793"), (Double.leastNonzeroMagnitude, "5e-324"),
        (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"), (Double.infinity, "Infinity"), (-Double.infinity, "-Infinity"),
        (Double.nan, "NaN"),
    ])
    func reals(value: Double, text: String) {
        #expect(field(.real(value)) == text)
    }

    @Test func realsReadBackExactly() {
        var random = SeededGenerator(state: 4180)
        for _ in 0..<5_000 {
            let value = Double(bitPattern: random.next())
            let text = field(.real(value))
            let parsed = Double(text)
            #expect(parsed?.bitPattern == value.bitPattern || (value.isNaN && parsed?.isNaN == true), "\(text)")
            #expect(!text.contains(",") && !text.contains("\""))
        }
    }

    @Test func blobsAreHex() {
        #expect(field(.blob([])) == "\\x")
        #expect(field(.blob([0x00, 0xFF, 0x10, 0xAB])) == "\\x00ff10ab")
        #expect(field(.blob(Array("a,\"".utf8))) == "\\x612c22")
    }

    @Test func jsonIsText() {
        #expect(field(.json(#"{"a":1,"b":[1,2]}"#)) == #""{""a"":1,""b"":[1,2]}""#)
        #expect(field(.json("123")) == "123")
        #expect(field(.json(#""x""#)) == #""""x""""#)
        #expect(field(.json("-1")) == "-1")
    }

    @Test func formulaProtectionIsOffByDefault() {
        #expect(CSVEncoder().formulaProtection == false)
        #expect(field(.text("=1+1")) == "=1+1")
        #expect(field(.text("@SUM(A1)")) == "@SUM(A1)")
    }

    @Test(arguments: [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "\"'\rx\""),
        ("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
        ("a=b", "a=b"),
        (" =x", "\" =x\""),
        ("", "\"\""),
        ("'=x", "'=x"),
    ])
    func formulaProtection(text: String, encoded: String) {
        let encoder = CSVEncoder(formulaProtection: true)
        #expect(field(.text(text), encoder: encoder) == encoded)
    }

    @Test func formulaProtectionLeavesOtherKindsAlone() {
        let encoder = CSVEncoder(formulaProtection: true)
        #expect(encode([[.integer(-5), .real(-0.5), .json("-1"), .boolean(false), .blob([1])]], header: ["=a", "b"], encoder: encoder)
            == "'=a,b\r\n-5,-0.5,-1,false,\\x01\r\n")
    }

    @Test func rowsAppendToWhatTheBufferHolds() {
        let rows: [[CSVField]] = (0..<50).map { [.integer(Int64($0)), .text("row \($0), \"quoted\""), .null] }
        var whole: [UInt8] = []
        CSVEncoder().appendHeader(["n", "text", "nothing"], to: &whole)
        for row in rows { CSVEncoder().appendRow(row, to: &whole) }

        var flushed: [UInt8] = []
        var buffer: [UInt8] = []
        CSVEncoder().appendHeader(["n", "text", "nothing"], to: &buffer)
        for (index, row) in rows.enumerated() {
            CSVEncoder().appendRow(row, to: &buffer)
            if index % 7 == 0 {
                flushed += buffer
                buffer.removeAll(keepingCapacity: true)
            }
        }
        flushed += buffer
        #expect(flushed == whole)
        #expect(whole.count > 50 * 20)
    }

    // MARK: - Round trip

    /// A field as a strict reader sees it: its text and whether it was quoted.
    private struct ReadField: Equatable {
        var text: String
        var quoted: Bool
    }

    private struct MalformedCSV: Error, Equatable {
        var offset: Int
    }

    /// RFC 4180, strictly: records end in CRLF (the last one too), a quote may only open a field or,
    /// doubled, stand inside a quoted one, and CR or LF outside quotes must be a record's CRLF.
    private static func read(_ bytes: [UInt8]) throws(MalformedCSV) -> [[ReadField]] {
        var records: [[ReadField]] = []
        var record: [ReadField] = []
        var index = 0
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        while index < bytes.count {
            var text: [UInt8] = []
            var quoted = false
            if bytes[index] == quote {
                quoted = true
                index += 1
                while true {
                    guard index < bytes.count else { throw MalformedCSV(offset: index) }
                    if bytes[index] == quote {
                        if index + 1 < bytes.count && bytes[index + 1] == quote {
                            text.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    text.append(bytes[index])
                    index += 1
                }
            } else {
                while index < bytes.count && bytes[index] != comma && bytes[index] != cr {
                    guard bytes[index] != quote && bytes[index] != lf else { throw MalformedCSV(offset: index) }
                    text.append(bytes[index])
                    index += 1
                }
            }
            guard let decoded = String(validating: text, as: UTF8.self) else { throw MalformedCSV(offset: index) }
            record.append(ReadField(text: decoded, quoted: quoted))
            guard index < bytes.count else { throw MalformedCSV(offset: index) }
            if bytes[index] == comma {
                index += 1
                guard index < bytes.count else { throw MalformedCSV(offset: index) }
            } else if bytes[index] == cr, index + 1 < bytes.count, bytes[index + 1] == lf {
                index += 2
                records.append(record)
                record = []
            } else {
                throw MalformedCSV(offset: index)
            }
        }
        return records
    }

    @Test func theStrictReaderRefusesWhatRFC4180Forbids() throws {
        for bad in ["a,b", "a\nb\r\n", "a\"b\r\n", "\"a\"b\r\n", "\"a\r\n", "a,\r", "a\rb\r\n", "a,"] {
            #expect(throws: MalformedCSV.self, "\(bad.debugDescription)") { try Self.read(Array(bad.utf8)) }
        }
        #expect(try Self.read(Array("a,\"b\"\"c\",\r\n\r\n".utf8)) == [
            [ReadField(text: "a", quoted: false), ReadField(text: "b\"c", quoted: true), ReadField(text: "", quoted: false)],
            [ReadField(text: "", quoted: false)],
        ])
    }

    /// What a field reads back as: NULL is the only unquoted empty field.
    private static func expectedText(_ field: CSVField) -> String? {
        switch field {
        case .null: nil
        case .integer(let value): String(value)
        case .real(let value): value.isNaN ? "NaN" : value.isInfinite ? (value < 0 ? "-Infinity" : "Infinity") : value.description
        case .text(let text), .json(let text): text
        case .boolean(let value): value ? "true" : "false"
        case .blob(let bytes): "\\x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }

    @Test func randomTablesRoundTrip() throws {
        var random = SeededGenerator(state: 1_234_567)
        let alphabet: [String] = ["a", "Z", "0", " ", ",", "\"", "\r", "\n", "\r\n", "\t", "'", "=", "\\", "é", "東", "🙂", "\u{0}", ";"]
        func randomText() -> String {
            (0..<Int.random(in: 0...8, using: &random)).map { _ in alphabet.randomElement(using: &random)! }.joined()
        }
        for _ in 0..<300 {
            let columns = Int.random(in: 1...6, using: &random)
            let header = (0..<columns).map { _ in randomText() }
            let rows: [[CSVField]] = (0..<Int.random(in: 0...20, using: &random)).map { _ in
                (0..<columns).map { _ in
                    switch Int.random(in: 0..<7, using: &random) {
                    case 0: .null
                    case 1: .integer(Int64(bitPattern: random.next()))
                    case 2: .real(Double(bitPattern: random.next()))
                    case 3: .boolean(Bool.random(using: &random))
                    case 4: .json(randomText())
                    case 5: .blob((0..<Int.random(in: 0...6, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
                    default: .text(randomText())
                    }
                }
            }
            var buffer: [UInt8] = []
            let encoder = CSVEncoder()
            encoder.appendHeader(header, to: &buffer)
            for row in rows { encoder.appendRow(row, to: &buffer) }

            let records = try Self.read(buffer)
            try #require(records.count == rows.count + 1)
            #expect(records[0].map(\.text) == header)
            for (record, row) in zip(records.dropFirst(), rows) {
                // A row of one NULL is an empty line, which reads as one empty field: still NULL.
                try #require(record.count == row.count)
                for (read, written) in zip(record, row) {
                    let expected = Self.expectedText(written)
                    #expect((read.quoted || !read.text.isEmpty ? read.text : nil) == expected, "\(written)")
                    if case .real(let value) = written, !value.isNaN {
                        #expect(Double(read.text) == value)
                    }
                }
            }
        }
    }
}

/// SplitMix64: a fixed seed gives the same values on every run.
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
