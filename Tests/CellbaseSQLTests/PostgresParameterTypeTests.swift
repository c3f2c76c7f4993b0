import Testing
@testable import CellbaseSQL

private typealias F = RESTFixture

/// PostgreSQL statements are prepared once and executed again with new values, so the statement
/// text must fix each parameter's type to the type its value is sent as: every `$n` is followed by
/// `::` and the wire type of its bound value (NULL, which is sent untyped, by the column's cast).
@Suite struct PostgresParameterTypeTests {
    static let everyType = #"{"id":7,"title":"t","done":true,"created_at":"2024-05-06T07:08:09Z","data":{"k":[1,2]},"tags":["a","b"],"owner":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","price":"12.50","file":"\\x0102"}"#

    static let requests: [(RESTMethod, [(String, String)], String?, String?)] = [
        (.get, [("select", "id,data->k->0,tags"), ("id", "eq.5"), ("title", "like.*a*"), ("done", "is.true")], nil, nil),
        (.get, [("created_at", "gte.2024-01-01"), ("owner", "eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), ("price", "lt.3.5")], nil, nil),
        (.get, [("file", #"eq.\x00ff"#), ("tags", "cs.{a}"), ("data", #"cd.{"a":1}"#), ("data->a->>b", "eq.1")], nil, nil),
        (.get, [("id", "in.(1,null,3)"), ("or", "(id.eq.1,title.neq.x)"), ("order", "data->k.desc"), ("limit", "5"), ("offset", "2")], nil, nil),
        (.post, [], nil, everyType),
        (.post, [("columns", "id,title,owner")], "resolution=merge-duplicates", #"[{"id":1,"title":"a","owner":null},{"id":2,"title":"b"}]"#),
        (.patch, [("id", "eq.7")], "return=representation", everyType),
        (.delete, [("owner", "is.null"), ("created_at", "lt.2020-01-01T00:00:00+01:00")], nil, nil),
    ]

    @Test(arguments: 0..<requests.count)
    func everyPlaceholderNamesItsWireType(_ index: Int) throws {
        let (method, query, prefer, body) = Self.requests[index]
        let plan = try F.plan(method, query, prefer: prefer, body: body, dialect: .postgres)
        #expect(!plan.statements.isEmpty)
        for statement in plan.statements {
            let uses = Self.placeholders(in: statement.sql)
            #expect(Set(uses.map(\.index)) == Set(1..<(statement.binds.count + 1)), "every bound value is used, and only those")
            for use in uses {
                let value = statement.binds[use.index - 1]
                if let wire = value.postgresWireType {
                    #expect(use.firstCast == wire, "$\(use.index) is sent as \(wire) but the statement reads it as \(use.firstCast ?? "untyped"): \(statement.sql)")
                } else {
                    #expect(use.firstCast != nil, "$\(use.index) is NULL and untyped: \(statement.sql)")
                }
            }
        }
    }

    @Test func nullValuesAreCastToTheColumnTypeOnly() throws {
        let plan = try F.plan(.post, body: #"{"title":"t","owner":null,"data":null}"#, dialect: .postgres)
        #expect(plan.statements[0].sql.contains(#"VALUES ($1::text, $2::uuid, $3::jsonb)"#))
        #expect(plan.statements[0].binds == [.text("t"), .null, .null])
    }

    /// Each `$n` in `sql` with the first type named after it (`$2::int8::int4` → `int8`).
    static func placeholders(in sql: String) -> [(index: Int, firstCast: String?)] {
        var found: [(index: Int, firstCast: String?)] = []
        let scalars = Array(sql.unicodeScalars)
        var position = 0
        while position < scalars.count {
            guard scalars[position] == "$" else { position += 1; continue }
            var end = position + 1
            while end < scalars.count, ("0"..."9").contains(scalars[end]) { end += 1 }
            guard end > position + 1, let index = Int(String(String.UnicodeScalarView(scalars[(position + 1)..<end]))) else {
                position = end
                continue
            }
            var cast: String?
            if end + 1 < scalars.count, scalars[end] == ":", scalars[end + 1] == ":" {
                var nameEnd = end + 2
                while nameEnd < scalars.count, scalars[nameEnd].properties.isAlphabetic || ("0"..."9").contains(scalars[nameEnd]) { nameEnd += 1 }
                cast = String(String.UnicodeScalarView(scalars[(end + 2)..<nameEnd]))
            }
            found.append((index, cast))
            position = end
        }
        return found
    }

    @Test func placeholderScannerReadsCasts() {
        let uses = Self.placeholders(in: #"a = $1::int8::int4 AND b IN ($12::text, $3) AND "x$" = $2::bytea"#)
        #expect(uses.map(\.index) == [1, 12, 3, 2])
        #expect(uses.map(\.firstCast) == ["int8", "text", nil, "bytea"])
    }
}
