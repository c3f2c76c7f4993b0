/// The SQL of Storage's metadata, for one project's namespace: its two tables, and every read and
/// write of `storage.objects` held to the project's policies for the requesting role, compiled
/// by the same compiler as table policies. Every value is bound and every selected cell is text.
public struct StorageSQL: Sendable {
    public let namespace: SQLNamespace
    let objectsTable: Table
    let policies: CompiledPolicies
    let buckets: String
    let objects: String

    /// `objectPolicies`: the catalog's `storage.objects` policies (`Schema.storageObjects`).
    public init(namespace: SQLNamespace, schema: Schema) {
        self.namespace = namespace
        self.objectsTable = schema.storageObjects
        self.policies = CompiledPolicies(compiling: PolicyCompiler(schema: schema, namespace: namespace))
        self.buckets = namespace.qualified(StorageObjects.bucketsTable)
        self.objects = namespace.qualified(StorageObjects.objectsTable)
    }

    private var isPostgres: Bool { namespace.dialect == .postgres }

    /// Column `name` read as text.
    private func text(_ name: String, of qualifier: String? = nil) -> String {
        let column = (qualifier.map { SQLNamespace.quote($0) + "." } ?? "") + SQLNamespace.quote(name)
        return isPostgres ? column + "::text" : column
    }

    // MARK: tables

    /// Taken first when the tables are created, as Auth does: concurrent CREATE TABLE IF NOT
    /// EXISTS on PostgreSQL can still collide on the catalog.
    public func serializeSchemaChanges(ref: String) -> SQLStatement {
        isPostgres
            ? SQLStatement("SELECT pg_advisory_xact_lock(hashtext($1))", binds: [.text("cellbase:storage-tables:" + ref)])
            : SQLStatement("SELECT NULL")
    }

    public var createTables: [SQLStatement] {
        let (uuid, json, flag) = isPostgres ? ("uuid", "jsonb", "boolean") : ("text", "text", "integer")
        return [
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(buckets) (
                    id text PRIMARY KEY,
                    name text NOT NULL,
                    owner text NOT NULL,
                    public \(flag) NOT NULL,
                    file_size_limit bigint,
                    allowed_mime_types text,
                    created_at text NOT NULL,
                    updated_at text NOT NULL
                )
                """),
            SQLStatement("""
                CREATE TABLE IF NOT EXISTS \(objects) (
                    id \(uuid) PRIMARY KEY,
                    bucket_id text NOT NULL REFERENCES \(buckets) (id),
                    name text NOT NULL,
                    owner \(uuid),
                    owner_id text,
                    metadata \(json),
                    user_metadata \(json),
                    version text NOT NULL,
                    created_at text NOT NULL,
                    updated_at text NOT NULL,
                    last_accessed_at text NOT NULL,
                    UNIQUE (bucket_id, name)
                )
                """),
        ]
    }

    // MARK: buckets

    public static let bucketColumns = ["id", "name", "owner", "public", "file_size_limit", "allowed_mime_types", "created_at", "updated_at"]

    private var bucketSelect: String {
        "SELECT " + Self.bucketColumns.map { text($0) }.joined(separator: ", ") + " FROM \(buckets)"
    }

    /// Public buckets only, unless `all` (the service role).
    public func listBuckets(all: Bool) -> SQLStatement {
        SQLStatement(bucketSelect + (all ? "" : " WHERE public = \(flag(true))") + " ORDER BY id")
    }

    public func bucket(id: String) -> SQLStatement {
        SQLStatement(bucketSelect + " WHERE id = \(p(1))", binds: [.text(id)])
    }

    private func flag(_ value: Bool) -> String {
        isPostgres ? (value ? "true" : "false") : (value ? "1" : "0")
    }

    private func p(_ index: Int) -> String { namespace.placeholder(index) }

    public func insertBucket(_ bucket: StorageBucketRow) -> SQLStatement {
        SQLStatement(
            "INSERT INTO \(buckets) (id, name, owner, public, file_size_limit, allowed_mime_types, created_at, updated_at) "
                + "VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), \(p(6)), \(p(7)), \(p(7)))",
            binds: [.text(bucket.id), .text(bucket.name), .text(bucket.owner), .bool(bucket.isPublic),
                    bucket.fileSizeLimit.map { .integer(Int64($0)) } ?? .null, bucket.allowedMimeTypes.map { .text($0) } ?? .null, .text(bucket.createdAt)]
        )
    }

    public func updateBucket(_ bucket: StorageBucketRow) -> SQLStatement {
        SQLStatement(
            "UPDATE \(buckets) SET public = \(p(2)), file_size_limit = \(p(3)), allowed_mime_types = \(p(4)), updated_at = \(p(5)) WHERE id = \(p(1))",
            binds: [.text(bucket.id), .bool(bucket.isPublic), bucket.fileSizeLimit.map { .integer(Int64($0)) } ?? .null,
                    bucket.allowedMimeTypes.map { .text($0) } ?? .null, .text(bucket.updatedAt)]
        )
    }

    /// Deletes the bucket only if it holds no object; returns its id when it did.
    public func deleteEmptyBucket(id: String) -> SQLStatement {
        SQLStatement(
            "DELETE FROM \(buckets) WHERE id = \(p(1)) AND NOT EXISTS (SELECT 1 FROM \(objects) WHERE bucket_id = \(p(1))) RETURNING id",
            binds: [.text(id)]
        )
    }

    public func countObjects(bucket: String) -> SQLStatement {
        SQLStatement("SELECT \(isPostgres ? "count(*)::text" : "count(*)") FROM \(objects) WHERE bucket_id = \(p(1))", binds: [.text(bucket)])
    }

    /// Removes every object of the bucket (the service role empties buckets); returns their versions.
    public func emptyBucket(id: String) -> SQLStatement {
        SQLStatement("DELETE FROM \(objects) WHERE bucket_id = \(p(1)) RETURNING version", binds: [.text(id)])
    }

    // MARK: objects

    public static let objectColumns = ["id", "bucket_id", "name", "owner", "metadata", "user_metadata", "version", "created_at", "updated_at", "last_accessed_at"]

    private func objectSelectList(_ qualifier: String?) -> String {
        Self.objectColumns.map { text($0, of: qualifier) }.joined(separator: ", ")
    }

    private func rowSecurity(_ access: RESTAccess) -> RowSecurity? {
        RowSecurity(table: objectsTable, access: access, policies: policies)
    }

    /// The object, if `access` may read it.
    public func object(bucket: String, name: String, access: RESTAccess) throws(RESTError) -> SQLStatement {
        var builder = RESTSQLBuilder(table: objectsTable, namespace: namespace)
        let bucketValue = builder.bindText(bucket)
        let nameValue = builder.bindText(name)
        var sql = "SELECT \(objectSelectList("o")) FROM \(objects) AS \"o\" WHERE \"o\".bucket_id = \(bucketValue) AND \"o\".name = \(nameValue)"
        if let security = rowSecurity(access) {
            sql += " AND (" + builder.fill(try security.readable(), for: access, row: RESTSQLBuilder.columns(of: "o")) + ")"
        }
        return SQLStatement(sql, binds: builder.binds)
    }

    /// The object whatever the policies say: to tell "not there" from "not allowed".
    public func objectExists(bucket: String, name: String) -> SQLStatement {
        SQLStatement("SELECT \(text("id")), version FROM \(objects) WHERE bucket_id = \(p(1)) AND name = \(p(2))", binds: [.text(bucket), .text(name)])
    }

    /// Inserts the row if the INSERT policies admit it; returns its id then, nothing otherwise.
    public func insertObject(_ row: StorageObjectRow, access: RESTAccess) throws(RESTError) -> SQLStatement {
        var builder = RESTSQLBuilder(table: objectsTable, namespace: namespace)
        let values = bindValues(row, builder: &builder)
        var sql = "INSERT INTO \(objects) (" + values.map { SQLNamespace.quote($0.column) }.joined(separator: ", ") + ") SELECT "
            + values.map(\.placeholder).joined(separator: ", ")
        if let security = rowSecurity(access) {
            let placeholders = Dictionary(uniqueKeysWithValues: values.map { ($0.column, $0.placeholder) })
            sql += " WHERE " + builder.fill(try security.insertCheck(returning: false), for: access) { placeholders[$0] ?? "NULL" }
        }
        return SQLStatement(sql + " RETURNING " + text("id"), binds: builder.binds)
    }

    /// Replaces the columns of an existing object (renames it too, when `row` has another bucket
    /// or name) if the UPDATE policies admit the old row and the new one; returns its id then.
    public func updateObject(bucket: String, name: String, to row: StorageObjectRow, access: RESTAccess) throws(RESTError) -> SQLStatement {
        var builder = RESTSQLBuilder(table: objectsTable, namespace: namespace)
        let values = bindValues(row, builder: &builder).filter { $0.column != "id" && $0.column != "created_at" }
        let bucketValue = builder.bindText(bucket)
        let nameValue = builder.bindText(name)
        var sql = "UPDATE \(objects) AS \"o\" SET " + values.map { SQLNamespace.quote($0.column) + " = " + $0.placeholder }.joined(separator: ", ")
        sql += " WHERE \"o\".bucket_id = \(bucketValue) AND \"o\".name = \(nameValue)"
        if let security = rowSecurity(access) {
            let placeholders = Dictionary(uniqueKeysWithValues: values.map { ($0.column, $0.placeholder) })
            sql += " AND (" + builder.fill(try security.updatable(), for: access, row: RESTSQLBuilder.columns(of: "o")) + ")"
            sql += " AND (" + builder.fill(try security.updateCheck(), for: access) { placeholders[$0] ?? SQLNamespace.quote("o") + "." + SQLNamespace.quote($0) } + ")"
        }
        return SQLStatement(sql + " RETURNING " + text("id"), binds: builder.binds)
    }

    /// Deletes the named objects the DELETE policies admit; returns the deleted rows.
    public func deleteObjects(bucket: String, names: [String], access: RESTAccess) throws(RESTError) -> SQLStatement {
        var builder = RESTSQLBuilder(table: objectsTable, namespace: namespace)
        let bucketValue = builder.bindText(bucket)
        let nameValues = names.map { builder.bindText($0) }
        var sql = "DELETE FROM \(objects) AS \"o\" WHERE \"o\".bucket_id = \(bucketValue) AND \"o\".name IN (" + nameValues.joined(separator: ", ") + ")"
        if let security = rowSecurity(access) {
            sql += " AND (" + builder.fill(try security.deletable(), for: access, row: RESTSQLBuilder.columns(of: "o")) + ")"
        }
        return SQLStatement(sql + " RETURNING " + objectSelectList(nil), binds: builder.binds)
    }

    private func bindValues(_ row: StorageObjectRow, builder: inout RESTSQLBuilder) -> [(column: String, placeholder: String)] {
        func value(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }
        let columns: [(String, SQLValue, ColumnType)] = [
            ("id", .text(row.id), .uuid),
            ("bucket_id", .text(row.bucket), .text),
            ("name", .text(row.name), .text),
            ("owner", value(row.owner), .uuid),
            ("owner_id", value(row.owner), .text),
            ("metadata", .text(row.metadata), .jsonb),
            ("user_metadata", value(row.userMetadata), .jsonb),
            ("version", .text(row.version), .text),
            ("created_at", .text(row.createdAt), .text),
            ("updated_at", .text(row.updatedAt), .text),
            ("last_accessed_at", .text(row.updatedAt), .text),
        ]
        return columns.map { (column, value, type) in (column, builder.bind(value, as: type)) }
    }

    // MARK: listing

    /// One level of a bucket, as Supabase lists it: the objects right under the prefix and the
    /// folders (first segments of deeper names) as entries of their own, those `access` may read.
    /// Each row: entry, is folder (`1`/`0`), then id, created_at, updated_at, last_accessed_at and
    /// metadata, NULL for folders.
    public func list(bucket: String, _ listing: StorageListing, access: RESTAccess) throws(RESTError) -> SQLStatement {
        var builder = RESTSQLBuilder(table: objectsTable, namespace: namespace)
        let folder = listing.prefix.isEmpty ? "" : listing.prefix + "/"
        let bucketValue = builder.bindText(bucket)
        let folderValue = builder.bindText(folder)
        // Lengths in characters, as substr counts them on both dialects.
        let characters = folder.count
        let position = isPostgres ? "strpos(rest, '/')" : "instr(rest, '/')"
        var visible = "SELECT substr(\"o\".name, \(characters + 1)) AS rest, \(text("id", of: "o")) AS id, \"o\".created_at, \"o\".updated_at, "
            + "\"o\".last_accessed_at, \(text("metadata", of: "o")) AS metadata FROM \(objects) AS \"o\" "
            + "WHERE \"o\".bucket_id = \(bucketValue) AND substr(\"o\".name, 1, \(characters)) = \(folderValue)"
        if let security = rowSecurity(access) {
            visible += " AND (" + builder.fill(try security.readable(), for: access, row: RESTSQLBuilder.columns(of: "o")) + ")"
        }
        var entries = "SELECT CASE WHEN \(position) > 0 THEN substr(rest, 1, \(position) - 1) ELSE rest END AS entry, "
            + "CASE WHEN \(position) > 0 THEN 1 ELSE 0 END AS is_folder, id, created_at, updated_at, last_accessed_at, metadata FROM visible"
        if let search = listing.search, !search.isEmpty {
            let searchValue = builder.bindText(search.lowercased())
            entries = "SELECT * FROM (\(entries)) AS e WHERE lower(substr(entry, 1, \(search.count))) = \(searchValue)"
        }
        let direction = listing.ascending ? "ASC" : "DESC"
        let byName = isPostgres ? "entry COLLATE \"C\" \(direction)" : "entry \(direction)"
        let order = listing.sortColumn == .name
            ? byName
            : "is_folder DESC, MAX(\(listing.sortColumn.rawValue)) \(direction), " + (isPostgres ? "entry COLLATE \"C\"" : "entry")
        let isFolder = isPostgres ? "is_folder::text" : "is_folder"
        let sql = "WITH visible AS (\(visible)), entries AS (\(entries)) "
            + "SELECT entry, \(isFolder), MAX(id), MAX(created_at), MAX(updated_at), MAX(last_accessed_at), MAX(metadata) "
            + "FROM entries GROUP BY entry, is_folder ORDER BY \(order) LIMIT \(listing.limit) OFFSET \(listing.offset)"
        return SQLStatement(sql, binds: builder.binds)
    }
}

/// A bucket's row.
public struct StorageBucketRow: Sendable, Hashable {
    public var id: String
    public var name: String
    public var owner: String
    public var isPublic: Bool
    public var fileSizeLimit: Int?
    /// A JSON array of MIME types (patterns such as `image/*` allowed), or `nil` for any.
    public var allowedMimeTypes: String?
    public var createdAt: String
    public var updatedAt: String

    public init(id: String, name: String, owner: String, isPublic: Bool, fileSizeLimit: Int?, allowedMimeTypes: String?, createdAt: String, updatedAt: String) {
        self.id = id
        self.name = name
        self.owner = owner
        self.isPublic = isPublic
        self.fileSizeLimit = fileSizeLimit
        self.allowedMimeTypes = allowedMimeTypes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An object's row as it is written.
public struct StorageObjectRow: Sendable, Hashable {
    public var id: String
    public var bucket: String
    public var name: String
    /// The uploading user's id; `nil` for the API keys.
    public var owner: String?
    /// JSON: size, mimetype, eTag, cacheControl, lastModified.
    public var metadata: String
    public var userMetadata: String?
    /// The stored file's id in the backend.
    public var version: String
    public var createdAt: String
    public var updatedAt: String

    public init(id: String, bucket: String, name: String, owner: String?, metadata: String, userMetadata: String?, version: String, createdAt: String, updatedAt: String) {
        self.id = id
        self.bucket = bucket
        self.name = name
        self.owner = owner
        self.metadata = metadata
        self.userMetadata = userMetadata
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
