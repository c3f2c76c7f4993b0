/// Topic names and topic filters (MQTT §4.7): validation and matching. Works on UTF-8 bytes, because
/// the separators and wildcards are ASCII and a level comparison is a byte comparison.
public enum MQTTTopic {
    private static let separator = UInt8(ascii: "/")
    private static let singleLevel = UInt8(ascii: "+")
    private static let multiLevel = UInt8(ascii: "#")

    /// Whether `name` may be the topic of a PUBLISH: at least one character and no wildcard.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.utf8.contains(singleLevel) && !name.utf8.contains(multiLevel)
    }

    /// Whether `filter` is a well-formed topic filter: `#` only as the whole last level, `+` only as a whole level.
    /// A `$share/` prefix is not interpreted here; see ``MQTTTopicFilter``.
    public static func isValidFilter(_ filter: String) -> Bool {
        guard !filter.isEmpty else { return false }
        let levels = filter.utf8.split(separator: separator, omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains(multiLevel) && (level.count != 1 || index != levels.count - 1) { return false }
            if level.contains(singleLevel) && level.count != 1 { return false }
        }
        return true
    }

    /// Whether the (valid) filter matches the (valid) topic name. Filters starting with a wildcard do not
    /// match names starting with `$` (MQTT §4.7.2), and `a/#` matches `a` itself.
    public static func matches(filter: String, name: String) -> Bool {
        let filterLevels = filter.utf8.split(separator: separator, omittingEmptySubsequences: false)
        let nameLevels = name.utf8.split(separator: separator, omittingEmptySubsequences: false)
        if name.utf8.first == UInt8(ascii: "$"), let first = filterLevels.first, first.elementsEqual([singleLevel]) || first.elementsEqual([multiLevel]) {
            return false
        }
        var index = 0
        while index < filterLevels.count {
            let level = filterLevels[index]
            if level.elementsEqual([multiLevel]) { return true }
            guard index < nameLevels.count else { return false }
            if !level.elementsEqual([singleLevel]) && !level.elementsEqual(nameLevels[index]) { return false }
            index += 1
        }
        return index == nameLevels.count
    }
}

/// A SUBSCRIBE's topic filter with its MQTT 5 shared-subscription prefix (`$share/{group}/{filter}`) taken apart.
public struct MQTTTopicFilter: Hashable, Sendable {
    /// The share name of a shared subscription, or `nil` for an ordinary one.
    public var shareGroup: String?
    /// The filter topics are matched against.
    public var filter: String

    public init(shareGroup: String? = nil, filter: String) {
        self.shareGroup = shareGroup
        self.filter = filter
    }

    /// Parses and validates a filter as `version` reads it: 3.1.1 knows no shared subscriptions, so there
    /// `$share/…` is an ordinary filter. `nil` when the filter is malformed.
    public init?(parsing text: String, version: MQTTProtocolVersion) {
        let prefix = "$share/"
        if version == .v5, text.hasPrefix(prefix) {
            let rest = text.utf8.dropFirst(prefix.utf8.count)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
            let group = rest[..<slash]
            let filter = rest[rest.index(after: slash)...]
            guard !group.isEmpty, !group.contains(UInt8(ascii: "+")), !group.contains(UInt8(ascii: "#")),
                let groupText = String(group), let filterText = String(filter), MQTTTopic.isValidFilter(filterText)
            else { return nil }
            self.init(shareGroup: groupText, filter: filterText)
        } else {
            guard MQTTTopic.isValidFilter(text) else { return nil }
            self.init(filter: text)
        }
    }
}
