/// A parsed JSON document, kept close to how it was written.
///
/// Numbers keep their text so `numeric` and `bigint` values pass through without a round trip
/// through `Double`, and objects keep their members in input order (duplicates included) so a
/// value re-serialised for a `json` column reads as it was sent.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// Exactly as written in the input; always valid JSON number grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in input order. On lookup the last of duplicate keys wins, as in PostgreSQL.
    case object([JSONMember])
}

public struct JSONMember: Sendable, Hashable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue {
    /// The value of the last member named `key`; `nil` when absent or when this is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// Compact JSON text: no insignificant whitespace, members in order, strings escaped.
    public var serialized: String {
        var output = ""
        append(to: &output)
        return output
    }

    /// Appends the compact JSON text of this value.
    public func append(to output: inout String) {
        switch self {
        case .null: output.append("null")
        case .bool(let value): output.append(value ? "true" : "false")
        case .number(let text): output.append(text)
        case .string(let text): Self.appendQuoted(text, to: &output)
        case .array(let elements):
            output.append("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(",") }
                element.append(to: &output)
            }
            output.append("]")
        case .object(let members):
            output.append("{")
            for (index, member) in members.enumerated() {
                if index > 0 { output.append(",") }
                Self.appendQuoted(member.key, to: &output)
                output.append(":")
                member.value.append(to: &output)
            }
            output.append("}")
        }
    }

    /// `text` as a JSON string literal. Only what RFC 8259 requires is escaped, using the short
    /// escapes where they exist. Unescaped runs are copied whole; everything escaped is ASCII, so
    /// UTF-8 positions of those bytes are character boundaries.
    public static func appendQuoted(_ text: String, to output: inout String) {
        output.append("\"")
        let utf8 = text.utf8
        var pending = utf8.startIndex
        var index = pending
        while index < utf8.endIndex {
            let byte = utf8[index]
            let escape: String? =
                switch byte {
                case UInt8(ascii: "\""): "\\\""
                case UInt8(ascii: "\\"): "\\\\"
                case UInt8(ascii: "\n"): "\\n"
                case UInt8(ascii: "\r"): "\\r"
                case UInt8(ascii: "\t"): "\\t"
                case 0x08: "\\b"
                case 0x0C: "\\f"
                case 0..<0x10: "\\u000" + hexDigit(byte)
                case 0x10..<0x20: "\\u001" + hexDigit(byte & 0xF)
                default: nil
                }
            if let escape {
                output.append(contentsOf: text[pending..<index])
                output.append(escape)
                pending = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        output.append(contentsOf: text[pending...])
        output.append("\"")
    }

    private static func hexDigit(_ value: UInt8) -> String {
        String(UnicodeScalar(value < 10 ? 48 + value : 87 + value))
    }
}
