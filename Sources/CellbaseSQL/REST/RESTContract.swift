/// The boundary between the HTTP server and the pure PostgREST planner.
///
/// The server turns an HTTP request into a `RESTRequest`, asks `RESTPlanner` for a `RESTPlan`,
/// runs the plan's statements (in one transaction when `isWrite`), reduces what they return to a
/// `RESTResult`, and asks the plan for the `RESTResponse` to send. Everything PostgREST-specific
/// (grammar, SQL, status codes, headers, error codes) lives on this side of the boundary.

public enum RESTMethod: String, Sendable, Hashable {
    case get = "GET"
    case head = "HEAD"
    case post = "POST"
    case patch = "PATCH"
    case delete = "DELETE"
}

public struct RESTRequest: Sendable {
    public var method: RESTMethod
    public var table: String
    /// Query parameters in the order they appear, already percent- and `+`-decoded.
    public var query: [(name: String, value: String)]
    /// The raw `Prefer` header values, joined with `,` when repeated.
    public var prefer: String?
    /// The raw `Accept` header.
    public var accept: String?
    /// The raw request body, if any.
    public var body: [UInt8]?

    public init(method: RESTMethod, table: String, query: [(name: String, value: String)] = [], prefer: String? = nil, accept: String? = nil, body: [UInt8]? = nil) {
        self.method = method
        self.table = table
        self.query = query
        self.prefer = prefer
        self.accept = accept
        self.body = body
    }
}

public struct RESTLimits: Sendable, Hashable {
    /// No response carries more rows than this (PostgREST's `db-max-rows`).
    public var maxRows: Int
    /// JSON bodies nested deeper than this are rejected.
    public var maxJSONDepth: Int

    public init(maxRows: Int = 1000, maxJSONDepth: Int = 64) {
        self.maxRows = maxRows
        self.maxJSONDepth = maxJSONDepth
    }
}

/// An error in PostgREST's shape: `{"code","message","details","hint"}` with an HTTP status.
public struct RESTError: Error, Sendable, Hashable {
    public var status: Int
    public var code: String
    public var message: String
    public var details: String?
    public var hint: String?

    public init(status: Int, code: String, message: String, details: String? = nil, hint: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
    }
}

/// What the statements of a plan return, and so how the server reduces them to a `RESTResult`.
public enum RESTResultForm: Sendable, Hashable {
    /// The last statement returns exactly one row: column 0 is the page as a JSON array text
    /// (never NULL), column 1 the number of rows in it, column 2 the total count or NULL. A
    /// write under row-level security adds column 3: how many of its rows failed the policies.
    case aggregated
    /// Every statement may return rows of one column, each a JSON object text; the server joins
    /// them, in order, into one array. The row count is the number of such rows. A write under
    /// row-level security adds column 1: 1 when the row passed the policies, 0 when it failed.
    case objectPerRow
    /// Statements return no rows; the row count is the number of rows the statements changed.
    case changes
}

public struct RESTPlan: Sendable {
    /// Run in order. When `isWrite`, all of them in one write transaction.
    public var statements: [SQLStatement]
    public var isWrite: Bool
    public var form: RESTResultForm
    /// Turns what the statements returned into the HTTP answer (status, headers, body), or into
    /// an error such as PGRST116 when one object was asked for and the count is not 1.
    public var respond: @Sendable (RESTResult) throws(RESTError) -> RESTResponse

    public init(statements: [SQLStatement], isWrite: Bool, form: RESTResultForm, respond: @escaping @Sendable (RESTResult) throws(RESTError) -> RESTResponse) {
        self.statements = statements
        self.isWrite = isWrite
        self.form = form
        self.respond = respond
    }
}

public struct RESTResult: Sendable, Hashable {
    /// The rows as a JSON array text (`"[]"` when none); `nil` for `.changes` plans.
    public var json: String?
    public var rowCount: Int
    /// The total when the aggregated statement computed one.
    public var total: Int?
    /// Rows that failed a row-level security check, summed over the statements (see
    /// `RESTResultForm`). A plan refuses the write when there are any.
    public var policyViolations: Int

    public init(json: String?, rowCount: Int, total: Int?, policyViolations: Int = 0) {
        self.json = json
        self.rowCount = rowCount
        self.total = total
        self.policyViolations = policyViolations
    }
}

public struct RESTResponse: Sendable, Hashable {
    public var status: Int
    /// Extra headers such as `Content-Range`, `Content-Type`, `Preference-Applied`, `Location`.
    public var headers: [String: String]
    /// `nil` means an empty body.
    public var body: String?

    public init(status: Int, headers: [String: String] = [:], body: String?) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
