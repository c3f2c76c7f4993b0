import CellbaseSQL
import HTTPTypes
import Hummingbird
import NIOCore

/// An Auth (`/auth/v1`) error in GoTrue's body shape: `{"code": <status>, "error_code", "msg"}`.
///
/// supabase-py reads `error_code` and `msg` from this legacy shape with or without the
/// `X-Supabase-Api-Version` response header, so no header is needed. A `weak_password` error
/// must also carry `weak_password.reasons`, or the client fails on a missing key.
struct AuthError: Error, HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var weakPasswordReasons: [String]?
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, weakPasswordReasons: [String]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.weakPasswordReasons = weakPasswordReasons
    }

    var body: String {
        var members = [
            JSONMember(key: "code", value: .number(String(status.code))),
            JSONMember(key: "error_code", value: .string(code)),
            JSONMember(key: "msg", value: .string(message)),
        ]
        if let weakPasswordReasons {
            members.append(JSONMember(key: "weak_password", value: .object([
                JSONMember(key: "reasons", value: .array(weakPasswordReasons.map(JSONValue.string))),
            ])))
        }
        return JSONValue.object(members).serialized
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// The errors the Auth service answers; their codes are GoTrue's, listed in docs/ERROR_CODES.md.
extension AuthError {
    static func validation(_ message: String) -> AuthError { AuthError(.unprocessableContent, "validation_failed", message) }
    static func badJSON(_ message: String) -> AuthError { AuthError(.badRequest, "bad_json", message) }
    static let invalidEmail = AuthError(.badRequest, "validation_failed", "Unable to validate email address: invalid format")
    static let invalidCredentials = AuthError(.badRequest, "invalid_credentials", "Invalid login credentials")
    static let emailNotConfirmed = AuthError(.badRequest, "email_not_confirmed", "Email not confirmed")
    static let userAlreadyExists = AuthError(.unprocessableContent, "user_already_exists", "User already registered")
    static let emailExists = AuthError(.unprocessableContent, "email_exists", "A user with this email address has already been registered")
    static let noAuthorization = AuthError(.unauthorized, "no_authorization", "This endpoint requires a valid Bearer token")
    static func badJWT(_ reason: String) -> AuthError { AuthError(.forbidden, "bad_jwt", "invalid JWT: unable to parse or verify signature, \(reason)") }
    static let sessionNotFound = AuthError(.forbidden, "session_not_found", "Session from session_id claim in JWT does not exist")
    static let userFromTokenNotFound = AuthError(.forbidden, "user_not_found", "User from sub claim in JWT does not exist")
    static let userNotFound = AuthError(.notFound, "user_not_found", "User not found")
    static let notAdmin = AuthError(.forbidden, "not_admin", "User not allowed")
    static let refreshTokenNotFound = AuthError(.badRequest, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
    static let refreshTokenAlreadyUsed = AuthError(.badRequest, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
    static let tooLarge = AuthError(.contentTooLarge, "request_too_large", "The request body is too large")
    static let otpExpired = AuthError(.forbidden, "otp_expired", "Token has expired or is invalid")
    static let mailNotConfigured = AuthError(.notImplemented, "mail_not_configured", "This node sends no email: it has no --smtp-url")

    static func emailSendFailed(_ purpose: OneTimeToken.Purpose) -> AuthError {
        AuthError(.internalServerError, "email_send_failed", "Error sending \(purpose == .confirmation ? "confirmation" : "recovery") email")
    }

    static func overEmailSendRateLimit(retryAfter seconds: Int) -> AuthError {
        var error = AuthError(.tooManyRequests, "over_email_send_rate_limit", "For security purposes, you can only request this after \(seconds) seconds.")
        error.headers[.retryAfter] = String(seconds)
        return error
    }

    static func weakPassword(minimumLength: Int) -> AuthError {
        AuthError(.unprocessableContent, "weak_password", "Password should be at least \(minimumLength) characters.", weakPasswordReasons: ["length"])
    }

    static func overRateLimit(retryAfter seconds: Int) -> AuthError {
        var error = AuthError(.tooManyRequests, "over_request_rate_limit", "Too many failed sign-in attempts: try again in \(seconds) seconds")
        error.headers[.retryAfter] = String(seconds)
        return error
    }
}
