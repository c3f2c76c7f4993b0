import Testing
@testable import CellbaseSQL

@Suite struct RESTResponseTests {
    typealias F = RESTFixture

    static let json = "application/json; charset=utf-8"
    static let twoRows = #"[{"id":1,"note":null},{"id":2,"note":"a,\"b\""}]"#

    /// (query, prefer, result, status, Content-Range) for GET.
    static let rangeCases: [([(String, String)], String?, RESTResult, String)] = [
        ([], nil, RESTResult(json: twoRows, rowCount: 2, total: nil), "0-1/*"),
        ([], "count=exact", RESTResult(json: twoRows, rowCount: 2, total: 2), "0-1/2"),
        ([("offset", "10"), ("limit", "2")], "count=exact", RESTResult(json: twoRows, rowCount: 2, total: 100), "10-11/100"),
        ([], "count=exact", RESTResult(json: "[]", rowCount: 0, total: 0), "*/0"),
        ([("offset", "50")], "count=estimated", RESTResult(json: "[]", rowCount: 0, total: 7), "*/7"),
        ([], nil, RESTResult(json: "[]", rowCount: 0, total: nil), "*/*"),
    ]

    @Test(arguments: rangeCases)
    func getContentRange(query: [(String, String)], prefer: String?, result: RESTResult, range: String) throws {
        let plan = try F.plan(.get, query, prefer: prefer, dialect: .sqlite)
        var headers = ["Content-Range": range, "Content-Type": Self.json]
        if let prefer { headers["Preference-Applied"] = prefer }
        #expect(try plan.respond(result) == RESTResponse(status: 200, headers: headers, body: result.json))
    }

    @Test func headHasNoBody() throws {
        let plan = try F.plan(.head, prefer: "count=exact", dialect: .postgres)
        let response = try plan.respond(RESTResult(json: Self.twoRows, rowCount: 2, total: 9))
        #expect(response == RESTResponse(status: 200, headers: ["Content-Range": "0-1/9", "Content-Type": Self.json, "Preference-Applied": "count=exact"], body: nil))
    }

    @Test func singleObject() throws {
        let plan = try F.plan(.get, accept: "application/vnd.pgrst.object+json", dialect: .sqlite)
        let response = try plan.respond(RESTResult(json: #"[{"id":1,"note":null}]"#, rowCount: 1, total: nil))
        #expect(response == RESTResponse(
            status: 200,
            headers: ["Content-Range": "0-0/*", "Content-Type": "application/vnd.pgrst.object+json; charset=utf-8"],
            body: #"{"id":1,"note":null}"#
        ))
    }

    @Test(arguments: [(0, "[]"), (2, twoRows)])
    func singleObjectNeedsExactlyOneRow(rows: Int, json: String) throws {
        let plan = try F.plan(.get, accept: "application/vnd.pgrst.object+json", dialect: .postgres)
        #expect(throws: RESTError(status: 406, code: "PGRST116", message: "JSON object requested, multiple (or no) rows returned", details: "The result contains \(rows) rows")) {
            try plan.respond(RESTResult(json: json, rowCount: rows, total: nil))
        }
    }

    @Test func strippedNulls() throws {
        let array = try F.plan(.get, accept: "application/vnd.pgrst.array+json;nulls=stripped", dialect: .sqlite)
        let nested = #"[{"id":1,"note":null,"data":{"a":null,"b":[null,{"c":null}]}}]"#
        let response = try array.respond(RESTResult(json: nested, rowCount: 1, total: nil))
        #expect(response.body == #"[{"id":1,"data":{"b":[null,{}]}}]"#)
        #expect(response.headers["Content-Type"] == "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8")

        let object = try F.plan(.get, accept: "application/vnd.pgrst.object+json;nulls=stripped", dialect: .sqlite)
        #expect(try object.respond(RESTResult(json: #"[{"id":1,"note":null}]"#, rowCount: 1, total: nil)).body == #"{"id":1}"#)
    }

    @Test func csv() throws {
        let plan = try F.plan(.get, accept: "text/csv", dialect: .sqlite)
        let response = try plan.respond(RESTResult(json: #"[{"id":1,"note":null,"tags":["a"]},{"id":2,"note":"a,\"b\"","tags":[]}]"#, rowCount: 2, total: nil))
        #expect(response.body == "id,note,tags\n1,,\"[\"\"a\"\"]\"\n2,\"a,\"\"b\"\"\",[]")
        #expect(response.headers["Content-Type"] == "text/csv; charset=utf-8")
    }

    @Test(arguments: [
        (nil as String?, "application/json; charset=utf-8"),
        ("*/*", "application/json; charset=utf-8"),
        ("application/json", "application/json; charset=utf-8"),
        ("text/html, application/json;q=0.9", "application/json; charset=utf-8"),
        ("application/vnd.pgrst.array+json", "application/json; charset=utf-8"),
    ])
    func acceptedMediaTypes(accept: String?, contentType: String) throws {
        let plan = try F.plan(.get, accept: accept, dialect: .sqlite)
        #expect(try plan.respond(RESTResult(json: "[]", rowCount: 0, total: nil)).headers["Content-Type"] == contentType)
    }

    @Test(arguments: ["text/xml", "application/vnd.pgrst.plan+text; options=analyze", "image/png, text/xml"])
    func refusedMediaTypes(accept: String) {
        #expect(throws: RESTError(status: 406, code: "PGRST107", message: "None of these media types are available: \(accept)")) {
            try F.plan(.get, accept: accept, dialect: .postgres)
        }
    }

    /// (method, query, prefer, result, expected response) for writes.
    static let writeCases: [(RESTMethod, [(String, String)], String?, RESTResult, RESTResponse)] = [
        (.post, [], "return=representation", RESTResult(json: #"[{"id":1}]"#, rowCount: 1, total: nil),
         RESTResponse(status: 201, headers: ["Content-Range": "*/*", "Content-Type": json, "Preference-Applied": "return=representation"], body: #"[{"id":1}]"#)),
        (.post, [], "return=representation,count=exact", RESTResult(json: #"[{"id":1},{"id":2}]"#, rowCount: 2, total: nil),
         RESTResponse(status: 201, headers: ["Content-Range": "*/2", "Content-Type": json, "Preference-Applied": "return=representation, count=exact"], body: #"[{"id":1},{"id":2}]"#)),
        (.post, [], "return=minimal", RESTResult(json: nil, rowCount: 3, total: nil),
         RESTResponse(status: 201, headers: ["Content-Range": "*/*", "Preference-Applied": "return=minimal"], body: nil)),
        (.post, [], nil, RESTResult(json: nil, rowCount: 1, total: nil),
         RESTResponse(status: 201, headers: ["Content-Range": "*/*"], body: nil)),
        (.post, [("on_conflict", "id")], "return=minimal, resolution=merge-duplicates, missing=default, tx=commit, foo", RESTResult(json: nil, rowCount: 1, total: nil),
         RESTResponse(status: 201, headers: ["Content-Range": "*/*", "Preference-Applied": "resolution=merge-duplicates, missing=default, return=minimal"], body: nil)),
        (.post, [], "return=headers-only", RESTResult(json: #"[{"id":42}]"#, rowCount: 1, total: nil),
         RESTResponse(status: 201, headers: ["Content-Range": "*/*", "Location": "/todos?id=eq.42", "Preference-Applied": "return=headers-only"], body: nil)),
        (.patch, [("id", "gt.0")], "return=representation", RESTResult(json: #"[{"id":1},{"id":2}]"#, rowCount: 2, total: nil),
         RESTResponse(status: 200, headers: ["Content-Range": "0-1/*", "Content-Type": json, "Preference-Applied": "return=representation"], body: #"[{"id":1},{"id":2}]"#)),
        (.patch, [("id", "gt.0")], "count=exact", RESTResult(json: nil, rowCount: 5, total: nil),
         RESTResponse(status: 204, headers: ["Content-Range": "0-4/5", "Preference-Applied": "count=exact"], body: nil)),
        (.delete, [("id", "eq.9")], "return=representation", RESTResult(json: "[]", rowCount: 0, total: nil),
         RESTResponse(status: 200, headers: ["Content-Range": "*/*", "Content-Type": json, "Preference-Applied": "return=representation"], body: "[]")),
        (.delete, [("id", "eq.9")], "handling=strict,max-affected=3", RESTResult(json: nil, rowCount: 3, total: nil),
         RESTResponse(status: 204, headers: ["Content-Range": "0-2/*", "Preference-Applied": "handling=strict, max-affected=3"], body: nil)),
    ]

    @Test(arguments: writeCases)
    func writeResponses(method: RESTMethod, query: [(String, String)], prefer: String?, result: RESTResult, expected: RESTResponse) throws {
        let body: String? = method == .delete ? "{}" : #"{"id":1}"#
        for dialect in [SQLDialect.postgres, .sqlite] {
            let plan = try F.plan(method, query, prefer: prefer, body: body, dialect: dialect)
            #expect(try plan.respond(result) == expected)
        }
    }

    @Test func maxAffectedIsEnforcedWhenStrict() throws {
        let plan = try F.plan(.patch, [("id", "gt.0")], prefer: "handling=strict, max-affected=1", body: #"{"done":true}"#, dialect: .sqlite)
        #expect(throws: RESTError(status: 400, code: "PGRST124", message: "Query result exceeds max-affected preference constraint", details: "The query affects 2 rows")) {
            try plan.respond(RESTResult(json: nil, rowCount: 2, total: nil))
        }
        let lenient = try F.plan(.patch, [("id", "gt.0")], prefer: "max-affected=1", body: #"{"done":true}"#, dialect: .sqlite)
        #expect(try lenient.respond(RESTResult(json: nil, rowCount: 2, total: nil)).status == 204)
    }

    @Test func singleObjectAfterInsert() throws {
        let plan = try F.plan(.post, prefer: "return=representation", accept: "application/vnd.pgrst.object+json", body: #"{"title":"a"}"#, dialect: .sqlite)
        #expect(try plan.respond(RESTResult(json: #"[{"id":1}]"#, rowCount: 1, total: nil)).body == #"{"id":1}"#)
        #expect(throws: RESTError(status: 406, code: "PGRST116", message: "JSON object requested, multiple (or no) rows returned", details: "The result contains 0 rows")) {
            try plan.respond(RESTResult(json: "[]", rowCount: 0, total: nil))
        }
    }

    @Test func headersOnlySelectsThePrimaryKey() throws {
        let plan = try F.plan(.post, prefer: "return=headers-only", body: #"{"title":"a"}"#, dialect: .sqlite)
        #expect(plan.statements == [SQLStatement(#"INSERT INTO "todos" ("title") VALUES (?1) RETURNING json_object('id', "id")"#, binds: [.text("a")])])
        #expect(plan.form == .objectPerRow)
    }
}
