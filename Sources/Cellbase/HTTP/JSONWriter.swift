import CellbaseSQL

/// A small streaming JSON writer for the fixed-shape bodies the server builds itself (errors,
/// admin answers). Row data never goes through it: the databases render rows as JSON.
struct JSONWriter {
    private(set) var output = ""
    private var needsComma = false

    mutating func beginObject() { separate(); output.append("{"); needsComma = false }
    mutating func endObject() { output.append("}"); needsComma = true }

    mutating func key(_ key: String) {
        separate()
        JSONValue.appendQuoted(key, to: &output)
        output.append(":")
        needsComma = false
    }

    mutating func string(_ value: String) { separate(); JSONValue.appendQuoted(value, to: &output); needsComma = true }
    mutating func optionalString(_ value: String?) { if let value { string(value) } else { null() } }
    mutating func null() { separate(); output.append("null"); needsComma = true }

    private mutating func separate() {
        if needsComma { output.append(","); needsComma = false }
    }
}
