/// Plans a PostgREST request against a project's schema: the statements to run in one dialect and
/// how to answer with what they return. Pure: no I/O.
public struct RESTPlanner: Sendable {
    public var schema: Schema
    public var namespace: SQLNamespace
    public var limits: RESTLimits
    /// Who asks: the row-level security the statements enforce.
    public var access: RESTAccess
    /// The schema's policies, compiled ahead when the caller keeps them with its catalog.
    public var policies: CompiledPolicies

    /// `policies`: the schema's policies compiled for `namespace`; when `nil`, each predicate a
    /// request needs is compiled while planning it.
    public init(schema: Schema, namespace: SQLNamespace, limits: RESTLimits = RESTLimits(), access: RESTAccess = .serviceRole, policies: CompiledPolicies? = nil) {
        self.schema = schema
        self.namespace = namespace
        self.limits = limits
        self.access = access
        self.policies = policies ?? CompiledPolicies(compiling: PolicyCompiler(schema: schema, namespace: namespace))
    }

    /// SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32,766; statements stay below this.
    static let sqliteBindCeiling = 30_000
    /// The PostgreSQL wire protocol counts parameters in 16 bits.
    static let maxPostgresBinds = 65_535

    public func plan(_ request: RESTRequest) throws(RESTError) -> RESTPlan {
        guard let table = schema.table(named: request.table) else {
            throw RESTError(status: 404, code: "PGRST205", message: "Could not find the table 'public.\(request.table)' in the schema cache")
        }
        let query = try RESTQuery(parameters: request.query)
        let preferences = try RESTPreferences(header: request.prefer)
        let media = try RESTMediaType(accept: request.accept)
        var responder = RESTResponder(method: request.method, media: media, preferences: preferences)
        responder.representation = preferences.returning == .representation
        let security = RowSecurity(table: table, access: access, policies: policies)
        responder.policyTable = security?.table.name

        switch request.method {
        case .get, .head:
            return try planRead(table: table, query: query, preferences: preferences, security: security, responder: responder)
        case .post:
            return try planInsert(table: table, query: query, preferences: preferences, body: request.body, security: security, responder: responder)
        case .patch:
            return try planUpdate(table: table, query: query, preferences: preferences, body: request.body, security: security, responder: responder)
        case .delete:
            return try planDelete(table: table, query: query, preferences: preferences, security: security, responder: responder)
        }
    }

    // MARK: reads

    /// A read of `table` with a query that is already parsed, answered as a JSON array: exports
    /// walk a table page by page with conditions they add themselves.
    public func planRead(table name: String, query: RESTQuery) throws(RESTError) -> RESTPlan {
        guard let table = schema.table(named: name) else {
            throw RESTError(status: 404, code: "PGRST205", message: "Could not find the table 'public.\(name)' in the schema cache")
        }
        let preferences = RESTPreferences()
        return try planRead(
            table: table, query: query, preferences: preferences,
            security: RowSecurity(table: table, access: access, policies: policies),
            responder: RESTResponder(method: .get, media: .array(stripNulls: false), preferences: preferences)
        )
    }

    func planRead(table: Table, query: RESTQuery, preferences: RESTPreferences, security: RowSecurity?, responder: RESTResponder) throws(RESTError) -> RESTPlan {
        var builder = RESTSQLBuilder(table: table, namespace: namespace)
        let projection = builder.projection(try builder.outputs(query.select ?? [.all]))
        let whereClause = try whereClause(query.conditions, admitting: security?.readable(), builder: &builder)
        let orderClause = try builder.orderClause(query.order)
        let offset = query.offset ?? 0
        var page = " LIMIT " + builder.bindInteger(min(query.limit ?? limits.maxRows, limits.maxRows))
        if offset > 0 { page += " OFFSET " + builder.bindInteger(offset) }
        let total = preferences.count == nil ? "NULL" : "(SELECT count(*) FROM \(builder.qualifiedTable)\(whereClause))"
        let rows = "FROM \(builder.qualifiedTable)\(whereClause)\(orderClause)\(page)"
        let sql = switch namespace.dialect {
        case .postgres:
            "SELECT coalesce(json_agg(_r), '[]')::text, count(*), \(total) FROM (SELECT \(projection) \(rows)) _r"
        case .sqlite:
            "SELECT coalesce(json_group_array(json(_r.j)), '[]'), count(*), \(total) FROM (SELECT \(projection) AS j \(rows)) _r"
        }
        var responder = responder
        responder.offset = offset
        return RESTPlan(statements: [SQLStatement(sql, binds: builder.binds)], isWrite: false, form: .aggregated, respond: responder.respond)
    }

    // MARK: writes

    /// What a mutation returns, decided by `Prefer: return=`.
    struct Returning {
        /// `nil` for `return=minimal`: no rows are rendered, and without a `check` the statements
        /// return nothing and the plan counts changes.
        var items: [RESTSelectItem]?
        /// Under row-level security, what every written row must pass: the statements then return
        /// their rows with the outcome (see `RESTResultForm`), whatever `items` says.
        var check: SQLTemplate?
    }

    func returning(table: Table, query: RESTQuery, preferences: RESTPreferences, responder: inout RESTResponder) -> Returning {
        switch preferences.returning {
        case .representation?:
            return Returning(items: query.select ?? [.all])
        case .headersOnly? where !table.primaryKey.isEmpty && responder.method == .post:
            responder.location = (table.name, table.primaryKey)
            return Returning(items: table.primaryKey.map { .field(RESTField(column: $0), alias: nil, cast: nil) })
        default:
            return Returning(items: nil)
        }
    }

    /// Wraps a data-modifying statement so that it answers in the plan's form: PostgreSQL
    /// aggregates `RETURNING *` in a CTE and counts the rows failing the check; SQLite returns one
    /// JSON object per row and whether it passed.
    func finish(_ statement: String, builder: inout RESTSQLBuilder, returning: Returning) throws(RESTError) -> String {
        guard returning.items != nil || returning.check != nil else { return statement }
        let projection = try returning.items.map { (items) throws(RESTError) in builder.projection(try builder.outputs(items)) }
        switch namespace.dialect {
        case .postgres:
            let failed = returning.check.map {
                ", (SELECT count(*) FROM _m WHERE (\(builder.fill($0, for: access, row: RESTSQLBuilder.columns(of: "_m")))) IS NOT TRUE)"
            } ?? ""
            let page = projection.map { "coalesce(json_agg(_r), '[]')::text, count(*), NULL\(failed) FROM (SELECT \($0) FROM _m) _r" }
                ?? "'[]'::text, count(*), NULL\(failed) FROM _m"
            return "WITH _m AS (\(statement) RETURNING *) SELECT \(page)"
        case .sqlite:
            let passed = returning.check.map {
                ", CASE WHEN \(builder.fill($0, for: access, row: RESTSQLBuilder.columns(of: builder.table.name))) THEN 1 ELSE 0 END"
            } ?? ""
            return "\(statement) RETURNING \(projection ?? "NULL")\(passed)"
        }
    }

    func plan(_ statements: [SQLStatement], returning: Returning, responder: RESTResponder) -> RESTPlan {
        let returnsRows = returning.items != nil || returning.check != nil
        let form: RESTResultForm = !returnsRows ? .changes : namespace.dialect == .postgres ? .aggregated : .objectPerRow
        return RESTPlan(statements: statements, isWrite: true, form: form, respond: responder.respond)
    }

    func requireFilters(_ query: RESTQuery, verb: String) throws(RESTError) {
        guard !query.conditions.isEmpty else {
            throw RESTError(status: 400, code: "21000", message: "\(verb) requires a WHERE clause", hint: "Add a filter such as ?id=eq.1 to the request.")
        }
        guard query.limit == nil, query.offset == nil else {
            throw RESTError(status: 400, code: "PGRST100", message: "limit and offset are not supported on \(verb) requests")
        }
    }

    func planUpdate(table: Table, query: RESTQuery, preferences: RESTPreferences, body: [UInt8]?, security: RowSecurity?, responder: RESTResponder) throws(RESTError) -> RESTPlan {
        try requireFilters(query, verb: "UPDATE")
        guard case .object(let members) = try RESTBody.parse(body, maxDepth: limits.maxJSONDepth) else {
            throw RESTBody.invalid
        }
        let row = RESTBody.Row(members)
        var responder = responder
        var returning = returning(table: table, query: query, preferences: preferences, responder: &responder)
        if row.keys.isEmpty { return plan([], returning: returning, responder: responder) }
        returning.check = try security?.updateCheck()

        var builder = RESTSQLBuilder(table: table, namespace: namespace)
        var assignments: [String] = []
        for key in row.keys {
            let column = try RESTBody.column(key, in: table)
            if column.identity == .always {
                throw RESTError(
                    status: 400, code: "428C9",
                    message: "column \"\(key)\" can only be updated to DEFAULT",
                    details: "Column \"\(key)\" is an identity column defined as GENERATED ALWAYS."
                )
            }
            let value = try ValueCoercion.bind(row.values[key] ?? .null, to: column.type, column: key, dialect: namespace.dialect)
            assignments.append("\(SQLNamespace.quote(key)) = \(builder.bind(value, as: column.type))")
        }
        let whereClause = try whereClause(query.conditions, admitting: security?.updatable(), builder: &builder)
        let statement = "UPDATE \(builder.qualifiedTable) SET \(assignments.joined(separator: ", "))\(whereClause)"
        let sql = try finish(statement, builder: &builder, returning: returning)
        return plan([SQLStatement(sql, binds: builder.binds)], returning: returning, responder: responder)
    }

    func planDelete(table: Table, query: RESTQuery, preferences: RESTPreferences, security: RowSecurity?, responder: RESTResponder) throws(RESTError) -> RESTPlan {
        try requireFilters(query, verb: "DELETE")
        var responder = responder
        let returning = returning(table: table, query: query, preferences: preferences, responder: &responder)
        var builder = RESTSQLBuilder(table: table, namespace: namespace)
        let whereClause = try whereClause(query.conditions, admitting: security?.deletable(), builder: &builder)
        let sql = try finish("DELETE FROM \(builder.qualifiedTable)\(whereClause)", builder: &builder, returning: returning)
        return plan([SQLStatement(sql, binds: builder.binds)], returning: returning, responder: responder)
    }

    /// ` WHERE` with the request's filters and, under row-level security, the policies' filter.
    func whereClause(_ conditions: [RESTCondition], admitting filter: SQLTemplate?, builder: inout RESTSQLBuilder) throws(RESTError) -> String {
        let clause = try builder.whereClause(conditions)
        guard let filter else { return clause }
        let admitted = "(" + builder.fill(filter, for: access, row: RESTSQLBuilder.columns(of: builder.table.name)) + ")"
        return clause.isEmpty ? " WHERE " + admitted : clause + " AND " + admitted
    }
}
