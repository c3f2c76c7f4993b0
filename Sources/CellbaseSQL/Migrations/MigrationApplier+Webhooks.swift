/// Database webhooks as Supabase's dashboard writes them: `CREATE TRIGGER … EXECUTE FUNCTION
/// supabase_functions.http_request(url, method, headers, params, timeout_ms)`.
///
/// No trigger is created: the webhook is recorded on its table, the table's changes are captured
/// (as if it were added to the `supabase_realtime` publication), and the node delivers them from
/// the change log like any webhook.
extension MigrationApplier {
    static let webhookTimeouts = 100...60_000

    mutating func createTrigger(_ create: MigrationStatement.CreateTrigger) throws(MigrationError) {
        let index = try tableIndex(create.table)
        guard !create.name.value.isEmpty, create.name.value.utf8.allSatisfy(Self.isWebhookNameByte) else {
            throw MigrationError(at: create.name.position, "a webhook's name is 1 to 63 of letters, digits, '-', '_' and '.'")
        }
        if let taken = schema.declaredWebhooks.first(where: { $0.webhook.name == create.name.value }) {
            throw MigrationError(at: create.name.position, "a webhook named \"\(create.name.value)\" exists on table \"\(taken.table)\"")
        }
        let arguments = create.arguments
        guard arguments.count == 5 || arguments.count == 4 else {
            throw MigrationError(at: create.position, "supabase_functions.http_request takes the url, the method, the headers, the params and the timeout in milliseconds")
        }
        let url = arguments[0]
        let lowered = url.value.lowercased()
        guard url.value.utf8.count <= 2048, lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw MigrationError(at: url.position, "the webhook's URL must be an http:// or https:// URL of at most 2048 bytes")
        }
        guard arguments[1].value.uppercased() == "POST" else {
            throw MigrationError(at: arguments[1].position, "database webhooks POST the change; \(arguments[1].value) is not supported")
        }
        try Self.checkHeaders(arguments[2])
        let params = arguments[3].value.filter { !$0.isWhitespace }
        guard params.isEmpty || params == "{}" else {
            throw MigrationError(at: arguments[3].position, "query parameters on a webhook's URL are not supported: put them in the URL")
        }
        var timeout = 5000
        if arguments.count == 5 {
            guard let value = Int(arguments[4].value), Self.webhookTimeouts.contains(value) else {
                throw MigrationError(at: arguments[4].position, "the timeout is 100 to 60000 milliseconds")
            }
            timeout = value
        }
        schema.tables[index].webhooks.append(DeclaredWebhook(name: create.name.value, events: create.events, url: url.value, timeoutMilliseconds: timeout))
        schema.tables[index].isPublished = true
    }

    mutating func dropTrigger(_ drop: MigrationStatement.DropTrigger) throws(MigrationError) {
        let index = try tableIndex(drop.table)
        guard let position = schema.tables[index].webhooks.firstIndex(where: { $0.name == drop.name.value }) else {
            if drop.ifExists {
                warnings.append("trigger \"\(drop.name.value)\" for table \"\(drop.table.value)\" does not exist, skipping")
                return
            }
            throw MigrationError(at: drop.name.position, "trigger \"\(drop.name.value)\" for table \"\(drop.table.value)\" does not exist")
        }
        schema.tables[index].webhooks.remove(at: position)
    }

    /// A JSON object of headers; only `Content-Type: application/json`, which is what is sent.
    private static func checkHeaders(_ headers: MigrationName) throws(MigrationError) {
        guard case .object(let members)? = try? JSONParser.parse(Array(headers.value.utf8), maxDepth: 4) else {
            throw MigrationError(at: headers.position, "the headers are a JSON object")
        }
        for member in members {
            guard member.key.lowercased() == "content-type", case .string(let type) = member.value, type.lowercased().hasPrefix("application/json") else {
                throw MigrationError(at: headers.position, "custom webhook headers are not supported; a webhook sends Content-Type: application/json and its signature headers")
            }
        }
    }

    private static func isWebhookNameByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }
}
