import CellbaseSQL

/// A database webhook: changes of one table (some operations, optionally filtered) POSTed as JSON
/// to a URL, signed with the webhook's secret.
struct Webhook: Sendable, Hashable {
    var id: String
    var name: String
    var table: String
    var events: Set<RowChange.Operation>
    /// A Realtime-style filter, `column=op.value`.
    var filter: String?
    var url: String
    /// `whsec_` and the base64 of 32 random bytes: the HMAC key of the signatures.
    var secret: String
    var timeoutMilliseconds: Int64
    var maxAttempts: Int
    var enabled: Bool
    /// Why it was disabled: a receiver's 410 Gone, or an operator.
    var disabledReason: String?
    /// Changes up to this position of the change log were committed before the webhook existed.
    var sinceSequence: Int64
    var createdAt: Int64

    static let columns = "id, name, table_name, events, filter, url, secret, CAST(timeout_ms AS text), CAST(max_attempts AS text), CAST(enabled AS text), disabled_reason, CAST(since_seq AS text), CAST(created_at AS text)"

    init(id: String, name: String, table: String, events: Set<RowChange.Operation>, filter: String?, url: String, secret: String, timeoutMilliseconds: Int64, maxAttempts: Int, enabled: Bool, disabledReason: String?, sinceSequence: Int64, createdAt: Int64) {
        self.id = id
        self.name = name
        self.table = table
        self.events = events
        self.filter = filter
        self.url = url
        self.secret = secret
        self.timeoutMilliseconds = timeoutMilliseconds
        self.maxAttempts = maxAttempts
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.sinceSequence = sinceSequence
        self.createdAt = createdAt
    }

    init(columns row: [String?]) throws {
        guard row.count == 13, let id = row[0], let name = row[1], let table = row[2], let events = row[3], let url = row[5], let secret = row[6],
            let timeout = row[7].flatMap({ Int64($0) }), let attempts = row[8].flatMap({ Int($0) }), let enabled = row[9],
            let since = row[11].flatMap({ Int64($0) }), let created = row[12].flatMap({ Int64($0) })
        else { throw JobStoreError.malformedRow("a webhook row lacks a column") }
        self.init(
            id: id, name: name, table: table, events: Set(events.split(separator: ",").compactMap { RowChange.Operation(rawValue: String($0)) }),
            filter: row[4], url: url, secret: secret, timeoutMilliseconds: timeout, maxAttempts: attempts, enabled: enabled == "1",
            disabledReason: row[10], sinceSequence: since, createdAt: created
        )
    }

    static func newSecret() -> String {
        WebhookSecret.generate().text
    }

    /// The admin API's JSON, secret included: the operator configures the receiver with it.
    var json: JSONValue {
        .object([
            JSONMember(key: "id", value: .string(id)),
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "table", value: .string(table)),
            JSONMember(key: "events", value: .array(RowChange.Operation.allCases.filter(events.contains).map { .string($0.rawValue) })),
            JSONMember(key: "filter", value: filter.map(JSONValue.string) ?? .null),
            JSONMember(key: "url", value: .string(url)),
            JSONMember(key: "secret", value: .string(secret)),
            JSONMember(key: "timeout_ms", value: .number(String(timeoutMilliseconds))),
            JSONMember(key: "max_attempts", value: .number(String(maxAttempts))),
            JSONMember(key: "enabled", value: .bool(enabled)),
            JSONMember(key: "disabled_reason", value: disabledReason.map(JSONValue.string) ?? .null),
            JSONMember(key: "created_at", value: .string(Timestamp.iso8601(milliseconds: createdAt))),
        ])
    }

    /// The body of a change's delivery, as Supabase's database webhooks send it.
    static func body(for change: RowChange) -> JSONValue {
        .object([
            JSONMember(key: "type", value: .string(change.operation.rawValue)),
            JSONMember(key: "table", value: .string(change.table)),
            JSONMember(key: "schema", value: .string("public")),
            JSONMember(key: "record", value: change.record ?? .null),
            JSONMember(key: "old_record", value: change.oldRecord ?? .null),
            JSONMember(key: "commit_timestamp", value: .string(change.committedAt)),
        ])
    }
}

/// A `webhook` job's payload: which webhook, and the JSON body to POST to it.
struct WebhookJobPayload: Sendable, Hashable {
    var webhook: String
    var body: JSONValue

    init(webhook: String, body: JSONValue) {
        self.webhook = webhook
        self.body = body
    }

    init(_ value: JSONValue) throws(APIError) {
        guard case .string(let name) = value["webhook"] else {
            throw APIError.badRequest("invalid_payload", "A webhook job's payload is {\"webhook\": name, \"body\": any JSON}")
        }
        webhook = name
        body = value["body"] ?? .object([])
    }

    var json: JSONValue {
        .object([JSONMember(key: "webhook", value: .string(webhook)), JSONMember(key: "body", value: body)])
    }
}
