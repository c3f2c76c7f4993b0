import CellbaseSQL
import HTTPTypes

/// Storage's errors, in the shape storage3 parses: `{"statusCode","error","message"}`.
enum StorageError {
    static func bucketNotFound() -> APIError {
        APIError(.notFound, code: "Bucket not found", message: "Bucket not found", shape: .storage)
    }

    static func objectNotFound() -> APIError {
        APIError(.notFound, code: "not_found", message: "Object not found", shape: .storage)
    }

    static func duplicate() -> APIError {
        APIError(.conflict, code: "Duplicate", message: "The resource already exists", shape: .storage)
    }

    static func invalid(_ message: String) -> APIError {
        APIError(.badRequest, code: "InvalidRequest", message: message, shape: .storage)
    }

    static func invalidKey(_ message: String) -> APIError {
        APIError(.badRequest, code: "InvalidKey", message: message, shape: .storage)
    }

    static func unauthorized(_ message: String = "new row violates row-level security policy") -> APIError {
        APIError(.forbidden, code: "Unauthorized", message: message, shape: .storage)
    }

    static func invalidSignature(_ message: String) -> APIError {
        APIError(.badRequest, code: "InvalidSignature", message: message, shape: .storage)
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "EntityTooLarge", message: "The object exceeded the maximum allowed size of \(limit) bytes", shape: .storage)
    }

    static func mimeTypeNotAllowed(_ type: String) -> APIError {
        APIError(.unsupportedMediaType, code: "InvalidMimeType", message: "mime type \(type) is not supported", shape: .storage)
    }

    static func bucketNotEmpty() -> APIError {
        APIError(.conflict, code: "InvalidRequest", message: "The bucket you tried to delete is not empty", shape: .storage)
    }

    static func rangeNotSatisfiable(size: Int) -> APIError {
        APIError(.rangeNotSatisfiable, code: "InvalidRange", message: "The requested range is not satisfiable", shape: .storage, headers: [.contentRange: "bytes */\(size)"])
    }

    /// The S3 backend refused a call or could not be reached: its error code, never its text.
    static func backendFailed(_ failure: S3Failure) -> APIError {
        let detail = switch failure {
        case .answer(let status, let code): "answered \(status) \(code)"
        case .unreachable: "could not be reached"
        }
        return APIError(.badGateway, code: "StorageBackendError", message: "The storage backend \(detail)", shape: .storage)
    }

    static func internalError() -> APIError {
        APIError(.internalServerError, code: "InternalError", message: "internal error; the node's log has the details", shape: .storage)
    }
}

extension ObjectKey.Rejection {
    var apiError: APIError { StorageError.invalidKey(message) }
}
