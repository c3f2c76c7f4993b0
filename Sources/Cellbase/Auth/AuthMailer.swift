/// Where Auth hands the mails it sends (confirmation, recovery): the seam between deciding to
/// send a mail and delivering it.
///
/// `enqueue` returning means the mail is in the mailer's hands; it throws when it is not, and
/// the Auth request then fails with `email_send_failed`.
public protocol AuthMailer: Sendable {
    func enqueue(_ message: MailMessage, for project: Project) async throws
}
