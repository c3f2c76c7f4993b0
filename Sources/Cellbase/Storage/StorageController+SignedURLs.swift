import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import Hummingbird
import JWTKit

/// Signed download and upload URLs: tokens signed with the project's secret that authorise one
/// object without a key.
extension StorageController {
    func expiry(_ body: JSONValue) throws -> Int {
        let seconds: Int?
        switch body["expiresIn"] {
        case .number(let text)?, .string(let text)?: seconds = Int(text)
        default: seconds = nil
        }
        guard let seconds, seconds > 0 else { throw StorageError.invalid("expiresIn must be a positive number of seconds") }
        return min(seconds, configuration.maxSignedURLSeconds)
    }

    func signedPath(_ prefix: String, bucket: String, name: String, token: String) -> String {
        "/\(prefix)/\(bucket)/" + ObjectKey.encodedPath(name) + "?token=" + token
    }

    func signDownload(project: Project, bucket: String, name: String, seconds: Int) async throws -> String {
        let now = Date()
        let claims = StorageTokenClaims(
            ref: project.ref, url: bucket + "/" + name, purpose: .download, owner: nil, upsert: nil, role: nil,
            iat: .init(value: now), exp: .init(value: now.addingTimeInterval(Double(seconds)))
        )
        return signedPath("object/sign", bucket: bucket, name: name, token: try await directory.keys(for: project).signStorageToken(claims))
    }

    func sign(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object/sign", bucket: bucket)
        let seconds = try expiry(try await Self.body(request))
        guard try await store(for: context.project).object(bucket: bucket, name: name, access: context.access) != nil else {
            throw StorageError.objectNotFound()
        }
        let url = try await signDownload(project: context.project, bucket: bucket, name: name, seconds: seconds)
        return Self.json(.object([JSONMember(key: "signedURL", value: .string(url))]))
    }

    func signMany(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let body = try await Self.body(request)
        let seconds = try expiry(body)
        guard case .array(let paths)? = body["paths"], paths.count <= StorageListing.maxLimit else {
            throw StorageError.invalid("paths must be a list of at most \(StorageListing.maxLimit) object names")
        }
        let store = try await store(for: context.project)
        var entries: [JSONValue] = []
        for path in paths {
            guard case .string(let raw) = path else { throw StorageError.invalid("paths must be a list of object names") }
            var error: JSONValue = .null
            var url: JSONValue = .null
            if let name = try? ObjectKey.name(raw), try await store.object(bucket: bucket, name: name, access: context.access) != nil {
                url = .string(try await signDownload(project: context.project, bucket: bucket, name: name, seconds: seconds))
            } else {
                error = .string("Either the object does not exist or you do not have access to it")
            }
            entries.append(.object([
                JSONMember(key: "error", value: error),
                JSONMember(key: "path", value: .string(raw)),
                JSONMember(key: "signedURL", value: url),
            ]))
        }
        return Self.json(.array(entries))
    }

    /// A URL anyone can upload one object to, for two hours, under the signer's identity: the
    /// policies are applied at upload time as if the signer were uploading.
    func signUpload(_ request: Request, _ context: ProjectRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object/upload/sign", bucket: bucket)
        guard try await store(for: context.project).bucket(id: bucket) != nil else { throw StorageError.bucketNotFound() }
        let now = Date()
        let claims = StorageTokenClaims(
            ref: context.project.ref, url: bucket + "/" + name, purpose: .upload, owner: Self.ownerID(context),
            upsert: request.headers[Self.upsertField]?.lowercased() == "true", role: context.role.rawValue,
            iat: .init(value: now), exp: .init(value: now.addingTimeInterval(2 * 3600))
        )
        let token = try await directory.keys(for: context.project).signStorageToken(claims)
        return Self.json(.object([
            JSONMember(key: "url", value: .string(signedPath("object/upload/sign", bucket: bucket, name: name, token: token))),
            JSONMember(key: "token", value: .string(token)),
        ]))
    }

    func uploadSigned(_ request: Request, _ context: CellbaseRequestContext) async throws -> Response {
        let bucket = try Self.bucketID(context)
        let name = try Self.objectName(request, after: "object/upload/sign", bucket: bucket)
        let (project, claims) = try await verifiedToken(request, purpose: .upload, bucket: bucket, name: name)
        let access: RESTAccess
        switch claims.role {
        case KeyRole.serviceRole.rawValue?: access = .serviceRole
        case let role?:
            var members = [JSONMember(key: "role", value: .string(role))]
            if let owner = claims.owner { members.append(JSONMember(key: "sub", value: .string(owner))) }
            access = .role(role, claims: .object(members))
        case nil: throw StorageError.invalidSignature("The signature does not name a role")
        }
        return try await receive(
            request, project: project, bucket: bucket, name: name, mode: claims.upsert == true ? .upsert : .create,
            owner: claims.owner, access: access
        )
    }
}
