import CellbaseSQL
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import JWTKit
import Testing

@testable import Cellbase

@Suite("Projects, keys and the admin API")
struct ProjectTests {
    @Test func firstStartCreatesTheDefaultProjectAndAPrivateAdminToken() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await node.run { client in
            let listed = try await client.admin(.get, "/admin/v1/projects")
            #expect(listed.status == .ok)
            guard case .array(let projects) = try listed.json() else { throw UnexpectedAnswer(answer: listed) }
            #expect(projects.count == 1)
            #expect(projects.first?["name"] == .string("default"))
            #expect(projects.first?["shard"] == .string("local"))
            guard case .string(let ref)? = projects.first?["ref"] else { throw UnexpectedAnswer(answer: listed) }
            #expect(ref.count == 20 && ref.allSatisfy { $0.isLowercase && $0.isASCII })
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: AdminToken.path(in: node.dataDirectory))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func adminRoutesNeedTheAdminToken() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await node.run { client in
            let missing = try await client.request(.get, "/admin/v1/projects")
            #expect(missing.status == .unauthorized)
            #expect(missing.code == "invalid_admin_token")
            let wrong = try await client.request(.get, "/admin/v1/projects", headers: [.authorization: "Bearer \(client.node.adminToken)x"])
            #expect(wrong.status == .unauthorized)
            let anonKey = try await client.request(.post, "/admin/v1/projects", headers: [.authorization: "Bearer \(client.node.defaultProject!.serviceRoleKey)"], body: #"{"name":"x"}"#)
            #expect(anonKey.status == .unauthorized)
        }
    }

    @Test func projectCreationValidatesAndRejectsDuplicates() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await node.run { client in
            let created = try await client.admin(.post, "/admin/v1/projects", body: #"{"name":"shop"}"#)
            #expect(created.status == .created)
            let keys = try created.json()
            #expect(keys["shard"] == .string("local"))
            let again = try await client.admin(.post, "/admin/v1/projects", body: #"{"name":"shop"}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "project_exists")
            let badName = try await client.admin(.post, "/admin/v1/projects", body: #"{"name":"../etc"}"#)
            #expect(badName.status == .badRequest)
            #expect(badName.code == "invalid_name")
            let badShard = try await client.admin(.post, "/admin/v1/projects", body: #"{"name":"s2","shard":"nowhere"}"#)
            #expect(badShard.status == .badRequest)
            #expect(badShard.code == "unknown_shard")
            let notJSON = try await client.admin(.post, "/admin/v1/projects", body: "name=x")
            #expect(notJSON.status == .badRequest)
            #expect(notJSON.code == "invalid_body")
            let unknown = try await client.admin(.get, "/admin/v1/projects/abcdefghijabcdefghij")
            #expect(unknown.status == .notFound)
            let traversal = try await client.admin(.get, "/admin/v1/projects/..%2F..%2Fcontrol")
            #expect(traversal.status == .notFound)
        }
    }

    @Test(arguments: Backend.allCases)
    func migrationsApplyOnceInOrderAndAtomically(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            let path = "/admin/v1/projects/\(project.ref)/migrations"
            let first = TestClient.migrationBody(name: "0001.sql", sql: "create table notes (id serial primary key, body text);")
            #expect(try await client.admin(.post, path, body: first).status == .created)
            let repeated = try await client.admin(.post, path, body: first)
            #expect(repeated.status == .ok)
            #expect(try repeated.json()["applied"] == .bool(false))
            let conflicting = try await client.admin(.post, path, body: TestClient.migrationBody(name: "0001.sql", sql: "create table other (id int);"))
            #expect(conflicting.status == .conflict)
            #expect(conflicting.code == "migration_conflict")

            // The second statement is outside the subset: nothing of this file may be applied.
            let invalid = try await client.admin(.post, path, body: TestClient.migrationBody(
                name: "0002.sql", sql: "create table half (id int primary key);\ncreate function evil() returns int as 'select 1';"
            ))
            #expect(invalid.status == .badRequest)
            #expect(invalid.code == "migration_invalid")
            #expect(invalid.body.contains("line 2"))
            let half = try await client.rest(.get, "half", project: project)
            #expect(half.status == .notFound)

            let added = try await client.admin(.post, path, body: TestClient.migrationBody(name: "0002.sql", sql: "alter table notes add column title text;"))
            #expect(added.status == .created)
            let inserted = try await client.rest(.post, "notes?select=id,body,title", project: project, headers: representation, body: #"{"body":"b","title":"t"}"#)
            #expect(try inserted.normalizedJSON() == json(#"[{"id":1,"body":"b","title":"t"}]"#))

            let listed = try await client.admin(.get, path)
            guard case .array(let migrations) = try listed.json() else { throw UnexpectedAnswer(answer: listed) }
            #expect(migrations.map { $0["name"] } == [.string("0001.sql"), .string("0002.sql")])
        }
    }

    @Test func apiKeysAreCheckedAndFoundCaseInsensitively() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await node.run { client in
            let a = try await client.project("a", migration: "create table items (id int primary key);")
            let b = try await client.project("b", migration: "create table secrets (id int primary key);")

            let lower = try await client.request(.get, "/rest/v1/items", headers: [HTTPField.Name("apikey")!: a.anonKey])
            #expect(lower.status == .ok)
            let upper = try await client.request(.get, "/rest/v1/items", headers: [HTTPField.Name("APIKEY")!: a.serviceRoleKey])
            #expect(upper.status == .ok)
            let query = try await client.request(.get, "/rest/v1/items?apikey=\(a.anonKey)")
            #expect(query.status == .ok)

            // The user's token travels in Authorization; the project comes from apikey only.
            let bearerOnly = try await client.request(.get, "/rest/v1/items", headers: [.authorization: "Bearer \(a.anonKey)"])
            #expect(bearerOnly.status == .unauthorized)
            #expect(bearerOnly.code == "no_api_key")

            let foreignSecret = try await forgeKey(ref: a.ref, role: "service_role", secret: "not-the-project-secret-but-long-enough-for-hmac")
            let expired = try await forgeKey(ref: a.ref, role: "anon", secret: nil, project: client.node.allProjects.first { $0.ref == a.ref }, expiresIn: -60)
            let unknownRef = try await forgeKey(ref: "zzzzzzzzzzzzzzzzzzzz", role: "anon", secret: "an-unknown-project-secret-long-enough-for-hmac")
            let badRole = try await forgeKey(ref: a.ref, role: "superuser", secret: nil, project: client.node.allProjects.first { $0.ref == a.ref })
            let noneAlg = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + base64URL(#"{"ref":"\#(a.ref)","role":"service_role","exp":9999999999}"#) + "."
            for key in [foreignSecret, expired, unknownRef, badRole, noneAlg, "garbage", "a.b.c", String(repeating: "x", count: 20_000)] {
                let answer = try await client.request(.get, "/rest/v1/items", headers: [HTTPField.Name("apikey")!: key])
                #expect(answer.status == .unauthorized, "\(key.prefix(40))")
                #expect(answer.code == "invalid_api_key")
            }

            // Project A's key never reaches project B's tables.
            let crossed = try await client.rest(.get, "secrets", project: a)
            #expect(crossed.status == .notFound)
            #expect(crossed.code == "PGRST205")
            #expect(try await client.rest(.get, "secrets", project: b).status == .ok)
        }
    }

    @Test(arguments: Backend.allCases)
    func sameTableNamesInTwoProjectsHoldSeparateRows(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let migration = "create table items (id int primary key, label text);"
            let first = try await client.project(migration: migration)
            let second = try await client.project(migration: migration)
            _ = try await client.rest(.post, "items", project: first, body: #"{"id":1,"label":"first"}"#)
            _ = try await client.rest(.post, "items", project: second, body: #"{"id":1,"label":"second"}"#)
            let fromFirst = try await client.rest(.get, "items?select=label", project: first)
            let fromSecond = try await client.rest(.get, "items?select=label", project: second)
            #expect(try fromFirst.normalizedJSON() == json(#"[{"label":"first"}]"#))
            #expect(try fromSecond.normalizedJSON() == json(#"[{"label":"second"}]"#))
        }
    }

    @Test(arguments: Backend.allCases)
    func acknowledgedWritesSurviveARestart(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        let project = try await node.run { client in
            let project = try await client.project(migration: "create table events (id int primary key, kind text);")
            let written = try await client.rest(.post, "events", project: project, body: #"[{"id":1,"kind":"a"},{"id":2,"kind":"b"}]"#)
            #expect(written.status == .created)
            return project
        }
        try await TestNode(backend: backend, dataDirectory: node.dataDirectory).run { client in
            let read = try await client.rest(.get, "events?select=id,kind&order=id", project: project)
            #expect(try read.normalizedJSON() == json(#"[{"id":1,"kind":"a"},{"id":2,"kind":"b"}]"#))
        }
    }

    @Test(arguments: Backend.allCases)
    func healthEndpoints(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let live = try await client.request(.get, "/health/live")
            #expect(live.status == .ok)
            #expect(try live.json()["status"] == .string("ok"))
            // Readiness is a probe, polled: each check has a 2 s deadline that a machine busy with
            // the whole test suite can miss once; a node that never gets ready fails.
            var ready = try await client.request(.get, "/health/ready")
            for _ in 0..<5 where ready.status != .ok {
                try await Task.sleep(for: .milliseconds(200))
                ready = try await client.request(.get, "/health/ready")
            }
            #expect(ready.status == .ok, "\(ready.body)")
            #expect(try ready.json()["status"] == .string("ready"))
        }
    }

    @Test func readinessFailsWhenAShardIsUnreachable() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        var configuration = try node.configuration()
        // A port nothing listens on: the shard cannot be reached.
        configuration.postgresShards = ["down": "postgres://cellbase:cellbase@127.0.0.1:1/cellbase"]
        let (app, _) = try await CellbaseBuilder.build(configuration)
        try await app.test(.router) { client in
            let answer = try await client.execute(uri: "/health/ready", method: .get) { response in response }
            #expect(answer.status == .serviceUnavailable)
            let body = try JSONParser.parse(Array(String(buffer: answer.body).utf8), maxDepth: 8)
            #expect(body["status"] == .string("unavailable"))
            guard case .string(let reason)? = body["reason"] else {
                Issue.record("no reason")
                return
            }
            #expect(reason.contains("shard:down"))
        }
    }
}

private func base64URL(_ text: String) -> String {
    Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

/// Signs an API key with an arbitrary secret (or the project's own), for negative tests.
private func forgeKey(ref: String, role: String, secret: String?, project: Project? = nil, expiresIn: TimeInterval = 3600) async throws -> String {
    let keys = JWTKeyCollection()
    await keys.add(hmac: HMACKey(from: secret ?? project?.jwtSecret ?? ""), digestAlgorithm: .sha256)
    let now = Date()
    return try await keys.sign(APIKeyClaims(iss: "cellbase", ref: ref, role: role, iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(expiresIn))))
}

@Suite("SQLite shard")
struct SQLiteShardTests {
    /// More projects than open databases allowed: every project still answers, and the shard
    /// never holds more files open than its bound.
    @Test func openDatabasesStayWithinTheirBound() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        var configuration = try node.configuration()
        configuration.maxOpenProjectDatabases = 3
        let (app, cellbase) = try await CellbaseBuilder.build(configuration)
        try await app.test(.router) { router in
            let client = TestClient(client: router, node: cellbase)
            var projects: [TestProject] = []
            for index in 0..<8 {
                let project = try await client.project("bounded\(index)", migration: "create table t (id int primary key, owner text);")
                _ = try await client.rest(.post, "t", project: project, body: #"{"id":1,"owner":"bounded\#(index)"}"#)
                projects.append(project)
            }
            for (index, project) in projects.enumerated().reversed() {
                let read = try await client.rest(.get, "t?select=owner", project: project)
                #expect(try read.normalizedJSON() == json(#"[{"owner":"bounded\#(index)"}]"#))
            }
            let shard = try #require(cellbase.projects.shards["local"] as? SQLiteShard)
            #expect(shard.openDatabaseCount <= 3)
        }
    }

    @Test func pathsWithTraversalOrEncodedSlashesFindNoTable() async throws {
        let node = TestNode(backend: .sqlite)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project(migration: "create table t (id int primary key);")
            for path in ["..%2F..%2Fadmin%2Fv1%2Fprojects", "t%2F..%2Ft", "%2E%2E", "t%00"] {
                let answer = try await client.rest(.get, path, project: project)
                #expect(answer.status == .notFound, "\(path): \(answer.body)")
                #expect(answer.code == "PGRST205", "\(path)")
            }
        }
    }
}

@Suite("Shared PostgreSQL control plane")
struct SharedControlPlaneTests {
    /// Two nodes on one PostgreSQL control plane and shard: a project created through the first
    /// is served by the second, which has never seen it.
    @Test func aProjectCreatedOnOneNodeIsServedByAnother() async throws {
        let first = TestNode(backend: .postgres)
        let second = TestNode(backend: .postgres)
        defer {
            first.removeData()
            second.removeData()
        }
        let (firstApp, firstNode) = try await CellbaseBuilder.build(try first.sharingControlPlane())
        let (secondApp, secondNode) = try await CellbaseBuilder.build(try second.sharingControlPlane())
        let name = "shared\(UInt32.random(in: 0...UInt32.max))"
        let project = try await firstApp.test(.router) { router in
            let client = TestClient(client: router, node: firstNode)
            let project = try await client.project(name, migration: "create table notes (id int primary key, body text);")
            let written = try await client.rest(.post, "notes", project: project, body: #"{"id":1,"body":"from the first node"}"#)
            #expect(written.status == .created)
            return project
        }
        try await secondApp.test(.router) { router in
            let client = TestClient(client: router, node: secondNode)
            let read = try await client.rest(.get, "notes?select=body", project: project)
            #expect(try read.normalizedJSON() == json(#"[{"body":"from the first node"}]"#))
            let listed = try await client.admin(.get, "/admin/v1/projects")
            guard case .array(let projects) = try listed.json() else { throw UnexpectedAnswer(answer: listed) }
            #expect(projects.contains { $0["name"] == .string(name) })
        }
    }
}
