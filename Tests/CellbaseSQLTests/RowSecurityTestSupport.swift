@testable import CellbaseSQL

/// A project with row-level security: documents owned by users and shared through organisations.
enum RLSFixture {
    static let tables = """
        create table orgs (id uuid primary key, name text);
        create table members (org_id uuid references orgs, user_id uuid, role text, primary key (org_id, user_id));
        create table docs (id bigserial primary key, owner uuid, org_id uuid references orgs, title text, published boolean not null default false, meta jsonb);
        alter table docs enable row level security;
        """

    /// The tables with `policies` (more migration SQL) applied.
    static func schema(_ policies: String) throws -> Schema {
        try MigrationPlanner.plan(tables + policies, on: Schema(), namespace: .sqlite).schema
    }

    static let userID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

    static let claims = JSONValue.object([
        JSONMember(key: "sub", value: .string("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")),
        JSONMember(key: "role", value: .string("authenticated")),
        JSONMember(key: "email", value: .string("ada@example.com")),
        JSONMember(key: "app_metadata", value: .object([JSONMember(key: "tier", value: .string("gold"))])),
    ])

    static let user = RESTAccess.role("authenticated", claims: claims)

    static func namespace(_ dialect: SQLDialect) -> SQLNamespace {
        dialect == .postgres ? .postgres(schema: "p_1") : .sqlite
    }

    static func plan(
        _ method: RESTMethod, _ query: [(String, String)] = [], table: String = "docs",
        prefer: String? = nil, accept: String? = nil, body: String? = nil,
        policies: String, access: RESTAccess = user, dialect: SQLDialect
    ) throws -> RESTPlan {
        let planner = RESTPlanner(schema: try schema(policies), namespace: namespace(dialect), access: access)
        return try planner.plan(RESTRequest(
            method: method, table: table, query: query.map { (name: $0.0, value: $0.1) },
            prefer: prefer, accept: accept, body: body.map { Array($0.utf8) }
        ))
    }

    /// The predicate of `policies` for a role and command, its row named `"docs"` and each claim
    /// shown as `:name`, so a test reads the compiled shape without binds.
    static func predicate(
        _ policies: String, role: String = "authenticated", command: Policy.Command = .select,
        clause: PolicyCompiler.Clause = .using, dialect: SQLDialect
    ) throws -> String {
        let schema = try schema(policies)
        let compiler = PolicyCompiler(schema: schema, namespace: namespace(dialect))
        let template = try compiler.predicate(for: schema.table(named: "docs")!, role: role, command: command, clause: clause)
        return template.sql(column: RESTSQLBuilder.columns(of: "docs")) { ":" + $0.rawValue }
    }

    static let membership = """
        create policy "members read" on docs for select to authenticated
          using (exists (select 1 from members m where m.org_id = docs.org_id and m.user_id = auth.uid()));
        """
}
