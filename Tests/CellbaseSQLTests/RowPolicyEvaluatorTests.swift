import Testing
@testable import CellbaseSQL

/// In-memory SELECT policy decisions for realtime, checked against what the policies say.
struct RowPolicyEvaluatorTests {
    static let alice = "11111111-1111-4111-8111-111111111111"
    static let bob = "22222222-2222-4222-8222-222222222222"

    static func table(_ policies: String, rls: Bool = true) throws -> Table {
        let schema = try MigrationFixture.schema("""
            create table notes (id bigint primary key, owner uuid, public boolean not null default false, body text, org int, price numeric, meta jsonb);
            \(rls ? "alter table notes enable row level security;" : "")
            \(policies)
            """)
        return try #require(schema.table(named: "notes"))
    }

    static func user(_ sub: String, org: Int? = nil) -> RESTAccess {
        var members = [JSONMember(key: "sub", value: .string(sub)), JSONMember(key: "role", value: .string("authenticated"))]
        if let org {
            members.append(JSONMember(key: "app_metadata", value: .object([JSONMember(key: "org", value: .number("\(org)"))])))
        }
        return .role("authenticated", claims: .object(members))
    }

    static func row(owner: String? = alice, isPublic: Bool = false, org: Int = 1, body: String = "x") throws -> JSONValue {
        let ownerJSON = owner.map { "\"\($0)\"" } ?? "null"
        return try JSONParser.parse(Array(#"{"id":1,"owner":\#(ownerJSON),"public":\#(isPublic),"body":"\#(body)","org":\#(org),"price":1.5,"meta":{"tags":["a"],"level":3}}"#.utf8), maxDepth: 8)
    }

    static let ownOrPublic = """
        create policy own on notes for select to authenticated using (auth.uid() = owner);
        create policy pub on notes for select using (public);
        """

    @Test func ownersAndPublicRows() throws {
        let table = try Self.table(Self.ownOrPublic)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: table, access: Self.user(Self.alice)) == .visible)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: table, access: Self.user(Self.bob)) == .hidden)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(isPublic: true), in: table, access: Self.user(Self.bob)) == .visible)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: table, access: .anon) == .hidden)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(isPublic: true), in: table, access: .anon) == .visible)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(owner: nil), in: table, access: Self.user(Self.alice)) == .hidden, "NULL = x is unknown, not true")
        #expect(RowPolicyEvaluator.canSelect(try Self.row(owner: Self.alice.uppercased()), in: table, access: Self.user(Self.alice)) == .visible, "uuids compare as uuids")
    }

    @Test func bypassesAndOpenTables() throws {
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: try Self.table(Self.ownOrPublic), access: .serviceRole) == .visible)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: try Self.table("", rls: false), access: .anon) == .visible)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: try Self.table(""), access: Self.user(Self.alice)) == .hidden, "RLS on and no policy: nothing")
        let insertOnly = try Self.table("create policy ins on notes for insert with check (true);")
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: insertOnly, access: Self.user(Self.alice)) == .hidden)
    }

    @Test func restrictivePoliciesAndClaims() throws {
        let table = try Self.table(Self.ownOrPublic + """
            create policy same_org on notes as restrictive for select to authenticated
                using (org = (auth.jwt() -> 'app_metadata' ->> 'org')::int);
            """)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(org: 7), in: table, access: Self.user(Self.alice, org: 7)) == .visible)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(org: 7), in: table, access: Self.user(Self.alice, org: 8)) == .hidden)
        #expect(RowPolicyEvaluator.canSelect(try Self.row(org: 7), in: table, access: Self.user(Self.alice)) == .hidden, "a missing claim is NULL")
        #expect(RowPolicyEvaluator.canSelect(try Self.row(isPublic: true), in: table, access: .anon) == .visible, "restrictive policies for another role do not apply")
    }

    @Test(arguments: [
        ("using (auth.role() = 'authenticated')", RowPolicyEvaluator.Verdict.visible),
        ("using (auth.role() = 'anon')", .hidden),
        ("using (id in (1, 2, 3))", .visible),
        ("using (id not in (2, 3))", .visible),
        ("using (id in (2, null))", .hidden),
        ("using (not public)", .visible),
        ("using (owner is not null and org >= 1)", .visible),
        ("using (org < 1 or body = 'x')", .visible),
        ("using (owner = '11111111-1111-4111-8111-111111111111')", .visible),
        ("using (meta ->> 'level' = '3')", .visible),
        ("using (meta -> 'tags' ->> 0 = 'a')", .visible),
        ("using (auth.email() is null)", .visible),
        ("using (body like 'x%')", .undecided),
        ("using (price > 1)", .undecided),
        ("using (body < 'y')", .undecided),
        ("using (lower(body) = 'x')", .undecided),
        ("using (exists (select 1 from notes n where n.id = notes.id))", .undecided),
        ("using (owner = 'not-a-uuid')", .undecided),
    ])
    func expressions(using: String, expected: RowPolicyEvaluator.Verdict) throws {
        let table = try Self.table("create policy p on notes for select to authenticated \(using);")
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: table, access: Self.user(Self.alice)) == expected)
    }

    @Test func anUndecidedPolicyLeavesTheWholeDecisionToTheDatabase() throws {
        let table = try Self.table(Self.ownOrPublic + "create policy text on notes for select using (body like 'x%');")
        #expect(RowPolicyEvaluator.canSelect(try Self.row(), in: table, access: Self.user(Self.bob)) == .undecided)
    }
}
