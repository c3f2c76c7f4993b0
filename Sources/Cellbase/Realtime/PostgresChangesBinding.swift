import CellbaseSQL

/// One `postgres_changes` binding of a join, checked against the project's catalog.
///
/// The join reply echoes `event`, `schema`, `table` and `filter` exactly as the client sent them
/// (an absent key stays absent), with the id the server gave the binding: the client matches
/// its callbacks to the ids that change messages carry.
struct PostgresChangesBinding: Sendable, Hashable {
    /// Which operations a binding receives.
    enum Event: Sendable, Hashable {
        case all
        case only(RowChange.Operation)

        func includes(_ operation: RowChange.Operation) -> Bool {
            switch self {
            case .all: true
            case .only(let wanted): wanted == operation
            }
        }
    }

    var id: Int
    var event: Event
    /// `nil` for every published table of the schema (`table` absent or `*`).
    var table: String?
    var filter: ChangeFilter?
    /// The binding's keys as sent, echoed in the join reply after the id.
    var echo: [JSONMember]

    /// The only schema a project's tables live in.
    static let schema = "public"

    /// Reads and checks one binding. Every refusal has a reason the client reports as sent.
    init(_ value: JSONValue, id: Int, schema catalog: Schema) throws(RealtimeRefusal) {
        guard case .object = value else { throw RealtimeRefusal("each postgres_changes binding is an object {event, schema, table, filter}") }
        var echo: [JSONMember] = []
        guard case .string(let eventText)? = value["event"] else {
            throw RealtimeRefusal("postgres_changes binding needs \"event\": one of *, INSERT, UPDATE, DELETE")
        }
        if eventText == "*" {
            event = .all
        } else if let operation = RowChange.Operation(rawValue: eventText.uppercased()) {
            event = .only(operation)
        } else {
            throw RealtimeRefusal("invalid postgres_changes event '\(eventText)': use one of *, INSERT, UPDATE, DELETE")
        }
        echo.append(JSONMember(key: "event", value: .string(eventText)))

        switch value["schema"] {
        case nil, .null?:
            break
        case .string(let schema)? where schema == Self.schema:
            echo.append(JSONMember(key: "schema", value: .string(schema)))
        case .string(let schema)?:
            throw RealtimeRefusal("invalid postgres_changes schema '\(schema)': only the schema \"public\" holds a project's tables")
        default:
            throw RealtimeRefusal("postgres_changes \"schema\" must be a string")
        }

        switch value["table"] {
        case nil, .null?:
            table = nil
        case .string("*")?:
            table = nil
            echo.append(JSONMember(key: "table", value: .string("*")))
        case .string(let name)?:
            guard let found = catalog.table(named: name) else {
                throw RealtimeRefusal("invalid postgres_changes table '\(name)': no such table in schema \"public\"")
            }
            guard found.isPublished else {
                throw RealtimeRefusal("table '\(name)' is not in the supabase_realtime publication: ALTER PUBLICATION supabase_realtime ADD TABLE \(name)")
            }
            table = name
            echo.append(JSONMember(key: "table", value: .string(name)))
        default:
            throw RealtimeRefusal("postgres_changes \"table\" must be a string")
        }

        switch value["filter"] {
        case nil, .null?:
            filter = nil
        case .string(let text)?:
            guard let table, let found = catalog.table(named: table) else {
                throw RealtimeRefusal("a postgres_changes filter needs a single \"table\"")
            }
            filter = try ChangeFilter(parsing: text, table: found)
            echo.append(JSONMember(key: "filter", value: .string(text)))
        default:
            throw RealtimeRefusal("postgres_changes \"filter\" must be a string")
        }
        self.id = id
        self.echo = echo
    }

    /// The binding as the join reply lists it.
    var reply: JSONValue {
        .object([JSONMember(key: "id", value: .number(String(id)))] + echo)
    }

    /// Whether `change` of `table` reaches this binding. Only published tables are bound.
    func matches(_ change: RowChange, in table: Table) -> Bool {
        guard event.includes(change.operation), table.isPublished, self.table == nil || self.table == change.table else { return false }
        guard let filter else { return true }
        // A delete has no new row: its filter is read from the old one (the key, or the whole row
        // with REPLICA IDENTITY FULL).
        let row = change.operation == .delete ? change.oldRecord : change.record
        return row.map(filter.matches) ?? false
    }
}

/// A refusal the client is told about, in the `reason` of an error reply or a system message.
struct RealtimeRefusal: Error, Sendable, Hashable {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}

/// A binding's `filter`: `column=op.value`, with `op` one of eq, neq, lt, lte, gt, gte, or
/// `in.(a,b)`, as Supabase Realtime reads it.
///
/// The value is parsed with the Data API's filter grammar and passed through the column type's
/// input function once, when the channel joins, so a value that does not fit its column is
/// refused at once; a changed row's value goes through the same function before comparing, so
/// both sides are in one canonical form (`1.0` equals `1` in an integer column, a uuid in
/// capitals equals its lowercase form).
struct ChangeFilter: Sendable, Hashable {
    enum Operator: String, Sendable, Hashable, CaseIterable {
        case eq, neq, lt, lte, gt, gte, `in`
    }

    var column: String
    var op: Operator
    var type: ColumnType
    /// One value, or the list of `in`; `nil` elements are an unquoted `null`, which never matches.
    var values: [SQLValue?]

    init(parsing text: String, table: Table) throws(RealtimeRefusal) {
        guard let equals = text.firstIndex(of: "=") else {
            throw RealtimeRefusal("invalid filter '\(text)': expected column=operator.value")
        }
        let parsed: RESTFilter
        do {
            parsed = try RESTGrammar.filter(key: String(text[..<equals]), value: String(text[text.index(after: equals)...]))
        } catch {
            throw RealtimeRefusal("invalid filter '\(text)': \(error.details ?? error.message)")
        }
        guard parsed.field.path.isEmpty, !parsed.negated, let op = Operator(rawValue: parsed.op.rawValue) else {
            throw RealtimeRefusal("invalid filter '\(text)': the operator is one of eq, neq, lt, lte, gt, gte, in on a column")
        }
        guard let column = table.column(named: parsed.field.column) else {
            throw RealtimeRefusal("invalid filter '\(text)': table '\(table.name)' has no column '\(parsed.field.column)'")
        }
        switch column.type {
        case .json, .jsonb, .bytea, .array:
            throw RealtimeRefusal("invalid filter '\(text)': columns of type \(column.type.postgresName) cannot be filtered")
        default:
            break
        }
        let texts: [String?]
        switch parsed.operand {
        case .list(let items) where op == .in: texts = items
        case .value(let item) where op != .in: texts = [item]
        default: throw RealtimeRefusal("invalid filter '\(text)': in takes a list, in.(a,b)")
        }
        var values: [SQLValue?] = []
        for item in texts {
            guard let item else {
                values.append(nil)
                continue
            }
            do {
                values.append(try ValueCoercion.bind(text: item, as: column.type, dialect: .sqlite))
            } catch {
                throw RealtimeRefusal("invalid filter '\(text)': \(error.message)")
            }
        }
        self.column = column.name
        self.op = op
        self.type = column.type
        self.values = values
    }

    /// Whether `row` (a JSON object of column values) passes. A missing or NULL value, or one that
    /// does not read as the column's type, never passes, as NULL never compares in SQL.
    func matches(_ row: JSONValue) -> Bool {
        guard let given = row[column], given != .null,
              let value = try? ValueCoercion.bind(given, to: type, column: column, dialect: .sqlite)
        else { return false }
        switch op {
        case .in:
            return values.contains { $0.map { Self.compare(value, $0) == .equal } ?? false }
        default:
            guard let expected = values.first ?? nil, let order = Self.compare(value, expected) else { return false }
            switch op {
            case .eq: return order == .equal
            case .neq: return order != .equal
            case .lt: return order == .less
            case .lte: return order != .greater
            case .gt: return order == .greater
            case .gte: return order != .less
            case .in: return false
            }
        }
    }

    enum Order {
        case less, equal, greater
    }

    /// Values of one column type in their SQLite canonical forms: numbers by value, everything
    /// else (dates, timestamps, uuids, text) by its canonical text.
    static func compare(_ lhs: SQLValue, _ rhs: SQLValue) -> Order? {
        func order<T: Comparable>(_ a: T, _ b: T) -> Order { a < b ? .less : a == b ? .equal : .greater }
        switch (lhs, rhs) {
        case (.integer(let a), .integer(let b)): return order(a, b)
        case (.integer(let a), .double(let b)): return order(Double(a), b)
        case (.double(let a), .integer(let b)): return order(a, Double(b))
        case (.double(let a), .double(let b)): return order(a, b)
        case (.text(let a), .text(let b)): return order(a, b)
        case (.bool(let a), .bool(let b)): return order(a ? 1 : 0, b ? 1 : 0)
        default: return nil
        }
    }
}
