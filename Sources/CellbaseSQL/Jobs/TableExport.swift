/// How an export walks a table: page by page in primary-key order, each page a Data API read of
/// the caller's select and filters plus "after the last key seen", so that memory holds one page
/// whatever the table's size and no row is read twice or skipped by paging.
///
/// The walk is not one snapshot: a row written while the export runs is in it if its key comes
/// after the page being read.
public struct TableExport: Sendable, Hashable {
    /// The CSV header: the names the select gives its fields (`*` is every column in order).
    public let columns: [String]
    /// The primary key, in order: the walk's order and where each page starts.
    public let key: [String]
    public let pageSize: Int
    private let base: RESTQuery

    /// The selected key columns come back under these names, so that they never clash with the
    /// caller's own names; they are not written to the file.
    static func keyAlias(_ index: Int) -> String { "__cellbase_export_key_\(index)" }

    /// - Parameter parameters: the caller's PostgREST query (`select` and filters).
    public init(table: Table, parameters: [(name: String, value: String)], pageSize: Int = 1000) throws(RESTError) {
        guard !table.primaryKey.isEmpty else {
            throw RESTError(
                status: 400, code: "export_needs_primary_key",
                message: "The table '\(table.name)' has no primary key, and exports walk a table in primary-key order"
            )
        }
        var query = try RESTQuery(parameters: parameters)
        if query.order != nil || query.limit != nil || query.offset != nil || query.onConflict != nil || query.columns != nil {
            throw RESTError(
                status: 400, code: "PGRST100",
                message: "An export takes select and filters only: it is written in primary-key order, every row the filters admit",
                hint: "Remove order, limit, offset, columns and on_conflict from the query."
            )
        }
        let select = query.select ?? [.all]
        var columns: [String] = []
        for item in select {
            switch item {
            case .all: columns += table.columns.map(\.name)
            case .field(let field, let alias, _): columns.append(alias ?? field.defaultName)
            case .embedded(let embed):
                throw RESTError(status: 400, code: "PGRST100", message: "An export cannot embed '\(embed.relation)': select columns of '\(table.name)' only")
            }
        }
        query.select = select + table.primaryKey.enumerated().map { index, column in
            .field(RESTField(column: column), alias: Self.keyAlias(index), cast: nil)
        }
        query.order = table.primaryKey.map { RESTOrderTerm(field: RESTField(column: $0)) }
        query.limit = pageSize
        self.columns = columns
        self.key = table.primaryKey
        self.pageSize = pageSize
        self.base = query
    }

    /// The read of the page after the row whose key is `last` (the first page for `nil`).
    public func query(after last: [JSONValue]?) throws(RESTError) -> RESTQuery {
        var query = base
        guard let last else { return query }
        let values = try last.map { value throws(RESTError) in try Self.operand(value) }
        // (k0 > v0) OR (k0 = v0 AND k1 > v1) OR …: the rows after `last` in key order.
        let after: [RESTCondition] = key.indices.map { position in
            var terms = (0..<position).map { index in
                RESTCondition.filter(RESTFilter(field: RESTField(column: key[index]), op: .eq, operand: .value(values[index])))
            }
            terms.append(.filter(RESTFilter(field: RESTField(column: key[position]), op: .gt, operand: .value(values[position]))))
            return terms.count == 1 ? terms[0] : .group(.and, terms, negated: false)
        }
        query.conditions.append(after.count == 1 ? after[0] : .group(.or, after, negated: false))
        return query
    }

    /// One page as the Data API answered it (a JSON array of objects): its records in header
    /// order, and the key of its last row, from which the next page starts (`nil` after the
    /// last page).
    public func page(_ body: some Collection<UInt8>) throws(RESTError) -> (records: [[CSVField]], lastKey: [JSONValue]?) {
        guard case .array(let rows)? = try? JSONParser.parse(body, maxDepth: 512) else {
            throw RESTError(status: 500, code: "XX000", message: "A page of the export was not a JSON array")
        }
        var records: [[CSVField]] = []
        records.reserveCapacity(rows.count)
        var lastKey: [JSONValue]?
        for row in rows {
            guard case .object(let members) = row else {
                throw RESTError(status: 500, code: "XX000", message: "A row of the export was not a JSON object")
            }
            var byName: [String: JSONValue] = [:]
            for member in members { byName[member.key] = member.value }
            records.append(columns.map { Self.field(byName[$0] ?? .null) })
            lastKey = key.indices.map { byName[Self.keyAlias($0)] ?? .null }
        }
        return (records, rows.count < pageSize ? nil : lastKey)
    }

    /// A key value as a filter operand, in the text the Data API reads back as the same value.
    static func operand(_ value: JSONValue) throws(RESTError) -> String {
        switch value {
        case .number(let text), .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null, .array, .object:
            throw RESTError(status: 500, code: "XX000", message: "A primary key value of the export was \(value.serialized)")
        }
    }

    /// A JSON value of the Data API as a CSV field: numbers as written, JSON documents as their text.
    static func field(_ value: JSONValue) -> CSVField {
        switch value {
        case .null: .null
        case .bool(let flag): .boolean(flag)
        case .number(let text): .json(text)
        case .string(let text): .text(text)
        case .array, .object: .json(value.serialized)
        }
    }
}
