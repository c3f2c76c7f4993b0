/// The query parameters of one request, sorted into PostgREST's reserved parameters and filters.
public struct RESTQuery: Sendable, Hashable {
    /// `nil` when `select` was not given (`*`).
    public var select: [RESTSelectItem]?
    /// Filters and logic trees; all of them must hold (repeated keys AND together).
    public var conditions: [RESTCondition] = []
    /// `nil` when `order` was not given.
    public var order: [RESTOrderTerm]?
    public var limit: Int?
    public var offset: Int?
    public var onConflict: [String]?
    public var columns: [String]?

    public init() {}

    /// Any parameter that is not reserved is a filter on a column of that name, so an unknown
    /// parameter is reported as an unknown column.
    public init(parameters: [(name: String, value: String)]) throws(RESTError) {
        for (name, value) in parameters {
            switch name {
            case "select": select = try RESTGrammar.select(value)
            case "order": order = try RESTGrammar.order(value)
            case "limit": limit = try RESTGrammar.count(value, parameter: "limit")
            case "offset": offset = try RESTGrammar.count(value, parameter: "offset")
            case "on_conflict": onConflict = try RESTGrammar.columnList(value, parameter: "on_conflict")
            case "columns": columns = try RESTGrammar.columnList(value, parameter: "columns")
            default:
                if let logic = try RESTGrammar.logic(key: name, value: value) {
                    conditions.append(logic)
                } else {
                    conditions.append(.filter(try RESTGrammar.filter(key: name, value: value)))
                }
            }
        }
    }
}
