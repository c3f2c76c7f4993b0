import CellbaseSQL
import FoundationEssentials

enum Timestamp {
    /// Now, as RFC 3339 UTC with a `Z` (a form every Supabase client parses).
    static func now() -> String {
        Date().formatted(.iso8601)
    }

    /// Now, in milliseconds since 1970.
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// RFC 3339 UTC with a `Z`, milliseconds shown when there are any.
    static func iso8601(milliseconds: Int64) -> String {
        TelemetryTimestamp.rfc3339(milliseconds * 1000)
    }
}
