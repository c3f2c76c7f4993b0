/// Turns what a plan's statements returned into PostgREST's HTTP answer.
struct RESTResponder: Sendable {
    var method: RESTMethod
    var media: RESTMediaType
    var preferences: RESTPreferences
    /// The first row's position, for `Content-Range` on reads.
    var offset = 0
    /// Whether a mutation answers with its rows (`return=representation`).
    var representation = false
    /// For `return=headers-only` inserts: the table and key that make the `Location` header.
    var location: (table: String, primaryKey: [String])?
    /// The table, when row-level security applies: a write with a row that failed a policy is
    /// refused with 42501, inside its transaction, so it changes nothing.
    var policyTable: String?
    /// For an upsert under row-level security: every row comes back unless the policies kept a
    /// conflicting row from being updated.
    var upsertRows: Int?

    func respond(_ result: RESTResult) throws(RESTError) -> RESTResponse {
        let rows = result.rowCount
        let json = result.json ?? "[]"
        var headers: [String: String] = [:]
        if let applied = preferences.applied(for: method) { headers["Preference-Applied"] = applied }

        switch method {
        case .get, .head:
            headers["Content-Range"] = Self.contentRange(first: offset, rows: rows, total: result.total)
            headers["Content-Type"] = media.contentType
            let body = try render(json, rows: rows)
            return RESTResponse(status: 200, headers: headers, body: method == .head ? nil : body)
        case .post, .patch, .delete:
            if let policyTable {
                if result.policyViolations > 0 { throw .rowSecurityViolation(table: policyTable) }
                if let upsertRows, rows < upsertRows { throw .rowSecurityViolation(table: policyTable, usingExpression: true) }
            }
            if preferences.isStrict, let maxAffected = preferences.maxAffected, method != .post, rows > maxAffected {
                throw RESTError(
                    status: 400, code: "PGRST124",
                    message: "Query result exceeds max-affected preference constraint",
                    details: "The query affects \(rows) rows"
                )
            }
            let total = preferences.count == nil ? nil : rows
            headers["Content-Range"] = method == .post
                ? "*/\(total.map(String.init) ?? "*")"
                : Self.contentRange(first: 0, rows: rows, total: total)
            if let location, let url = Self.location(json, table: location.table, primaryKey: location.primaryKey) {
                headers["Location"] = url
            }
            guard representation else {
                return RESTResponse(status: method == .post ? 201 : 204, headers: headers, body: nil)
            }
            headers["Content-Type"] = media.contentType
            return RESTResponse(status: method == .post ? 201 : 200, headers: headers, body: try render(json, rows: rows))
        }
    }

    /// `first-last/total`, or `*/total` for an empty page; the total is `*` when not counted.
    static func contentRange(first: Int, rows: Int, total: Int?) -> String {
        let totalText = total.map(String.init) ?? "*"
        return rows > 0 ? "\(first)-\(first + rows - 1)/\(totalText)" : "*/\(totalText)"
    }

    /// The rows as the requested media type.
    func render(_ json: String, rows: Int) throws(RESTError) -> String {
        switch media {
        case .array(stripNulls: false):
            return json
        case .array(stripNulls: true):
            return try Self.parse(json).strippingNulls.serialized
        case .object(let stripNulls):
            guard rows == 1, case .array(let elements) = try Self.parse(json), let object = elements.first, elements.count == 1 else {
                throw RESTError(
                    status: 406, code: "PGRST116",
                    message: "JSON object requested, multiple (or no) rows returned",
                    details: "The result contains \(rows) rows"
                )
            }
            return (stripNulls ? object.strippingNulls : object).serialized
        case .csv:
            return Self.csv(try Self.parse(json))
        }
    }

    static func parse(_ json: String) throws(RESTError) -> JSONValue {
        do {
            return try JSONParser.parse(Array(json.utf8), maxDepth: 512)
        } catch {
            throw RESTError(status: 500, code: "XX000", message: "the database returned rows that are not valid JSON")
        }
    }

    /// PostgREST's CSV: a header of the first row's keys, then one line per row; NULL is empty.
    static func csv(_ rows: JSONValue) -> String {
        guard case .array(let elements) = rows, case .object(let first)? = elements.first else { return "" }
        var lines = [first.map { csvField($0.key) }.joined(separator: ",")]
        for element in elements {
            guard case .object(let members) = element else { continue }
            lines.append(members.map { member in
                switch member.value {
                case .null: ""
                case .string(let text): csvField(text)
                default: csvField(member.value.serialized)
                }
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        var quoted = "\""
        for character in text {
            if character == "\"" { quoted.append("\"") }
            quoted.append(character)
        }
        return quoted + "\""
    }

    /// `/todos?id=eq.1` from the first returned row's primary key.
    static func location(_ json: String, table: String, primaryKey: [String]) -> String? {
        guard case .array(let rows)? = try? JSONParser.parse(Array(json.utf8), maxDepth: 512), let row = rows.first else { return nil }
        var filters: [String] = []
        for key in primaryKey {
            switch row[key] {
            case .string(let text)?: filters.append("\(key)=eq.\(text)")
            case .number(let number)?: filters.append("\(key)=eq.\(number)")
            case .bool(let flag)?: filters.append("\(key)=eq.\(flag)")
            default: return nil
            }
        }
        return "/\(table)?" + filters.joined(separator: "&")
    }
}

extension JSONValue {
    /// `json_strip_nulls`: object members whose value is null are removed, at every depth.
    fileprivate var strippingNulls: JSONValue {
        switch self {
        case .array(let elements):
            return .array(elements.map(\.strippingNulls))
        case .object(let members):
            return .object(members.compactMap { member in
                member.value == .null ? nil : JSONMember(key: member.key, value: member.value.strippingNulls)
            })
        default:
            return self
        }
    }
}
