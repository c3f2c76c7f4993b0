/// Mail for Auth: the SMTP server (`--smtp-url` and friends) and the sender (`--mail-from`).
public struct MailConfiguration: Sendable {
    public var smtp: SMTPConfiguration
    public var from: MailAddress

    public init(smtp: SMTPConfiguration, from: MailAddress) {
        self.smtp = smtp
        self.from = from
    }
}
