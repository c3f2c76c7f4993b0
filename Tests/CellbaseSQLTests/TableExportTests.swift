import CellbaseSQL
import Testing

@Suite struct TableExportTests {
    static func table(_ sql: String) throws -> Table {
        let schema = try MigrationPlanner.plan(sql, on: Schema(), namespace: .sqlite).schema
        return try #require(schema.tables.first)
    }

    static let orders = "create table orders (id bigint primary key, customer text not null, total numeric, details jsonb, paid boolean)"
    static let lines = "create table lines (order_id bigint, line int, sku text, primary key (order_id, line))"

    static func export(_ sql: String, _ query: [(String, String)] = [], pageSize: Int = 2) throws -> TableExport {
        try TableExport(table: try table(sql), parameters: query.map { (name: $0.0, value: $0.1) }, pageSize: pageSize)
    }

    @Test func theHeaderIsWhatTheSelectNames() throws {
        #expect(try Self.export(Self.orders).columns == ["id", "customer", "total", "details", "paid"])
        #expect(try Self.export(Self.orders, [("select", "customer,amount:total,details->>city,id::text")]).columns == ["customer", "amount", "city", "id"])
        #expect(try Self.export(Self.orders, [("select", "*,who:customer")]).columns == ["id", "customer", "total", "details", "paid", "who"])
        #expect(try Self.export(Self.lines).key == ["order_id", "line"])
    }

    @Test(arguments: ["order", "limit", "offset", "columns", "on_conflict"])
    func pagingParametersAreRefused(name: String) throws {
        let value = name == "order" ? "id.desc" : name == "columns" || name == "on_conflict" ? "id" : "5"
        let error = #expect(throws: RESTError.self) { try Self.export(Self.orders, [(name, value)]) }
        #expect(error?.status == 400)
        #expect(error?.code == "PGRST100")
    }

    @Test func embeddingAndKeylessTablesAreRefused() throws {
        let embed = #expect(throws: RESTError.self) { try Self.export(Self.orders, [("select", "id,customers(name)")]) }
        #expect(embed?.message.contains("cannot embed 'customers'") == true)
        let keyless = #expect(throws: RESTError.self) { try Self.export("create table log (at timestamptz, line text)") }
        #expect(keyless?.code == "export_needs_primary_key")
        #expect(throws: RESTError.self) { try Self.export(Self.orders, [("total", "between.1")]) }
    }

    @Test func pagesAreReadInKeyOrderWithTheKeysUnderTheirOwnNames() throws {
        let export = try Self.export(Self.orders, [("select", "id:customer"), ("paid", "is.true")])
        let first = try export.query(after: nil)
        #expect(first.order == [RESTOrderTerm(field: RESTField(column: "id"))])
        #expect(first.limit == 2)
        #expect(first.select == [.field(RESTField(column: "customer"), alias: "id", cast: nil), .field(RESTField(column: "id"), alias: "__cellbase_export_key_0", cast: nil)])
        #expect(first.conditions == [.filter(RESTFilter(field: RESTField(column: "paid"), op: .is, operand: .isValue(.true)))])

        let next = try export.query(after: [.number("41")])
        #expect(next.conditions.count == 2)
        #expect(next.conditions[0] == first.conditions[0])
        #expect(next.conditions[1] == .filter(RESTFilter(field: RESTField(column: "id"), op: .gt, operand: .value("41"))))
    }

    @Test func aCompositeKeyStartsAfterTheWholeKey() throws {
        let next = try Self.export(Self.lines).query(after: [.number("7"), .number("3")])
        let orderID = RESTField(column: "order_id")
        let line = RESTField(column: "line")
        #expect(next.conditions == [.group(.or, [
            .filter(RESTFilter(field: orderID, op: .gt, operand: .value("7"))),
            .group(.and, [
                .filter(RESTFilter(field: orderID, op: .eq, operand: .value("7"))),
                .filter(RESTFilter(field: line, op: .gt, operand: .value("3"))),
            ], negated: false),
        ], negated: false)])
        #expect(next.order == [RESTOrderTerm(field: orderID), RESTOrderTerm(field: line)])
        // A text key value is passed on as it was read.
        let text = try Self.export("create table tags (name text primary key)").query(after: [.string("a,b(c)")])
        #expect(text.conditions == [.filter(RESTFilter(field: RESTField(column: "name"), op: .gt, operand: .value("a,b(c)")))])
        #expect(throws: RESTError.self) { try Self.export(Self.orders).query(after: [.null]) }
    }

    @Test func aPageBecomesRecordsInHeaderOrderAndTheNextPageStartsAfterItsLastRow() throws {
        let export = try Self.export(Self.orders, [("select", "paid,customer,details,total")])
        let full = #"[{"paid":true,"customer":"Ada","details":{"a":[1,2]},"total":12.50,"__cellbase_export_key_0":1},"#
            + #"{"paid":null,"customer":"","details":null,"total":-3,"__cellbase_export_key_0":9}]"#
        let page = try export.page(Array(full.utf8))
        #expect(page.records == [
            [.boolean(true), .text("Ada"), .json(#"{"a":[1,2]}"#), .json("12.50")],
            [.null, .text(""), .null, .json("-3")],
        ])
        #expect(page.lastKey == [.number("9")])

        let short = try export.page(Array(#"[{"paid":false,"customer":"Bo","details":null,"total":null,"__cellbase_export_key_0":10}]"#.utf8))
        #expect(short.records.count == 1)
        #expect(short.lastKey == nil)
        #expect(try export.page(Array("[]".utf8)).lastKey == nil)
        #expect(throws: RESTError.self) { try export.page(Array(#"{"not":"an array"}"#.utf8)) }
        #expect(throws: RESTError.self) { try export.page(Array("[1,2]".utf8)) }
    }

    @Test func recordsEncodeAsCSV() throws {
        let export = try Self.export(Self.orders, [("select", "customer,total")])
        let page = try export.page(Array(#"[{"customer":"Smith, \"Jr\"","total":1e3,"__cellbase_export_key_0":1}]"#.utf8))
        var buffer: [UInt8] = []
        let encoder = CSVEncoder()
        encoder.appendHeader(export.columns, to: &buffer)
        for record in page.records { encoder.appendRow(record, to: &buffer) }
        #expect(String(decoding: buffer, as: UTF8.self) == "customer,total\r\n\"Smith, \"\"Jr\"\"\",1e3\r\n")
    }
}
