import CellbaseSQL
import Testing

/// Database webhooks declared in migrations the way Supabase's dashboard writes them.
@Suite struct MigrationWebhookTests {
    static let base = "create table orders (id bigint primary key, status text not null);"

    static let dashboard = """
        create trigger "orders_paid" after insert or update on "public"."orders"
        for each row
        execute function "supabase_functions"."http_request"(
          'https://hooks.example.com/orders',
          'POST',
          '{"Content-type":"application/json"}',
          '{}',
          '1000'
        );
        """

    static func plan(_ sql: String, on schema: Schema? = nil) throws(MigrationError) -> MigrationPlan {
        var start = Schema()
        if let schema { start = schema } else { start = try MigrationPlanner.plan(base, on: Schema(), namespace: .sqlite).schema }
        return try MigrationPlanner.plan(sql, on: start, namespace: .sqlite)
    }

    static func refusal(_ sql: String) -> String {
        do {
            _ = try plan(sql)
            return "accepted"
        } catch {
            return error.message
        }
    }

    @Test func aDashboardWebhookIsRecordedOnItsTableAndCapturesItsChanges() throws {
        let plan = try Self.plan(Self.dashboard)
        let table = try #require(plan.schema.table(named: "orders"))
        #expect(table.webhooks == [DeclaredWebhook(name: "orders_paid", events: ["INSERT", "UPDATE"], url: "https://hooks.example.com/orders", timeoutMilliseconds: 1000)])
        #expect(table.isPublished)
        #expect(!plan.statements.isEmpty)
        #expect(plan.schema.declaredWebhooks.map(\.table) == ["orders"])

        let procedure = try Self.plan("create trigger d after delete on orders for each row execute procedure supabase_functions.http_request('http://10.0.0.1/x', 'post', '{}', '{}')")
        #expect(procedure.schema.table(named: "orders")?.webhooks.first?.timeoutMilliseconds == 5000)
        #expect(procedure.schema.table(named: "orders")?.webhooks.first?.events == ["DELETE"])
    }

    @Test func droppingTheTriggerOrTheTableRemovesTheWebhook() throws {
        let declared = try Self.plan(Self.dashboard).schema
        let dropped = try Self.plan(#"drop trigger "orders_paid" on "public"."orders";"#, on: declared)
        #expect(dropped.schema.table(named: "orders")?.webhooks == [])
        #expect(dropped.schema.table(named: "orders")?.isPublished == true)
        let missing = try Self.plan("drop trigger if exists nothing on orders", on: declared)
        #expect(missing.warnings.contains { $0.contains("does not exist, skipping") })
        #expect(try Self.plan("drop table orders", on: declared).schema.declaredWebhooks.isEmpty)
        #expect(throws: MigrationError.self) { try Self.plan("drop trigger nothing on orders", on: declared) }
        // The webhook reads the table's changes, so they stay captured while it exists.
        let uncaptured = #expect(throws: MigrationError.self) { try Self.plan("alter publication supabase_realtime drop table orders", on: declared) }
        #expect(uncaptured?.message.contains("has the webhook \"orders_paid\"") == true)
        let replaced = #expect(throws: MigrationError.self) {
            try Self.plan("create table refunds (id bigint primary key); alter publication supabase_realtime set table refunds", on: declared)
        }
        #expect(replaced?.message.contains("has the webhook \"orders_paid\"") == true)
    }

    @Test(arguments: [
        ("create trigger t before insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '1000')", "only AFTER triggers"),
        ("create trigger t after insert on orders for each row execute function audit.log_change()", "only triggers that call supabase_functions.http_request"),
        ("create trigger t after update of status on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '1000')", "UPDATE OF columns"),
        ("create trigger t after insert on orders for each statement execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '1000')", "FOR EACH ROW"),
        ("create trigger t after insert or insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '1000')", "INSERT is named twice"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'GET', '{}', '{}', '1000')", "GET is not supported"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('ftp://a.example', 'POST', '{}', '{}', '1000')", "http:// or https://"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{\"Authorization\":\"Bearer x\"}', '{}', '1000')", "custom webhook headers"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', 'not json', '{}', '1000')", "headers are a JSON object"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{\"a\":\"1\"}', '1000')", "query parameters"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '99')", "100 to 60000"),
        ("create trigger t after insert on orders for each row execute function supabase_functions.http_request('https://a.example')", "takes the url"),
        ("create trigger t after insert on missing for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '1000')", "does not exist"),
        ("create trigger \"a b\" after insert on orders for each row execute function supabase_functions.http_request('https://a.example', 'POST', '{}', '{}', '1000')", "a webhook's name"),
    ])
    func malformedWebhooksAreRefusedWithTheirReason(sql: String, reason: String) {
        #expect(Self.refusal(sql).contains(reason), "\(Self.refusal(sql))")
    }

    @Test func aWebhookNameIsTheProjectsOnce() throws {
        let twice = Self.dashboard + "\ncreate table refunds (id bigint primary key);\n" + Self.dashboard.replacing("\"public\".\"orders\"", with: "refunds")
        #expect(Self.refusal(twice).contains("a webhook named \"orders_paid\" exists on table \"orders\""))
    }
}
