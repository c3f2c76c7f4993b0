/// ALTER TABLE, indexes, DROP TABLE and policies.
extension MigrationApplier {
    // MARK: - ALTER TABLE

    mutating func alterTable(_ alter: MigrationStatement.AlterTable) throws(MigrationError) {
        if alter.ifExists, schema.table(named: alter.name.value) == nil {
            warnings.append("table \"\(alter.name.value)\" does not exist; ALTER TABLE IF EXISTS skipped")
            return
        }
        var name = alter.name
        for action in alter.actions {
            let index = try tableIndex(name)
            switch action {
            case .addColumn(let definition, let ifNotExists):
                try addColumn(definition, ifNotExists: ifNotExists, to: index)
            case .dropColumn(let column, let ifExists):
                try dropColumn(column, ifExists: ifExists, from: index)
            case .renameColumn(let old, let new):
                try renameColumn(old, to: new, in: index)
            case .renameTable(let new):
                try renameTable(at: index, to: new)
                name = new
            case .rowLevelSecurity(let change):
                switch change {
                case .enable:
                    schema.tables[index].rowLevelSecurity = true
                case .force:
                    schema.tables[index].rowLevelSecurity = true
                    warnings.append("FORCE ROW LEVEL SECURITY on \"\(name.value)\" is the same as ENABLE: policies apply to every role but service_role")
                case .disable:
                    schema.tables[index].rowLevelSecurity = false
                    openedTables.append(schema.tables[index].name)
                case .noForce:
                    break
                }
            case .replicaIdentityFull(let full):
                schema.tables[index].replicaIdentityFull = full
            }
        }
    }

    mutating func addColumn(_ definition: MigrationColumnDefinition, ifNotExists: Bool, to index: Int) throws(MigrationError) {
        var table = schema.tables[index]
        if table.column(named: definition.name.value) != nil {
            if ifNotExists {
                warnings.append("column \"\(definition.name.value)\" already exists in \"\(table.name)\"; ADD COLUMN IF NOT EXISTS skipped")
                return
            }
            throw MigrationError(at: definition.name.position, "column \"\(definition.name.value)\" already exists in table \"\(table.name)\"")
        }
        let parts = try column(from: definition)
        let column = parts.column
        if let position = parts.primaryKey {
            throw MigrationError(at: position, "ADD COLUMN ... PRIMARY KEY is not supported: SQLite cannot add a primary key to an existing table")
        }
        if column.identity != nil {
            throw MigrationError(at: definition.typePosition, "the identity column \"\(column.name)\" must be the table's only primary key column, which ADD COLUMN cannot create")
        }
        let hasValue = column.defaultValue.map { $0 != .null } ?? false
        if !column.isNullable, !hasValue {
            throw MigrationError(at: definition.name.position, "ADD COLUMN ... NOT NULL needs a non-null DEFAULT for the existing rows (SQLite requires one)")
        }
        if let value = column.defaultValue, value == .now || value == .currentDate || value == .randomUUID {
            throw MigrationError(at: definition.name.position, "ADD COLUMN cannot have the default \(Self.describe(value)): SQLite only adds columns with constant defaults; add the column without it")
        }
        if parts.reference != nil, hasValue {
            throw MigrationError(at: definition.name.position, "ADD COLUMN with REFERENCES cannot have a non-null DEFAULT (SQLite requires NULL)")
        }
        table.columns.append(column)
        if parts.isUnique {
            try requireIndexable([column.name], of: table, at: definition.name.position)
            table.uniqueConstraints.append([column.name])
        }
        let foreignKey = try parts.reference.map { clause throws(MigrationError) in try self.foreignKey([definition.name], clause, from: table) }
        if let foreignKey { table.foreignKeys.append(foreignKey) }
        var checks: [CheckConstraint] = []
        for check in parts.checks {
            try validateCheck(check.expression, in: table)
            checks.append(CheckConstraint(name: check.name?.value, expression: check.expression.expression))
        }
        table.checks += checks
        schema.tables[index] = table
        changes.append(.addColumn(table: table.name, column: column, isUnique: parts.isUnique, foreignKey: foreignKey, checks: checks))
    }

    mutating func dropColumn(_ name: MigrationName, ifExists: Bool, from index: Int) throws(MigrationError) {
        let table = schema.tables[index]
        guard table.column(named: name.value) != nil else {
            if ifExists {
                warnings.append("column \"\(name.value)\" does not exist in \"\(table.name)\"; DROP COLUMN IF EXISTS skipped")
                return
            }
            throw MigrationError(at: name.position, "column \"\(name.value)\" does not exist in table \"\(table.name)\"")
        }
        func refuse(_ reason: String) -> MigrationError {
            MigrationError(at: name.position, "cannot drop column \"\(name.value)\" of \"\(table.name)\": \(reason)")
        }
        if table.columns.count == 1 {
            throw refuse("it is the table's only column")
        }
        if table.primaryKey.contains(name.value) {
            throw refuse("it is part of the primary key")
        }
        if let unique = table.uniqueConstraints.first(where: { $0.contains(name.value) }) {
            throw refuse("it is part of UNIQUE (\(unique.joined(separator: ", "))), which SQLite cannot drop")
        }
        if table.foreignKeys.contains(where: { $0.columns.contains(name.value) }) {
            throw refuse("it has a foreign key, which SQLite cannot drop")
        }
        let scopes = [MigrationScope(table: table.name, qualifier: table.name)]
        if let check = table.checks.first(where: { MigrationRewriter.dependencies(of: $0.expression, scopes: scopes, schema: schema).columns.contains(MigrationColumnReference(table: table.name, column: name.value)) }) {
            throw refuse("it is used by the CHECK constraint\(check.name.map { " \"\($0)\"" } ?? ""), which SQLite cannot drop")
        }
        let reference = MigrationColumnReference(table: table.name, column: name.value)
        for other in schema.tables {
            if other.foreignKeys.contains(where: { $0.referencedTable == table.name && $0.referencedColumns.contains(name.value) }) {
                throw refuse("a foreign key of table \"\(other.name)\" references it")
            }
            for policy in other.policies where policyDependencies(policy).columns.contains(reference) {
                throw refuse("it is used by the policy \"\(policy.name)\" on \"\(other.name)\"; drop the policy first")
            }
        }
        let dropped = schema.indexes.filter { $0.table == table.name && $0.columns.contains(name.value) }
        schema.indexes.removeAll { $0.table == table.name && $0.columns.contains(name.value) }
        schema.tables[index].columns.removeAll { $0.name == name.value }
        changes.append(.dropColumn(table: table.name, column: name.value, indexes: dropped))
    }

    func policyDependencies(_ policy: Policy) -> (columns: [MigrationColumnReference], tables: [String]) {
        let scopes = [MigrationScope(table: policy.table, qualifier: policy.table)]
        var columns: [MigrationColumnReference] = []
        var tables: [String] = []
        for expression in [policy.using, policy.withCheck].compactMap({ $0 }) {
            let found = MigrationRewriter.dependencies(of: expression, scopes: scopes, schema: schema)
            columns += found.columns
            tables += found.tables
        }
        return (columns, tables)
    }

    mutating func renameColumn(_ old: MigrationName, to new: MigrationName, in index: Int) throws(MigrationError) {
        let table = schema.tables[index]
        try requireColumn(old, in: table)
        if table.column(named: new.value) != nil {
            throw MigrationError(at: new.position, "column \"\(new.value)\" already exists in table \"\(table.name)\"")
        }
        let before = schema
        func rename(_ column: String) -> String { column == old.value ? new.value : column }
        func rewrite(_ expression: Expression?, on policyTable: String) -> Expression? {
            expression.map { MigrationRewriter.renamingColumn(old.value, to: new.value, ofTable: table.name, in: $0, scopes: [MigrationScope(table: policyTable, qualifier: policyTable)], schema: before) }
        }
        for position in schema.tables.indices {
            var other = schema.tables[position]
            if position == index {
                other.columns[other.columns.firstIndex { $0.name == old.value }!].name = new.value
                other.primaryKey = other.primaryKey.map(rename)
                other.uniqueConstraints = other.uniqueConstraints.map { $0.map(rename) }
                for key in other.foreignKeys.indices {
                    other.foreignKeys[key].columns = other.foreignKeys[key].columns.map(rename)
                }
                for check in other.checks.indices {
                    other.checks[check].expression = rewrite(other.checks[check].expression, on: table.name)!
                }
            }
            for key in other.foreignKeys.indices where other.foreignKeys[key].referencedTable == table.name {
                other.foreignKeys[key].referencedColumns = other.foreignKeys[key].referencedColumns.map(rename)
            }
            for policy in other.policies.indices {
                other.policies[policy].using = rewrite(other.policies[policy].using, on: other.name)
                other.policies[policy].withCheck = rewrite(other.policies[policy].withCheck, on: other.name)
            }
            schema.tables[position] = other
        }
        for position in schema.indexes.indices where schema.indexes[position].table == table.name {
            schema.indexes[position].columns = schema.indexes[position].columns.map(rename)
        }
        changes.append(.renameColumn(table: table.name, from: old.value, to: new.value))
    }

    mutating func renameTable(at index: Int, to new: MigrationName) throws(MigrationError) {
        try checkNameIsFree(new)
        let old = schema.tables[index].name
        let before = schema
        func rewrite(_ expression: Expression?, on policyTable: String) -> Expression? {
            expression.map { MigrationRewriter.renamingTable(old, to: new.value, in: $0, scopes: [MigrationScope(table: policyTable, qualifier: policyTable)], schema: before) }
        }
        for position in schema.tables.indices {
            var table = schema.tables[position]
            for key in table.foreignKeys.indices where table.foreignKeys[key].referencedTable == old {
                table.foreignKeys[key].referencedTable = new.value
            }
            if position == index {
                for check in table.checks.indices {
                    table.checks[check].expression = rewrite(table.checks[check].expression, on: old)!
                }
            }
            for policy in table.policies.indices {
                table.policies[policy].using = rewrite(table.policies[policy].using, on: table.name)
                table.policies[policy].withCheck = rewrite(table.policies[policy].withCheck, on: table.name)
                if position == index { table.policies[policy].table = new.value }
            }
            if position == index { table.name = new.value }
            schema.tables[position] = table
        }
        for position in schema.indexes.indices where schema.indexes[position].table == old {
            schema.indexes[position].table = new.value
        }
        createdPolicies = createdPolicies.map { ($0.table == old ? new.value : $0.table, $0.name) }
        changes.append(.renameTable(from: old, to: new.value))
    }

    // MARK: - Indexes

    mutating func createIndex(_ create: MigrationStatement.CreateIndex) throws(MigrationError) {
        let table = schema.tables[try tableIndex(create.table)]
        var columns: [String] = []
        for column in create.columns {
            try requireColumn(column.name, in: table)
            if columns.contains(column.name.value) {
                throw MigrationError(at: column.name.position, "column \"\(column.name.value)\" appears twice in the index")
            }
            columns.append(column.name.value)
        }
        try requireIndexable(columns, of: table, at: create.table.position)
        let name: String
        if let given = create.name {
            if create.ifNotExists, schema.indexes.contains(where: { $0.name == given.value }) {
                warnings.append("index \"\(given.value)\" already exists; CREATE INDEX IF NOT EXISTS skipped")
                return
            }
            try checkNameIsFree(given)
            name = given.value
        } else {
            name = generatedIndexName(table: table.name, columns: columns)
        }
        let index = Index(name: name, table: table.name, columns: columns, isUnique: create.isUnique)
        schema.indexes.append(index)
        changes.append(.createIndex(index, descending: create.columns.map(\.descending)))
    }

    /// PostgreSQL's choice for an unnamed index: `table_col1_col2_idx`, cut to 63 bytes, then
    /// numbered until it is free.
    func generatedIndexName(table: String, columns: [String]) -> String {
        func isFree(_ name: String) -> Bool {
            schema.table(named: name) == nil && !schema.indexes.contains { $0.name == name }
                && !schema.tables.contains { Self.constraintIndexNames(of: $0).contains(name) }
        }
        let stem = ([table] + columns).joined(separator: "_")
        var suffix = 0
        while true {
            let ending = "_idx" + (suffix == 0 ? "" : String(suffix))
            var prefix = Substring(stem)
            while prefix.utf8.count + ending.utf8.count > 63 { prefix = prefix.dropLast() }
            let candidate = String(prefix) + ending
            if isFree(candidate) { return candidate }
            suffix += 1
        }
    }

    mutating func dropIndexes(_ drop: MigrationStatement.DropIndexes) throws(MigrationError) {
        for name in drop.names {
            guard let index = schema.indexes.first(where: { $0.name == name.value }) else {
                if drop.ifExists {
                    warnings.append("index \"\(name.value)\" does not exist; DROP INDEX IF EXISTS skipped")
                    continue
                }
                throw MigrationError(at: name.position, "index \"\(name.value)\" does not exist")
            }
            if let table = schema.table(named: index.table), let dependent = dependentForeignKeyTable(of: index, on: table) {
                throw MigrationError(at: name.position, "index \"\(index.name)\" is what makes \(table.name) (\(index.columns.joined(separator: ", "))) unique for a foreign key of table \"\(dependent)\"; drop that table first")
            }
            schema.indexes.removeAll { $0.name == name.value }
            changes.append(.dropIndex(index))
        }
    }

    /// The table whose foreign key relies on a unique index because no constraint covers its columns.
    func dependentForeignKeyTable(of index: Index, on table: Table) -> String? {
        guard index.isUnique else { return nil }
        let key = Set(index.columns)
        func matches(_ columns: [String]) -> Bool { Set(columns) == key && columns.count == key.count }
        if ([table.primaryKey] + table.uniqueConstraints).contains(where: matches) { return nil }
        let others = schema.indexes.filter { $0.name != index.name && $0.table == table.name && $0.isUnique }
        if others.contains(where: { matches($0.columns) }) { return nil }
        return schema.tables.first { other in
            other.foreignKeys.contains { $0.referencedTable == table.name && matches($0.referencedColumns) }
        }?.name
    }

    // MARK: - DROP TABLE

    mutating func dropTables(_ drop: MigrationStatement.DropTables) throws(MigrationError) {
        var dropped: [(name: MigrationName, table: Table)] = []
        for name in drop.names where !dropped.contains(where: { $0.table.name == name.value }) {
            guard let table = schema.table(named: name.value) else {
                if drop.ifExists {
                    warnings.append("table \"\(name.value)\" does not exist; DROP TABLE IF EXISTS skipped")
                    continue
                }
                throw MigrationError(at: name.position, "table \"\(name.value)\" does not exist")
            }
            dropped.append((name, table))
        }
        if dropped.isEmpty { return }
        let droppedNames = dropped.map(\.table.name)
        for position in schema.tables.indices where !droppedNames.contains(schema.tables[position].name) {
            let other = schema.tables[position]
            for (name, table) in dropped {
                if other.foreignKeys.contains(where: { $0.referencedTable == table.name }) {
                    throw MigrationError(at: name.position, "table \"\(table.name)\" is referenced by a foreign key of table \"\(other.name)\"; drop \"\(other.name)\" first or in the same statement (SQLite cannot drop a foreign key, so CASCADE does not either)")
                }
            }
            schema.tables[position].policies = try policiesKept(on: other, dropping: dropped, cascade: drop.cascade)
        }
        schema.storageObjects.policies = try policiesKept(on: schema.storageObjects, dropping: dropped, cascade: drop.cascade)
        schema.tables.removeAll { droppedNames.contains($0.name) }
        schema.indexes.removeAll { droppedNames.contains($0.table) }
        changes.append(.dropTables(Self.referencingFirst(dropped.map(\.table))))
    }

    /// The policies of `other` that read none of the dropped tables; with CASCADE the others go
    /// (with a warning), without it they are an error.
    mutating func policiesKept(on other: Table, dropping dropped: [(name: MigrationName, table: Table)], cascade: Bool) throws(MigrationError) -> [Policy] {
        var kept: [Policy] = []
        for policy in other.policies {
            guard let (name, table) = dropped.first(where: { policyDependencies(policy).tables.contains($0.table.name) }) else {
                kept.append(policy)
                continue
            }
            guard cascade else {
                throw MigrationError(at: name.position, "table \"\(table.name)\" is used by the policy \"\(policy.name)\" on \"\(other.name)\"; drop the policy first or use CASCADE")
            }
            warnings.append("DROP TABLE ... CASCADE dropped the policy \"\(policy.name)\" on \"\(other.name)\", which read table \"\(table.name)\"")
        }
        return kept
    }

    /// Tables that reference others of the set come first, so that no table is dropped while another
    /// still points at it (SQLite deletes the rows of a dropped table, which foreign keys check).
    static func referencingFirst(_ tables: [Table]) -> [Table] {
        var remaining = tables
        var ordered: [Table] = []
        while !remaining.isEmpty {
            let next = remaining.firstIndex { candidate in
                !remaining.contains { other in
                    other.name != candidate.name && other.foreignKeys.contains { $0.referencedTable == candidate.name }
                }
            } ?? 0
            ordered.append(remaining.remove(at: next))
        }
        return ordered
    }

    // MARK: - Policies

    /// Where the policies of the named table live: `storage.objects` is the schema's built-in table.
    func policyTable(_ name: MigrationName) -> WritableKeyPath<Schema, Table>? {
        if name.value == StorageObjects.catalogName { return \Schema.storageObjects }
        return schema.tables.firstIndex { $0.name == name.value }.map { \Schema.tables[$0] }
    }

    mutating func createPolicy(_ create: MigrationStatement.CreatePolicy) throws(MigrationError) {
        guard let path = policyTable(create.table) else { _ = try tableIndex(create.table); return }
        let table = schema[keyPath: path]
        if table.policies.contains(where: { $0.name == create.name.value }) {
            throw MigrationError(at: create.name.position, "policy \"\(create.name.value)\" for table \"\(table.name)\" already exists")
        }
        let commandPosition = create.commandPosition ?? create.name.position
        if create.command == .insert, create.using != nil {
            throw MigrationError(at: commandPosition, "an INSERT policy takes only WITH CHECK, not USING")
        }
        if create.command == .select || create.command == .delete, create.withCheck != nil {
            throw MigrationError(at: commandPosition, "a \(create.command.rawValue) policy takes only USING, not WITH CHECK")
        }
        if let using = create.using { try validatePolicy(using, in: table) }
        if let withCheck = create.withCheck { try validatePolicy(withCheck, in: table) }
        var roles: [String] = []
        for role in create.roles where !roles.contains(role.value) {
            roles.append(role.value)
        }
        createdPolicies.append((table.name, create.name.value))
        schema[keyPath: path].policies.append(Policy(
            name: create.name.value, table: table.name, isPermissive: create.isPermissive, command: create.command,
            roles: roles.isEmpty ? ["public"] : roles, using: create.using?.expression, withCheck: create.withCheck?.expression
        ))
    }

    mutating func dropPolicy(_ drop: MigrationStatement.DropPolicy) throws(MigrationError) {
        guard let path = policyTable(drop.table) else {
            if drop.ifExists {
                warnings.append("table \"\(drop.table.value)\" does not exist; DROP POLICY IF EXISTS skipped")
                return
            }
            throw MigrationError(at: drop.table.position, "table \"\(drop.table.value)\" does not exist")
        }
        guard schema[keyPath: path].policies.contains(where: { $0.name == drop.name.value }) else {
            if drop.ifExists {
                warnings.append("policy \"\(drop.name.value)\" does not exist on \"\(drop.table.value)\"; DROP POLICY IF EXISTS skipped")
                return
            }
            throw MigrationError(at: drop.name.position, "policy \"\(drop.name.value)\" for table \"\(drop.table.value)\" does not exist")
        }
        schema[keyPath: path].policies.removeAll { $0.name == drop.name.value }
    }
}

/// ALTER PUBLICATION supabase_realtime.
extension MigrationApplier {
    mutating func alterPublication(_ alter: MigrationStatement.AlterPublication) throws(MigrationError) {
        var named: [Int] = []
        for name in alter.tables {
            let index = try tableIndex(name)
            if named.contains(index) {
                throw MigrationError(at: name.position, "table \"\(name.value)\" is named twice")
            }
            named.append(index)
        }
        switch alter.action {
        case .add:
            for (index, name) in zip(named, alter.tables) {
                if schema.tables[index].isPublished {
                    throw MigrationError(at: name.position, "table \"\(name.value)\" is already member of publication \"supabase_realtime\"")
                }
                schema.tables[index].isPublished = true
            }
        case .drop:
            for (index, name) in zip(named, alter.tables) {
                guard schema.tables[index].isPublished else {
                    throw MigrationError(at: name.position, "table \"\(name.value)\" is not part of the publication \"supabase_realtime\"")
                }
                schema.tables[index].isPublished = false
            }
        case .set:
            for index in schema.tables.indices {
                schema.tables[index].isPublished = named.contains(index)
            }
        }
        // A declared webhook reads its table's changes: they stay captured while it exists.
        if let table = schema.tables.first(where: { !$0.isPublished && !$0.webhooks.isEmpty }) {
            throw MigrationError(
                at: alter.position,
                "table \"\(table.name)\" has the webhook \"\(table.webhooks[0].name)\", which reads its changes: drop the trigger first"
            )
        }
    }
}
