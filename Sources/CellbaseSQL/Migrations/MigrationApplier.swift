/// Applies parsed statements to a schema, checking each against the schema as it is at that point,
/// and records the changes the DDL generators turn into SQL.
struct MigrationApplier {
    var schema: Schema
    var changes: [MigrationChange] = []
    var warnings: [String] = []
    /// Policies created by this file, to warn about those left without row-level security.
    var createdPolicies: [(table: String, name: String)] = []
    /// Tables this file created or turned row-level security off for, to warn about those left open.
    var openedTables: [String] = []

    init(schema: Schema) {
        self.schema = schema
    }

    mutating func apply(_ statement: MigrationStatement) throws(MigrationError) {
        switch statement {
        case .createTable(let create): try createTable(create)
        case .alterTable(let alter): try alterTable(alter)
        case .createIndex(let create): try createIndex(create)
        case .dropTables(let drop): try dropTables(drop)
        case .dropIndexes(let drop): try dropIndexes(drop)
        case .createPolicy(let create): try createPolicy(create)
        case .dropPolicy(let drop): try dropPolicy(drop)
        case .alterPublication(let alter): try alterPublication(alter)
        case .createTrigger(let create): try createTrigger(create)
        case .dropTrigger(let drop): try dropTrigger(drop)
        }
    }

    /// Warnings that need the whole file: a table left with RLS off is open to every API key and
    /// user (as in Supabase), and a policy does nothing while its table's RLS is off.
    mutating func finish() {
        var warned: Set<String> = []
        for name in openedTables where warned.insert(name).inserted {
            guard let table = schema.table(named: name), !table.rowLevelSecurity else { continue }
            let quoted = SQLNamespace.quote(table.name)
            warnings.append("table \"\(table.name)\" has row level security off: anon and signed-in users can read and change all of its rows (ALTER TABLE \(quoted) ENABLE ROW LEVEL SECURITY holds them to policies)")
        }
        for (tableName, name) in createdPolicies {
            guard let table = schema.table(named: tableName), table.policies.contains(where: { $0.name == name }), !table.rowLevelSecurity else { continue }
            warnings.append("policy \"\(name)\" on \"\(table.name)\" has no effect until ALTER TABLE \(SQLNamespace.quote(table.name)) ENABLE ROW LEVEL SECURITY")
        }
    }

    // MARK: - Lookups

    func tableIndex(_ name: MigrationName) throws(MigrationError) -> Int {
        guard let index = schema.tables.firstIndex(where: { $0.name == name.value }) else {
            throw MigrationError(at: name.position, "table \"\(name.value)\" does not exist")
        }
        return index
    }

    /// Tables and indexes share one namespace in both PostgreSQL and SQLite.
    func checkNameIsFree(_ name: MigrationName) throws(MigrationError) {
        if schema.table(named: name.value) != nil {
            throw MigrationError(at: name.position, "a table named \"\(name.value)\" already exists")
        }
        if schema.indexes.contains(where: { $0.name == name.value }) {
            throw MigrationError(at: name.position, "an index named \"\(name.value)\" already exists")
        }
        if let table = schema.tables.first(where: { Self.constraintIndexNames(of: $0).contains(name.value) }) {
            throw MigrationError(at: name.position, "\"\(name.value)\" is the name of the index behind a key of table \"\(table.name)\"")
        }
    }

    /// The names PostgreSQL gives the indexes of a table's primary key and UNIQUE constraints
    /// (SQLite's index for an added UNIQUE column gets the same), which no other index may take.
    static func constraintIndexNames(of table: Table) -> [String] {
        (table.primaryKey.isEmpty ? [] : ["\(table.name)_pkey"])
            + table.uniqueConstraints.map { "\(table.name)_\($0.joined(separator: "_"))_key" }
    }

    func requireColumn(_ name: MigrationName, in table: Table) throws(MigrationError) {
        if table.column(named: name.value) == nil {
            throw MigrationError(at: name.position, "column \"\(name.value)\" does not exist in table \"\(table.name)\"")
        }
    }

    // MARK: - CREATE TABLE

    mutating func createTable(_ create: MigrationStatement.CreateTable) throws(MigrationError) {
        if create.ifNotExists, schema.table(named: create.name.value) != nil {
            warnings.append("table \"\(create.name.value)\" already exists; CREATE TABLE IF NOT EXISTS skipped")
            return
        }
        try checkNameIsFree(create.name)
        openedTables.append(create.name.value)
        var table = Table(name: create.name.value, columns: [])
        var primaryKeyPosition: MigrationPosition?
        var references: [(columns: [MigrationName], clause: MigrationReference)] = []
        var checks: [(name: MigrationName?, expression: MigrationExpression)] = []

        func setPrimaryKey(_ columns: [MigrationName], at position: MigrationPosition) throws(MigrationError) {
            if primaryKeyPosition != nil {
                throw MigrationError(at: position, "table \"\(table.name)\" has more than one primary key")
            }
            primaryKeyPosition = position
            table.primaryKey = columns.map(\.value)
        }

        for definition in create.columns {
            if table.column(named: definition.name.value) != nil {
                throw MigrationError(at: definition.name.position, "column \"\(definition.name.value)\" is declared twice")
            }
            let parts = try column(from: definition)
            table.columns.append(parts.column)
            if let position = parts.primaryKey { try setPrimaryKey([definition.name], at: position) }
            if parts.isUnique { table.uniqueConstraints.append([definition.name.value]) }
            if let clause = parts.reference { references.append(([definition.name], clause)) }
            checks += parts.checks
        }
        for constraint in create.constraints {
            switch constraint.kind {
            case .primaryKey(let columns):
                try requireDistinctColumns(columns, in: table)
                try setPrimaryKey(columns, at: constraint.position)
            case .unique(let columns):
                try requireDistinctColumns(columns, in: table)
                table.uniqueConstraints.append(columns.map(\.value))
            case .foreignKey(let columns, let clause):
                try requireDistinctColumns(columns, in: table)
                references.append((columns, clause))
            case .check(let expression):
                checks.append((constraint.name, expression))
            }
        }
        for index in table.columns.indices where table.primaryKey.contains(table.columns[index].name) {
            table.columns[index].isNullable = false
        }
        for definition in create.columns where ([table.primaryKey] + table.uniqueConstraints).contains(where: { $0.contains(definition.name.value) }) {
            try requireIndexable([definition.name.value], of: table, at: definition.name.position)
        }
        for definition in create.columns {
            if table.column(named: definition.name.value)?.identity != nil, table.primaryKey != [definition.name.value] {
                throw MigrationError(at: definition.typePosition, "the identity column \"\(definition.name.value)\" must be the table's only primary key column (SQLite can auto-number only an INTEGER PRIMARY KEY)")
            }
        }
        for reference in references {
            table.foreignKeys.append(try foreignKey(reference.columns, reference.clause, from: table))
        }
        for check in checks {
            try validateCheck(check.expression, in: table)
            table.checks.append(CheckConstraint(name: check.name?.value, expression: check.expression.expression))
        }
        schema.tables.append(table)
        changes.append(.createTable(table))
    }

    func requireDistinctColumns(_ columns: [MigrationName], in table: Table) throws(MigrationError) {
        var seen: [String] = []
        for column in columns {
            try requireColumn(column, in: table)
            if seen.contains(column.value) {
                throw MigrationError(at: column.position, "column \"\(column.value)\" appears twice in the constraint")
            }
            seen.append(column.value)
        }
    }

    /// PostgreSQL has no btree operator class for `json`, so it cannot be a key or indexed.
    func requireIndexable(_ columns: [String], of table: Table, at position: MigrationPosition) throws(MigrationError) {
        for name in columns where table.column(named: name)?.type == .json {
            throw MigrationError(at: position, "the json column \"\(name)\" cannot be a key or indexed (PostgreSQL cannot compare json values); use jsonb")
        }
    }

    struct ColumnParts {
        var column: Column
        var primaryKey: MigrationPosition?
        var isUnique = false
        var reference: MigrationReference?
        var checks: [(name: MigrationName?, expression: MigrationExpression)] = []
    }

    func column(from definition: MigrationColumnDefinition) throws(MigrationError) -> ColumnParts {
        var parts = ColumnParts(column: Column(name: definition.name.value, type: definition.type))
        if definition.serial {
            parts.column.identity = .byDefault
        }
        var nullability: (isNullable: Bool, position: MigrationPosition)?
        var defaultPosition: MigrationPosition?
        for constraint in definition.constraints {
            switch constraint.kind {
            case .primaryKey:
                if parts.primaryKey != nil {
                    throw MigrationError(at: constraint.position, "PRIMARY KEY is declared twice for column \"\(definition.name.value)\"")
                }
                parts.primaryKey = constraint.position
            case .notNull, .null:
                let isNullable = if case .null = constraint.kind { true } else { false }
                if let nullability, nullability.isNullable != isNullable {
                    throw MigrationError(at: constraint.position, "conflicting NULL and NOT NULL for column \"\(definition.name.value)\"")
                }
                nullability = (isNullable, constraint.position)
            case .unique:
                parts.isUnique = true
            case .defaultValue(let value):
                if defaultPosition != nil {
                    throw MigrationError(at: constraint.position, "DEFAULT is declared twice for column \"\(definition.name.value)\"")
                }
                defaultPosition = constraint.position
                parts.column.defaultValue = try normalizedDefault(value, for: parts.column)
            case .references(let clause):
                if parts.reference != nil {
                    throw MigrationError(at: constraint.position, "REFERENCES is declared twice for column \"\(definition.name.value)\"")
                }
                parts.reference = clause
            case .check(let expression):
                parts.checks.append((constraint.name, expression))
            case .identity(let identity):
                if parts.column.identity != nil {
                    throw MigrationError(at: constraint.position, "column \"\(definition.name.value)\" is already an identity (serial) column")
                }
                guard definition.type.isInteger else {
                    throw MigrationError(at: constraint.position, "an identity column must be smallint, integer or bigint, not \(definition.type.postgresName)")
                }
                parts.column.identity = identity
            }
        }
        if parts.column.identity != nil {
            if let defaultPosition {
                throw MigrationError(at: defaultPosition, "the identity column \"\(definition.name.value)\" cannot also have a DEFAULT")
            }
            if let nullability, nullability.isNullable {
                throw MigrationError(at: nullability.position, "the identity column \"\(definition.name.value)\" cannot be NULL")
            }
            parts.column.isNullable = false
        } else if let nullability {
            parts.column.isNullable = nullability.isNullable
        }
        return parts
    }

    // MARK: Defaults

    /// The default as stored in the model: checked against the column type and normalised to the
    /// canonical text of docs/TYPES.md, so both dialects store the same value.
    func normalizedDefault(_ value: MigrationDefault, for column: Column) throws(MigrationError) -> DefaultValue {
        let type = column.type
        func mismatch() -> MigrationError {
            MigrationError(at: value.position, "the default \(Self.describe(value.value)) does not fit column \"\(column.name)\" of type \(type.postgresName)")
        }
        if let cast = value.cast, !Self.isCastCompatible(cast, type) {
            throw MigrationError(at: value.position, "the default is cast to \(cast.postgresName) but column \"\(column.name)\" is \(type.postgresName)")
        }
        switch value.value {
        case .null:
            return .null
        case .number(let text):
            if type.isInteger {
                guard let number = Int64(text), Self.integerRange(type).contains(number) else { throw mismatch() }
                return .number(String(number))
            }
            guard type.isNumeric else { throw mismatch() }
            return .number(text)
        case .bool(let flag):
            guard type == .boolean else { throw mismatch() }
            return .bool(flag)
        case .now:
            guard type == .timestamptz || type == .timestamp else { throw mismatch() }
            return .now
        case .currentDate:
            guard type == .date else { throw mismatch() }
            return .currentDate
        case .randomUUID:
            guard type == .uuid else { throw mismatch() }
            return .randomUUID
        case .string(let text):
            let normalized: String?
            switch type {
            case .text: normalized = text
            case .varchar(let length): normalized = length.map { text.count <= $0 } ?? true ? text : nil
            case .date: normalized = Canonical.date(text)
            case .timestamp: normalized = Canonical.timestamp(text)
            case .timestamptz: normalized = Canonical.timestamptz(text)
            case .uuid: normalized = Canonical.uuid(text)
            case .json, .jsonb: normalized = (try? JSONParser.parse(Array(text.utf8), maxDepth: 256))?.serialized
            case .bytea: normalized = Self.byteaHex(text)
            case .array: normalized = text.filter { $0 != " " } == "{}" ? "{}" : nil
            default: normalized = nil
            }
            guard let normalized else {
                if case .array = type {
                    throw MigrationError(at: value.position, "the only supported array default is '{}' (an empty array)")
                }
                throw mismatch()
            }
            return .string(normalized)
        }
    }

    static func describe(_ value: DefaultValue) -> String {
        switch value {
        case .null: "NULL"
        case .number(let text): text
        case .string(let text): MigrationDDL.literal(text)
        case .bool(let flag): flag ? "true" : "false"
        case .now: "now()"
        case .currentDate: "current_date"
        case .randomUUID: "gen_random_uuid()"
        }
    }

    static func integerRange(_ type: ColumnType) -> ClosedRange<Int64> {
        switch type {
        case .smallint: Int64(Int16.min)...Int64(Int16.max)
        case .integer: Int64(Int32.min)...Int64(Int32.max)
        default: Int64.min...Int64.max
        }
    }

    /// `'\x0a0B'` → `\x0a0b`; PostgreSQL's hex format is the only bytea input accepted.
    static func byteaHex(_ text: String) -> String? {
        guard text.hasPrefix("\\x") else { return nil }
        let digits = text.dropFirst(2)
        guard digits.count % 2 == 0, digits.unicodeScalars.allSatisfy(\.properties.isASCIIHexDigit) else { return nil }
        return "\\x" + digits.lowercased()
    }

    /// Same kind of type: the cast changes nothing that either dialect would store differently.
    static func isCastCompatible(_ cast: ColumnType, _ type: ColumnType) -> Bool {
        switch (cast, type) {
        case (.array(let a), .array(let b)): isCastCompatible(a, b)
        case (.json, .json), (.json, .jsonb), (.jsonb, .json), (.jsonb, .jsonb): true
        case (.numeric, .numeric), (.varchar, .varchar), (.text, .varchar), (.varchar, .text): true
        default: cast == type || (cast.isInteger && type.isInteger)
        }
    }

    // MARK: Foreign keys

    func foreignKey(_ columns: [MigrationName], _ clause: MigrationReference, from table: Table) throws(MigrationError) -> ForeignKey {
        let referenced: Table
        if clause.table.value == table.name {
            referenced = table
        } else if let existing = schema.table(named: clause.table.value) {
            referenced = existing
        } else {
            throw MigrationError(at: clause.table.position, "the referenced table \"\(clause.table.value)\" does not exist")
        }
        let referencedColumns: [String]
        if let names = clause.columns {
            for name in names { try requireColumn(name, in: referenced) }
            referencedColumns = names.map(\.value)
        } else {
            guard !referenced.primaryKey.isEmpty else {
                throw MigrationError(at: clause.table.position, "table \"\(referenced.name)\" has no primary key; name the referenced columns")
            }
            referencedColumns = referenced.primaryKey
        }
        guard referencedColumns.count == columns.count else {
            throw MigrationError(at: clause.table.position, "the foreign key has \(columns.count) column(s) but references \(referencedColumns.count)")
        }
        let keySet = Set(referencedColumns)
        let unique = ([referenced.primaryKey] + referenced.uniqueConstraints).contains { Set($0) == keySet && $0.count == keySet.count }
            || schema.indexes.contains { $0.table == referenced.name && $0.isUnique && Set($0.columns) == keySet && $0.columns.count == keySet.count }
        guard unique else {
            throw MigrationError(at: clause.columns?.first?.position ?? clause.table.position, "\(referenced.name) (\(referencedColumns.joined(separator: ", "))) is neither the primary key nor UNIQUE; a foreign key must reference one of them")
        }
        for (column, referencedName) in zip(columns, referencedColumns) {
            let type = table.column(named: column.value)!.type
            let referencedType = referenced.column(named: referencedName)!.type
            guard Self.isKeyCompatible(type, referencedType) else {
                throw MigrationError(at: column.position, "the foreign key column \"\(column.value)\" (\(type.postgresName)) cannot reference \(referenced.name).\(referencedName) (\(referencedType.postgresName))")
            }
        }
        return ForeignKey(columns: columns.map(\.value), referencedTable: referenced.name, referencedColumns: referencedColumns, onDelete: clause.onDelete)
    }

    /// Types that compare equal on both backends: integers with integers, text with varchar.
    static func isKeyCompatible(_ a: ColumnType, _ b: ColumnType) -> Bool {
        switch (a, b) {
        case (.numeric, .numeric): true
        default: a == b || (a.isInteger && b.isInteger) || (a.isTextual && b.isTextual)
        }
    }

    // MARK: Expressions

    func validateCheck(_ expression: MigrationExpression, in table: Table) throws(MigrationError) {
        try validate(expression, scopes: [(table, table.name)]) { error in
            MigrationError(at: error.position, error.message + " (a CHECK constraint reads only its own table)")
        }
        try requireCondition(expression, in: table)
    }

    func validatePolicy(_ expression: MigrationExpression, in table: Table) throws(MigrationError) {
        try validate(expression, scopes: [(table, table.name)]) { MigrationError(at: $0.position, $0.message) }
        try requireCondition(expression, in: table)
    }

    static let conditionOperators: Set<String> = ["=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE"]

    /// CHECK and policy expressions must be true or false, as PostgreSQL requires of them and of
    /// the operands of AND, OR and NOT.
    func requireCondition(_ expression: MigrationExpression, in table: Table) throws(MigrationError) {
        switch expression.node {
        case .binary("AND", let left, let right), .binary("OR", let left, let right):
            try requireCondition(left, in: table)
            try requireCondition(right, in: table)
            return
        case .unary("NOT", let operand):
            try requireCondition(operand, in: table)
            return
        case .binary(let op, _, _) where Self.conditionOperators.contains(op):
            return
        case .isNull, .inList, .exists, .literal(.bool), .literal(.null), .cast(_, .boolean):
            return
        case .column(let qualifier, let name) where (qualifier == nil || qualifier?.value == table.name) && table.column(named: name.value)?.type == .boolean:
            return
        case .function(nil, "coalesce", let arguments):
            for argument in arguments { try requireCondition(argument, in: table) }
            return
        default:
            throw MigrationError(at: expression.position, "expected a condition (an expression that is true or false), such as a comparison")
        }
    }

    struct ValidationFailure {
        var position: MigrationPosition
        var message: String
    }

    /// Every column must resolve in the innermost scope that has it, as SQL resolves names.
    func validate(
        _ expression: MigrationExpression,
        scopes: [(table: Table, qualifier: String)],
        error: (ValidationFailure) -> MigrationError
    ) throws(MigrationError) {
        switch expression.node {
        case .column(let qualifier, let name):
            if let qualifier {
                guard let scope = scopes.last(where: { $0.qualifier == qualifier.value }) else {
                    let visible = scopes.map { "\"\($0.qualifier)\"" }.joined(separator: ", ")
                    throw error(ValidationFailure(position: qualifier.position, message: "\"\(qualifier.value)\" is not a table here; visible: \(visible)"))
                }
                if scope.table.column(named: name.value) == nil {
                    throw error(ValidationFailure(position: name.position, message: "column \"\(name.value)\" does not exist in table \"\(scope.table.name)\""))
                }
            } else if !scopes.contains(where: { $0.table.column(named: name.value) != nil }) {
                let tables = scopes.map { "\"\($0.table.name)\"" }.joined(separator: " or ")
                throw error(ValidationFailure(position: name.position, message: "column \"\(name.value)\" does not exist in table \(tables)"))
            }
        case .literal:
            return
        case .function("storage", let name, let arguments) where name == "foldername" && arguments.count != 2:
            throw error(ValidationFailure(position: expression.position, message: "storage.foldername() returns an array: write (storage.foldername(name))[n] for its n-th folder"))
        case .function(_, _, let arguments):
            for argument in arguments { try validate(argument, scopes: scopes, error: error) }
        case .binary(_, let left, let right):
            try validate(left, scopes: scopes, error: error)
            try validate(right, scopes: scopes, error: error)
        case .unary(_, let operand), .isNull(let operand, _), .cast(let operand, _):
            try validate(operand, scopes: scopes, error: error)
        case .inList(let operand, let list, _):
            try validate(operand, scopes: scopes, error: error)
            for item in list { try validate(item, scopes: scopes, error: error) }
        case .exists(let tableName, let alias, let condition):
            let outer = scopes.last!.table
            guard let table = tableName.value == outer.name ? outer : schema.table(named: tableName.value) else {
                throw MigrationError(at: tableName.position, "table \"\(tableName.value)\" does not exist")
            }
            if let condition {
                try validate(condition, scopes: scopes + [(table, alias?.value ?? table.name)], error: error)
            }
        }
    }
}
