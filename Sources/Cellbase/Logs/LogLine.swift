import CellbaseSQL
import Logging

/// How the node writes its log lines.
public enum LogFormat: String, Sendable, CaseIterable {
    /// One JSON object per line, for log shippers.
    case json
    /// `2026-11-24 02:59:07.042 INFO request key=value ...`, for people.
    case text
}

/// Renders one log event as one line, newline included.
///
/// The line is built in a single string with the fields written in place — no intermediate
/// dictionary of the whole line, no Foundation encoder — so rendering is a handful of appends.
/// Metadata keys are sorted, so the same event always renders the same way.
enum LogLine {
    static func render(
        format: LogFormat,
        timestamp: LogTimestamp,
        level: Logger.Level,
        message: String,
        metadata: [(key: String, value: Logger.MetadataValue)],
        error: (any Error)?
    ) -> String {
        var line = ""
        line.reserveCapacity(192 + message.utf8.count + metadata.count * 24)
        switch format {
        case .json:
            line.append(#"{"time":""#)
            timestamp.append(to: &line)
            line.append(#"","level":""#)
            line.append(level.rawValue)
            line.append(#"","message":"#)
            JSONValue.appendQuoted(message, to: &line)
            for (key, value) in metadata {
                line.append(",")
                JSONValue.appendQuoted(key, to: &line)
                line.append(":")
                appendJSON(value, to: &line)
            }
            if let error {
                line.append(#","error":"#)
                JSONValue.appendQuoted(String(reflecting: error), to: &line)
            }
            line.append("}\n")
        case .text:
            timestamp.append(to: &line, separator: " ")
            line.append(" ")
            line.append(level.rawValue.uppercased())
            line.append(" ")
            line.append(message)
            for (key, value) in metadata {
                line.append(" ")
                line.append(key)
                line.append("=")
                appendText(value, to: &line)
            }
            if let error {
                line.append(" error=")
                appendText(.string(String(reflecting: error)), to: &line)
            }
            line.append("\n")
        }
        return line
    }

    /// Numbers and booleans logged as `.stringConvertible` stay numbers and booleans in JSON, so
    /// `status` and `duration_ms` can be compared and summed by whatever reads the lines.
    static func appendJSON(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text):
            JSONValue.appendQuoted(text, to: &line)
        case .stringConvertible(let convertible):
            switch convertible {
            case let integer as Int:
                line.append(integer.description)
            case let double as Double where double.isFinite:
                line.append(double.description)
            case let bool as Bool:
                line.append(bool ? "true" : "false")
            case let integer as any BinaryInteger:
                line.append(integer.description)
            default:
                JSONValue.appendQuoted(convertible.description, to: &line)
            }
        case .array(let values):
            line.append("[")
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(",") }
                appendJSON(element, to: &line)
            }
            line.append("]")
        case .dictionary(let members):
            line.append("{")
            for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(",") }
                JSONValue.appendQuoted(member.key, to: &line)
                line.append(":")
                appendJSON(member.value, to: &line)
            }
            line.append("}")
        }
    }

    /// Bare when the value is one word; quoted like a JSON string when it is empty or holds a space,
    /// a quote, an `=` or a control character, so a line still splits into its fields.
    static func appendText(_ value: Logger.MetadataValue, to line: inout String) {
        guard case .string(let text) = value else {
            switch value {
            case .stringConvertible(let convertible): appendText(.string(convertible.description), to: &line)
            default: appendJSON(value, to: &line)
            }
            return
        }
        let needsQuotes = text.isEmpty || text.utf8.contains { byte in
            byte <= UInt8(ascii: " ") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "=") || byte == 0x7F
        }
        if needsQuotes {
            JSONValue.appendQuoted(text, to: &line)
        } else {
            line.append(text)
        }
    }
}
