import Testing

@testable import CellbaseSQL

@Suite struct QueryStringTests {
    @Test(arguments: [
        ("select=id,title", [("select", "id,title")]),
        ("title=neq.a+b", [("title", "neq.a b")]),
        ("or=%28id.eq.1%2Cid.eq.2%29", [("or", "(id.eq.1,id.eq.2)")]),
        ("title=eq.a%2Bb", [("title", "eq.a+b")]),
        ("a=1&a=2&b", [("a", "1"), ("a", "2"), ("b", "")]),
        ("&&x=%E2%82%AC&", [("x", "€")]),
        ("k=a=b", [("k", "a=b")]),
        ("", []),
    ])
    func decodes(raw: String, expected: [(String, String)]) throws {
        let decoded = try QueryString.decode(Substring(raw))
        #expect(decoded.map(\.name) == expected.map(\.0))
        #expect(decoded.map(\.value) == expected.map(\.1))
    }

    @Test(arguments: ["a=%", "a=%4", "a=%zz", "a=%C3%28", "%FF=1"])
    func rejectsMalformedEncoding(raw: String) {
        #expect(throws: QueryString.Invalid.self) { try QueryString.decode(Substring(raw)) }
    }
}
