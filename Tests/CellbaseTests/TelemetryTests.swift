import CellbaseSQL
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import Cellbase

extension TestClient {
    /// A `/telemetry/v1` request with a project key in `apikey` and `Authorization`.
    func telemetry(_ method: HTTPRequest.Method, _ path: String, key: String, contentType: String = "application/json", body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [HTTPField.Name("apikey")!: key, .authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = contentType }
        return try await request(method, "/telemetry/v1" + path, headers: headers, body: body)
    }

    /// An ingest as a device sends it: its token alone.
    func ingest(token: String, contentType: String = "application/json", query: String = "", body: String) async throws -> Answer {
        try await request(.post, "/telemetry/v1/ingest" + query, headers: [.authorization: "Bearer \(token)", .contentType: contentType], body: body)
    }

    /// An ingest whose body is raw bytes (not necessarily UTF-8).
    func ingest(key: String, bytes: [UInt8]) async throws -> Answer {
        let headers: HTTPFields = [HTTPField.Name("apikey")!: key, .contentType: "application/json"]
        return try await client.execute(uri: "/telemetry/v1/ingest", method: .post, headers: headers, body: ByteBuffer(bytes: bytes)) { response in
            Answer(status: response.status, headers: response.headers, body: String(buffer: response.body))
        }
    }

    /// Creates a device and returns its token.
    func createDevice(_ id: String, in project: TestProject) async throws -> String {
        let answer = try await telemetry(.post, "/devices", key: project.serviceRoleKey, body: #"{"id":"\#(id)","name":"Device \#(id)","metadata":{"floor":2}}"#)
        guard answer.status == .created, case .string(let token)? = try answer.json()["token"] else { throw UnexpectedAnswer(answer: answer) }
        return token
    }
}

/// Times the tests write at: whole minutes two hours ago, well inside the default retention.
private struct Clock {
    let base: Int64

    init() {
        let minute: Int64 = 60_000
        base = Int64(Date().timeIntervalSince1970 * 1000) / minute * minute - 2 * 3_600_000
    }

    /// Epoch milliseconds `seconds` after the base.
    func ms(_ seconds: Int64) -> Int64 { base + seconds * 1000 }
    func rfc3339(_ seconds: Int64) -> String { TelemetryTimestamp.rfc3339(ms(seconds) * 1000) }
}

extension JSONValue {
    var points: [(String, Double)] {
        guard case .array(let points)? = self["points"] else { return [] }
        return points.compactMap { point in
            guard case .string(let ts)? = point["ts"], case .number(let value)? = point["value"], let number = Double(value) else { return nil }
            return (ts, number)
        }
    }
}

@Suite struct TelemetryTests {
    @Test(arguments: Backend.allCases)
    func devicesAreManagedWithTheServiceRoleKey(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let project = try await client.project()
            let service = project.serviceRoleKey
            let token = try await client.createDevice("pump-1", in: project)
            #expect(token.hasPrefix("cbd.\(project.ref).pump-1."))

            let again = try await client.telemetry(.post, "/devices", key: service, body: #"{"id":"pump-1"}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "device_exists")
            let invalid = try await client.telemetry(.post, "/devices", key: service, body: #"{"id":"a/b"}"#)
            #expect(invalid.status == .badRequest)
            #expect(invalid.code == "invalid_device_id")

            let one = try await client.telemetry(.get, "/devices/pump-1", key: service)
            #expect(one.status == .ok)
            let device = try one.json()
            #expect(device["name"] == .string("Device pump-1"))
            #expect(device["metadata"] == .object([JSONMember(key: "floor", value: .number("2"))]))
            #expect(device["token"] == nil)
            #expect(device["last_seen"] == .null)

            let patched = try await client.telemetry(.patch, "/devices/pump-1", key: service, body: #"{"name":"Main pump"}"#)
            #expect(try patched.json()["name"] == .string("Main pump"))
            #expect(try patched.json()["metadata"] == device["metadata"])

            _ = try await client.createDevice("pump-2", in: project)
            let list = try await client.telemetry(.get, "/devices", key: service)
            guard case .array(let devices) = try list.json() else { throw UnexpectedAnswer(answer: list) }
            #expect(devices.map { $0["id"] } == [.string("pump-1"), .string("pump-2")])

            // Rotation: the old token, verified (and remembered) just before, stops working; the new one works.
            #expect(try await client.ingest(token: token, body: #"{"t":1}"#).status == .ok)
            let rotated = try await client.telemetry(.post, "/devices/pump-1/token", key: service)
            guard case .string(let newToken)? = try rotated.json()["token"] else { throw UnexpectedAnswer(answer: rotated) }
            #expect(newToken != token)
            let stale = try await client.ingest(token: token, body: #"{"t":1}"#)
            #expect(stale.status == .unauthorized)
            #expect(stale.code == "invalid_device_token")
            #expect(try await client.ingest(token: newToken, body: #"{"t":1}"#).status == .ok)
            #expect(try await client.telemetry(.get, "/devices/pump-1", key: service).json()["last_seen"] != .null)

            let anon = try await client.telemetry(.get, "/devices", key: project.anonKey)
            #expect(anon.status == .forbidden)
            #expect(anon.code == "service_role_required")
            let none = try await client.request(.get, "/telemetry/v1/devices")
            #expect(none.status == .unauthorized)
            #expect(none.code == "no_api_key")
            // A device token manages nothing.
            let byDevice = try await client.request(.get, "/telemetry/v1/devices", headers: [.authorization: "Bearer \(newToken)"])
            #expect(byDevice.status == .forbidden)

            #expect(try await client.telemetry(.delete, "/devices/pump-1", key: service).status == .noContent)
            let gone = try await client.telemetry(.get, "/devices/pump-1", key: service)
            #expect(gone.status == .notFound)
            #expect(gone.code == "device_not_found")
            #expect(try await client.ingest(token: newToken, body: #"{"t":1}"#).status == .unauthorized)
            #expect(try await client.telemetry(.delete, "/devices/pump-1", key: service).status == .notFound)
        }
    }

    @Test(arguments: Backend.allCases)
    func jsonIngestThenRawBucketedAndLatest(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let project = try await client.project()
            let service = project.serviceRoleKey
            _ = try await client.createDevice("d1", in: project)
            let clock = Clock()
            let body = """
                [{"device":"d1","ts":\(clock.ms(0)),"temp":1,"mode":"eco"},
                 {"device":"d1","ts":\(clock.ms(10)),"temp":2},
                 {"device":"d1","ts":"\(clock.rfc3339(20))","metrics":{"temp":3,"on":true}},
                 {"device":"d1","ts":\(clock.ms(60) / 1000),"temp":10},
                 {"device":"d1","ts":\(clock.ms(70)),"temp":20,"pos":{"x":1}},
                 {"device":"d1","ts":\(clock.ms(120)),"temp":5}]
                """
            let ingested = try await client.telemetry(.post, "/ingest", key: service, body: body)
            #expect(ingested.status == .ok)
            #expect(try ingested.json()["points"] == .number("7"))

            let range = "device=d1&metric=temp&from=\(clock.rfc3339(0))&to=\(clock.rfc3339(180))"
            let raw = try await client.telemetry(.get, "/series?" + range, key: service)
            #expect(raw.status == .ok)
            #expect(try raw.json().points.map(\.1) == [1, 2, 3, 10, 20, 5])
            #expect(try raw.json().points.first?.0 == clock.rfc3339(0))
            #expect(try raw.json()["truncated"] == .bool(false))
            let limited = try await client.telemetry(.get, "/series?" + range + "&limit=2", key: service)
            #expect(try limited.json().points.map(\.1) == [1, 2])
            #expect(try limited.json()["truncated"] == .bool(true))

            let expected: [String: [Double]] = [
                "avg": [2, 15, 5], "min": [1, 10, 5], "max": [3, 20, 5], "sum": [6, 30, 5],
                "count": [3, 2, 1], "first": [1, 10, 5], "last": [3, 20, 5],
            ]
            for (aggregate, values) in expected {
                let bucketed = try await client.telemetry(.get, "/series?\(range)&bucket=1m&agg=\(aggregate)", key: service)
                #expect(bucketed.status == .ok)
                #expect(try bucketed.json().points.map(\.1) == values, "agg=\(aggregate)")
                #expect(try bucketed.json().points.map(\.0) == [clock.rfc3339(0), clock.rfc3339(60), clock.rfc3339(120)], "agg=\(aggregate)")
            }
            let count = try await client.telemetry(.get, "/series?\(range)&bucket=1m&agg=count", key: service)
            #expect(count.body.contains(#""value":3}"#))

            let empty = try await client.telemetry(.get, "/series?device=d1&metric=nothing", key: service)
            #expect(try empty.json().points.isEmpty)

            let latest = try await client.telemetry(.get, "/latest?device=d1", key: service)
            #expect(latest.status == .ok)
            let json = try latest.json()
            #expect(json["metrics"]?["temp"]?["value"] == .number("5.0"))
            #expect(json["metrics"]?["temp"]?["ts"] == .string(clock.rfc3339(120)))
            #expect(json["metrics"]?["on"]?["value"] == .number("1.0"))
            #expect(json["state"] == .object([
                JSONMember(key: "mode", value: .string("eco")),
                JSONMember(key: "pos", value: .object([JSONMember(key: "x", value: .number("1"))])),
            ]))
            #expect(try await client.telemetry(.get, "/latest?device=nobody", key: service).code == "device_not_found")

            let metrics = try await client.request(.get, "/metrics")
            #expect(metrics.body.contains("cellbase_telemetry_points_stored_total 7"))
            #expect(metrics.body.contains("cellbase_telemetry_batch_points_count 1"))
        }
    }

    @Test(arguments: Backend.allCases)
    func lineProtocolWithDeviceTokensAndTags(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let project = try await client.project()
            let token = try await client.createDevice("sensor", in: project)
            _ = try await client.createDevice("other", in: project)
            let clock = Clock()
            let lines = """
                # Telegraf output
                env temp=21.5,hum=40i,ok=t,fw="1.2" \(clock.ms(0) / 1000)
                env temp=22.5 \(clock.ms(30) / 1000)
                """
            let answer = try await client.ingest(token: token, contentType: "text/plain; charset=utf-8", query: "?precision=s", body: lines)
            #expect(answer.status == .ok)
            #expect(try answer.json()["points"] == .number("4"))
            let series = try await client.telemetry(.get, "/series?device=sensor&metric=env.temp&from=\(clock.rfc3339(0))&to=\(clock.rfc3339(60))", key: project.serviceRoleKey)
            #expect(try series.json().points.map(\.1) == [21.5, 22.5])
            let latest = try await client.telemetry(.get, "/latest?device=sensor", key: project.serviceRoleKey).json()
            #expect(latest["metrics"]?["env.hum"]?["value"] == .number("40.0"))
            #expect(latest["state"]?["env.fw"] == .string("1.2"))

            // With the service key the device comes from the tag; nanoseconds by default.
            let tagged = try await client.telemetry(.post, "/ingest", key: project.serviceRoleKey, contentType: "text/plain", body: "env,device=other temp=1 \(clock.ms(0) * 1_000_000)")
            #expect(tagged.status == .ok)
            let untagged = try await client.telemetry(.post, "/ingest", key: project.serviceRoleKey, contentType: "text/plain", body: "env temp=1")
            #expect(untagged.code == "device_required")
            // A device token writes only its own device.
            let foreign = try await client.ingest(token: token, contentType: "text/plain", body: "env,device=other temp=1")
            #expect(foreign.status == .forbidden)
            #expect(foreign.code == "device_mismatch")
            let badPrecision = try await client.ingest(token: token, contentType: "text/plain", query: "?precision=h", body: "env temp=1")
            #expect(badPrecision.code == "invalid_parameter")
        }
    }

    @Test(arguments: Backend.allCases)
    func hostileInputIsRefusedWithItsCode(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let project = try await client.project()
            let service = project.serviceRoleKey
            _ = try await client.createDevice("d", in: project)
            let old = Int64(Date().timeIntervalSince1970) - 40 * 86_400
            let future = Int64(Date().timeIntervalSince1970) + 3 * 86_400
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("application/json", #"{"device":"d","t":NaN}"#, .badRequest, "invalid_json"),
                ("application/json", #"{"device":"d","t":Infinity}"#, .badRequest, "invalid_json"),
                ("application/json", #"{"device":"d","t":1e999}"#, .badRequest, "invalid_number"),
                ("application/json", #"{"device":"d","a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}"#, .badRequest, "json_too_deep"),
                ("application/json", #"{"device":"d","t":"\q"}"#, .badRequest, "invalid_json"),
                ("application/json", #"{"device":"d","ts":-1,"t":1}"#, .badRequest, "timestamp_out_of_range"),
                ("application/json", #"{"device":"d","ts":"3000-01-01T00:00:00Z","t":1}"#, .badRequest, "timestamp_out_of_range"),
                ("application/json", #"{"device":"d","ts":\#(old),"t":1}"#, .badRequest, "timestamp_out_of_range"),
                ("application/json", #"{"device":"d","ts":\#(future),"t":1}"#, .badRequest, "timestamp_out_of_range"),
                ("application/json", #"{"device":"d","ts":"noon","t":1}"#, .badRequest, "invalid_timestamp"),
                ("application/json", #"{"t":1}"#, .badRequest, "device_required"),
                ("application/json", #"{"device":"ghost","t":1}"#, .badRequest, "unknown_device"),
                ("text/plain", #"env,device=d t\x=1"#, .badRequest, "invalid_line_protocol"),
                ("text/plain", #"env,device=d t="a\b""#, .badRequest, "invalid_line_protocol"),
                ("text/plain", "env,device=d t=1 -1", .badRequest, "timestamp_out_of_range"),
                ("text/plain", "env,device=d t=nan", .badRequest, "invalid_line_protocol"),
            ]
            for (type, body, status, code) in cases {
                let answer = try await client.telemetry(.post, "/ingest", key: service, contentType: type, body: body)
                #expect(answer.status == status, "\(body)")
                #expect(answer.code == code, "\(body): \(answer.body)")
                #expect(try answer.json()["message"] != nil)
            }
            let invalidUTF8 = try await client.ingest(key: service, bytes: Array(#"{"device":"d","s":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8))
            #expect(invalidUTF8.status == .badRequest)
            #expect(invalidUTF8.code == "invalid_utf8")
            // Nothing of the refused requests was stored.
            #expect(try await client.telemetry(.get, "/latest?device=d", key: service).json()["metrics"] == .object([]))

            let yearAgo = Int64(Date().timeIntervalSince1970) - 365 * 86_400
            let queries: [(String, String)] = [
                ("device=d&metric=t&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "invalid_range"),
                ("device=d&metric=t&from=\(yearAgo)&bucket=1ns", "invalid_bucket"),
                ("device=d&metric=t&from=\(yearAgo)&bucket=1ms", "too_many_buckets"),
                ("device=d&metric=t&bucket=1m&agg=median", "invalid_aggregate"),
                ("metric=t", "invalid_parameter"),
            ]
            for (query, code) in queries {
                let answer = try await client.telemetry(.get, "/series?" + query, key: service)
                #expect(answer.status == .badRequest, "\(query)")
                #expect(answer.code == code, "\(query): \(answer.body)")
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func anotherProjectsDeviceIsRefused(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let first = try await client.project()
            let second = try await client.project()
            let token = try await client.createDevice("shared-name", in: first)
            _ = try await client.createDevice("only-first", in: first)
            // The second project's key cannot write the first project's device.
            let crossKey = try await client.telemetry(.post, "/ingest", key: second.serviceRoleKey, body: #"{"device":"only-first","t":1}"#)
            #expect(crossKey.code == "unknown_device")
            // A token whose ref is swapped for another project's does not verify there.
            let swapped = token.replacing(first.ref, with: second.ref)
            _ = try await client.createDevice("shared-name", in: second)
            #expect(try await client.ingest(token: swapped, body: #"{"t":1}"#).code == "invalid_device_token")
            // Nor does the second project's key see the first project's devices.
            #expect(try await client.telemetry(.get, "/devices/only-first", key: second.serviceRoleKey).status == .notFound)
            let backend = client.node.telemetry
            #expect(try await backend.authenticate(username: "\(second.ref):shared-name", password: ByteBuffer(string: token)) == nil)
            #expect(try await backend.authenticate(username: "\(first.ref):shared-name", password: ByteBuffer(string: token)) == DeviceIdentity(projectRef: first.ref, deviceID: "shared-name"))
        }
    }

    @Test(arguments: Backend.allCases)
    func retentionDropsWholePartitions(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let project = try await client.project()
            let service = project.serviceRoleKey
            _ = try await client.createDevice("d", in: project)
            let now = Int64(Date().timeIntervalSince1970)
            let tenDaysAgo = now - 10 * 86_400
            let twoDaysAgo = now - 2 * 86_400
            let ingested = try await client.telemetry(.post, "/ingest", key: service, body: #"[{"device":"d","ts":\#(tenDaysAgo),"t":1},{"device":"d","ts":\#(twoDaysAgo),"t":2}]"#)
            #expect(ingested.status == .ok)
            let oldTable = PartitionLayout.daily.tableName(start: PartitionLayout.daily.start(containing: tenDaysAgo * 1_000_000))
            let recentTable = PartitionLayout.daily.tableName(start: PartitionLayout.daily.start(containing: twoDaysAgo * 1_000_000))

            let before = try await client.telemetry(.get, "/settings", key: service).json()
            #expect(before["retention_days"] == .number("30"))
            #expect(before["partition_hours"] == .number("24"))
            let namesBefore = Self.partitionNames(before)
            #expect(namesBefore.contains(oldTable) && namesBefore.contains(recentTable))
            // Partitions are made ahead: today, tomorrow and the day after.
            let today = PartitionLayout.daily.tableName(start: PartitionLayout.daily.start(containing: now * 1_000_000))
            #expect(namesBefore.contains(today))
            #expect(namesBefore.count == 5)

            let changed = try await client.telemetry(.patch, "/settings", key: service, body: #"{"retention_days":5}"#)
            #expect(changed.status == .ok)
            #expect(try changed.json()["retention_days"] == .number("5"))
            let namesAfter = Self.partitionNames(try changed.json())
            #expect(!namesAfter.contains(oldTable))
            #expect(namesAfter.contains(recentTable))
            #expect(try await Self.tableExists(oldTable, project: project, node: client.node) == false)
            #expect(try await Self.tableExists(recentTable, project: project, node: client.node) == true)

            let all = try await client.telemetry(.get, "/series?device=d&metric=t&from=\(tenDaysAgo - 60)", key: service)
            #expect(try all.json().points.map(\.1) == [2])
            // The shortened retention now refuses points older than it.
            let late = try await client.telemetry(.post, "/ingest", key: service, body: #"{"device":"d","ts":\#(now - 6 * 86_400),"t":1}"#)
            #expect(late.code == "timestamp_out_of_range")
            let invalid = try await client.telemetry(.patch, "/settings", key: service, body: #"{"retention_days":0}"#)
            #expect(invalid.code == "invalid_body")
        }
    }

    private static func partitionNames(_ settings: JSONValue) -> [String] {
        guard case .array(let partitions)? = settings["partitions"] else { return [] }
        return partitions.compactMap { partition in
            guard case .string(let name)? = partition["name"] else { return nil }
            return name
        }
    }

    private static func database(_ project: TestProject, node: CellbaseNode) async throws -> (any TelemetryDatabase, Project) {
        let found = try #require(try await node.directory.project(ref: project.ref))
        let database = try #require(try node.projects.shard(for: found) as? any TelemetryDatabase)
        return (database, found)
    }

    private static func tableExists(_ name: String, project: TestProject, node: CellbaseNode) async throws -> Bool {
        let (database, found) = try await database(project, node: node)
        let statement = database.namespace(for: found.ref).dialect == .sqlite
            ? SQLStatement("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", binds: [.text(name)])
            : SQLStatement("SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2", binds: [.text("proj_" + found.ref), .text(name)])
        return try await database.telemetryRows(ref: found.ref, statement).first?.first == .integer(1)
    }

    @Test func postgresQueriesScanOnlyTheCoveringPartitions() async throws {
        try await TestNode(backend: .postgres).run { client in
            let project = try await client.project()
            _ = try await client.createDevice("d", in: project)
            let now = Int64(Date().timeIntervalSince1970)
            _ = try await client.telemetry(.post, "/ingest", key: project.serviceRoleKey, body: #"[{"device":"d","ts":\#(now - 3 * 86_400),"t":1},{"device":"d","ts":\#(now - 86_400),"t":2}]"#)
            let (database, found) = try await Self.database(project, node: client.node)
            let query = try SeriesQuery.parse([("device", "d"), ("metric", "t"), ("from", String(now - 3 * 86_400 - 60)), ("to", String(now - 3 * 86_400 + 60))], now: now * 1_000_000)
            let sql = TelemetrySQL(namespace: database.namespace(for: found.ref))
            let statement = query.statement(seriesID: 1, sources: [sql.points], dialect: .postgres)
            let plan = try await database.telemetryRows(ref: found.ref, SQLStatement("EXPLAIN " + statement.sql, binds: statement.binds))
                .compactMap { row -> String? in if case .text(let line)? = row.first { return line } else { return nil } }
                .joined(separator: "\n")
            let layout = PartitionLayout.daily
            let covering = layout.tableName(start: layout.start(containing: (now - 3 * 86_400) * 1_000_000))
            let other = layout.tableName(start: layout.start(containing: (now - 86_400) * 1_000_000))
            #expect(plan.contains(covering), "\(plan)")
            #expect(!plan.contains(other), "\(plan)")
        }
    }

    @Test(arguments: Backend.allCases)
    func commandsAreQueuedDeliveredAndQueryable(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            let project = try await client.project()
            let service = project.serviceRoleKey
            _ = try await client.createDevice("valve", in: project)
            let backend: any DeviceBackend = client.node.telemetry
            let identity = DeviceIdentity(projectRef: project.ref, deviceID: "valve")
            let notifications = backend.commandNotifications()

            let posted = try await client.telemetry(.post, "/devices/valve/commands", key: service, body: #"{"payload":{"open":true},"ttl":600,"topic":"set/open"}"#)
            #expect(posted.status == .created)
            let command = try posted.json()
            guard case .string(let id)? = command["id"] else { throw UnexpectedAnswer(answer: posted) }
            #expect(command["topic"] == .string("devices/valve/commands/set/open"))
            #expect(command["status"] == .string("queued"))
            #expect(command["delivered_at"] == .null)
            var iterator = notifications.makeAsyncIterator()
            let woken = await iterator.next()
            #expect(woken == identity)

            let text = try await client.telemetry(.post, "/devices/valve/commands", key: service, body: #"{"payload":"reboot"}"#)
            #expect(try text.json()["topic"] == .string("devices/valve/commands"))

            let pending = try await backend.pendingCommands(for: identity)
            #expect(pending.map(\.topic) == ["devices/valve/commands/set/open", "devices/valve/commands"])
            #expect(pending.map { String(buffer: $0.payload) } == [#"{"open":true}"#, "reboot"])
            #expect(pending.first?.id == id)

            try await backend.commandDelivered(id: id, to: identity)
            let status = try await client.telemetry(.get, "/devices/valve/commands/\(id)", key: service).json()
            #expect(status["status"] == .string("delivered"))
            #expect(status["delivered_at"] != .null)
            #expect(try await backend.pendingCommands(for: identity).count == 1)

            // Another device cannot acknowledge it, and other devices' lists are their own.
            let other = DeviceIdentity(projectRef: project.ref, deviceID: "other")
            #expect(try await backend.pendingCommands(for: other).isEmpty)

            let missing = try await client.telemetry(.post, "/devices/ghost/commands", key: service, body: #"{"payload":1}"#)
            #expect(missing.code == "device_not_found")
            let badTopic = try await client.telemetry(.post, "/devices/valve/commands", key: service, body: #"{"payload":1,"topic":"a/+/b"}"#)
            #expect(badTopic.code == "invalid_body")
            let badTTL = try await client.telemetry(.post, "/devices/valve/commands", key: service, body: #"{"payload":1,"ttl":0}"#)
            #expect(badTTL.code == "invalid_body")
            let unknown = try await client.telemetry(.get, "/devices/valve/commands/nope", key: service)
            #expect(unknown.code == "command_not_found")
        }
    }

    @Test(arguments: Backend.allCases)
    func telemetryServiceIsADeviceBackend(_ backend: Backend) async throws {
        try await TestNode(backend: backend).run { client in
            // The node's only project is `default`: a bare device id names a device of it.
            let project = try #require(client.node.defaultProject)
            let keys = TestProject(ref: project.ref, anonKey: project.anonKey, serviceRoleKey: project.serviceRoleKey)
            let token = try await client.createDevice("meter", in: keys)
            _ = try await client.createDevice("doomed", in: keys)
            let service = client.node.telemetry
            let backend: any DeviceBackend = service
            let identity = DeviceIdentity(projectRef: project.ref, deviceID: "meter")

            #expect(try await backend.authenticate(username: "\(project.ref):meter", password: ByteBuffer(string: token)) == identity)
            #expect(try await backend.authenticate(username: "meter", password: ByteBuffer(string: token)) == identity)
            #expect(try await backend.authenticate(username: "meter", password: ByteBuffer(string: token + "x")) == nil)
            #expect(try await backend.authenticate(username: "\(project.ref):nobody", password: ByteBuffer(string: token)) == nil)
            #expect(try await backend.authenticate(username: "zzzzzzzzzzzzzzzzzzzz:meter", password: ByteBuffer(string: token)) == nil)

            let clock = Clock()
            let doomed = DeviceIdentity(projectRef: project.ref, deviceID: "doomed")
            #expect(try await client.telemetry(.delete, "/devices/doomed", key: keys.serviceRoleKey).status == .noContent)
            func publish(_ device: DeviceIdentity, _ payload: String) -> DevicePublish {
                DevicePublish(device: device, topic: "devices/\(device.deviceID)/telemetry", payload: ByteBuffer(string: payload), receivedAtMillis: clock.ms(0))
            }
            let outcomes = try await backend.store([
                publish(identity, #"{"temp": 20.5, "state": "idle"}"#),
                publish(identity, #"{"temp": NaN}"#),
                publish(identity, #"{"ts": \#(clock.ms(30)), "temp": 21}"#),
                publish(doomed, #"{"temp": 1}"#),
                publish(identity, #"{"ts": 1, "temp": 1}"#),
                publish(DeviceIdentity(projectRef: "zzzzzzzzzzzzzzzzzzzz", deviceID: "meter"), #"{"temp": 1}"#),
            ])
            #expect(outcomes.count == 6)
            #expect(outcomes[0] == .stored)
            #expect(outcomes[2] == .stored)
            for index in [1, 3, 4, 5] {
                guard case .rejected = outcomes[index] else {
                    Issue.record("publish \(index) was stored")
                    continue
                }
            }
            if case .rejected(let reason) = outcomes[4] { #expect(reason.hasPrefix("timestamp_out_of_range")) }
            let series = try await client.telemetry(.get, "/series?device=meter&metric=temp&from=\(clock.rfc3339(0))&to=\(clock.rfc3339(60))", key: keys.serviceRoleKey)
            #expect(try series.json().points.map(\.1) == [20.5, 21])
            #expect(try await client.telemetry(.get, "/latest?device=meter", key: keys.serviceRoleKey).json()["state"]?["state"] == .string("idle"))
        }
    }
}

@Suite struct CommandRecordTests {
    private func record(deliveredAt: Int64?) throws -> CommandRecord {
        try #require(CommandRecord([
            .text("c1"), .text("valve"), .text("devices/valve/commands"), .text(#""open""#),
            .integer(1_000), .integer(2_000), deliveredAt.map(SQLValue.integer) ?? .null,
        ]))
    }

    @Test func statusFollowsDeliveryAndExpiry() throws {
        #expect(try record(deliveredAt: nil).status(now: 1_999) == .queued)
        #expect(try record(deliveredAt: nil).status(now: 2_000) == .expired)
        #expect(try record(deliveredAt: 1_500).status(now: 3_000) == .delivered)
    }

    @Test func aStringPayloadIsDeliveredAsItsText() throws {
        #expect(try record(deliveredAt: nil).deliveredBytes == "open")
    }

    @Test func aRowOfTheWrongShapeIsNoCommand() {
        #expect(CommandRecord([.text("c1")]) == nil)
    }
}
