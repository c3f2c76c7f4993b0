import Testing
@testable import CellbaseSQL

/// Policies on `storage.objects`: accepted by migrations, kept in the built-in table, compiled
/// by the same compiler as table policies.
@Suite struct StoragePolicyTests {
    static let owners = """
        create policy "own avatars" on storage.objects for select to authenticated
            using (bucket_id = 'avatars' and owner = auth.uid());
        create policy "own folder" on storage.objects for insert to authenticated
            with check ((storage.foldername(name))[1] = auth.uid()::text and storage.extension(name) = 'png');
        """

    @Test func migrationsKeepThemOnTheBuiltInTable() throws {
        let schema = try MigrationFixture.schema(Self.owners)
        #expect(schema.tables.isEmpty)
        #expect(schema.storageObjects.policies.map(\.name) == ["own avatars", "own folder"])
        #expect(schema.storageObjects.rowLevelSecurity)
        let dropped = try MigrationFixture.schema(Self.owners, #"drop policy "own avatars" on storage.objects;"#)
        #expect(dropped.storageObjects.policies.map(\.name) == ["own folder"])
    }

    @Test func compilesForBothDialects() throws {
        let schema = try MigrationFixture.schema(Self.owners)
        let compiler = PolicyCompiler(schema: schema, namespace: .sqlite)
        let sqlite = try compiler.predicate(for: schema.storageObjects, role: "authenticated", command: .insert, clause: .check)
        #expect(sqlite.sql(column: { "o.\($0)" }, claim: { ":\($0.rawValue)" })
            == "(cellbase_storage_foldername(o.name, 1) = CAST(:uid AS TEXT)) AND (cellbase_storage_extension(o.name) = 'png')")
        let postgres = try PolicyCompiler(schema: schema, namespace: .postgres(schema: "p"))
            .predicate(for: schema.storageObjects, role: "authenticated", command: .insert, clause: .check)
        #expect(postgres.sql(column: { "o.\($0)" }, claim: { ":\($0.rawValue)" })
            == "((CASE WHEN array_length(string_to_array(o.name, '/'), 1) > 1 THEN split_part(o.name, '/', 1) END) = :uid::text) AND (reverse(split_part(split_part(reverse(o.name), '/', 1), '.', 1)) = 'png')")
        let anon = try compiler.predicate(for: schema.storageObjects, role: "anon", command: .select, clause: .using)
        #expect(anon.sql(column: { $0 }, claim: { $0.rawValue }) == "0")
    }

    @Test func droppingATableAPolicyReadsNeedsCascade() throws {
        let members = """
            create table members (user_id uuid not null, team text not null);
            create policy "team files" on storage.objects for select to authenticated
                using (exists (select 1 from members m where m.user_id = auth.uid() and m.team = (storage.foldername(name))[1]));
            """
        let error = try #require(MigrationFixture.error("drop table members;", on: try MigrationFixture.schema(members)))
        #expect(error.message.contains("is used by the policy \"team files\" on \"storage.objects\""), "\(error.message)")
        let cascaded = try MigrationFixture.schema(members, "drop table members cascade;")
        #expect(cascaded.storageObjects.policies.isEmpty)
    }

    @Test(arguments: [
        ("create table storage.objects (id int);", "storage.objects is built in"),
        ("alter table storage.objects enable row level security;", "storage.objects is built in"),
        ("create policy p on storage.buckets using (true);", "tables of the storage schema"),
        ("create policy p on storage.objects using (storage.foldername(name) = 'a');", "storage.foldername() returns an array"),
        ("create policy p on storage.objects using ((lower(name))[1] = 'a');", "a subscript [n] is supported only"),
        ("create policy p on storage.objects using ((storage.foldername(name))[0] = 'a');", "positive whole number"),
        ("create policy p on storage.objects using (size > 3);", "column \"size\" does not exist"),
    ])
    func rejects(_ sql: String, _ message: String) throws {
        let error = try #require(MigrationFixture.error(sql))
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func storageSQLHoldsReadsToThePolicies() throws {
        let schema = try MigrationFixture.schema(Self.owners)
        let sql = StorageSQL(namespace: .postgres(schema: "p"), schema: schema)
        let claims = JSONValue.object([JSONMember(key: "sub", value: .string("11111111-1111-1111-1111-111111111111"))])
        let read = try sql.object(bucket: "avatars", name: "a.png", access: .role("authenticated", claims: claims))
        #expect(read.sql.hasSuffix(#"AND (("o"."bucket_id" = 'avatars') AND ("o"."owner" = $3::text::uuid))"#), "\(read.sql)")
        #expect(read.binds == [.text("avatars"), .text("a.png"), .text("11111111-1111-1111-1111-111111111111")])
        let service = try sql.object(bucket: "avatars", name: "a.png", access: .serviceRole)
        #expect(!service.sql.contains("owner\" ="))
        let listing = try sql.list(bucket: "avatars", StorageListing(prefix: "dir"), access: .anon)
        #expect(listing.sql.contains("AND (false)"), "\(listing.sql)")
        #expect(listing.binds == [.text("avatars"), .text("dir/")])
    }
}
