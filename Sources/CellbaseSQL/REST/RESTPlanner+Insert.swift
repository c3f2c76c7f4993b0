/// POST: insert and upsert.
extension RESTPlanner {
    func planInsert(table: Table, query: RESTQuery, preferences: RESTPreferences, body: [UInt8]?, security: RowSecurity?, responder: RESTResponder) throws(RESTError) -> RESTPlan {
        let rows = try RESTBody.rows(body, maxDepth: limits.maxJSONDepth)
        var responder = responder
        var returning = returning(table: table, query: query, preferences: preferences, responder: &responder)
        if rows.isEmpty { return plan([], returning: returning, responder: responder) }
        returning.check = try security?.insertCheck(returning: returning.items != nil)

        let columns = try insertColumns(table: table, query: query, rows: rows)
        let target = try conflictTarget(table: table, query: query, preferences: preferences)

        // nil is DEFAULT: a key missing from an object under `columns=` with `Prefer: missing=default`.
        var cells: [[SQLValue?]] = []
        cells.reserveCapacity(rows.count)
        for row in rows {
            var values: [SQLValue?] = []
            values.reserveCapacity(columns.count)
            for column in columns {
                if let value = row.values[column.name] {
                    values.append(try ValueCoercion.bind(value, to: column.type, column: column.name, dialect: namespace.dialect))
                } else {
                    values.append(preferences.missingDefault ? nil : .null)
                }
            }
            cells.append(values)
        }

        var context = InsertContext(table: table, columns: columns, target: target, resolution: preferences.resolution, returning: returning)
        if let security, target != nil, preferences.resolution == .mergeDuplicates {
            context.conflictPolicies = (try security.updatable(), try security.updateCheck())
            responder.upsertRows = rows.count
        }
        let claimBinds = security == nil ? 0 : PolicyClaim.allCases.count
        let statements = switch namespace.dialect {
        case .postgres: [try postgresInsert(context, cells: cells)]
        case .sqlite: try sqliteInserts(context, cells: cells, returningBinds: (returning.items.map(Self.pathCount) ?? 0) + claimBinds)
        }
        return plan(statements, returning: returning, responder: responder)
    }

    struct InsertContext {
        var table: Table
        var columns: [Column]
        var target: [String]?
        var resolution: RESTPreferences.Resolution?
        var returning: Returning
        /// Under row-level security, for `merge-duplicates`: what the existing row must pass to be
        /// updated and what the row it becomes must pass.
        var conflictPolicies: (existing: SQLTemplate, updated: SQLTemplate)?
    }

    /// With `columns=`, exactly those columns; otherwise the keys of the objects, which must all
    /// be the same. A `generated always` identity never takes a value.
    func insertColumns(table: Table, query: RESTQuery, rows: [RESTBody.Row]) throws(RESTError) -> [Column] {
        var columns: [Column] = []
        if let names = query.columns {
            var seen = Set<String>()
            for name in names where seen.insert(name).inserted {
                columns.append(try RESTBody.column(name, in: table))
            }
        } else {
            let keys = Set(rows[0].keys)
            for row in rows.dropFirst() where Set(row.keys) != keys {
                throw RESTError(status: 400, code: "PGRST102", message: "All object keys must match")
            }
            for key in rows[0].keys { columns.append(try RESTBody.column(key, in: table)) }
        }
        for column in columns where column.identity == .always && rows.contains(where: { $0.values[column.name] != nil }) {
            throw RESTError(
                status: 400, code: "428C9",
                message: "cannot insert a non-DEFAULT value into column \"\(column.name)\"",
                details: "Column \"\(column.name)\" is an identity column defined as GENERATED ALWAYS.",
                hint: "Use OVERRIDING SYSTEM VALUE to override."
            )
        }
        return columns.filter { $0.identity != .always }
    }

    /// The upsert's conflict target: `on_conflict` or the primary key, which must be exactly the
    /// primary key, a UNIQUE constraint or a unique index. `nil` when not upserting.
    func conflictTarget(table: Table, query: RESTQuery, preferences: RESTPreferences) throws(RESTError) -> [String]? {
        guard preferences.resolution != nil else { return nil }
        let target = query.onConflict ?? table.primaryKey
        for name in target where table.column(named: name) == nil {
            throw RESTError(status: 400, code: "42703", message: "column \(table.name).\(name) does not exist")
        }
        let wanted = Set(target)
        let uniqueIndexes = schema.indexes.filter { $0.table == table.name && $0.isUnique }.map(\.columns)
        let candidates = [table.primaryKey] + table.uniqueConstraints + uniqueIndexes
        guard !wanted.isEmpty, candidates.contains(where: { !$0.isEmpty && Set($0) == wanted }) else {
            throw RESTError(status: 400, code: "42P10", message: "there is no unique or exclusion constraint matching the ON CONFLICT specification")
        }
        return target
    }

    /// ` ON CONFLICT (...) DO UPDATE SET c = excluded.c` for every inserted column outside the
    /// target, or ` DO NOTHING`. The same text on both dialects.
    ///
    /// Under row-level security the update happens only where the policies admit it, and every
    /// conflicting row is updated (the target alone, when nothing else is given): so each row
    /// comes back, and one the policies refuse is missing from the count the responder checks.
    func conflictClause(_ context: InsertContext, inserted: [String], builder: inout RESTSQLBuilder) -> String {
        guard let target = context.target, let resolution = context.resolution else { return "" }
        let clause = " ON CONFLICT (" + target.map(SQLNamespace.quote).joined(separator: ", ") + ")"
        var updated = inserted.filter { !target.contains($0) }
        if updated.isEmpty, context.conflictPolicies != nil { updated = target }
        if resolution == .ignoreDuplicates || updated.isEmpty { return clause + " DO NOTHING" }
        let update = clause + " DO UPDATE SET " + updated.map { "\(SQLNamespace.quote($0)) = excluded.\(SQLNamespace.quote($0))" }.joined(separator: ", ")
        guard let policies = context.conflictPolicies else { return update }
        let existingRow = RESTSQLBuilder.columns(of: context.table.name)
        let existing = builder.fill(policies.existing, for: access, row: existingRow)
        let new = builder.fill(policies.updated, for: access) { updated.contains($0) ? "excluded." + SQLNamespace.quote($0) : existingRow($0) }
        return update + " WHERE (\(existing)) AND (\(new))"
    }

    /// One statement with every row; `DEFAULT` stands for missing values.
    func postgresInsert(_ context: InsertContext, cells: [[SQLValue?]]) throws(RESTError) -> SQLStatement {
        var builder = RESTSQLBuilder(table: context.table, namespace: namespace)
        let names: [String]
        var tuples: [String] = []
        tuples.reserveCapacity(cells.count)
        if context.columns.isEmpty {
            // Objects without keys: every column takes its default.
            names = context.table.columns.prefix(1).map(\.name)
            tuples = Array(repeating: "(DEFAULT)", count: cells.count)
        } else {
            names = context.columns.map(\.name)
            for row in cells {
                var values: [String] = []
                for (column, cell) in zip(context.columns, row) {
                    values.append(cell.map { builder.bind($0, as: column.type) } ?? "DEFAULT")
                }
                tuples.append("(" + values.joined(separator: ", ") + ")")
            }
        }
        let statement = "INSERT INTO \(builder.qualifiedTable) (\(names.map(SQLNamespace.quote).joined(separator: ", "))) VALUES "
            + tuples.joined(separator: ", ") + conflictClause(context, inserted: context.columns.map(\.name), builder: &builder)
        let sql = try finish(statement, builder: &builder, returning: context.returning)
        guard builder.binds.count <= Self.maxPostgresBinds else {
            throw RESTError(
                status: 413, code: "54000",
                message: "too many values in one request",
                details: "\(builder.binds.count) values given; at most \(Self.maxPostgresBinds) fit in one statement",
                hint: "Insert the rows in smaller batches."
            )
        }
        return SQLStatement(sql, binds: builder.binds)
    }

    /// SQLite has no `DEFAULT` inside VALUES: consecutive rows that give the same columns share
    /// statements (keeping the rows' order), each statement under the bind limit.
    func sqliteInserts(_ context: InsertContext, cells: [[SQLValue?]], returningBinds: Int) throws(RESTError) -> [SQLStatement] {
        var statements: [SQLStatement] = []
        var start = 0
        while start < cells.count {
            let given = cells[start].indices.filter { cells[start][$0] != nil }
            var end = start + 1
            while end < cells.count, cells[end].indices.filter({ cells[end][$0] != nil }) == given { end += 1 }
            let columns = given.map { context.columns[$0] }
            let rowsPerStatement = max(1, (Self.sqliteBindCeiling - 1 - returningBinds) / max(1, columns.count))
            var chunkStart = start
            while chunkStart < end {
                let chunkEnd = columns.isEmpty ? chunkStart + 1 : min(end, chunkStart + rowsPerStatement)
                var builder = RESTSQLBuilder(table: context.table, namespace: namespace)
                var statement = "INSERT INTO \(builder.qualifiedTable)"
                if columns.isEmpty {
                    statement += " DEFAULT VALUES"
                } else {
                    var tuples: [String] = []
                    for row in cells[chunkStart..<chunkEnd] {
                        tuples.append("(" + given.map { builder.bind(row[$0] ?? .null, as: context.columns[$0].type) }.joined(separator: ", ") + ")")
                    }
                    statement += " (\(columns.map { SQLNamespace.quote($0.name) }.joined(separator: ", "))) VALUES "
                        + tuples.joined(separator: ", ") + conflictClause(context, inserted: columns.map(\.name), builder: &builder)
                }
                statements.append(SQLStatement(try finish(statement, builder: &builder, returning: context.returning), binds: builder.binds))
                chunkStart = chunkEnd
            }
            start = end
        }
        return statements
    }

    /// Binds a selection adds on SQLite: one JSON path per field with a path.
    static func pathCount(_ items: [RESTSelectItem]) -> Int {
        items.reduce(0) { count, item in
            if case .field(let field, _, _) = item, !field.path.isEmpty { return count + 1 }
            return count
        }
    }
}
