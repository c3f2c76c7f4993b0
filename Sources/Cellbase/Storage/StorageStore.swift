import CellbaseSQL

/// One project's Storage metadata: buckets and objects in `_cellbase_storage_*` tables of its own
/// database, read and written with the project's `storage.objects` policies for the requester.
struct StorageStore: Sendable {
    let database: any StorageDatabase
    let ref: String
    let sql: StorageSQL

    init(database: any StorageDatabase, ref: String, schema: Schema) {
        self.database = database
        self.ref = ref
        self.sql = StorageSQL(namespace: database.namespace(for: ref), schema: schema)
    }

    /// Creates the tables if they do not exist. Idempotent, and safe for nodes to race on.
    func prepare() async throws {
        _ = try await database.storageBatch(ref: ref, [sql.serializeSchemaChanges(ref: ref)] + sql.createTables)
    }

    func rows(_ statement: SQLStatement) async throws -> [[String?]] {
        try await database.storageBatch(ref: ref, [statement])[0]
    }

    func bucket(id: String) async throws -> StoredBucket? {
        try await rows(sql.bucket(id: id)).first.map(StoredBucket.init(columns:))
    }

    func buckets(all: Bool) async throws -> [StoredBucket] {
        try await rows(sql.listBuckets(all: all)).map(StoredBucket.init(columns:))
    }

    func object(bucket: String, name: String, access: RESTAccess) async throws -> StoredObject? {
        try await rows(try sql.object(bucket: bucket, name: name, access: access)).first.map(StoredObject.init(columns:))
    }

    /// The version of the object whatever the policies say, or `nil` when there is none.
    func existingVersion(bucket: String, name: String) async throws -> String? {
        try await rows(sql.objectExists(bucket: bucket, name: name)).first?[1] ?? nil
    }

    enum WriteOutcome: Equatable {
        case written(replacedVersion: String?)
        case notFound
        case refused
        case duplicate
    }

    /// Inserts a new object; `.refused` when the INSERT policies do not admit it.
    func insert(_ row: StorageObjectRow, access: RESTAccess) async throws -> WriteOutcome {
        do {
            let inserted = try await rows(try sql.insertObject(row, access: access))
            return inserted.isEmpty ? .refused : .written(replacedVersion: nil)
        } catch StorageDatabaseError.uniqueViolation {
            return .duplicate
        }
    }

    /// Replaces (or renames) the object at `bucket`/`name` with `row`.
    func update(bucket: String, name: String, to row: StorageObjectRow, access: RESTAccess) async throws -> WriteOutcome {
        do {
            let results = try await database.storageBatch(ref: ref, [
                sql.objectExists(bucket: bucket, name: name),
                try sql.updateObject(bucket: bucket, name: name, to: row, access: access),
            ])
            guard let existing = results[0].first else { return .notFound }
            return results[1].isEmpty ? .refused : .written(replacedVersion: existing[1])
        } catch StorageDatabaseError.uniqueViolation {
            return .duplicate
        }
    }

    func delete(bucket: String, names: [String], access: RESTAccess) async throws -> [StoredObject] {
        guard !names.isEmpty else { return [] }
        return try await rows(try sql.deleteObjects(bucket: bucket, names: names, access: access)).map(StoredObject.init(columns:))
    }
}

/// A bucket as the clients receive it.
struct StoredBucket: Sendable {
    var row: StorageBucketRow

    init(columns: [String?]) {
        row = StorageBucketRow(
            id: columns[0] ?? "", name: columns[1] ?? "", owner: columns[2] ?? "",
            isPublic: columns[3] == "1" || columns[3] == "true", fileSizeLimit: columns[4].flatMap { Int($0) },
            allowedMimeTypes: columns[5], createdAt: columns[6] ?? "", updatedAt: columns[7] ?? ""
        )
    }

    var allowedMimeTypes: [String]? {
        guard let text = row.allowedMimeTypes, case .array(let items)? = try? JSONParser.parse(Array(text.utf8), maxDepth: 4) else { return nil }
        return items.compactMap { if case .string(let type) = $0 { type } else { nil } }
    }

    var json: JSONValue {
        .object([
            JSONMember(key: "id", value: .string(row.id)),
            JSONMember(key: "name", value: .string(row.name)),
            JSONMember(key: "owner", value: .string(row.owner)),
            JSONMember(key: "public", value: .bool(row.isPublic)),
            JSONMember(key: "type", value: .string("STANDARD")),
            JSONMember(key: "file_size_limit", value: row.fileSizeLimit.map { .number(String($0)) } ?? .null),
            JSONMember(key: "allowed_mime_types", value: allowedMimeTypes.map { .array($0.map(JSONValue.string)) } ?? .null),
            JSONMember(key: "created_at", value: .string(row.createdAt)),
            JSONMember(key: "updated_at", value: .string(row.updatedAt)),
        ])
    }
}

/// An object's row as read back.
struct StoredObject: Sendable {
    var id: String
    var bucket: String
    var name: String
    var owner: String?
    var metadata: JSONValue
    var userMetadata: JSONValue?
    var version: String
    var createdAt: String
    var updatedAt: String
    var lastAccessedAt: String

    init(columns: [String?]) {
        id = columns[0] ?? ""
        bucket = columns[1] ?? ""
        name = columns[2] ?? ""
        owner = columns[3]
        metadata = columns[4].flatMap { try? JSONParser.parse(Array($0.utf8), maxDepth: 64) } ?? .object([])
        userMetadata = columns[5].flatMap { try? JSONParser.parse(Array($0.utf8), maxDepth: 64) }
        version = columns[6] ?? ""
        createdAt = columns[7] ?? ""
        updatedAt = columns[8] ?? ""
        lastAccessedAt = columns[9] ?? ""
    }

    var size: Int { metadata["size"].flatMap { if case .number(let text) = $0 { Int(text) } else { nil } } ?? 0 }
    var mimeType: String { metadata["mimetype"].flatMap { if case .string(let text) = $0 { text } else { nil } } ?? "application/octet-stream" }
    var eTag: String { metadata["eTag"].flatMap { if case .string(let text) = $0 { text } else { nil } } ?? "\"\(version)\"" }
    var cacheControl: String { metadata["cacheControl"].flatMap { if case .string(let text) = $0 { text } else { nil } } ?? "no-cache" }

    /// The entry Supabase returns for removed objects and `info`.
    var json: JSONValue {
        .object([
            JSONMember(key: "id", value: .string(id)),
            JSONMember(key: "bucket_id", value: .string(bucket)),
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "owner", value: owner.map(JSONValue.string) ?? .null),
            JSONMember(key: "owner_id", value: owner.map(JSONValue.string) ?? .null),
            JSONMember(key: "version", value: .string(version)),
            JSONMember(key: "size", value: .number(String(size))),
            JSONMember(key: "content_type", value: .string(mimeType)),
            JSONMember(key: "cache_control", value: .string(cacheControl)),
            JSONMember(key: "etag", value: .string(eTag)),
            JSONMember(key: "metadata", value: metadata),
            JSONMember(key: "user_metadata", value: userMetadata ?? .null),
            JSONMember(key: "created_at", value: .string(createdAt)),
            JSONMember(key: "updated_at", value: .string(updatedAt)),
            JSONMember(key: "last_accessed_at", value: .string(lastAccessedAt)),
        ])
    }
}
