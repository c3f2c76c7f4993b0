/// The `Prefer` header as PostgREST reads it (RFC 7240 tokens, unknown ones ignored unless
/// `handling=strict`).
public struct RESTPreferences: Sendable, Hashable {
    public enum Return: String, Sendable, Hashable {
        case minimal, representation
        case headersOnly = "headers-only"
    }

    public enum Count: String, Sendable, Hashable {
        case exact, planned, estimated
    }

    public enum Resolution: String, Sendable, Hashable {
        case mergeDuplicates = "merge-duplicates"
        case ignoreDuplicates = "ignore-duplicates"
    }

    public enum Handling: String, Sendable, Hashable {
        case lenient, strict
    }

    public var returning: Return?
    public var count: Count?
    public var resolution: Resolution?
    public var missingDefault = false
    public var handling: Handling?
    public var maxAffected: Int?
    /// Tokens that were not understood, as written.
    public var invalid: [String] = []

    public init() {}

    public init(header: String?) throws(RESTError) {
        guard let header else { return }
        for rawToken in header.split(separator: ",") {
            let token = rawToken.restTrimmed()
            if token.isEmpty { continue }
            let parts = token.split(separator: "=", maxSplits: 1).map { String($0).restTrimmed() }
            let value = parts.count == 2 ? parts[1] : ""
            switch parts[0] {
            case "return" where Return(rawValue: value) != nil: returning = Return(rawValue: value)
            case "count" where Count(rawValue: value) != nil: count = Count(rawValue: value)
            case "resolution" where Resolution(rawValue: value) != nil: resolution = Resolution(rawValue: value)
            case "missing" where value == "default": missingDefault = true
            case "missing" where value == "null": missingDefault = false
            case "handling" where Handling(rawValue: value) != nil: handling = Handling(rawValue: value)
            case "max-affected" where Int(value).map({ $0 >= 0 }) == true: maxAffected = Int(value)
            // Accepted and without effect here: the transaction, time zone and RPC preferences.
            case "tx", "timezone", "params": break
            default: invalid.append(token)
            }
        }
        if isStrict, !invalid.isEmpty {
            throw RESTError(
                status: 400, code: "PGRST122",
                message: "Invalid preferences given with handling=strict",
                details: "Invalid preferences: " + invalid.joined(separator: ", ")
            )
        }
    }

    /// `handling=strict`: invalid preferences are errors and `max-affected` is enforced.
    public var isStrict: Bool { handling == .strict }

    /// `Preference-Applied`: the preferences that were honoured for this method, in PostgREST's order.
    func applied(for method: RESTMethod) -> String? {
        let isWrite = method == .post || method == .patch || method == .delete
        var tokens: [String] = []
        if method == .post, let resolution { tokens.append("resolution=\(resolution.rawValue)") }
        if method == .post, missingDefault { tokens.append("missing=default") }
        if isWrite, let returning { tokens.append("return=\(returning.rawValue)") }
        if let count { tokens.append("count=\(count.rawValue)") }
        if let handling { tokens.append("handling=\(handling.rawValue)") }
        if isStrict, method == .patch || method == .delete, let maxAffected { tokens.append("max-affected=\(maxAffected)") }
        return tokens.isEmpty ? nil : tokens.joined(separator: ", ")
    }
}

/// What the `Accept` header asks for.
public enum RESTMediaType: Sendable, Hashable {
    case array(stripNulls: Bool)
    case object(stripNulls: Bool)
    case csv

    /// The first acceptable media type of the header, in the client's order; `*/*` when absent.
    public init(accept: String?) throws(RESTError) {
        guard let accept, !accept.restTrimmed().isEmpty else {
            self = .array(stripNulls: false)
            return
        }
        for range in accept.split(separator: ",") {
            let parameters = range.split(separator: ";").map { String($0).restTrimmed().lowercased() }
            let stripNulls = parameters.dropFirst().contains("nulls=stripped")
            switch parameters.first ?? "" {
            case "*/*", "application/*", "application/json":
                self = .array(stripNulls: false)
                return
            case "application/vnd.pgrst.array+json", "application/vnd.pgrst.array":
                self = .array(stripNulls: stripNulls)
                return
            case "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
                self = .object(stripNulls: stripNulls)
                return
            case "text/csv", "text/*":
                self = .csv
                return
            default:
                continue
            }
        }
        throw RESTError(status: 406, code: "PGRST107", message: "None of these media types are available: \(accept)")
    }

    var contentType: String {
        switch self {
        case .array(false): "application/json; charset=utf-8"
        case .array(true): "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"
        case .object(false): "application/vnd.pgrst.object+json; charset=utf-8"
        case .object(true): "application/vnd.pgrst.object+json; nulls=stripped; charset=utf-8"
        case .csv: "text/csv; charset=utf-8"
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (Foundation-free `trimmingCharacters`).
    func restTrimmed() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
