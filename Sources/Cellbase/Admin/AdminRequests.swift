import CellbaseSQL
import HTTPTypes
import Hummingbird
import NIOCore

/// What the admin routes share: finding the project of `{ref}`, reading a JSON body, answering JSON.
enum AdminRequests {
    static func project(_ context: CellbaseRequestContext, _ projects: ProjectService) async throws -> Project {
        let ref = context.parameters.get("ref") ?? ""
        guard Project.isValidRef(ref), let project = try await projects.directory.project(ref: ref) else {
            throw APIError.notFound("project_not_found", "No project with ref '\(ref)'")
        }
        return project
    }

    /// The body as JSON, at most `limit` bytes.
    static func jsonBody(_ request: Request, limit: Int) async throws -> JSONValue {
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "request_too_large", message: "The request body is larger than \(limit) bytes")
        }
        do {
            return try JSONParser.parse(bytes.readableBytesView, maxDepth: 64)
        } catch {
            throw APIError.badRequest("invalid_body", "The body is not valid JSON: \(error.message) at byte \(error.offset)")
        }
    }

    static func string(_ body: JSONValue, _ key: String) throws -> String? {
        switch body[key] {
        case nil, .null: return nil
        case .string(let text): return text
        default: throw APIError.badRequest("invalid_\(key)", "\(key) must be a string")
        }
    }

    static func integer(_ body: JSONValue, _ key: String) throws -> Int? {
        switch body[key] {
        case nil, .null: return nil
        case .number(let text):
            guard let value = Int(text) else { throw APIError.badRequest("invalid_\(key)", "\(key) must be an integer") }
            return value
        default: throw APIError.badRequest("invalid_\(key)", "\(key) must be an integer")
        }
    }

    static func bool(_ body: JSONValue, _ key: String) throws -> Bool? {
        switch body[key] {
        case nil, .null: return nil
        case .bool(let value): return value
        default: throw APIError.badRequest("invalid_\(key)", "\(key) must be true or false")
        }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}
