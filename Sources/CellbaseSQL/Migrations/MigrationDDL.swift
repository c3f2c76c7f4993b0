/// Turns schema changes into DDL for one namespace: native types on PostgreSQL, the storage of
/// docs/TYPES.md on SQLite. Every identifier is quoted and every literal escaped.
struct MigrationDDL {
    var namespace: SQLNamespace

    private var isSQLite: Bool { namespace.dialect == .sqlite }

    func statements(for change: MigrationChange) -> [String] {
        switch change {
        case .createTable(let table):
            return [createTable(table)]
        case .dropTables(let tables):
            if isSQLite {
                return tables.map { "DROP TABLE \(namespace.qualified($0.name))" }
            }
            return ["DROP TABLE " + tables.map { namespace.qualified($0.name) }.joined(separator: ", ")]
        case .addColumn(let table, let column, let isUnique, let foreignKey, let checks):
            var definition = "ALTER TABLE \(namespace.qualified(table)) ADD COLUMN \(columnDefinition(column, inlinePrimaryKey: false))"
            if isUnique, !isSQLite { definition += " UNIQUE" }
            if let foreignKey { definition += " " + references(foreignKey) }
            for check in checks { definition += " " + self.check(check, of: table) }
            guard isUnique, isSQLite else { return [definition] }
            // SQLite cannot add a UNIQUE column; an index named like PostgreSQL's constraint does the same job.
            return [definition, "CREATE UNIQUE INDEX \(SQLNamespace.quote("\(table)_\(column.name)_key")) ON \(namespace.qualified(table)) (\(SQLNamespace.quote(column.name)))"]
        case .dropColumn(let table, let column, let indexes):
            let drop = "ALTER TABLE \(namespace.qualified(table)) DROP COLUMN \(SQLNamespace.quote(column))"
            // SQLite refuses to drop an indexed column; PostgreSQL drops the indexes itself.
            return isSQLite ? indexes.map(dropIndex) + [drop] : [drop]
        case .renameColumn(let table, let from, let to):
            return ["ALTER TABLE \(namespace.qualified(table)) RENAME COLUMN \(SQLNamespace.quote(from)) TO \(SQLNamespace.quote(to))"]
        case .renameTable(let from, let to):
            return ["ALTER TABLE \(namespace.qualified(from)) RENAME TO \(SQLNamespace.quote(to))"]
        case .createIndex(let index, let descending):
            let columns = zip(index.columns, descending).map { SQLNamespace.quote($0) + ($1 ? " DESC" : "") }
            return ["CREATE \(index.isUnique ? "UNIQUE " : "")INDEX \(SQLNamespace.quote(index.name)) ON \(namespace.qualified(index.table)) (\(columns.joined(separator: ", ")))"]
        case .dropIndex(let index):
            return [dropIndex(index)]
        }
    }

    private func dropIndex(_ index: Index) -> String {
        "DROP INDEX \(namespace.qualified(index.name))"
    }

    // MARK: Tables

    private func createTable(_ table: Table) -> String {
        // SQLite auto-numbers only a column declared `INTEGER PRIMARY KEY AUTOINCREMENT` inline.
        let inlineKey = isSQLite && table.primaryKey.count == 1 && table.column(named: table.primaryKey[0])?.identity != nil
        var parts = table.columns.map { columnDefinition($0, inlinePrimaryKey: inlineKey && $0.name == table.primaryKey[0]) }
        if !table.primaryKey.isEmpty, !inlineKey {
            parts.append("PRIMARY KEY (\(columnList(table.primaryKey)))")
        }
        for unique in table.uniqueConstraints {
            parts.append("UNIQUE (\(columnList(unique)))")
        }
        for foreignKey in table.foreignKeys {
            parts.append("FOREIGN KEY (\(columnList(foreignKey.columns))) " + references(foreignKey))
        }
        for check in table.checks {
            parts.append(self.check(check, of: table.name))
        }
        return "CREATE TABLE \(namespace.qualified(table.name)) (\(parts.joined(separator: ", ")))"
    }

    private func columnList(_ columns: [String]) -> String {
        columns.map(SQLNamespace.quote).joined(separator: ", ")
    }

    private func references(_ foreignKey: ForeignKey) -> String {
        var clause = "REFERENCES \(namespace.qualified(foreignKey.referencedTable)) (\(columnList(foreignKey.referencedColumns)))"
        if foreignKey.onDelete != .noAction {
            clause += " ON DELETE \(foreignKey.onDelete.rawValue)"
        }
        return clause
    }

    private func check(_ check: CheckConstraint, of table: String) -> String {
        let constraint = check.name.map { "CONSTRAINT \(SQLNamespace.quote($0)) " } ?? ""
        let expression = ExpressionRenderer(namespace: namespace).render(check.expression, table: table)
        return constraint + "CHECK (\(expression.sql(column: SQLNamespace.quote) { _ in preconditionFailure("CHECK constraints read no claims") }))"
    }

    private func columnDefinition(_ column: Column, inlinePrimaryKey: Bool) -> String {
        let name = SQLNamespace.quote(column.name)
        var definition = name + " " + (isSQLite ? Self.sqliteType(column.type) : column.type.postgresName)
        if inlinePrimaryKey {
            definition += " PRIMARY KEY AUTOINCREMENT"
        } else if let identity = column.identity, !isSQLite {
            definition += identity == .always ? " GENERATED ALWAYS AS IDENTITY" : " GENERATED BY DEFAULT AS IDENTITY"
        }
        if !column.isNullable {
            definition += " NOT NULL"
        }
        if let value = column.defaultValue {
            definition += " DEFAULT " + defaultSQL(value, type: column.type)
        }
        if isSQLite {
            // What PostgreSQL's types enforce and SQLite's storage classes do not.
            switch column.type {
            case .boolean: definition += " CHECK (\(name) IN (0,1))"
            case .varchar(let length?): definition += " CHECK (length(\(name)) <= \(length))"
            default: break
            }
        }
        return definition
    }

    static func sqliteType(_ type: ColumnType) -> String {
        switch type {
        case .smallint, .integer, .bigint, .boolean: "INTEGER"
        case .real, .doublePrecision: "REAL"
        case .numeric: "NUMERIC"
        case .bytea: "BLOB"
        case .text, .varchar, .date, .timestamp, .timestamptz, .uuid, .json, .jsonb, .array: "TEXT"
        }
    }

    // MARK: Defaults

    /// Now as canonical text: `%f` gives milliseconds, trailing zeros of the fraction (then a bare
    /// point) are trimmed, as PostgreSQL prints timestamps.
    static let sqliteNow = "rtrim(rtrim(strftime('%Y-%m-%dT%H:%M:%f','now'),'0'),'.')"

    /// A random version-4 UUID in lowercase 8-4-4-4-12 form: the version nibble is fixed to 4 and
    /// the variant nibble drawn from 8, 9, a, b.
    static let sqliteRandomUUID = "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)),2) || '-' || substr('89ab',1+(random()&3),1) || substr(hex(randomblob(2)),2) || '-' || hex(randomblob(6)))"

    private func defaultSQL(_ value: DefaultValue, type: ColumnType) -> String {
        switch value {
        case .null: return "NULL"
        case .number(let text): return text
        case .bool(let flag): return isSQLite ? (flag ? "1" : "0") : (flag ? "true" : "false")
        case .now:
            guard isSQLite else { return "now()" }
            return type == .timestamptz ? "(\(Self.sqliteNow) || '+00:00')" : "(\(Self.sqliteNow))"
        case .currentDate: return isSQLite ? "(date('now'))" : "CURRENT_DATE"
        case .randomUUID: return isSQLite ? "(\(Self.sqliteRandomUUID))" : "gen_random_uuid()"
        case .string(let text):
            guard isSQLite else { return Self.literal(text) }
            switch type {
            case .bytea: return "X'\(text.dropFirst(2))'"
            case .array: return "'[]'"
            default: return Self.literal(text)
            }
        }
    }

    /// `'text'` with quotes doubled.
    static func literal(_ text: String) -> String {
        var quoted = "'"
        for character in text {
            if character == "'" { quoted.append("'") }
            quoted.append(character)
        }
        return quoted + "'"
    }
}
