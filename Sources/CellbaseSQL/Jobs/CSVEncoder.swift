/// One cell of an exported row, by the kind of value the database holds.
public enum CSVField: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case boolean(Bool)
    /// A `json`/`jsonb` value, as the database's text of it.
    case json(String)
    case blob([UInt8])
}

/// Table exports as CSV (RFC 4180): UTF-8 without a byte order mark, a header row of column names,
/// then one record per row, every line ending in CRLF.
///
/// The encoder appends to a buffer the caller owns, so an export of any size is written a row at a
/// time and flushed in chunks. A field is quoted only when it must be: when it holds a comma, a
/// double quote, CR or LF, or starts or ends with a space (which some readers trim); quotes inside are
/// doubled. NULL is an empty field and the empty string is `""`, so the two stay apart. Values are
/// written as:
///
/// - integers in decimal; reals in the shortest text that reads back as the same `Double` (`0.1`,
///   `1.0`, `1e-05`), with `Infinity`, `-Infinity` and `NaN` spelled as PostgreSQL spells them;
/// - booleans as `true` and `false`;
/// - text and JSON as their UTF-8;
/// - blobs as `\x` and lowercase hexadecimal, PostgreSQL's `bytea` output.
///
/// A row of a single NULL is therefore an empty line; readers that skip empty lines lose it.
public struct CSVEncoder: Sendable {
    /// Whether text that a spreadsheet would run as a formula, text starting with `=`, `+`, `-`, `@`,
    /// a tab or CR, gets a `'` in front so that it shows as text. Off by default because it changes
    /// the data: turn it on for exports meant to be opened in a spreadsheet. Numbers, booleans, JSON
    /// and blobs are never changed (a negative number is not a formula).
    public var formulaProtection: Bool

    public init(formulaProtection: Bool = false) {
        self.formulaProtection = formulaProtection
    }

    /// The header record: the column names, written as text.
    public func appendHeader(_ columns: some Sequence<String>, to buffer: inout [UInt8]) {
        appendRecord(columns.lazy.map(CSVField.text), to: &buffer)
    }

    /// One record. Every record of an export should have as many fields as the header.
    public func appendRow(_ fields: some Sequence<CSVField>, to buffer: inout [UInt8]) {
        appendRecord(fields, to: &buffer)
    }

    private func appendRecord(_ fields: some Sequence<CSVField>, to buffer: inout [UInt8]) {
        var first = true
        for field in fields {
            if !first { buffer.append(UInt8(ascii: ",")) }
            first = false
            append(field, to: &buffer)
        }
        buffer.append(UInt8(ascii: "\r"))
        buffer.append(UInt8(ascii: "\n"))
    }

    private func append(_ field: CSVField, to buffer: inout [UInt8]) {
        switch field {
        case .null:
            break
        case .integer(let value):
            buffer.append(contentsOf: String(value).utf8)
        case .real(let value):
            buffer.append(contentsOf: Self.text(of: value).utf8)
        case .boolean(let value):
            buffer.append(contentsOf: (value ? "true" : "false").utf8)
        case .text(let text):
            Self.appendText(text, protectingFormula: formulaProtection && Self.looksLikeFormula(text), to: &buffer)
        case .json(let text):
            Self.appendText(text, protectingFormula: false, to: &buffer)
        case .blob(let bytes):
            buffer.reserveCapacity(buffer.count + 2 + bytes.count * 2)
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(UInt8(ascii: "x"))
            for byte in bytes {
                buffer.append(Self.hexDigits[Int(byte >> 4)])
                buffer.append(Self.hexDigits[Int(byte & 0x0F)])
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Swift's shortest round-trip form, which does not depend on a locale.
    private static func text(of value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return value.description
    }

    private static func looksLikeFormula(_ text: String) -> Bool {
        switch text.utf8.first {
        case UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), UInt8(ascii: "\t"), UInt8(ascii: "\r"): true
        default: false
        }
    }

    private static func appendText(_ text: String, protectingFormula: Bool, to buffer: inout [UInt8]) {
        let utf8 = text.utf8
        let needsQuotes = utf8.isEmpty || utf8.first == UInt8(ascii: " ") || utf8.last == UInt8(ascii: " ")
            || utf8.contains { byte in
                byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
            }
        guard needsQuotes else {
            if protectingFormula { buffer.append(UInt8(ascii: "'")) }
            buffer.append(contentsOf: utf8)
            return
        }
        buffer.append(UInt8(ascii: "\""))
        if protectingFormula { buffer.append(UInt8(ascii: "'")) }
        for byte in utf8 {
            if byte == UInt8(ascii: "\"") { buffer.append(byte) }
            buffer.append(byte)
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
