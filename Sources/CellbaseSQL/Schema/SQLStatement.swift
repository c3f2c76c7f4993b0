/// The two SQL dialects Cellbase generates.
public enum SQLDialect: String, Sendable, Hashable, Codable {
    case sqlite
    case postgres
}

/// A value bound to a statement parameter. Values are never spliced into SQL text.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case double(Double)
    case text(String)
    case bool(Bool)
    case blob([UInt8])

    /// The PostgreSQL type a value of this kind is sent as (`nil` for NULL, which has none).
    /// PostgreSQL shards bind each kind in exactly this type.
    public var postgresWireType: String? {
        switch self {
        case .null: nil
        case .integer: "int8"
        case .double: "float8"
        case .text: "text"
        case .bool: "bool"
        case .blob: "bytea"
        }
    }
}

/// One parameterised statement. Placeholders are numbered: `?1`, `?2`, ... for SQLite and `$1`, `$2`, ...
/// for PostgreSQL, so one bound value may be referenced more than once.
public struct SQLStatement: Sendable, Hashable {
    public var sql: String
    public var binds: [SQLValue]

    public init(_ sql: String, binds: [SQLValue] = []) {
        self.sql = sql
        self.binds = binds
    }
}

/// Where a project's tables live inside its database.
///
/// On SQLite each project has its own file, so tables are unqualified (`"main"`). On PostgreSQL a
/// project is one schema of a shared database, and every identifier is qualified with it.
public struct SQLNamespace: Sendable, Hashable {
    public var dialect: SQLDialect
    /// The PostgreSQL schema name of the project; `nil` on SQLite.
    public var schema: String?

    public init(dialect: SQLDialect, schema: String?) {
        self.dialect = dialect
        self.schema = schema
    }

    public static let sqlite = SQLNamespace(dialect: .sqlite, schema: nil)

    public static func postgres(schema: String) -> SQLNamespace {
        SQLNamespace(dialect: .postgres, schema: schema)
    }

    /// `"name"` with embedded quotes doubled.
    public static func quote(_ identifier: String) -> String {
        // Planning quotes every name of every request: skip the character walk when there is nothing to double.
        guard identifier.utf8.contains(UInt8(ascii: "\"")) else { return "\"" + identifier + "\"" }
        return "\"" + identifier.replacing("\"", with: "\"\"") + "\""
    }

    /// The schema-qualified, quoted name of a table (`"proj_x"."todos"` or `"todos"`).
    public func qualified(_ table: String) -> String {
        if let schema { return Self.quote(schema) + "." + Self.quote(table) }
        return Self.quote(table)
    }

    /// The placeholder for the parameter at 1-based position `index`.
    public func placeholder(_ index: Int) -> String {
        switch dialect {
        case .sqlite: "?\(index)"
        case .postgres: "$\(index)"
        }
    }
}
