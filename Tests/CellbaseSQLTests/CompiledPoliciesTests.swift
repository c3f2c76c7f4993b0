import Testing
@testable import CellbaseSQL

/// Policies compiled ahead with a catalog plan exactly as policies compiled while planning.
@Suite struct CompiledPoliciesTests {
    static let policies = """
        create policy "owners" on docs for all to authenticated using (owner = auth.uid());
        create policy "published" on docs for select using (published);
        create policy "gold only" on docs as restrictive for update to authenticated with check ((auth.jwt() -> 'app_metadata' ->> 'tier') = 'gold');
        create policy "members" on members for select to authenticated using (user_id = auth.uid());
        alter table members enable row level security;
        """

    static let requests: [(RESTMethod, [(String, String)], String?, String?)] = [
        (.get, [("id", "eq.1")], nil, nil),
        (.get, [("select", "title")], "count=exact", nil),
        (.post, [], "return=representation", #"{"title":"t","owner":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}"#),
        (.patch, [("id", "eq.1")], nil, #"{"title":"u"}"#),
        (.delete, [("published", "is.false")], nil, nil),
        (.post, [("on_conflict", "id")], "resolution=merge-duplicates", #"{"id":1,"title":"v"}"#),
    ]

    @Test(arguments: [SQLDialect.sqlite, .postgres])
    func aheadAndOnDemandPlanTheSameStatements(dialect: SQLDialect) throws {
        let schema = try RLSFixture.schema(Self.policies)
        let namespace = RLSFixture.namespace(dialect)
        let compiled = CompiledPolicies(schema: schema, namespace: namespace)
        for access in [RLSFixture.user, .anon] {
            for (method, query, prefer, body) in Self.requests {
                let request = RESTRequest(method: method, table: "docs", query: query.map { (name: $0.0, value: $0.1) }, prefer: prefer, body: body.map { Array($0.utf8) })
                let ahead = try RESTPlanner(schema: schema, namespace: namespace, access: access, policies: compiled).plan(request)
                let onDemand = try RESTPlanner(schema: schema, namespace: namespace, access: access).plan(request)
                #expect(ahead.statements == onDemand.statements)
                #expect(!ahead.statements.isEmpty)
            }
        }
    }

    @Test func everyTableWithPoliciesOnIsCompiledForEachRoleCommandAndClause() throws {
        let schema = try RLSFixture.schema(Self.policies)
        let compiled = CompiledPolicies(schema: schema, namespace: .sqlite)
        // docs and members, each for anon and authenticated, 4 commands × 2 clauses.
        #expect(compiled.count == 2 * 2 * 4 * 2)
        let off = try MigrationPlanner.plan("create table t (id int primary key)", on: Schema(), namespace: .sqlite).schema
        #expect(CompiledPolicies(schema: off, namespace: .sqlite).count == 0)
    }

    @Test func aRecursivePolicyFailsWhenUsedNotWhenCompiled() throws {
        let schema = try MigrationPlanner.plan("""
            create table a (id int primary key);
            create table b (id int primary key);
            alter table a enable row level security;
            alter table b enable row level security;
            create policy pa on a using (exists (select 1 from b where b.id = a.id));
            create policy pb on b using (exists (select 1 from a where a.id = b.id));
            """, on: Schema(), namespace: .sqlite).schema
        let compiled = CompiledPolicies(schema: schema, namespace: .sqlite)
        let planner = RESTPlanner(schema: schema, namespace: .sqlite, access: .anon, policies: compiled)
        #expect(throws: RESTError(status: 500, code: "42P17", message: "infinite recursion detected in policy for relation \"a\"")) {
            try planner.plan(RESTRequest(method: .get, table: "a"))
        }
    }
}
