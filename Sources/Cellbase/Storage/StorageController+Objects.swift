import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird
import NIOCore

/// Reading objects (downloads, info, public URLs, listings) and moving, copying and removing them.
extension StorageController {
    func download(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let marker = request.uri.path.contains("/object/authenticated/") ? "object/authenticated" : "object"
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: marker, bucket: bucket)
        let store = try await store(for: context.project)
        guard let object = try await store.object(bucket: bucket, name: name, access: context.access) else {
            throw StorageError.objectNotFound()
        }
        return try await serve(object, project: context.project, request: request, context: context)
    }

    func info(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object/info", bucket: bucket)
        guard let object = try await store(for: context.project).object(bucket: bucket, name: name, access: context.access) else {
            throw StorageError.objectNotFound()
        }
        return Self.json(object.json)
    }

    func downloadPublic(_ request: Request, _ context: CellbaseRequestContext) async throws -> Response {
        let project = try await publicProject(request)
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object/public", bucket: bucket)
        let store = try await store(for: project)
        guard let stored = try await store.bucket(id: bucket), stored.row.isPublic,
              let object = try await store.object(bucket: bucket, name: name, access: .serviceRole)
        else { throw StorageError.objectNotFound() }
        return try await serve(object, project: project, request: request, context: context)
    }

    /// The project of a public URL, which the clients build without a key: the `apikey` header
    /// or query parameter when there is one, else the first label of the host (`<ref>.example.com`).
    func publicProject(_ request: Request) async throws -> Project {
        if let key = request.headers[APIKeyMiddleware.apiKeyField] ?? request.uri.queryParameters["apikey"].map(String.init) {
            guard let resolved = try? await directory.resolve(apiKey: key) else { throw StorageError.invalidSignature("Invalid API key") }
            return try served(resolved.project)
        }
        if let host = request.head.authority, let label = host.split(separator: ".").first,
           let project = try await directory.project(ref: String(label)) {
            return try served(project)
        }
        throw StorageError.objectNotFound()
    }

    func downloadSigned(_ request: Request, _ context: CellbaseRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object/sign", bucket: bucket)
        let (project, _) = try await verifiedToken(request, purpose: .download, bucket: bucket, name: name)
        guard let object = try await store(for: project).object(bucket: bucket, name: name, access: .serviceRole) else {
            throw StorageError.objectNotFound()
        }
        var response = try await serve(object, project: project, request: request, context: context)
        if let download = request.uri.queryParameters["download"] {
            let filename = download.isEmpty ? StorageObjectName.fileName(name) : String(download)
            response.headers[.contentDisposition] = "attachment; filename=\"\(filename.filter { $0 != "\"" && $0 != "\\" && !$0.isNewline })\""
        }
        return response
    }

    /// The project and claims of a signed URL's token, which must name this object and purpose.
    /// The project comes from the token itself, verified with that project's secret; an API key
    /// sent along must be of the same project.
    func verifiedToken(_ request: Request, purpose: StorageTokenClaims.Purpose, bucket: String, name: String) async throws -> (Project, StorageTokenClaims) {
        guard let token = request.uri.queryParameters["token"].map(String.init), let ref = UnverifiedJWT.ref(in: token),
              let project = try await directory.project(ref: ref)
        else { throw StorageError.invalidSignature("The signature is missing or invalid") }
        let claims: StorageTokenClaims
        do {
            claims = try await directory.keys(for: project).verifyStorageToken(token)
        } catch {
            throw StorageError.invalidSignature("The signature is invalid or has expired")
        }
        guard claims.ref == project.ref, claims.purpose == purpose, claims.url == bucket + "/" + name else {
            throw StorageError.invalidSignature("The signature does not match this object")
        }
        if let key = request.headers[APIKeyMiddleware.apiKeyField], let resolved = try? await directory.resolve(apiKey: key), resolved.project.ref != project.ref {
            throw StorageError.invalidSignature("The signature belongs to another project")
        }
        return (try served(project), claims)
    }

    /// `project`, when this node serves it; 421 with the place that does otherwise.
    private func served(_ project: Project) throws -> Project {
        if let misplacement = directory.misplacement(of: project) { throw misplacement.error(ref: project.ref, shape: .storage) }
        return project
    }

    /// The object's content with its validators, honouring `If-None-Match` and `Range`.
    func serve(_ object: StoredObject, project: Project, request: Request, context: some RequestContext) async throws -> Response {
        var headers: HTTPFields = [
            .contentType: object.mimeType,
            .eTag: object.eTag,
            .cacheControl: object.cacheControl,
            .acceptRanges: "bytes",
        ]
        if let modified = HTTPDate.format(rfc3339: object.updatedAt) { headers[.lastModified] = modified }
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { tag in
            let tag = tag.filter { $0 != " " }
            return tag == object.eTag || tag == "W/" + object.eTag || tag == "*"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        let size = object.size
        var status = HTTPResponse.Status.ok
        var range = 0...(size - 1)
        switch ByteRange(header: request.headers[.range], size: size) {
        case .whole: break
        case .partial(let part):
            status = .partialContent
            range = part
            headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound)/\(size)"
        case .unsatisfiable:
            throw StorageError.rangeNotSatisfiable(size: size)
        }
        let length = size == 0 ? 0 : range.count
        headers[.contentLength] = String(length)
        if request.method == .head || length == 0 { return Response(status: status, headers: headers) }
        let body = try await files.read(ref: project.ref, version: object.version, range: range, context: context)
        metrics?.sent(length)
        return Response(status: status, headers: headers, body: body)
    }

    // MARK: listing, move, copy, remove

    func list(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let listing: StorageListing
        do {
            listing = try StorageListing(body: try await Self.body(request))
        } catch let error as StorageRequestError {
            throw StorageError.invalid(error.message)
        }
        let store = try await store(for: context.project)
        guard try await store.bucket(id: bucket) != nil else { throw StorageError.bucketNotFound() }
        let rows = try await store.rows(try store.sql.list(bucket: bucket, listing, access: context.access))
        let entries: [JSONValue] = rows.map { row in
            let isFolder = row[1] == "1"
            func text(_ index: Int) -> JSONValue { isFolder ? .null : row[index].map(JSONValue.string) ?? .null }
            let metadata: JSONValue = isFolder ? .null : row[6].flatMap { try? JSONParser.parse(Array($0.utf8), maxDepth: 64) } ?? .null
            return .object([
                JSONMember(key: "name", value: .string(row[0] ?? "")),
                JSONMember(key: "id", value: text(2)),
                JSONMember(key: "updated_at", value: text(4)),
                JSONMember(key: "created_at", value: text(3)),
                JSONMember(key: "last_accessed_at", value: text(5)),
                JSONMember(key: "metadata", value: metadata),
            ])
        }
        return Self.json(.array(entries))
    }

    /// `{"bucketId","sourceKey","destinationKey","destinationBucket"?}`.
    static func transfer(_ body: JSONValue) throws -> (bucket: String, source: String, destinationBucket: String, destination: String) {
        guard case .string(let bucket)? = body["bucketId"], ObjectKey.isValidBucketID(bucket),
              case .string(let source)? = body["sourceKey"], case .string(let destination)? = body["destinationKey"]
        else { throw StorageError.invalid("bucketId, sourceKey and destinationKey are required") }
        var destinationBucket = bucket
        if case .string(let other)? = body["destinationBucket"] {
            guard ObjectKey.isValidBucketID(other) else { throw StorageError.invalid("destinationBucket is not a valid bucket id") }
            destinationBucket = other
        }
        do {
            return (bucket, try ObjectKey.name(source), destinationBucket, try ObjectKey.name(destination))
        } catch {
            throw error.apiError
        }
    }

    func move(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let transfer = try Self.transfer(try await Self.body(request))
        let store = try await store(for: context.project)
        guard try await store.bucket(id: transfer.destinationBucket) != nil else { throw StorageError.bucketNotFound() }
        guard var object = try await store.object(bucket: transfer.bucket, name: transfer.source, access: context.access) else {
            throw StorageError.objectNotFound()
        }
        object.bucket = transfer.destinationBucket
        object.name = transfer.destination
        let row = StorageObjectRow(
            id: object.id, bucket: object.bucket, name: object.name, owner: object.owner, metadata: object.metadata.serialized,
            userMetadata: object.userMetadata?.serialized, version: object.version, createdAt: object.createdAt, updatedAt: Timestamp.now()
        )
        switch try await store.update(bucket: transfer.bucket, name: transfer.source, to: row, access: context.access) {
        case .written: return Self.message("Successfully moved")
        case .notFound: throw StorageError.objectNotFound()
        case .duplicate: throw StorageError.duplicate()
        case .refused: throw StorageError.unauthorized()
        }
    }

    func copy(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let transfer = try Self.transfer(try await Self.body(request))
        let store = try await store(for: context.project)
        guard try await store.bucket(id: transfer.destinationBucket) != nil else { throw StorageError.bucketNotFound() }
        guard let object = try await store.object(bucket: transfer.bucket, name: transfer.source, access: context.access) else {
            throw StorageError.objectNotFound()
        }
        let version = UUID().uuidString.lowercased()
        try await files.copy(ref: context.project.ref, from: object.version, to: version)
        let now = Timestamp.now()
        let row = StorageObjectRow(
            id: UUID().uuidString.lowercased(), bucket: transfer.destinationBucket, name: transfer.destination, owner: Self.ownerID(context),
            metadata: object.metadata.serialized, userMetadata: object.userMetadata?.serialized, version: version, createdAt: now, updatedAt: now
        )
        let outcome = try await store.insert(row, access: context.access)
        guard outcome == .written(replacedVersion: nil) else {
            await files.remove(ref: context.project.ref, versions: [version])
            throw outcome == .duplicate ? StorageError.duplicate() : StorageError.unauthorized()
        }
        metrics?.stored(1)
        return Self.json(.object([JSONMember(key: "Key", value: .string(transfer.destinationBucket + "/" + transfer.destination))]))
    }

    func remove(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        guard case .array(let items)? = try await Self.body(request)["prefixes"] else { throw StorageError.invalid("prefixes must be a list of object names") }
        guard items.count <= StorageListing.maxLimit else { throw StorageError.invalid("At most \(StorageListing.maxLimit) objects can be removed at once") }
        var names: [String] = []
        for item in items {
            guard case .string(let name) = item else { throw StorageError.invalid("prefixes must be a list of object names") }
            do { names.append(try ObjectKey.name(name)) } catch { throw error.apiError }
        }
        let store = try await store(for: context.project)
        guard try await store.bucket(id: bucket) != nil else { throw StorageError.bucketNotFound() }
        let removed = try await store.delete(bucket: bucket, names: names, access: context.access)
        await files.remove(ref: context.project.ref, versions: removed.map(\.version))
        metrics?.removed(removed.count)
        return Self.json(.array(removed.map(\.json)))
    }
}
