/// Request bodies of inserts and updates: JSON objects whose keys are column names.
enum RESTBody {
    static let invalid = RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json")

    static func parse(_ body: [UInt8]?, maxDepth: Int) throws(RESTError) -> JSONValue {
        guard let body, !body.isEmpty else { throw invalid }
        do {
            return try JSONParser.parse(body, maxDepth: maxDepth)
        } catch {
            throw RESTError(status: 400, code: "PGRST102", message: "Empty or invalid json", details: error.message)
        }
    }

    /// One object of a body. A repeated key keeps its first position and its last value, as
    /// PostgreSQL's `json_populate_record` reads it.
    struct Row {
        var keys: [String] = []
        var values: [String: JSONValue] = [:]

        init(_ members: [JSONMember]) {
            for member in members {
                if values.updateValue(member.value, forKey: member.key) == nil { keys.append(member.key) }
            }
        }
    }

    /// The objects of an insert body: one object, or an array of objects.
    static func rows(_ body: [UInt8]?, maxDepth: Int) throws(RESTError) -> [Row] {
        switch try parse(body, maxDepth: maxDepth) {
        case .object(let members):
            return [Row(members)]
        case .array(let elements):
            var rows: [Row] = []
            rows.reserveCapacity(elements.count)
            for element in elements {
                guard case .object(let members) = element else { throw invalid }
                rows.append(Row(members))
            }
            return rows
        default:
            throw invalid
        }
    }

    static func column(_ key: String, in table: Table) throws(RESTError) -> Column {
        guard let column = table.column(named: key) else {
            throw RESTError(status: 400, code: "PGRST204", message: "Could not find the '\(key)' column of '\(table.name)' in the schema cache")
        }
        return column
    }
}
