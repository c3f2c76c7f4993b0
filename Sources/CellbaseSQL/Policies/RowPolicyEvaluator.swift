/// Decides in memory whether a role may SELECT one row, for policies made of what a row and the
/// request's claims alone answer: columns, literals, `auth.uid()`, `auth.role()`, `auth.email()`,
/// `auth.jwt()` with `->`/`->>`, comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `IN (...)` and
/// simple casts, with SQL's three-valued logic.
///
/// Anything whose answer could differ from PostgreSQL's — subqueries, functions, numerics and
/// times compared as values, text ordered by collation — is `undecided`, and the caller asks the
/// database. Realtime uses it to filter each change once per distinct subscriber instead of
/// querying once per change and subscriber.
public enum RowPolicyEvaluator {
    public enum Verdict: Sendable, Hashable {
        case visible
        case hidden
        case undecided
    }

    /// The verdict for `record` (a JSON object of the row's columns) read by `access`.
    public static func canSelect(_ record: JSONValue, in table: Table, access: RESTAccess) -> Verdict {
        guard table.rowLevelSecurity, let role = access.policyRole else { return .visible }
        guard case .role(_, let claims) = access else { return .visible }
        let scope = Scope(table: table, record: record, role: role, claims: claims)
        var permissive: Truth? = nil
        var restrictive: Truth = .true
        for policy in table.policies where (policy.command == .all || policy.command == .select) && (policy.roles.contains(role) || policy.roles.contains("public")) {
            guard let expression = policy.using else { continue }
            guard let value = scope.evaluate(expression), let truth = value.truth else { return .undecided }
            if policy.isPermissive {
                permissive = (permissive ?? .false).or(truth)
            } else {
                restrictive = restrictive.and(truth)
            }
        }
        return (permissive ?? .false).and(restrictive) == .true ? .visible : .hidden
    }

    /// SQL's three truth values.
    enum Truth: Hashable {
        case `true`, `false`, unknown

        init(_ flag: Bool) { self = flag ? .true : .false }

        func and(_ other: Truth) -> Truth {
            if self == .false || other == .false { return .false }
            if self == .unknown || other == .unknown { return .unknown }
            return .true
        }

        func or(_ other: Truth) -> Truth {
            if self == .true || other == .true { return .true }
            if self == .unknown || other == .unknown { return .unknown }
            return .false
        }

        var not: Truth {
            switch self {
            case .true: .false
            case .false: .true
            case .unknown: .unknown
            }
        }
    }

    /// A value as PostgreSQL would hold it, for the types whose comparisons are exact here.
    enum Value: Hashable {
        case null
        case bool(Bool)
        case integer(Int64)
        case text(String)
        /// Canonical lowercase text.
        case uuid(String)
        case json(JSONValue)

        var truth: Truth? {
            switch self {
            case .null: .unknown
            case .bool(let flag): Truth(flag)
            default: nil
            }
        }
    }

    struct Scope {
        var table: Table
        var record: JSONValue
        var role: String
        var claims: JSONValue

        /// `nil`: not decidable in memory.
        func evaluate(_ expression: Expression) -> Value? {
            switch expression {
            case .column(let qualifier, let name):
                guard qualifier == nil || qualifier == table.name, let column = table.column(named: name) else { return nil }
                return Self.value(of: record[name] ?? .null, type: column.type)
            case .literal(let literal):
                switch literal {
                case .null: return .null
                case .bool(let flag): return .bool(flag)
                case .number(let text): return Int64(text).map(Value.integer)
                case .string(let text): return .text(text)
                }
            case .function(let schema, let name, let arguments):
                guard schema == "auth", arguments.isEmpty else { return nil }
                switch name {
                case "uid":
                    guard case .string(let sub)? = claims["sub"], let uuid = Canonical.uuid(sub) else { return .null }
                    return .uuid(uuid)
                case "role": return .text(role)
                case "email":
                    guard case .string(let email)? = claims["email"] else { return .null }
                    return .text(email)
                case "jwt": return .json(claims)
                default: return nil
                }
            case .binary(let op, let left, let right):
                return binary(op, left, right)
            case .unary(let op, let operand):
                guard op.uppercased() == "NOT", let value = evaluate(operand), let truth = value.truth else { return nil }
                return Self.value(truth.not)
            case .isNull(let operand, let negated):
                guard let value = evaluate(operand) else { return nil }
                return .bool((value == .null) != negated)
            case .inList(let operand, let list, let negated):
                guard let value = evaluate(operand) else { return nil }
                var truth = Truth.false
                for element in list {
                    guard let candidate = evaluate(element), let equal = Self.equals(value, candidate) else { return nil }
                    truth = truth.or(equal)
                }
                return Self.value(negated ? truth.not : truth)
            case .cast(let operand, let type):
                guard let value = evaluate(operand) else { return nil }
                return Self.cast(value, to: type)
            case .exists:
                return nil
            }
        }

        private func binary(_ op: String, _ left: Expression, _ right: Expression) -> Value? {
            switch op.uppercased() {
            case "AND", "OR":
                guard let lhs = evaluate(left)?.truth, let rhs = evaluate(right)?.truth else { return nil }
                return Self.value(op.uppercased() == "AND" ? lhs.and(rhs) : lhs.or(rhs))
            case "=", "<>", "!=":
                guard let lhs = evaluate(left), let rhs = evaluate(right), let equal = Self.equals(lhs, rhs) else { return nil }
                return Self.value(op == "=" ? equal : equal.not)
            case "<", "<=", ">", ">=":
                guard let lhs = evaluate(left), let rhs = evaluate(right) else { return nil }
                if lhs == .null || rhs == .null { return .null }
                // Only integers order the same everywhere; text orders by the database's collation.
                guard case .integer(let a) = lhs, case .integer(let b) = rhs else { return nil }
                switch op {
                case "<": return .bool(a < b)
                case "<=": return .bool(a <= b)
                case ">": return .bool(a > b)
                default: return .bool(a >= b)
                }
            case "->", "->>":
                guard let container = evaluate(left), let key = evaluate(right) else { return nil }
                if container == .null || key == .null { return .null }
                guard case .json(let document) = container else { return nil }
                let member: JSONValue?
                switch key {
                case .text(let name): member = document[name]
                case .integer(let index):
                    guard case .array(let elements) = document else { member = nil; break }
                    member = elements.indices.contains(Int(index)) ? elements[Int(index)] : nil
                default: return nil
                }
                guard let member else { return .null }
                if op == "->" { return .json(member) }
                switch member {
                case .null: return .null
                case .string(let text): return .text(text)
                case .bool(let flag): return .text(flag ? "true" : "false")
                case .number(let text): return .text(text)
                // PostgreSQL prints nested JSON in its own spacing.
                case .array, .object: return nil
                }
            default:
                return nil
            }
        }

        static func value(_ truth: Truth) -> Value {
            switch truth {
            case .true: .bool(true)
            case .false: .bool(false)
            case .unknown: .null
            }
        }

        /// A record's JSON value as the column's type holds it; `nil` for types compared inexactly here.
        static func value(of json: JSONValue, type: ColumnType) -> Value? {
            if json == .null { return .null }
            switch (type, json) {
            case (.boolean, .bool(let flag)): return .bool(flag)
            case (.smallint, .number(let text)), (.integer, .number(let text)), (.bigint, .number(let text)):
                return Int64(text).map(Value.integer)
            case (.text, .string(let text)), (.varchar, .string(let text)): return .text(text)
            case (.uuid, .string(let text)): return Canonical.uuid(text).map(Value.uuid)
            case (.json, _), (.jsonb, _): return .json(json)
            default: return nil
            }
        }

        /// `=` as PostgreSQL answers it for two values of compatible types; `nil` when it would
        /// compare them some other way (or refuse to).
        static func equals(_ lhs: Value, _ rhs: Value) -> Truth? {
            switch (lhs, rhs) {
            case (.null, _), (_, .null): return .unknown
            case (.bool(let a), .bool(let b)): return Truth(a == b)
            case (.integer(let a), .integer(let b)): return Truth(a == b)
            case (.text(let a), .text(let b)): return Truth(a == b)
            case (.uuid(let a), .uuid(let b)): return Truth(a == b)
            // A string literal compared with a uuid is read as one; one that is not a uuid fails.
            case (.uuid(let a), .text(let b)), (.text(let b), .uuid(let a)):
                return Canonical.uuid(b).map { Truth(a == $0) }
            default: return nil
            }
        }

        static func cast(_ value: Value, to type: ColumnType) -> Value? {
            if value == .null { return .null }
            switch (value, type) {
            case (.text(let text), .uuid): return Canonical.uuid(text).map(Value.uuid)
            case (.uuid(let text), .text), (.text(let text), .text): return .text(text)
            case (.integer, .smallint), (.integer, .integer), (.integer, .bigint): return value
            case (.text(let text), .bigint), (.text(let text), .integer): return Int64(text).map(Value.integer)
            case (.bool, .boolean): return value
            case (.text(let text), .boolean):
                switch text.lowercased() {
                case "true", "t", "yes", "y", "on", "1": return .bool(true)
                case "false", "f", "no", "n", "off", "0": return .bool(false)
                default: return nil
                }
            default: return nil
            }
        }
    }
}
