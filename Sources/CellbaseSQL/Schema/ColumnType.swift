/// A column type of the portable subset, named as PostgreSQL names it.
///
/// Each type has one PostgreSQL spelling and one SQLite storage class; the REST layer uses it to
/// coerce incoming values and to render outgoing ones the way PostgREST does.
public indirect enum ColumnType: Sendable, Hashable, Codable {
    case smallint
    case integer
    case bigint
    case real
    case doublePrecision
    /// `numeric` / `numeric(p)` / `numeric(p, s)`.
    case numeric(precision: Int?, scale: Int?)
    case text
    /// `varchar` / `varchar(n)` / `character varying(n)`.
    case varchar(length: Int?)
    case boolean
    case date
    /// `timestamp` (without time zone).
    case timestamp
    case timestamptz
    case uuid
    case json
    case jsonb
    case bytea
    /// `text[]`, `int[]`, ...: a one-dimensional array. Stored as a JSON array on SQLite.
    case array(ColumnType)

    /// The name PostgreSQL gives the type (`format_type` style, as PostgREST's OpenAPI shows it).
    public var postgresName: String {
        switch self {
        case .smallint: "smallint"
        case .integer: "integer"
        case .bigint: "bigint"
        case .real: "real"
        case .doublePrecision: "double precision"
        case .numeric(let p, let s):
            switch (p, s) {
            case (let p?, let s?): "numeric(\(p),\(s))"
            case (let p?, nil): "numeric(\(p))"
            default: "numeric"
            }
        case .text: "text"
        case .varchar(let n): n.map { "character varying(\($0))" } ?? "character varying"
        case .boolean: "boolean"
        case .date: "date"
        case .timestamp: "timestamp without time zone"
        case .timestamptz: "timestamp with time zone"
        case .uuid: "uuid"
        case .json: "json"
        case .jsonb: "jsonb"
        case .bytea: "bytea"
        case .array(let element): "\(element.postgresName)[]"
        }
    }

    /// The short name used in casts (`$1::int8`) and in realtime `columns` (`int8`, `text`, ...).
    public var udtName: String {
        switch self {
        case .smallint: "int2"
        case .integer: "int4"
        case .bigint: "int8"
        case .real: "float4"
        case .doublePrecision: "float8"
        case .numeric: "numeric"
        case .text: "text"
        case .varchar: "varchar"
        case .boolean: "bool"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .uuid: "uuid"
        case .json: "json"
        case .jsonb: "jsonb"
        case .bytea: "bytea"
        case .array(let element): "_\(element.udtName)"
        }
    }

    /// The type whose `udtName` this is (lengths, precision and scale unknown: unconstrained);
    /// `nil` for a name no supported type has.
    public init?(udtName: String) {
        if udtName.hasPrefix("_") {
            // One dimension: arrays of arrays are not a supported type.
            guard let element = ColumnType(udtName: String(udtName.dropFirst())), !element.isArray else { return nil }
            self = .array(element)
            return
        }
        let scalars: [ColumnType] = [
            .smallint, .integer, .bigint, .real, .doublePrecision, .numeric(precision: nil, scale: nil), .text, .varchar(length: nil),
            .boolean, .date, .timestamp, .timestamptz, .uuid, .json, .jsonb, .bytea,
        ]
        guard let type = scalars.first(where: { $0.udtName == udtName }) else { return nil }
        self = type
    }

    public var isInteger: Bool {
        switch self {
        case .smallint, .integer, .bigint: true
        default: false
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .smallint, .integer, .bigint, .real, .doublePrecision, .numeric: true
        default: false
        }
    }

    public var isJSON: Bool {
        switch self {
        case .json, .jsonb: true
        default: false
        }
    }

    public var isArray: Bool {
        if case .array = self { return true }
        return false
    }

    public var isTextual: Bool {
        switch self {
        case .text, .varchar: true
        default: false
        }
    }
}
