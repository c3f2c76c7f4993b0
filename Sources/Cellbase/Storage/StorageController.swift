import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `/storage/v1`: the Supabase Storage API over each project's buckets and objects.
///
/// Metadata lives in the project's database and is read and written under its
/// `storage.objects` policies; content lives in an `ObjectContents` backend. Routes under the API key
/// run as the request's role; signed URLs and public buckets are read without one.
final class StorageController: Sendable {
    let projects: ProjectService
    let directory: ProjectDirectory
    let databases: [String: any StorageDatabase]
    let files: any ObjectContents
    let configuration: StorageConfiguration
    let metrics: StorageMetrics?
    /// Projects whose Storage tables exist, so each node creates them once per project.
    private let prepared = Mutex<Set<String>>([])

    init(projects: ProjectService, directory: ProjectDirectory, databases: [String: any StorageDatabase], files: any ObjectContents, configuration: StorageConfiguration, metrics: StorageMetrics?) {
        self.projects = projects
        self.directory = directory
        self.databases = databases
        self.files = files
        self.configuration = configuration
        self.metrics = metrics
    }

    /// `keyed`: routes that need the API key; `open`: signed and public reads, which do not.
    func addRoutes(keyed: RouterGroup<ProjectRequestContext>, open: RouterGroup<CellbaseRequestContext>) {
        keyed.get("bucket") { _, context in try await self.listBuckets(context) }
        keyed.post("bucket") { request, context in try await self.createBucket(request, context) }
        keyed.get("bucket/{id}") { _, context in try await self.getBucket(context) }
        keyed.put("bucket/{id}") { request, context in try await self.updateBucket(request, context) }
        keyed.post("bucket/{id}/empty") { _, context in try await self.emptyBucket(context) }
        keyed.delete("bucket/{id}") { _, context in try await self.deleteBucket(context) }

        keyed.post("object/list/{bucket}") { request, context in try await self.list(request, context) }
        keyed.post("object/move") { request, context in try await self.move(request, context) }
        keyed.post("object/copy") { request, context in try await self.copy(request, context) }
        keyed.post("object/sign/{bucket}") { request, context in try await self.signMany(request, context) }
        keyed.post("object/sign/{bucket}/**") { request, context in try await self.sign(request, context) }
        keyed.post("object/upload/sign/{bucket}/**") { request, context in try await self.signUpload(request, context) }
        keyed.get("object/info/{bucket}/**") { request, context in try await self.info(request, context) }
        keyed.get("object/authenticated/{bucket}/**") { request, context in try await self.download(request, context) }
        keyed.delete("object/{bucket}") { request, context in try await self.remove(request, context) }
        keyed.post("object/{bucket}/**") { request, context in try await self.upload(request, context, replacing: false) }
        keyed.put("object/{bucket}/**") { request, context in try await self.upload(request, context, replacing: true) }
        keyed.get("object/{bucket}/**") { request, context in try await self.download(request, context) }
        keyed.head("object/{bucket}/**") { request, context in try await self.download(request, context) }

        open.get("object/sign/{bucket}/**") { request, context in try await self.downloadSigned(request, context) }
        open.put("object/upload/sign/{bucket}/**") { request, context in try await self.uploadSigned(request, context) }
        open.get("object/public/{bucket}/**") { request, context in try await self.downloadPublic(request, context) }
        open.head("object/public/{bucket}/**") { request, context in try await self.downloadPublic(request, context) }
    }

    // MARK: plumbing

    func store(for project: Project) async throws -> StorageStore {
        guard let database = databases[project.shard] else {
            throw APIError(.serviceUnavailable, code: "shard_unavailable", message: "The shard '\(project.shard)' is not configured on this node", shape: .storage)
        }
        let store = StorageStore(database: database, ref: project.ref, schema: try await projects.catalog(for: project).schema)
        if !prepared.withLock({ $0.contains(project.ref) }) {
            try await store.prepare()
            prepared.withLock { _ = $0.insert(project.ref) }
        }
        return store
    }

    /// The object name after `/{bucket}/` in the request path, percent-decoded and checked.
    static func objectName(_ request: Request, after marker: String, bucket: String) throws -> String {
        let path = request.uri.path
        guard let range = path.firstRange(of: "/storage/v1/" + marker + "/") else { throw StorageError.invalidKey("The object name is missing") }
        let rest = path[range.upperBound...]
        let bucketPrefix = bucket + "/"
        guard rest.hasPrefix(bucketPrefix) else { throw StorageError.invalidKey("The object name is missing") }
        do {
            return try ObjectKey.name(fromPath: rest.dropFirst(bucketPrefix.count))
        } catch {
            throw error.apiError
        }
    }

    static func bucketID(_ context: some RequestContext, _ name: String = "bucket") throws -> String {
        guard let id = context.parameters.get(name), ObjectKey.isValidBucketID(id) else {
            throw StorageError.invalid("The bucket id must be 1 to 63 letters, digits, '-', '_' and '.'")
        }
        return id
    }

    static func json(_ value: JSONValue) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }

    static func message(_ text: String) -> Response {
        json(.object([JSONMember(key: "message", value: .string(text))]))
    }

    static func body(_ request: Request) async throws -> JSONValue {
        var request = request
        let bytes: ByteBuffer
        do {
            bytes = try await request.collectBody(upTo: 1024 * 1024)
        } catch {
            throw StorageError.invalid("The JSON body is larger than 1 MiB")
        }
        if bytes.readableBytes == 0 { return .object([]) }
        do {
            return try JSONParser.parse(bytes.readableBytesView, maxDepth: 32)
        } catch {
            throw StorageError.invalid("The body is not valid JSON")
        }
    }

    static func requireServiceRole(_ context: ProjectRequestContext) throws {
        guard context.role == .serviceRole else { throw StorageError.unauthorized() }
    }

    static func ownerID(_ context: ProjectRequestContext) -> String? {
        guard context.role == .authenticated, case .string(let sub)? = context.claims["sub"] else { return nil }
        return Canonical.uuid(sub)
    }

    // MARK: buckets

    func listBuckets(_ context: ProjectRequestContext) async throws -> Response {
        let buckets = try await store(for: context.project).buckets(all: context.role == .serviceRole)
        return Self.json(.array(buckets.map(\.json)))
    }

    func getBucket(_ context: ProjectRequestContext) async throws -> Response {
        let id = try Self.bucketID(context, "id")
        guard let bucket = try await store(for: context.project).bucket(id: id), context.role == .serviceRole || bucket.row.isPublic else {
            throw StorageError.bucketNotFound()
        }
        return Self.json(bucket.json)
    }

    /// The options of a bucket body: `public`, `file_size_limit` (bytes, a number or numeric
    /// string) and `allowed_mime_types`; absent ones keep `current`'s values.
    static func bucketOptions(_ body: JSONValue, into row: inout StorageBucketRow) throws {
        if let flag = body["public"], flag != .null {
            guard case .bool(let value) = flag else { throw StorageError.invalid("public must be true or false") }
            row.isPublic = value
        }
        if let limit = body["file_size_limit"] {
            switch limit {
            case .null: row.fileSizeLimit = nil
            case .number(let text), .string(let text):
                guard let bytes = Int(text), bytes > 0 else { throw StorageError.invalid("file_size_limit must be a positive number of bytes") }
                row.fileSizeLimit = bytes
            default: throw StorageError.invalid("file_size_limit must be a positive number of bytes")
            }
        }
        if let types = body["allowed_mime_types"] {
            switch types {
            case .null: row.allowedMimeTypes = nil
            case .array(let items):
                guard items.allSatisfy({ if case .string(let type) = $0 { type.contains("/") } else { false } }) else {
                    throw StorageError.invalid("allowed_mime_types must be a list of MIME types such as image/png or image/*")
                }
                row.allowedMimeTypes = items.isEmpty ? nil : types.serialized
            default: throw StorageError.invalid("allowed_mime_types must be a list of MIME types")
            }
        }
    }

    func createBucket(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        try Self.requireServiceRole(context)
        let body = try await Self.body(request)
        guard case .string(let id)? = body["id"] ?? body["name"], ObjectKey.isValidBucketID(id) else {
            throw StorageError.invalid("The bucket id must be 1 to 63 letters, digits, '-', '_' and '.'")
        }
        let now = Timestamp.now()
        var row = StorageBucketRow(id: id, name: id, owner: "", isPublic: false, fileSizeLimit: nil, allowedMimeTypes: nil, createdAt: now, updatedAt: now)
        try Self.bucketOptions(body, into: &row)
        let store = try await store(for: context.project)
        do {
            _ = try await store.rows(store.sql.insertBucket(row))
        } catch StorageDatabaseError.uniqueViolation {
            throw StorageError.duplicate()
        }
        return Self.json(.object([JSONMember(key: "name", value: .string(id))]))
    }

    func updateBucket(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        try Self.requireServiceRole(context)
        let id = try Self.bucketID(context, "id")
        let store = try await store(for: context.project)
        guard var row = try await store.bucket(id: id)?.row else { throw StorageError.bucketNotFound() }
        try Self.bucketOptions(try await Self.body(request), into: &row)
        row.updatedAt = Timestamp.now()
        _ = try await store.rows(store.sql.updateBucket(row))
        return Self.message("Successfully updated")
    }

    func emptyBucket(_ context: ProjectRequestContext) async throws -> Response {
        try Self.requireServiceRole(context)
        let id = try Self.bucketID(context, "id")
        let store = try await store(for: context.project)
        guard try await store.bucket(id: id) != nil else { throw StorageError.bucketNotFound() }
        let versions = try await store.rows(store.sql.emptyBucket(id: id)).compactMap { $0[0] }
        await files.remove(ref: context.project.ref, versions: versions)
        metrics?.removed(versions.count)
        return Self.message("Successfully emptied")
    }

    func deleteBucket(_ context: ProjectRequestContext) async throws -> Response {
        try Self.requireServiceRole(context)
        let id = try Self.bucketID(context, "id")
        let store = try await store(for: context.project)
        guard try await store.bucket(id: id) != nil else { throw StorageError.bucketNotFound() }
        guard try await !store.rows(store.sql.deleteEmptyBucket(id: id)).isEmpty else { throw StorageError.bucketNotEmpty() }
        return Self.message("Successfully deleted")
    }

    // MARK: upload

    func upload(_ request: Request, _ context: ProjectRequestContext, replacing: Bool) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object", bucket: bucket)
        let upsert = request.headers[Self.upsertField]?.lowercased() == "true"
        return try await receive(
            request, project: context.project, bucket: bucket, name: name,
            mode: replacing ? .update : (upsert ? .upsert : .create), owner: Self.ownerID(context), access: context.access
        )
    }

    static let upsertField = HTTPField.Name("x-upsert")!

    enum WriteMode {
        case create, update, upsert
    }

    func receive(
        _ request: Request, project: Project, bucket: String, name: String, mode: WriteMode, owner: String?, access: RESTAccess
    ) async throws -> Response {
        let store = try await store(for: project)
        guard let stored = try await store.bucket(id: bucket) else { throw StorageError.bucketNotFound() }
        let limit = min(stored.row.fileSizeLimit ?? configuration.maxObjectBytes, configuration.maxObjectBytes)
        let version = UUID().uuidString.lowercased()
        let content = try await StorageUpload(files: files, ref: project.ref, version: version, limit: limit, allowedTypes: stored.allowedMimeTypes).receive(request)
        do {
            try await content.writer.commit()
        } catch {
            await content.writer.discard()
            throw error
        }
        let id = try await record(content, version: version, in: store, project: project, bucket: bucket, name: name, mode: mode, owner: owner, access: access)
        return Self.json(.object([
            JSONMember(key: "Id", value: .string(id)),
            JSONMember(key: "Key", value: .string(bucket + "/" + name)),
        ]))
    }

    /// Names a committed version as the object `bucket`/`name`, under the policies of `access`,
    /// and returns the object's id. A refused or failed write removes the version; a replaced
    /// object's old version is removed.
    func record(
        _ content: StorageUpload.Content, version: String, in store: StorageStore, project: Project,
        bucket: String, name: String, mode: WriteMode, owner: String?, access: RESTAccess
    ) async throws -> String {
        let now = Timestamp.now()
        let metadata = JSONValue.object([
            JSONMember(key: "eTag", value: .string(content.eTag)),
            JSONMember(key: "size", value: .number(String(content.size))),
            JSONMember(key: "mimetype", value: .string(content.mimeType)),
            JSONMember(key: "cacheControl", value: .string(content.cacheControl)),
            JSONMember(key: "lastModified", value: .string(now)),
            JSONMember(key: "contentLength", value: .number(String(content.size))),
            JSONMember(key: "httpStatusCode", value: .number("200")),
        ])
        let id = UUID().uuidString.lowercased()
        let row = StorageObjectRow(
            id: id, bucket: bucket, name: name, owner: owner, metadata: metadata.serialized, userMetadata: content.userMetadata,
            version: version, createdAt: now, updatedAt: now
        )
        let outcome: StorageStore.WriteOutcome
        do {
            switch mode {
            case .create:
                outcome = try await store.insert(row, access: access)
            case .update:
                outcome = try await store.update(bucket: bucket, name: name, to: row, access: access)
            case .upsert:
                var result = try await store.update(bucket: bucket, name: name, to: row, access: access)
                if result == .notFound { result = try await store.insert(row, access: access) }
                // Another upload created it in between: replace that one.
                if result == .duplicate { result = try await store.update(bucket: bucket, name: name, to: row, access: access) }
                outcome = result
            }
        } catch {
            await files.remove(ref: project.ref, versions: [version])
            throw error
        }
        guard case .written(let replaced) = outcome else {
            await files.remove(ref: project.ref, versions: [version])
            switch outcome {
            case .notFound: throw StorageError.objectNotFound()
            case .duplicate: throw StorageError.duplicate()
            default: throw StorageError.unauthorized()
            }
        }
        if let replaced { await files.remove(ref: project.ref, versions: [replaced]) } else { metrics?.stored(1) }
        metrics?.received(content.size)
        return id
    }
}
