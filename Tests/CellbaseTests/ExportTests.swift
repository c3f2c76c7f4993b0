import CellbaseSQL
import Foundation
import HTTPTypes
import Testing

@testable import Cellbase

extension TestClient {
    /// A `/jobs/v1` request with the project's anon key, or `key`, or a user's `token`.
    func jobs(_ method: HTTPRequest.Method, _ path: String, project: TestProject, key: String? = nil, token: String? = nil, body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [HTTPField.Name("apikey")!: key ?? project.anonKey, .authorization: "Bearer \(token ?? key ?? project.anonKey)"]
        if body != nil { headers[.contentType] = "application/json" }
        return try await request(method, "/jobs/v1/" + path, headers: headers, body: body)
    }

    /// Asks for an export and follows it until it is completed or dead; fails after about a minute.
    func export(_ body: String, project: TestProject, key: String? = nil, token: String? = nil) async throws -> JSONValue {
        let created = try await jobs(.post, "exports", project: project, key: key, token: token, body: body)
        guard created.status == .accepted, case .string(let id)? = try created.json()["id"] else { throw UnexpectedAnswer(answer: created) }
        for _ in 0..<600 {
            let shown = try await jobs(.get, "exports/\(id)", project: project, key: key, token: token)
            guard shown.status == .ok else { throw UnexpectedAnswer(answer: shown) }
            let export = try shown.json()
            if export["state"] == .string("completed") || export["state"] == .string("dead") { return export }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the export \(id) did not finish")
        return .null
    }

    /// The file a completed export's signed URL points at.
    func download(_ export: JSONValue) async throws -> String {
        guard case .string(let url)? = export["result"]?["signed_url"], let path = url.firstRange(of: "/storage/v1/") else {
            Issue.record("no signed_url in \(export.serialized)")
            return ""
        }
        let answer = try await request(.get, String(url[path.lowerBound...]))
        guard answer.status == .ok else { throw UnexpectedAnswer(answer: answer) }
        return answer.body
    }
}

/// RFC 4180 records, for reading exports back: quoted fields may hold commas, quotes and line
/// breaks. An unquoted empty field is `nil` (NULL), a quoted one the empty string.
func csvRecords(_ text: String) -> [[String?]] {
    var records: [[String?]] = []
    var record: [String?] = []
    var field = ""
    var quoted = false
    var wasQuoted = false
    var characters = Array(text.unicodeScalars)[...]
    while let character = characters.popFirst() {
        if quoted {
            if character == "\"" {
                if characters.first == "\"" { characters.removeFirst(); field.unicodeScalars.append("\"") } else { quoted = false }
            } else {
                field.unicodeScalars.append(character)
            }
            continue
        }
        switch character {
        case "\"": quoted = true; wasQuoted = true
        case ",":
            record.append(field.isEmpty && !wasQuoted ? nil : field)
            field = ""; wasQuoted = false
        case "\r": continue
        case "\n":
            record.append(field.isEmpty && !wasQuoted ? nil : field)
            records.append(record)
            record = []; field = ""; wasQuoted = false
        default: field.unicodeScalars.append(character)
        }
    }
    return records
}

/// `POST /jobs/v1/exports` end to end: a table's rows, as the caller's policies admit them, in a
/// CSV file in a bucket, with a signed URL in the job's result.
@Suite struct ExportTests {
    static let items = "create table items (id bigint primary key, name text not null, price int not null, note text);"

    static func name(_ id: Int) -> String {
        if id % 250 == 0 { return "two\nlines \(id)" }
        if id % 100 == 0 { return "a, \"quoted\" \(id)" }
        return "item \(id)"
    }

    static func note(_ id: Int) -> String? { id % 3 == 0 ? nil : id % 7 == 0 ? "" : "n\(id)" }

    @Test(arguments: Backend.allCases)
    func aFilteredTableIsWrittenPageByPageIntoABucket(backend: Backend) async throws {
        try await withStorageProject(backend, migration: Self.items) { client, project, _ in
            let service = project.serviceRoleKey
            let count = 2345
            let rows = (1...count).map { id in
                JSONValue.object([
                    JSONMember(key: "id", value: .number(String(id))),
                    JSONMember(key: "name", value: .string(Self.name(id))),
                    JSONMember(key: "price", value: .number(String(id % 50))),
                    JSONMember(key: "note", value: Self.note(id).map(JSONValue.string) ?? .null),
                ])
            }
            let inserted = try await client.rest(.post, "items", project: project, key: service, body: JSONValue.array(rows).serialized)
            #expect(inserted.status == .created)
            try await client.createBucket(project, #"{"id":"exports","name":"exports"}"#)

            let export = try await client.export(
                #"{"table":"items","query":"select=id,label:name,note&price=gte.10","bucket":"exports","path":"daily/items.csv","expires_in":600}"#,
                project: project, key: service
            )
            #expect(export["state"] == .string("completed"), "\(export.serialized)")
            let expected = (1...count).filter { $0 % 50 >= 10 }
            #expect(export["result"]?["rows"] == .number(String(expected.count)))
            #expect(export["result"]?["path"] == .string("daily/items.csv"))
            let file = try await client.download(export)
            #expect(export["result"]?["bytes"] == .number(String(file.utf8.count)))
            let records = csvRecords(file)
            #expect(records.first == ["id", "label", "note"])
            #expect(records.dropFirst().map { $0 } == expected.map { [String($0), Self.name($0), Self.note($0)] })

            // The file is an object of the bucket like any other.
            let listed = try await client.storage(.post, "object/list/exports", project: project, key: service, body: #"{"prefix":"daily"}"#)
            #expect(try listed.json().serialized.contains(#""name":"items.csv""#))
        }
    }

    static let notes = """
        create table notes (id bigint primary key, owner uuid not null, body text not null);
        alter table notes enable row level security;
        create policy "own notes" on notes for select to authenticated using (owner = auth.uid());
        create policy "own exports: write" on storage.objects for insert to authenticated
            with check (bucket_id = 'exports' and (storage.foldername(name))[1] = auth.uid()::text);
        create policy "own exports: replace" on storage.objects for update to authenticated
            using (bucket_id = 'exports' and (storage.foldername(name))[1] = auth.uid()::text);
        create policy "own exports: read" on storage.objects for select to authenticated
            using (bucket_id = 'exports' and (storage.foldername(name))[1] = auth.uid()::text);
        """

    @Test(arguments: Backend.allCases)
    func anExportReadsAndWritesUnderTheCallersPolicies(backend: Backend) async throws {
        try await withStorageProject(backend, migration: Self.notes) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"exports","name":"exports"}"#)
            let ada = try await client.signUp(project, "ada@example.com")
            let bob = try await client.signUp(project, "bob@example.com")
            let body = (1...30).map { #"{"id":\#($0),"owner":"\#($0 % 3 == 0 ? ada.userID : bob.userID)","body":"note \#($0)"}"# }
            #expect(try await client.rest(.post, "notes", project: project, key: service, body: "[" + body.joined(separator: ",") + "]").status == .created)

            let request = #"{"table":"notes","query":"select=id,body","bucket":"exports","path":"\#(ada.userID)/notes.csv"}"#
            let created = try await client.jobs(.post, "exports", project: project, token: ada.accessToken, body: request)
            #expect(created.status == .accepted)
            let id = try #require(try created.json()["id"]?.stringValue)
            // Another user cannot follow it; service_role can.
            #expect(try await client.jobs(.get, "exports/\(id)", project: project, token: bob.accessToken).status == .notFound)
            #expect(try await client.jobs(.get, "exports/\(id)", project: project).status == .notFound)
            #expect(try await client.jobs(.get, "exports/\(id)", project: project, key: service).status == .ok)

            let adas = try await client.export(request, project: project, token: ada.accessToken)
            #expect(adas["state"] == .string("completed"), "\(adas.serialized)")
            let records = csvRecords(try await client.download(adas))
            #expect(records == [["id", "body"]] + stride(from: 3, through: 30, by: 3).map { [String($0), "note \($0)"] })
            // Run again, the export replaces its file (the update policy admits it).
            let again = try await client.export(request, project: project, token: ada.accessToken)
            #expect(again["state"] == .string("completed"), "\(again.serialized)")

            // Bob may not write into Ada's folder: the file is refused and the export is dead at once.
            let intruding = try await client.export(request, project: project, token: bob.accessToken)
            #expect(intruding["state"] == .string("dead"))
            #expect(intruding["attempts"] == .number("1"))
            #expect(intruding["last_error"]?.stringValue?.contains("could not be stored") == true)

            // anon reads no notes (no policy admits it), and may not write either.
            let anon = try await client.export(#"{"table":"notes","bucket":"exports","path":"anon.csv"}"#, project: project)
            #expect(anon["state"] == .string("dead"))
            // service_role reads every row.
            let all = try await client.export(#"{"table":"notes","bucket":"exports","path":"all.csv"}"#, project: project, key: service)
            #expect(all["result"]?["rows"] == .number("30"))
            #expect(csvRecords(try await client.download(all)).first == ["id", "owner", "body"])
        }
    }

    @Test func badRequestsAreAnsweredAtOnce() async throws {
        try await withStorageProject(.sqlite, migration: Self.items + " create table log (line text);") { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"exports","name":"exports"}"#)
            try await client.createBucket(project, #"{"id":"images","name":"images","allowed_mime_types":["image/png"]}"#)
            func refused(_ body: String, _ status: HTTPResponse.Status, _ code: String) async throws {
                let answer = try await client.jobs(.post, "exports", project: project, key: service, body: body)
                #expect(answer.status == status, "\(body): \(answer.body)")
                #expect(answer.code == code, "\(body): \(answer.body)")
            }
            try await refused(#"{"bucket":"exports"}"#, .badRequest, "invalid_table")
            try await refused(#"{"table":"items"}"#, .badRequest, "invalid_bucket")
            try await refused(#"{"table":"missing","bucket":"exports"}"#, .notFound, "table_not_found")
            try await refused(#"{"table":"items","bucket":"nowhere"}"#, .notFound, "bucket_not_found")
            try await refused(#"{"table":"items","bucket":"images"}"#, .badRequest, "invalid_mime_type")
            try await refused(#"{"table":"log","bucket":"exports"}"#, .badRequest, "export_needs_primary_key")
            try await refused(#"{"table":"items","bucket":"exports","query":"order=id.desc"}"#, .badRequest, "PGRST100")
            try await refused(#"{"table":"items","bucket":"exports","query":"nosuch=eq.1"}"#, .badRequest, "42703")
            try await refused(#"{"table":"items","bucket":"exports","query":"%zz"}"#, .badRequest, "PGRST100")
            try await refused(#"{"table":"items","bucket":"exports","path":"../up"}"#, .badRequest, "invalid_path")
            try await refused(#"{"table":"items","bucket":"exports","expires_in":0}"#, .badRequest, "invalid_expires_in")
            try await refused(#"{"table":"items","bucket":"exports","formula_protection":"yes"}"#, .badRequest, "invalid_formula_protection")
            try await refused("not json", .badRequest, "invalid_body")
            let keyless = try await client.request(.post, "/jobs/v1/exports", headers: [.contentType: "application/json"], body: #"{"table":"items","bucket":"exports"}"#)
            #expect(keyless.status == .unauthorized)
            #expect(try await client.jobs(.get, "exports/nope", project: project, key: service).status == .notFound)
        }
    }

    @Test func anExportLargerThanItsLimitIsDead() async throws {
        try await withStorageProject(.sqlite, migration: Self.items, configure: { $0.storage.maxExportBytes = 4096 }) { client, project, _ in
            let service = project.serviceRoleKey
            let rows = (1...500).map { #"{"id":\#($0),"name":"item \#($0)","price":1}"# }
            #expect(try await client.rest(.post, "items", project: project, key: service, body: "[" + rows.joined(separator: ",") + "]").status == .created)
            try await client.createBucket(project, #"{"id":"exports","name":"exports"}"#)
            let export = try await client.export(#"{"table":"items","bucket":"exports","path":"big.csv"}"#, project: project, key: service)
            #expect(export["state"] == .string("dead"))
            #expect(export["last_error"]?.stringValue?.contains("larger than 4096 bytes") == true)
            #expect(try await client.storage(.get, "object/exports/big.csv", project: project, key: service).status == .notFound)
        }
    }
}

/// Exports on a schedule: checked when defined, run as `service_role` when due.
@Suite struct ScheduledExportTests {
    @Test(arguments: Backend.allCases)
    func aScheduledExportIsCheckedAndWritesItsFileWhenDue(backend: Backend) async throws {
        try await withStorageProject(backend, migration: ExportTests.items) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"reports","name":"reports"}"#)
            #expect(try await client.rest(.post, "items", project: project, key: service, body: #"[{"id":1,"name":"a","price":3},{"id":2,"name":"b","price":4}]"#).status == .created)
            let path = "/admin/v1/projects/\(project.ref)/schedules"
            func job(_ payload: String) -> String { #"{"name":"nightly","cron":"0 3 * * *","time_zone":"Europe/Berlin","job":{"kind":"export","payload":\#(payload)}}"# }
            let refusals: [(String, HTTPResponse.Status, String)] = [
                (job(#"{"table":"items","bucket":"reports"}"#), .badRequest, "invalid_path"),
                (job(#"{"table":"missing","bucket":"reports","path":"x.csv"}"#), .notFound, "table_not_found"),
                (job(#"{"table":"items","bucket":"nowhere","path":"x.csv"}"#), .notFound, "bucket_not_found"),
                (job(#"{"table":"items","bucket":"reports","path":"x.csv","query":"limit=1"}"#), .badRequest, "PGRST100"),
            ]
            for (body, status, code) in refusals {
                let answer = try await client.admin(.post, path, body: body)
                #expect(answer.status == status, "\(body): \(answer.body)")
                #expect(answer.code == code, "\(body): \(answer.body)")
            }
            let created = try await client.admin(.post, path, body: job(#"{"table":"items","bucket":"reports","path":"nightly/items.csv","query":"select=name,price"}"#))
            #expect(created.status == .created, "\(created.body)")
            #expect(try created.json()["job"]?["payload"]?["role"] == .string("service_role"))

            // Made due as if the night had come: the worker's next wake-up enqueues and runs it.
            let node = client.node
            let stored = try #require(try await node.directory.project(ref: project.ref))
            let database = try #require(try node.projects.shard(for: stored) as? any AuthDatabase)
            let store = JobStore(database: database, ref: project.ref)
            var due = try #require(try await store.schedule(named: "nightly"))
            due.name = "due"
            due.nextRunAt = Timestamp.nowMilliseconds() - 1_000
            try await store.insert(due)
            var file: TestClient.Answer?
            for _ in 0..<300 {
                let answer = try await client.storage(.get, "object/reports/nightly/items.csv", project: project, key: service)
                if answer.status == .ok { file = answer; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(file.map { csvRecords($0.body) } == [["name", "price"], ["a", "3"], ["b", "4"]])
        }
    }
}
