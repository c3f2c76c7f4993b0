/// Parses a migration file into statements of the supported subset, rejecting everything else
/// with the position of the first token that is not supported.
struct MigrationParser {
    static let supportedStatements = "CREATE TABLE, ALTER TABLE, CREATE [UNIQUE] INDEX, CREATE POLICY, DROP TABLE, DROP INDEX, DROP POLICY, ALTER PUBLICATION supabase_realtime, and CREATE TRIGGER … EXECUTE FUNCTION supabase_functions.http_request(…) and DROP TRIGGER for database webhooks"

    /// Words PostgreSQL reserves, or that would make a statement ambiguous as a bare name.
    private static let reservedWords: Set<String> = [
        "all", "and", "any", "as", "asc", "both", "case", "cast", "check", "collate", "column", "constraint",
        "create", "current_date", "current_time", "current_timestamp", "current_user", "default", "desc",
        "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant",
        "group", "having", "in", "intersect", "into", "leading", "limit", "not", "null", "offset", "on",
        "only", "or", "order", "primary", "references", "returning", "select", "session_user", "some",
        "table", "then", "to", "trailing", "true", "union", "unique", "user", "using", "when", "where",
        "window", "with",
    ]

    var tokens: [MigrationToken]
    var index = 0

    static func statements(_ sql: String) throws(MigrationError) -> [MigrationStatement] {
        var parser = MigrationParser(tokens: try MigrationLexer.tokens(sql))
        return try parser.file()
    }

    // MARK: - Token helpers

    var current: MigrationToken { tokens[index] }

    func peek(_ offset: Int) -> MigrationToken {
        tokens[min(index + offset, tokens.count - 1)]
    }

    mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    func isWord(_ word: String) -> Bool {
        current.kind == .word(word)
    }

    func isSymbol(_ symbol: String) -> Bool {
        current.kind == .symbol(symbol)
    }

    mutating func accept(_ word: String) -> Bool {
        guard isWord(word) else { return false }
        advance()
        return true
    }

    mutating func acceptSymbol(_ symbol: String) -> Bool {
        guard isSymbol(symbol) else { return false }
        advance()
        return true
    }

    mutating func expect(_ word: String, _ context: String) throws(MigrationError) {
        guard accept(word) else { throw expected("\(word.uppercased()) \(context)") }
    }

    mutating func expectSymbol(_ symbol: String, _ context: String) throws(MigrationError) {
        guard acceptSymbol(symbol) else { throw expected("\"\(symbol)\" \(context)") }
    }

    func expected(_ what: String) -> MigrationError {
        MigrationError(at: current.position, "expected \(what), found \(current.described)")
    }

    /// A word as written in upper case, for messages about keywords.
    var keyword: String {
        if case .word = current.kind { return current.text.uppercased() }
        return current.text
    }

    var isIdentifier: Bool {
        switch current.kind {
        case .quotedIdentifier: true
        case .word(let word): !Self.reservedWords.contains(word)
        default: false
        }
    }

    /// A table, column, index, policy or alias name.
    mutating func identifier(_ what: String) throws(MigrationError) -> MigrationName {
        let name: MigrationName
        switch current.kind {
        case .quotedIdentifier(let value):
            name = MigrationName(value: value, position: current.position)
        case .word(let word) where Self.reservedWords.contains(word):
            throw MigrationError(at: current.position, "expected \(what), found the reserved word \(current.described); quote it (\"\(word)\") to use it as a name")
        case .word(let word):
            name = MigrationName(value: word, position: current.position)
        default:
            throw expected(what)
        }
        if name.value.utf8.count > 63 {
            throw MigrationError(at: name.position, "the name \"\(name.value)\" is \(name.value.utf8.count) bytes long; PostgreSQL's limit is 63 bytes")
        }
        if name.value.utf8.count >= 9, MigrationLexer.foldCase(String(name.value.prefix(9))) == "_cellbase" {
            throw MigrationError(at: name.position, "the name \"\(name.value)\" starts with _cellbase, which is reserved for Cellbase's own tables")
        }
        advance()
        return name
    }

    /// A table name, optionally qualified with `public.`. `storage.objects` is a name only where
    /// `storageObjects` allows it (policies are the only thing migrations may change on it).
    mutating func tableName(_ what: String = "a table name", storageObjects: Bool = false) throws(MigrationError) -> MigrationName {
        if case .symbol(".") = peek(1).kind {
            let schema = current
            let schemaName: String
            switch schema.kind {
            case .word(let word): schemaName = word
            case .quotedIdentifier(let value): schemaName = value
            default: throw expected(what)
            }
            advance()
            advance()
            let table = try identifier(what)
            switch schemaName {
            case "public":
                return table
            case "auth":
                throw MigrationError(at: schema.position, "found auth.\(table.value); tables of the auth schema are not available to migrations: keep a user's id (auth.uid()) in a uuid column instead")
            case "storage" where table.value == "objects" && storageObjects:
                return MigrationName(value: StorageObjects.catalogName, position: schema.position)
            case "storage" where table.value == "objects":
                throw MigrationError(at: schema.position, "storage.objects is built in: migrations may only create and drop policies on it")
            case "storage":
                throw MigrationError(at: schema.position, "found storage.\(table.value); tables of the storage schema are not available to migrations: they come with the storage capability")
            default:
                throw MigrationError(at: schema.position, "found the schema \"\(schemaName)\"; migrations work in the project's own schema only: write the table name alone or as public.name")
            }
        }
        return try identifier(what)
    }

    mutating func identifierList(_ what: String) throws(MigrationError) -> [MigrationName] {
        try expectSymbol("(", "before the \(what)s")
        var names: [MigrationName] = []
        repeat {
            names.append(try identifier(what))
        } while acceptSymbol(",")
        try expectSymbol(")", "after the \(what)s")
        return names
    }

    // MARK: - Statements

    private mutating func file() throws(MigrationError) -> [MigrationStatement] {
        var statements: [MigrationStatement] = []
        while true {
            while acceptSymbol(";") {}
            if current.kind == .end { return statements }
            if let statement = try statement() {
                statements.append(statement)
            }
            if current.kind == .end { return statements }
            try expectSymbol(";", "at the end of the statement")
        }
    }

    /// One statement, or `nil` for transaction control, which is ignored: a file is one transaction.
    private mutating func statement() throws(MigrationError) -> MigrationStatement? {
        guard case .word(let word) = current.kind else {
            throw expected("a statement (\(Self.supportedStatements))")
        }
        let start = current
        switch word {
        case "create":
            advance()
            return try create(start)
        case "alter":
            advance()
            if accept("publication") { return .alterPublication(try alterPublication(start)) }
            guard accept("table") else { throw unsupported("ALTER \(keyword)", at: start.position) }
            return .alterTable(try alterTable())
        case "drop":
            advance()
            return try drop(start)
        case "begin":
            advance()
            _ = accept("transaction") || accept("work")
            return nil
        case "start":
            advance()
            try expect("transaction", "after START")
            return nil
        case "commit":
            advance()
            _ = accept("transaction") || accept("work")
            return nil
        default:
            throw unsupported(start.text.uppercased(), at: start.position)
        }
    }

    private func unsupported(_ what: String, at position: MigrationPosition) -> MigrationError {
        MigrationError(at: position, "\(what) is not supported in migrations; supported statements: \(Self.supportedStatements)")
    }

    private mutating func create(_ start: MigrationToken) throws(MigrationError) -> MigrationStatement {
        if accept("table") { return .createTable(try createTable()) }
        if accept("policy") { return .createPolicy(try createPolicy()) }
        if accept("index") { return .createIndex(try createIndex(unique: false)) }
        if accept("trigger") { return .createTrigger(try createTrigger(start)) }
        if isWord("unique"), peek(1).kind == .word("index") {
            advance()
            advance()
            return .createIndex(try createIndex(unique: true))
        }
        if isWord("or"), peek(1).kind == .word("replace") {
            throw unsupported("CREATE OR REPLACE", at: start.position)
        }
        throw unsupported("CREATE \(keyword)", at: start.position)
    }

    private mutating func drop(_ start: MigrationToken) throws(MigrationError) -> MigrationStatement {
        if accept("table") {
            let ifExists = try ifExists()
            var names: [MigrationName] = []
            repeat {
                names.append(try tableName())
            } while acceptSymbol(",")
            let cascade = accept("cascade")
            if !cascade { _ = accept("restrict") }
            return .dropTables(.init(names: names, ifExists: ifExists, cascade: cascade))
        }
        if accept("index") {
            if isWord("concurrently") {
                throw MigrationError(at: current.position, "DROP INDEX CONCURRENTLY cannot run inside the migration's transaction; write DROP INDEX")
            }
            let ifExists = try ifExists()
            var names: [MigrationName] = []
            repeat {
                names.append(try tableName("an index name"))
            } while acceptSymbol(",")
            _ = accept("restrict")
            return .dropIndexes(.init(names: names, ifExists: ifExists))
        }
        if accept("trigger") {
            let ifExists = try ifExists()
            let name = try identifier("a trigger name")
            try expect("on", "after the trigger name")
            let table = try tableName()
            _ = accept("cascade") || accept("restrict")
            return .dropTrigger(.init(name: name, table: table, ifExists: ifExists))
        }
        if accept("policy") {
            let ifExists = try ifExists()
            let name = try identifier("a policy name")
            try expect("on", "after the policy name")
            let table = try tableName(storageObjects: true)
            return .dropPolicy(.init(name: name, table: table, ifExists: ifExists))
        }
        throw unsupported("DROP \(keyword)", at: start.position)
    }

    /// `CREATE TRIGGER name AFTER INSERT [OR UPDATE] [OR DELETE] ON table FOR EACH ROW EXECUTE
    /// FUNCTION supabase_functions.http_request('url', 'POST', 'headers', 'params', 'timeout')`,
    /// the database webhook Supabase's dashboard writes. Other triggers run code Cellbase does not
    /// have, and are refused.
    private mutating func createTrigger(_ start: MigrationToken) throws(MigrationError) -> MigrationStatement.CreateTrigger {
        let name = try identifier("a trigger name")
        guard accept("after") else {
            throw MigrationError(at: current.position, "only AFTER triggers that call supabase_functions.http_request (database webhooks) are supported")
        }
        var events: [String] = []
        repeat {
            let event = current
            guard accept("insert") || accept("update") || accept("delete") else { throw expected("INSERT, UPDATE or DELETE") }
            let word = event.text.uppercased()
            if word == "UPDATE", isWord("of") {
                throw MigrationError(at: current.position, "UPDATE OF columns is not supported: a webhook fires on every update (filter rows with the admin API's filter)")
            }
            guard !events.contains(word) else { throw MigrationError(at: event.position, "\(word) is named twice") }
            events.append(word)
        } while accept("or")
        try expect("on", "after the trigger's events")
        let table = try tableName()
        try expect("for", "after the table name")
        _ = accept("each")
        guard accept("row") else {
            throw MigrationError(at: current.position, "a database webhook is FOR EACH ROW")
        }
        try expect("execute", "after FOR EACH ROW")
        guard accept("function") || accept("procedure") else { throw expected("FUNCTION after EXECUTE") }
        let function = current
        var schema = "public"
        var called = try identifier("a function name")
        if acceptSymbol(".") {
            schema = called.value
            called = try identifier("a function name")
        }
        guard schema == "supabase_functions", called.value == "http_request" else {
            throw MigrationError(at: function.position, "only triggers that call supabase_functions.http_request (database webhooks) are supported; \(schema).\(called.value) is not")
        }
        try expectSymbol("(", "after supabase_functions.http_request")
        var arguments: [MigrationName] = []
        if !isSymbol(")") {
            repeat {
                guard case .string(let text) = current.kind else { throw expected("a string argument") }
                arguments.append(MigrationName(value: text, position: current.position))
                advance()
            } while acceptSymbol(",")
        }
        try expectSymbol(")", "after the arguments")
        return .init(name: name, table: table, events: events, arguments: arguments, position: start.position)
    }

    private mutating func ifExists() throws(MigrationError) -> Bool {
        guard accept("if") else { return false }
        try expect("exists", "after IF")
        return true
    }

    private mutating func ifNotExists() throws(MigrationError) -> Bool {
        guard accept("if") else { return false }
        try expect("not", "after IF")
        try expect("exists", "after IF NOT")
        return true
    }

    // MARK: CREATE TABLE

    private mutating func createTable() throws(MigrationError) -> MigrationStatement.CreateTable {
        let ifNotExists = try ifNotExists()
        let name = try tableName()
        try expectSymbol("(", "after the table name")
        var columns: [MigrationColumnDefinition] = []
        var constraints: [MigrationTableConstraint] = []
        repeat {
            if isWord("constraint") || isWord("primary") || isWord("unique") || isWord("foreign") || isWord("check") {
                constraints.append(try tableConstraint())
            } else if isWord("like") || isWord("exclude") {
                throw MigrationError(at: current.position, "\(keyword) in CREATE TABLE is not supported; list the columns and PRIMARY KEY, UNIQUE, FOREIGN KEY or CHECK constraints")
            } else {
                columns.append(try columnDefinition())
            }
        } while acceptSymbol(",")
        try expectSymbol(")", "after the columns")
        return .init(name: name, ifNotExists: ifNotExists, columns: columns, constraints: constraints)
    }

    mutating func columnDefinition() throws(MigrationError) -> MigrationColumnDefinition {
        let name = try identifier("a column name")
        let typePosition = current.position
        let (type, serial) = try columnType(allowSerial: true)
        var constraints: [MigrationColumnConstraint] = []
        while true {
            var constraintName: MigrationName?
            if accept("constraint") {
                constraintName = try identifier("a constraint name")
            }
            let position = current.position
            let kind: MigrationColumnConstraint.Kind
            if accept("primary") {
                try expect("key", "after PRIMARY")
                kind = .primaryKey
            } else if accept("not") {
                try expect("null", "after NOT")
                kind = .notNull
            } else if accept("null") {
                kind = .null
            } else if accept("unique") {
                kind = .unique
            } else if accept("default") {
                kind = .defaultValue(try defaultValue())
            } else if accept("references") {
                kind = .references(try referenceClause())
            } else if accept("check") {
                kind = .check(try parenthesizedExpression(.check))
            } else if accept("generated") {
                kind = .identity(try identity())
            } else if constraintName != nil {
                throw expected("PRIMARY KEY, NOT NULL, UNIQUE, REFERENCES or CHECK after the constraint name")
            } else if isSymbol(",") || isSymbol(")") || isSymbol(";") || current.kind == .end {
                break
            } else {
                throw expected("a column constraint (PRIMARY KEY, NOT NULL, NULL, UNIQUE, DEFAULT, REFERENCES, CHECK, GENERATED ... AS IDENTITY), \",\" or \")\"")
            }
            constraints.append(MigrationColumnConstraint(name: constraintName, kind: kind, position: position))
        }
        return MigrationColumnDefinition(name: name, type: type, typePosition: typePosition, serial: serial, constraints: constraints)
    }

    private mutating func identity() throws(MigrationError) -> Identity {
        let identity: Identity
        if accept("always") {
            identity = .always
        } else {
            try expect("by", "or ALWAYS after GENERATED")
            try expect("default", "after GENERATED BY")
            identity = .byDefault
        }
        try expect("as", "in GENERATED ... AS IDENTITY")
        guard accept("identity") else {
            throw MigrationError(at: current.position, "expected IDENTITY after GENERATED ... AS, found \(current.described); generated (computed) columns are not supported")
        }
        if isSymbol("(") {
            throw MigrationError(at: current.position, "identity options (START WITH, INCREMENT BY, ...) are not supported")
        }
        return identity
    }

    private mutating func tableConstraint() throws(MigrationError) -> MigrationTableConstraint {
        var name: MigrationName?
        if accept("constraint") {
            name = try identifier("a constraint name")
        }
        let position = current.position
        let kind: MigrationTableConstraint.Kind
        if accept("primary") {
            try expect("key", "after PRIMARY")
            kind = .primaryKey(try identifierList("column name"))
        } else if accept("unique") {
            kind = .unique(try identifierList("column name"))
        } else if accept("foreign") {
            try expect("key", "after FOREIGN")
            let columns = try identifierList("column name")
            try expect("references", "after FOREIGN KEY (...)")
            kind = .foreignKey(columns, try referenceClause())
        } else if accept("check") {
            kind = .check(try parenthesizedExpression(.check))
        } else {
            throw expected("PRIMARY KEY, UNIQUE, FOREIGN KEY or CHECK")
        }
        return MigrationTableConstraint(name: name, kind: kind, position: position)
    }

    private mutating func referenceClause() throws(MigrationError) -> MigrationReference {
        let table = try tableName()
        var columns: [MigrationName]?
        if isSymbol("(") {
            columns = try identifierList("referenced column name")
        }
        var onDelete = ReferentialAction.noAction
        if isWord("on") {
            if case .word("update") = peek(1).kind {
                throw MigrationError(at: current.position, "ON UPDATE is not supported; only ON DELETE CASCADE, SET NULL, SET DEFAULT, RESTRICT or NO ACTION")
            }
            advance()
            try expect("delete", "after ON")
            if accept("cascade") {
                onDelete = .cascade
            } else if accept("restrict") {
                onDelete = .restrict
            } else if accept("no") {
                try expect("action", "after NO")
                onDelete = .noAction
            } else if accept("set") {
                if accept("null") {
                    onDelete = .setNull
                } else {
                    try expect("default", "or NULL after SET")
                    onDelete = .setDefault
                }
            } else {
                throw expected("CASCADE, SET NULL, SET DEFAULT, RESTRICT or NO ACTION after ON DELETE")
            }
        }
        if isWord("match") || isWord("deferrable") || isWord("initially") {
            throw MigrationError(at: current.position, "\(keyword) on a foreign key is not supported")
        }
        return MigrationReference(table: table, columns: columns, onDelete: onDelete)
    }

    // MARK: ALTER PUBLICATION

    /// The one publication a project has is Supabase's `supabase_realtime`.
    private mutating func alterPublication(_ start: MigrationToken) throws(MigrationError) -> MigrationStatement.AlterPublication {
        let name = current
        guard case .word("supabase_realtime") = name.kind else {
            if case .quotedIdentifier("supabase_realtime") = name.kind {
                advance()
                return try publicationTables(start)
            }
            throw MigrationError(at: name.position, "found the publication \(name.described); the only publication is supabase_realtime")
        }
        advance()
        return try publicationTables(start)
    }

    private mutating func publicationTables(_ start: MigrationToken) throws(MigrationError) -> MigrationStatement.AlterPublication {
        let action: MigrationStatement.AlterPublication.Action
        if accept("add") {
            action = .add
        } else if accept("drop") {
            action = .drop
        } else if accept("set") {
            action = .set
        } else {
            throw expected("ADD TABLE, DROP TABLE or SET TABLE after the publication name")
        }
        if isWord("tables") {
            throw MigrationError(at: current.position, "TABLES IN SCHEMA is not supported; name the tables: ADD TABLE a, b")
        }
        try expect("table", "after \(action == .add ? "ADD" : action == .drop ? "DROP" : "SET")")
        var tables: [MigrationName] = []
        repeat {
            _ = accept("only")
            tables.append(try tableName())
            if isSymbol("(") {
                throw MigrationError(at: current.position, "column lists in publications are not supported: the whole row is published")
            }
            if isWord("where") {
                throw MigrationError(at: current.position, "row filters in publications are not supported; filter in the subscription instead")
            }
        } while acceptSymbol(",")
        return .init(action: action, tables: tables, position: start.position)
    }

    // MARK: ALTER TABLE

    private mutating func alterTable() throws(MigrationError) -> MigrationStatement.AlterTable {
        let ifExists = try ifExists()
        _ = accept("only")
        let name = try tableName()
        if isWord("rename") {
            return .init(name: name, ifExists: ifExists, actions: [try renameAction()])
        }
        var actions: [MigrationStatement.AlterAction] = []
        repeat {
            actions.append(try alterAction())
        } while acceptSymbol(",")
        return .init(name: name, ifExists: ifExists, actions: actions)
    }

    private mutating func renameAction() throws(MigrationError) -> MigrationStatement.AlterAction {
        try expect("rename", "")
        if accept("to") {
            return .renameTable(to: try identifier("the new table name"))
        }
        if isWord("constraint") {
            throw MigrationError(at: current.position, "RENAME CONSTRAINT is not supported; supported: RENAME [COLUMN] a TO b and RENAME TO new_name")
        }
        _ = accept("column")
        let old = try identifier("a column name")
        try expect("to", "after the column name")
        return .renameColumn(old, to: try identifier("the new column name"))
    }

    private mutating func alterAction() throws(MigrationError) -> MigrationStatement.AlterAction {
        let start = current
        if accept("add") {
            let column = accept("column")
            if !column, isWord("constraint") || isWord("primary") || isWord("unique") || isWord("foreign") || isWord("check") {
                throw MigrationError(at: current.position, "ALTER TABLE ADD \(keyword) is not supported: SQLite cannot add constraints to an existing table; declare them in CREATE TABLE, or use CREATE UNIQUE INDEX")
            }
            let ifNotExists = try ifNotExists()
            return .addColumn(try columnDefinition(), ifNotExists: ifNotExists)
        }
        if accept("drop") {
            let column = accept("column")
            if !column, isWord("constraint") {
                throw MigrationError(at: current.position, "ALTER TABLE DROP CONSTRAINT is not supported: SQLite cannot drop constraints of an existing table")
            }
            let ifExists = try ifExists()
            let name = try identifier("a column name")
            if isWord("cascade") {
                throw MigrationError(at: current.position, "DROP COLUMN ... CASCADE is not supported; drop what uses the column first")
            }
            _ = accept("restrict")
            return .dropColumn(name, ifExists: ifExists)
        }
        if accept("alter") {
            throw MigrationError(at: start.position, "ALTER TABLE ALTER COLUMN is not supported: SQLite cannot change a column; add a new column instead")
        }
        if accept("replica") {
            try expect("identity", "after REPLICA")
            if accept("full") { return .replicaIdentityFull(true) }
            if accept("default") { return .replicaIdentityFull(false) }
            throw MigrationError(at: current.position, "found REPLICA IDENTITY \(keyword); supported: REPLICA IDENTITY FULL and REPLICA IDENTITY DEFAULT")
        }
        let change: MigrationStatement.RowLevelSecurityChange
        if accept("enable") {
            change = .enable
        } else if accept("disable") {
            change = .disable
        } else if accept("force") {
            change = .force
        } else if accept("no") {
            try expect("force", "after NO")
            change = .noForce
        } else if isWord("rename") {
            throw MigrationError(at: current.position, "RENAME cannot be combined with other ALTER TABLE actions; write it as its own statement")
        } else {
            throw expected("ADD [COLUMN], DROP [COLUMN], RENAME, REPLICA IDENTITY or ENABLE / DISABLE / FORCE ROW LEVEL SECURITY")
        }
        try expect("row", "after \(start.text.uppercased()) (only ROW LEVEL SECURITY is supported)")
        try expect("level", "after ROW")
        try expect("security", "after ROW LEVEL")
        return .rowLevelSecurity(change)
    }

    // MARK: CREATE INDEX

    private mutating func createIndex(unique: Bool) throws(MigrationError) -> MigrationStatement.CreateIndex {
        if isWord("concurrently") {
            throw MigrationError(at: current.position, "CREATE INDEX CONCURRENTLY cannot run inside the migration's transaction; write CREATE INDEX")
        }
        let ifNotExists = try ifNotExists()
        var name: MigrationName?
        if !isWord("on") || ifNotExists {
            name = try identifier("an index name")
            if isSymbol(".") {
                throw MigrationError(at: current.position, "an index is created in its table's schema; write its name without a schema")
            }
        }
        try expect("on", "after the index name")
        _ = accept("only")
        let table = try tableName()
        if accept("using") {
            guard accept("btree") else {
                throw MigrationError(at: current.position, "found the index method \(current.described); only btree indexes are supported (SQLite has no other)")
            }
        }
        try expectSymbol("(", "before the indexed columns")
        var columns: [MigrationStatement.IndexColumn] = []
        repeat {
            if isSymbol("(") {
                throw MigrationError(at: current.position, "expression indexes are not supported; index plain columns")
            }
            let column = try identifier("a column name")
            if isSymbol("(") || isSymbol("::") {
                throw MigrationError(at: column.position, "expression indexes are not supported; index plain columns")
            }
            var descending = false
            if accept("desc") {
                descending = true
            } else {
                _ = accept("asc")
            }
            if isWord("nulls") || isWord("collate") {
                throw MigrationError(at: current.position, "\(keyword) in an index is not supported; supported: column [ASC|DESC]")
            }
            columns.append(.init(name: column, descending: descending))
        } while acceptSymbol(",")
        try expectSymbol(")", "after the indexed columns")
        if isWord("where") {
            throw MigrationError(at: current.position, "partial indexes (WHERE) are not supported")
        }
        if isWord("include") || isWord("with") || isWord("tablespace") || isWord("nulls") {
            throw MigrationError(at: current.position, "\(keyword) in CREATE INDEX is not supported")
        }
        return .init(name: name, isUnique: unique, ifNotExists: ifNotExists, table: table, columns: columns)
    }

    // MARK: POLICY

    private static let roles: Set<String> = ["anon", "authenticated", "service_role", "public"]

    private mutating func createPolicy() throws(MigrationError) -> MigrationStatement.CreatePolicy {
        let name = try identifier("a policy name")
        try expect("on", "after the policy name")
        let table = try tableName(storageObjects: true)
        var isPermissive = true
        if accept("as") {
            if accept("restrictive") {
                isPermissive = false
            } else {
                try expect("permissive", "or RESTRICTIVE after AS")
            }
        }
        var command = Policy.Command.all
        var commandPosition: MigrationPosition?
        if accept("for") {
            commandPosition = current.position
            guard case .word(let word) = current.kind, let parsed = Policy.Command(rawValue: word.uppercased()) else {
                throw expected("ALL, SELECT, INSERT, UPDATE or DELETE after FOR")
            }
            command = parsed
            advance()
        }
        var roles: [MigrationName] = []
        if accept("to") {
            repeat {
                let role: MigrationName
                switch current.kind {
                case .word(let word), .quotedIdentifier(let word):
                    role = MigrationName(value: word, position: current.position)
                default:
                    throw expected("a role name")
                }
                guard Self.roles.contains(role.value) else {
                    throw MigrationError(at: role.position, "found the role \(current.described); policies apply to anon, authenticated, service_role or public")
                }
                advance()
                roles.append(role)
            } while acceptSymbol(",")
        }
        var using: MigrationExpression?
        if accept("using") {
            using = try parenthesizedExpression(.policy)
        }
        var withCheck: MigrationExpression?
        if accept("with") {
            try expect("check", "after WITH")
            withCheck = try parenthesizedExpression(.policy)
        }
        return .init(
            name: name, table: table, isPermissive: isPermissive, command: command, commandPosition: commandPosition,
            roles: roles, using: using, withCheck: withCheck
        )
    }
}
