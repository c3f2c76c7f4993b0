import FoundationEssentials

/// Auth's mailer when SMTP is configured: a mail becomes a `mail` job in the project's queue, so
/// a sign-up or recovery request never waits on the mail server, and a server that is down or
/// defers the message is tried again with the queue's backoff.
///
/// The job's idempotency key is the message's Message-ID, and the message (its Message-ID and
/// Date included) is stored whole, so every attempt sends the same message.
struct QueuedMailer: AuthMailer {
    let jobs: JobService
    static let queue = "mail"

    func enqueue(_ message: MailMessage, for project: Project) async throws {
        let payload = String(decoding: try JSONEncoder().encode(message), as: UTF8.self)
        _ = try await jobs.enqueue(NewJob(
            queue: Self.queue, kind: .mail, payload: payload, idempotencyKey: "mail:" + message.messageID,
            maxAttempts: jobs.configuration.defaultMaxAttempts, runAt: nil
        ), in: project)
    }
}

/// Runs `mail` jobs: one SMTP transaction for the stored message. A refusal the server says is
/// final (5xx), or a message that cannot be sent as it is, ends the job; everything else (the
/// server unreachable, 4xx, a timeout, TLS failing) is tried again.
struct MailJobHandler: JobHandler {
    let client: SMTPClient

    func run(_ job: ClaimedJob, project: Project) async throws -> String? {
        let message: MailMessage
        do {
            message = try JSONDecoder().decode(MailMessage.self, from: Data(job.payload.utf8))
        } catch {
            throw JobFailure.permanent("the job's payload is not a mail message: \(error)")
        }
        do {
            try await client.send(message)
        } catch {
            throw error.isPermanent ? JobFailure.permanent(error.description) : JobFailure.retry(error.description)
        }
        return nil
    }
}
