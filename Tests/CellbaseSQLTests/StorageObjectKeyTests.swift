import Testing
@testable import CellbaseSQL

@Suite struct StorageObjectKeyTests {
    @Test(arguments: [
        ("a.txt", "a.txt"),
        ("dir/sub/file name+1.png", "dir/sub/file name+1.png"),
        ("caf\u{65}\u{301}.txt", "caf\u{E9}.txt"),
        ("..a/b..", "..a/b.."),
        ("%2e%2e", "%2e%2e"),
    ])
    func acceptsAndNormalises(_ input: String, _ expected: String) throws {
        let name = try ObjectKey.name(input)
        #expect(Array(name.utf8) == Array(expected.utf8))
    }

    @Test func namesDifferingOnlyInNormalisationAreOne() throws {
        let composed = try ObjectKey.name("\u{E9}t\u{E9}.txt")
        let decomposed = try ObjectKey.name("e\u{301}te\u{301}.txt")
        #expect(Array(composed.utf8) == Array(decomposed.utf8))
        #expect(try ObjectKey.name(fromPath: "e%CC%81te%CC%81.txt").utf8.elementsEqual(composed.utf8))
    }

    @Test(arguments: [
        ("", ObjectKey.Rejection.empty),
        ("..", .dotSegment),
        ("a/../b", .dotSegment),
        ("./a", .dotSegment),
        ("a//b", .emptySegment),
        ("/a", .emptySegment),
        ("a/", .emptySegment),
        ("a\0b", .forbiddenCharacter),
        ("a\\b", .forbiddenCharacter),
        ("..\\..\\etc", .forbiddenCharacter),
        ("line\nbreak", .forbiddenCharacter),
        ("del\u{7F}", .forbiddenCharacter),
    ])
    func rejects(_ input: String, _ rejection: ObjectKey.Rejection) {
        #expect(throws: rejection) { try ObjectKey.name(input) }
    }

    @Test func limitsLength() throws {
        #expect(try ObjectKey.name(String(repeating: "a", count: 1024)).utf8.count == 1024)
        #expect(throws: ObjectKey.Rejection.tooLong(bytes: 1025)) { try ObjectKey.name(String(repeating: "a", count: 1025)) }
        // Two bytes per character: 513 of them are 1,026 bytes.
        #expect(throws: ObjectKey.Rejection.tooLong(bytes: 1026)) { try ObjectKey.name(String(repeating: "\u{E9}", count: 513)) }
    }

    @Test(arguments: [
        ("%2e%2e/secret", ObjectKey.Rejection.dotSegment),
        ("a%2F%2Fb", .emptySegment),
        ("a%00b", .forbiddenCharacter),
        ("a%5Cb", .forbiddenCharacter),
        ("a%2", .badEncoding),
        ("a%zz", .badEncoding),
        ("%FF%FE", .badEncoding),
    ])
    func rejectsEncodedTraversal(_ raw: String, _ rejection: ObjectKey.Rejection) {
        #expect(throws: rejection) { try ObjectKey.name(fromPath: Substring(raw)) }
    }

    @Test func decodesPathsOnceKeepingPlus() throws {
        #expect(try ObjectKey.name(fromPath: "dir/x%20y+z.txt") == "dir/x y+z.txt")
        #expect(try ObjectKey.name(fromPath: "%252e%252e") == "%2e%2e")
        #expect(try ObjectKey.name(fromPath: "a%3Fb%23c") == "a?b#c")
    }

    @Test func prefixes() throws {
        #expect(try ObjectKey.prefix("") == "")
        #expect(try ObjectKey.prefix("dir/") == "dir")
        #expect(try ObjectKey.prefix("dir/sub") == "dir/sub")
        #expect(throws: ObjectKey.Rejection.dotSegment) { try ObjectKey.prefix("../x") }
    }

    @Test(arguments: [("avatars", true), ("a.b-c_d", true), ("", false), (".", false), ("..", false), ("a/b", false), ("a b", false), (String(repeating: "b", count: 64), false), ("sign", false), ("public", false), ("signs", true)])
    func bucketIDs(_ id: String, _ valid: Bool) {
        #expect(ObjectKey.isValidBucketID(id) == valid)
    }

    @Test func nameFunctions() {
        #expect(StorageObjectName.folder("a/b/c.png", 1) == "a")
        #expect(StorageObjectName.folder("a/b/c.png", 2) == "b")
        #expect(StorageObjectName.folder("a/b/c.png", 3) == nil)
        #expect(StorageObjectName.folder("c.png", 1) == nil)
        #expect(StorageObjectName.folder("a/b", 0) == nil)
        #expect(StorageObjectName.fileName("a/b/c.png") == "c.png")
        #expect(StorageObjectName.fileName("c") == "c")
        #expect(StorageObjectName.fileExtension("a/b/c.tar.gz") == "gz")
        #expect(StorageObjectName.fileExtension("a.b/readme") == "readme")
    }

    @Test func mimeTypes() {
        #expect(MimeType.isAllowed("image/png", by: nil))
        #expect(MimeType.isAllowed("image/png", by: ["image/png"]))
        #expect(MimeType.isAllowed("IMAGE/PNG; q=1", by: ["image/*"]))
        #expect(MimeType.isAllowed("text/plain", by: ["*/*"]))
        #expect(!MimeType.isAllowed("text/plain;charset=UTF-8", by: ["image/*", "application/pdf"]))
        #expect(!MimeType.isAllowed("imagex/png", by: ["image/*"]))
        #expect(MimeType.essence("text/plain;charset=UTF-8") == "text/plain")
    }
}

@Suite struct ByteRangeTests {
    @Test(arguments: [
        (nil, 10, ByteRange.whole),
        ("bytes=0-4", 10, .partial(0...4)),
        ("bytes=5-", 10, .partial(5...9)),
        ("bytes=-3", 10, .partial(7...9)),
        ("bytes=-30", 10, .partial(0...9)),
        ("bytes=8-100", 10, .partial(8...9)),
        ("bytes=10-", 10, .unsatisfiable),
        ("bytes=-0", 10, .unsatisfiable),
        ("bytes=0-0", 0, .unsatisfiable),
        ("bytes=5-2", 10, .whole),
        ("bytes=0-1,3-4", 10, .whole),
        ("items=0-1", 10, .whole),
        ("bytes=a-b", 10, .whole),
        ("bytes=99999999999999999999-", 10, .whole),
    ] as [(String?, Int, ByteRange)])
    func parses(_ header: String?, _ size: Int, _ expected: ByteRange) {
        #expect(ByteRange(header: header, size: size) == expected)
    }
}

@Suite struct StorageListingTests {
    static func parse(_ json: String) throws -> StorageListing {
        try StorageListing(body: JSONParser.parse(Array(json.utf8), maxDepth: 8))
    }

    @Test func clientBody() throws {
        let listing = try Self.parse(#"{"limit":100,"offset":0,"sortBy":{"column":"name","order":"asc"},"prefix":"dir/"}"#)
        #expect(listing == StorageListing(prefix: "dir", limit: 100, offset: 0, sortColumn: .name, ascending: true, search: nil))
        let searched = try Self.parse(#"{"limit":"5","offset":2,"sortBy":{"column":"created_at","order":"desc"},"prefix":"","search":"Ab"}"#)
        #expect(searched == StorageListing(prefix: "", limit: 5, offset: 2, sortColumn: .createdAt, ascending: false, search: "Ab"))
    }

    @Test func capsLimit() throws {
        #expect(try Self.parse(#"{"limit":1000000}"#).limit == StorageListing.maxLimit)
        #expect(try Self.parse(#"{"limit":99999999999999999999999}"#).limit == StorageListing.maxLimit)
    }

    @Test(arguments: [#"{"limit":0}"#, #"{"limit":-1}"#, #"{"offset":"x"}"#, #"{"sortBy":{"column":"size"}}"#, #"{"sortBy":{"order":"up"}}"#, #"{"prefix":"../a"}"#, #"[]"#])
    func rejects(_ json: String) {
        #expect(throws: StorageRequestError.self) { try Self.parse(json) }
    }
}

@Suite struct StorageURLTests {
    @Test(arguments: [
        ("dir/x y+z.txt", "dir/x%20y+z.txt"),
        ("a?b#c%d", "a%3Fb%23c%25d"),
        ("caf\u{E9}/(1),=;&.png", "caf%C3%A9/(1),=;&.png"),
    ])
    func encodesPathsTheWayTheyDecode(_ name: String, _ encoded: String) throws {
        #expect(ObjectKey.encodedPath(name) == encoded)
        #expect(try ObjectKey.name(fromPath: Substring(encoded)) == name)
    }

    @Test(arguments: [
        ("1994-11-06T08:49:37Z", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("2026-11-24T06:15:35.123Z", "Tue, 24 Nov 2026 06:15:35 GMT"),
        ("2024-02-29T00:00:00Z", "Thu, 29 Feb 2024 00:00:00 GMT"),
        ("1969-12-31T23:59:59Z", "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func formatsHTTPDates(_ timestamp: String, _ expected: String) {
        #expect(HTTPDate.format(rfc3339: timestamp) == expected)
    }

    @Test(arguments: ["2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01 00:00:00+00", "yesterday", ""])
    func refusesWhatIsNotAUTCTimestamp(_ text: String) {
        #expect(HTTPDate.format(rfc3339: text) == nil)
    }
}
