import CellbaseSQL
import Hummingbird
import Logging

/// Answers what the Auth handlers did not foresee in GoTrue's shape, so supabase-py gets an error
/// it can read (a bare 500 would surface as `AuthUnknownError`, with no status or code). A database
/// that cannot be reached is a retryable 503; anything else is a fault of the node, logged in full
/// and answered without internals. A mail the mailer did not take is `email_send_failed`, its cause
/// logged rather than shown.
struct AuthFailureMiddleware: RouterMiddleware {
    typealias Context = ProjectRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch let moved as ProjectMoved {
            // Answered by `APIKeyMiddleware` with the project's new place, or 503.
            throw moved
        } catch let failure as AuthMailFailure {
            context.logger.error("auth mail not sent", metadata: ["error": "\(failure.underlying)", "path": "\(request.uri.path)"])
            throw AuthError.emailSendFailed(failure.purpose)
        } catch {
            if DatabaseErrors.restError(from: error)?.status == 503 {
                throw AuthError(.serviceUnavailable, "unexpected_failure", "The project's database cannot be reached, try again")
            }
            context.logger.error("auth request failed", error: error, metadata: ["path": "\(request.uri.path)"])
            throw AuthError(.internalServerError, "unexpected_failure", "Unexpected failure; the node's log has the details")
        }
    }
}
