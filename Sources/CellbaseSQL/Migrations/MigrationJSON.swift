/// Validates JSON text and removes the insignificant whitespace, the form json and jsonb
/// defaults are stored in on SQLite (docs/TYPES.md).
enum MigrationJSON {
    /// Deeper documents are refused rather than risk the stack.
    static let maxDepth = 256

    /// The minified text, or `nil` if `text` is not one JSON value.
    static func minified(_ text: String) -> String? {
        var reader = Reader(scalars: Array(text.unicodeScalars))
        reader.skipWhitespace()
        guard reader.value(depth: 0) else { return nil }
        reader.skipWhitespace()
        guard reader.index == reader.scalars.count else { return nil }
        return String(reader.output)
    }

    private struct Reader {
        let scalars: [Unicode.Scalar]
        var index = 0
        var output = String.UnicodeScalarView()

        var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        mutating func skipWhitespace() {
            while let scalar = current, scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                index += 1
            }
        }

        mutating func copy() {
            output.append(scalars[index])
            index += 1
        }

        mutating func literal(_ word: String) -> Bool {
            for scalar in word.unicodeScalars {
                guard current == scalar else { return false }
                copy()
            }
            return true
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < MigrationJSON.maxDepth, let scalar = current else { return false }
            switch scalar {
            case "{": return container(close: "}", depth: depth, keyed: true)
            case "[": return container(close: "]", depth: depth, keyed: false)
            case "\"": return string()
            case "t": return literal("true")
            case "f": return literal("false")
            case "n": return literal("null")
            default: return number()
            }
        }

        mutating func container(close: Unicode.Scalar, depth: Int, keyed: Bool) -> Bool {
            copy()
            skipWhitespace()
            if current == close {
                copy()
                return true
            }
            while true {
                if keyed {
                    guard current == "\"", string() else { return false }
                    skipWhitespace()
                    guard current == ":" else { return false }
                    copy()
                    skipWhitespace()
                }
                guard value(depth: depth + 1) else { return false }
                skipWhitespace()
                if current == close {
                    copy()
                    return true
                }
                guard current == "," else { return false }
                copy()
                skipWhitespace()
            }
        }

        mutating func string() -> Bool {
            copy()
            while let scalar = current {
                if scalar == "\"" {
                    copy()
                    return true
                }
                if scalar.value < 0x20 { return false }
                if scalar == "\\" {
                    copy()
                    guard let escaped = current else { return false }
                    if escaped == "u" {
                        copy()
                        for _ in 0..<4 {
                            guard let hex = current, hex.properties.isASCIIHexDigit else { return false }
                            copy()
                        }
                        continue
                    }
                    guard "\"\\/bfnrt".unicodeScalars.contains(escaped) else { return false }
                }
                copy()
            }
            return false
        }

        mutating func digits() -> Int {
            var count = 0
            while let scalar = current, scalar >= "0" && scalar <= "9" {
                copy()
                count += 1
            }
            return count
        }

        mutating func number() -> Bool {
            if current == "-" { copy() }
            if current == "0" {
                copy()
            } else if digits() == 0 {
                return false
            }
            if current == "." {
                copy()
                guard digits() > 0 else { return false }
            }
            if current == "e" || current == "E" {
                copy()
                if current == "+" || current == "-" { copy() }
                guard digits() > 0 else { return false }
            }
            return true
        }
    }
}
