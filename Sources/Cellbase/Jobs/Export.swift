import CellbaseSQL
import FoundationEssentials

/// An export, as its job carries it: what to read, as whom, and where the CSV goes.
///
/// The caller's role and verified claims travel with the job, so the rows are read, and the file
/// is written, under the caller's policies when the job runs, however much later that is.
struct ExportRequest: Sendable, Hashable {
    var table: String
    /// The PostgREST query: `select` and filters (`select=id,total&status=eq.paid`).
    var query: String
    var bucket: String
    var path: String
    /// How long the signed download URL in the result stays valid.
    var expiresIn: Int
    /// Text that a spreadsheet would run as a formula is written with a leading `'`.
    var formulaProtection: Bool
    /// `service_role`, `authenticated` or `anon`.
    var role: String
    var claims: JSONValue
    /// The signed-in user the object belongs to, as Storage records an upload's owner.
    var owner: String?

    static let mimeType = "text/csv; charset=utf-8"

    var access: RESTAccess {
        role == KeyRole.serviceRole.rawValue ? .serviceRole : .role(role, claims: claims)
    }

    /// Whether `role` and `claims` name the caller who asked for this export.
    func belongs(toRole role: String, claims: JSONValue) -> Bool {
        role == KeyRole.serviceRole.rawValue || (role == self.role && claims["sub"] == self.claims["sub"])
    }

    var json: JSONValue {
        .object([
            JSONMember(key: "table", value: .string(table)),
            JSONMember(key: "query", value: .string(query)),
            JSONMember(key: "bucket", value: .string(bucket)),
            JSONMember(key: "path", value: .string(path)),
            JSONMember(key: "expires_in", value: .number(String(expiresIn))),
            JSONMember(key: "formula_protection", value: .bool(formulaProtection)),
            JSONMember(key: "role", value: .string(role)),
            JSONMember(key: "claims", value: claims),
            JSONMember(key: "owner", value: owner.map(JSONValue.string) ?? .null),
        ])
    }

    init(
        table: String, query: String, bucket: String, path: String, expiresIn: Int, formulaProtection: Bool,
        role: String, claims: JSONValue, owner: String?
    ) {
        self.table = table
        self.query = query
        self.bucket = bucket
        self.path = path
        self.expiresIn = expiresIn
        self.formulaProtection = formulaProtection
        self.role = role
        self.claims = claims
        self.owner = owner
    }

    /// Reads a job's payload; a malformed one is the job's permanent failure.
    init(payload: String) throws(JobFailure) {
        guard let value = try? JSONParser.parse(payload.utf8, maxDepth: 64),
              case .string(let table)? = value["table"], case .string(let query)? = value["query"],
              case .string(let bucket)? = value["bucket"], case .string(let path)? = value["path"],
              case .number(let expires)? = value["expires_in"], let expiresIn = Int(expires),
              case .bool(let formulaProtection)? = value["formula_protection"],
              case .string(let role)? = value["role"], let claims = value["claims"]
        else {
            throw JobFailure.permanent("the job's payload is not an export")
        }
        var owner: String?
        if case .string(let text)? = value["owner"] { owner = text }
        self.init(
            table: table, query: query, bucket: bucket, path: path, expiresIn: expiresIn, formulaProtection: formulaProtection,
            role: role, claims: claims, owner: owner
        )
    }
}
