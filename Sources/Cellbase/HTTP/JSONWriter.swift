/// A small streaming JSON writer for the fixed-shape bodies the server builds itself (errors,
/// admin answers). Row data never goes through it: the databases render rows as JSON.
struct JSONWriter {
    private(set) var output = ""
    private var needsComma = false

    mutating func beginObject() { separate(); output.append("{"); needsComma = false }
    mutating func endObject() { output.append("}"); needsComma = true }
    mutating func beginArray() { separate(); output.append("["); needsComma = false }
    mutating func endArray() { output.append("]"); needsComma = true }

    mutating func key(_ key: String) {
        separate()
        Self.appendQuoted(key, to: &output)
        output.append(":")
        needsComma = false
    }

    mutating func string(_ value: String) { separate(); Self.appendQuoted(value, to: &output); needsComma = true }
    mutating func optionalString(_ value: String?) { if let value { string(value) } else { null() } }
    mutating func int(_ value: Int) { separate(); output.append(String(value)); needsComma = true }
    mutating func bool(_ value: Bool) { separate(); output.append(value ? "true" : "false"); needsComma = true }
    mutating func null() { separate(); output.append("null"); needsComma = true }
    /// Splices already-valid JSON text.
    mutating func raw(_ json: String) { separate(); output.append(json); needsComma = true }

    private mutating func separate() {
        if needsComma { output.append(","); needsComma = false }
    }

    static func appendQuoted(_ value: String, to output: inout String) {
        output.append("\"")
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output.append("\\\"")
            case "\\": output.append("\\\\")
            case "\n": output.append("\\n")
            case "\r": output.append("\\r")
            case "\t": output.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output.append("\"")
    }
}
