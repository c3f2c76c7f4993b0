import FoundationEssentials

enum Timestamp {
    /// Now, as RFC 3339 UTC with a `Z` (a form every Supabase client parses).
    static func now() -> String {
        Date().formatted(.iso8601)
    }
}
