import CellbaseSQL
import Hummingbird
import NIOCore

/// An error answered with a JSON body in the shape the calling client parses.
///
/// Each API family has its own error shape (PostgREST, GoTrue, Storage, the admin API); the
/// family is chosen where the error is raised, so the client library on the other end gets the
/// fields it reads.
public struct APIError: Error, HTTPResponseError, Sendable {
    public enum Shape: Sendable {
        /// `{"code","message","details","hint"}` (PostgREST).
        case postgrest
        /// `{"code": <status>, "error_code", "msg"}` (GoTrue, for `/auth/v1`; see `AuthError`).
        case gotrue
        /// `{"statusCode": "<status>", "error", "message"}` (Storage, for `/storage/v1`).
        case storage
        /// `{"code","message"}` (the admin API and everything that is not a Supabase surface).
        case plain
    }

    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: String?
    public var hint: String?
    public var shape: Shape
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: String? = nil, hint: String? = nil, shape: Shape = .plain, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.shape = shape
        self.headers = headers
    }

    public init(_ error: RESTError) {
        self.init(
            HTTPResponse.Status(code: error.status),
            code: error.code,
            message: error.message,
            details: error.details,
            hint: error.hint,
            shape: .postgrest
        )
    }

    public var body: String {
        if shape == .gotrue { return AuthError(status, code, message).body }
        var json = JSONWriter()
        if shape == .storage {
            json.beginObject()
            json.key("statusCode"); json.string(String(status.code))
            json.key("error"); json.string(code)
            json.key("message"); json.string(message)
            json.endObject()
            return json.output
        }
        json.beginObject()
        json.key("code"); json.string(code)
        json.key("message"); json.string(message)
        if shape == .postgrest {
            json.key("details"); json.optionalString(details)
            json.key("hint"); json.optionalString(hint)
        } else {
            if let details { json.key("details"); json.string(details) }
            if let hint { json.key("hint"); json.string(hint) }
        }
        json.endObject()
        return json.output
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

extension APIError {
    static func badRequest(_ code: String, _ message: String) -> APIError {
        APIError(.badRequest, code: code, message: message)
    }

    static func notFound(_ code: String, _ message: String) -> APIError {
        APIError(.notFound, code: code, message: message)
    }

    /// A move is switching the project to another shard and did not finish in the time a request waits.
    static func projectMoving(ref: String, shape: Shape) -> APIError {
        APIError(
            .serviceUnavailable, code: "project_moving", message: "Project \(ref) is moving to another shard; retry shortly", shape: shape,
            headers: [.retryAfter: "1"]
        )
    }
}
