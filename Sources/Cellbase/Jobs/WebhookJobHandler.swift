import CellbaseSQL
import Logging

/// Runs `webhook` jobs: one signed POST of the job's body to its webhook's URL.
///
/// The delivery's `webhook-id` is the job's id, the same on every attempt (and one job per
/// change and webhook), so a receiver that remembers ids sees each change once. A receiver answering 410 Gone disables
/// the webhook: its pending and future jobs die instead of knocking on a closed door.
struct WebhookJobHandler: JobHandler {
    let databases: [String: any AuthDatabase]
    let sender: any WebhookSender
    let logger: Logger

    func run(_ job: ClaimedJob, project: Project) async throws -> String? {
        let payload: WebhookJobPayload
        do {
            payload = try WebhookJobPayload(try JSONParser.parse(job.payload.utf8, maxDepth: 512))
        } catch {
            throw JobFailure.permanent("the job's payload is not a webhook call: \(error)")
        }
        guard let database = databases[project.shard] else { throw JobFailure.retry("the shard '\(project.shard)' is not configured on this node") }
        let store = JobStore(database: database, ref: project.ref)
        guard let hook = try await store.webhook(named: payload.webhook) else {
            throw JobFailure.permanent("the webhook '\(payload.webhook)' no longer exists")
        }
        guard hook.enabled else {
            throw JobFailure.permanent("the webhook '\(hook.name)' is disabled: \(hook.disabledReason ?? "by an operator")")
        }
        let outcome = await sender.send(WebhookCall(
            url: hook.url, secret: hook.secret, id: job.id, body: payload.body.serialized,
            timeout: .milliseconds(hook.timeoutMilliseconds)
        ))
        switch outcome {
        case .delivered(let status):
            return JSONValue.object([JSONMember(key: "status", value: .number(String(status)))]).serialized
        case .retry(let reason):
            throw JobFailure.retry(reason)
        case .refused(let reason):
            throw JobFailure.permanent(reason)
        case .gone:
            let reason = "the receiver answered 410 Gone at \(Timestamp.now())"
            _ = try await store.setWebhook(named: hook.name, enabled: false, reason: reason)
            logger.notice("a webhook was disabled by its receiver", metadata: ["project": .string(project.ref), "webhook": .string(hook.name)])
            throw JobFailure.permanent(reason + "; the webhook is disabled")
        }
    }
}

/// One delivery attempt of a webhook call.
struct WebhookCall: Sendable, Hashable {
    var url: String
    var secret: String
    /// The `webhook-id` header: the same on every attempt of one call.
    var id: String
    var body: String
    var timeout: Duration
}

/// How one attempt ended.
enum WebhookCallOutcome: Sendable, Hashable {
    /// A 2xx answer.
    case delivered(status: Int)
    /// Another answer, a redirect, a timeout or a network failure: worth another attempt.
    case retry(String)
    /// 410 Gone: the receiver asks not to be called again.
    case gone
    /// The call can never be made (a malformed URL, an address the node may not call).
    case refused(String)
}

/// What makes webhook calls.
protocol WebhookSender: Sendable {
    func send(_ call: WebhookCall) async -> WebhookCallOutcome
}

extension WebhookDelivery: WebhookSender {
    func send(_ call: WebhookCall) async -> WebhookCallOutcome {
        guard let secret = WebhookSecret(call.secret) else { return .refused("the webhook's secret is malformed") }
        let request = WebhookRequest(
            url: call.url, secrets: [secret], id: call.id, timestamp: Timestamp.nowMilliseconds() / 1000,
            body: Array(call.body.utf8), timeout: call.timeout
        )
        switch await deliver(request) {
        case .delivered(let status): return .delivered(status: status)
        case .retry(let reason, _): return .retry(reason)
        case .gone: return .gone
        case .refused(let reason): return .refused(reason)
        }
    }
}
