/// MIME types as buckets restrict them.
public enum MimeType {
    /// The type without parameters, lowercased: `text/plain;charset=UTF-8` is `text/plain`.
    public static func essence(_ type: String) -> String {
        String(type.prefix { $0 != ";" }).trimmingSpaces.lowercased()
    }

    /// Whether `type` is allowed by `patterns` (`image/png`, `image/*`, `*/*`); `nil` allows all.
    public static func isAllowed(_ type: String, by patterns: [String]?) -> Bool {
        guard let patterns else { return true }
        let essence = essence(type)
        let major = essence.prefix { $0 != "/" }
        return patterns.contains { pattern in
            let pattern = Self.essence(pattern)
            if pattern == "*/*" || pattern == essence { return true }
            return pattern.hasSuffix("/*") && pattern.dropLast(2) == major
        }
    }
}
