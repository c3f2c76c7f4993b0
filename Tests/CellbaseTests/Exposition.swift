/// A Prometheus text exposition (format 0.0.4), read as strictly as a scraper would: every sample
/// belongs to a family declared by `# TYPE`, label values are quoted with their escapes, and a
/// malformed line is an error rather than skipped.
struct Exposition {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Malformed: Error, CustomStringConvertible {
        var line: Substring
        var reason: String
        var description: String { "\(reason): \(line)" }
    }

    private(set) var types: [String: String] = [:]
    private(set) var samples: [Sample] = []

    init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Malformed(line: text.suffix(40), reason: "the text does not end with a newline") }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2, Self.isName(parts[0]), ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[1]) else {
                    throw Malformed(line: line, reason: "bad TYPE line")
                }
                guard types.updateValue(String(parts[1]), forKey: String(parts[0])) == nil else { throw Malformed(line: line, reason: "a second TYPE") }
            } else if line.hasPrefix("# HELP ") {
                guard let name = line.dropFirst(7).split(separator: " ").first, Self.isName(name) else { throw Malformed(line: line, reason: "bad HELP line") }
            } else if !line.hasPrefix("#") {
                let sample = try Self.sample(line)
                guard family(of: sample.name) != nil else { throw Malformed(line: line, reason: "a sample of no declared family") }
                samples.append(sample)
            }
        }
    }

    /// The value of the sample with exactly these labels.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    func samples(named name: String) -> [Sample] {
        samples.filter { $0.name == name }
    }

    /// The declared family a sample belongs to: its own name, or a histogram's for `_bucket`,
    /// `_sum` and `_count` samples.
    func family(of name: String) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" { return base }
        }
        return nil
    }

    private static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_" || character == ":")
    }

    private static func isName(_ text: Substring) -> Bool {
        guard let first = text.first, !first.isNumber else { return false }
        return text.allSatisfy(isNameCharacter)
    }

    /// `name{label="value",...} value [timestamp]`.
    private static func sample(_ line: Substring) throws -> Sample {
        var rest = line
        let name = rest.prefix(while: isNameCharacter)
        guard isName(name) else { throw Malformed(line: line, reason: "bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = rest.prefix(while: isNameCharacter)
                guard isName(key) else { throw Malformed(line: line, reason: "bad label name") }
                rest = rest.dropFirst(key.count)
                guard rest.hasPrefix("=\"") else { throw Malformed(line: line, reason: "a label without a quoted value") }
                rest = rest.dropFirst(2)
                var value = ""
                while let character = rest.popFirst(), character != "\"" {
                    guard character == "\\" else { value.append(character); continue }
                    switch rest.popFirst() {
                    case "\\": value.append("\\")
                    case "\"": value.append("\"")
                    case "n": value.append("\n")
                    default: throw Malformed(line: line, reason: "a bad escape in a label value")
                    }
                }
                guard labels.updateValue(value, forKey: String(key)) == nil else { throw Malformed(line: line, reason: "a label twice") }
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { throw Malformed(line: line, reason: "unterminated labels") }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ", omittingEmptySubsequences: false)
        guard rest.first == " ", (2...3).contains(fields.count), let value = Double(fields[1]) else {
            throw Malformed(line: line, reason: "bad value")
        }
        return Sample(name: String(name), labels: labels, value: value)
    }
}
