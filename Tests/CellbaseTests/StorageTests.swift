import CellbaseSQL
import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import Testing

@testable import Cellbase

/// The Storage API through the real application, on SQLite and on PostgreSQL.
@Suite("Storage")
struct StorageTests {
    static let ifNoneMatch = HTTPField.Name("If-None-Match")!

    @Test(arguments: Backend.allCases)
    func bucketsHaveTheirLifecycle(backend: Backend) async throws {
        try await withStorageProject(backend) { client, project, _ in
            let service = project.serviceRoleKey
            let created = try await client.storage(.post, "bucket", project: project, key: service, body: #"{"id":"docs","name":"docs","public":false,"file_size_limit":1000,"allowed_mime_types":["text/*"]}"#)
            #expect(created.status == .ok)
            #expect(try created.json() == json(#"{"name":"docs"}"#))
            let again = try await client.storage(.post, "bucket", project: project, key: service, body: #"{"id":"docs","name":"docs"}"#)
            #expect(again.status == .conflict)
            #expect(again.storageFailure == "409 Duplicate")

            let refused = try await client.storage(.post, "bucket", project: project, body: #"{"id":"mine","name":"mine"}"#)
            #expect(refused.status == .forbidden)
            #expect(refused.storageFailure == "403 Unauthorized")

            let got = try await client.storage(.get, "bucket/docs", project: project, key: service).json()
            #expect(got["id"] == .string("docs"))
            #expect(got["owner"] == .string(""))
            #expect(got["public"] == .bool(false))
            #expect(got["file_size_limit"] == .number("1000"))
            #expect(got["allowed_mime_types"] == .array([.string("text/*")]))
            #expect(got["created_at"] != nil)

            let updated = try await client.storage(.put, "bucket/docs", project: project, key: service, body: #"{"id":"docs","name":"docs","public":true,"file_size_limit":null,"allowed_mime_types":null}"#)
            #expect(updated.status == .ok)
            let listed = try await client.storage(.get, "bucket", project: project, key: service).json()
            guard case .array(let buckets) = listed else { Issue.record("not an array"); return }
            #expect(buckets.count == 1)
            #expect(buckets[0]["public"] == .bool(true))
            #expect(buckets[0]["file_size_limit"] == .null)
            #expect(buckets[0]["allowed_mime_types"] == .null)

            #expect(try await client.upload("docs/a.txt", "hello", project: project, key: service).status == .ok)
            let notEmpty = try await client.storage(.delete, "bucket/docs", project: project, key: service, body: "{}")
            #expect(notEmpty.status == .conflict)
            #expect(try await client.storage(.post, "bucket/docs/empty", project: project, key: service, body: "{}").status == .ok)
            let deleted = try await client.storage(.delete, "bucket/docs", project: project, key: service, body: "{}")
            #expect(deleted.status == .ok)
            #expect(try deleted.json() == json(#"{"message":"Successfully deleted"}"#))
            let gone = try await client.storage(.get, "bucket/docs", project: project, key: service)
            #expect(gone.status == .notFound)
            #expect(gone.storageFailure == "404 Bucket not found")
        }
    }

    @Test(arguments: Backend.allCases)
    func uploadsAndDownloadsWithValidatorsAndRanges(backend: Backend) async throws {
        try await withStorageProject(backend) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"b","name":"b","public":false}"#)
            let uploaded = try await client.upload("b/dir/f.csv", "0123456789", project: project, key: service, contentType: "text/csv")
            #expect(uploaded.status == .ok)
            let answer = try uploaded.json()
            #expect(answer["Key"] == .string("b/dir/f.csv"))

            let download = try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service)
            #expect(download.status == .ok)
            #expect(download.body == "0123456789")
            #expect(download.headers[.contentType] == "text/csv")
            #expect(download.headers[.cacheControl] == "max-age=3600")
            #expect(download.headers[.lastModified]?.hasSuffix("GMT") == true)
            let eTag = try #require(download.headers[.eTag])
            #expect(eTag == "\"781e5e245d69b566979b86e28d23f2c7\"")

            let cached = try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service, headers: [Self.ifNoneMatch: eTag])
            #expect(cached.status == .notModified)
            #expect(cached.body.isEmpty)

            let part = try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service, headers: [.range: "bytes=2-4"])
            #expect(part.status == .partialContent)
            #expect(part.body == "234")
            #expect(part.headers[.contentRange] == "bytes 2-4/10")
            let suffix = try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service, headers: [.range: "bytes=-3"])
            #expect(suffix.body == "789")
            let beyond = try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service, headers: [.range: "bytes=10-"])
            #expect(beyond.status == .rangeNotSatisfiable)
            #expect(beyond.headers[.contentRange] == "bytes */10")

            let duplicate = try await client.upload("b/dir/f.csv", "x", project: project, key: service)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.storageFailure == "409 Duplicate")
            #expect(try await client.upload("b/dir/f.csv", "upserted", project: project, key: service, upsert: true).status == .ok)
            #expect(try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service).body == "upserted")
            #expect(try await client.upload("b/dir/f.csv", "updated", project: project, key: service, method: .put).status == .ok)
            #expect(try await client.storage(.get, "object/b/dir/f.csv", project: project, key: service).body == "updated")
            let missing = try await client.upload("b/nothing.txt", "x", project: project, key: service, method: .put)
            #expect(missing.status == .notFound)

            let raw = try await client.storage(.post, "object/b/raw.bin", project: project, key: service, headers: [.contentType: "application/octet-stream", .contentLength: "3"], body: "abc")
            #expect(raw.status == .ok)
            let rawDownload = try await client.storage(.get, "object/b/raw.bin", project: project, key: service)
            #expect(rawDownload.body == "abc")
            #expect(rawDownload.headers[.contentType] == "application/octet-stream")

            let info = try await client.storage(.get, "object/info/b/raw.bin", project: project, key: service).json()
            #expect(info["size"] == .number("3"))
            let notFound = try await client.storage(.get, "object/b/none", project: project, key: service)
            #expect(notFound.status == .notFound)
            #expect(notFound.storageFailure == "404 not_found")
        }
    }

    @Test(arguments: Backend.allCases)
    func listsOneLevelWithFoldersMovesCopiesAndRemoves(backend: Backend) async throws {
        try await withStorageProject(backend) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"b","name":"b"}"#)
            for name in ["top.txt", "dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "other/d.txt"] {
                #expect(try await client.upload("b/" + name, name, project: project, key: service).status == .ok)
            }
            func names(_ body: String) async throws -> [String] {
                let answer = try await client.storage(.post, "object/list/b", project: project, key: service, body: body)
                guard case .array(let entries) = try answer.json() else { throw UnexpectedAnswer(answer: answer) }
                return entries.compactMap { if case .string(let name)? = $0["name"] { name } else { nil } }
            }
            let base = #""offset":0,"sortBy":{"column":"name","order":"asc"}"#
            #expect(try await names(#"{"limit":100,\#(base),"prefix":""}"#) == ["dir", "other", "top.txt"])
            #expect(try await names(#"{"limit":100,\#(base),"prefix":"dir"}"#) == ["a.txt", "b.txt", "sub"])
            #expect(try await names(#"{"limit":1,"offset":1,"sortBy":{"column":"name","order":"desc"},"prefix":"dir/"}"#) == ["b.txt"])
            #expect(try await names(#"{"limit":1000000,\#(base),"prefix":"dir","search":"B"}"#) == ["b.txt"])
            let listing = try await client.storage(.post, "object/list/b", project: project, key: service, body: #"{"limit":100,\#(base),"prefix":"dir"}"#).json()
            guard case .array(let entries) = listing else { Issue.record("not an array"); return }
            #expect(entries[2]["id"] == .null)
            #expect(entries[2]["metadata"] == .null)
            #expect(entries[0]["metadata"]?["size"] == .number("9"))
            #expect(entries[0]["metadata"]?["mimetype"] == .string("text/plain;charset=UTF-8"))

            let moved = try await client.storage(.post, "object/move", project: project, key: service, body: #"{"bucketId":"b","sourceKey":"top.txt","destinationKey":"dir/top.txt"}"#)
            #expect(try moved.json() == json(#"{"message":"Successfully moved"}"#))
            let copied = try await client.storage(.post, "object/copy", project: project, key: service, body: #"{"bucketId":"b","sourceKey":"dir/top.txt","destinationKey":"copy.txt"}"#)
            #expect(try copied.json() == json(#"{"Key":"b/copy.txt"}"#))
            #expect(try await client.storage(.get, "object/b/copy.txt", project: project, key: service).body == "top.txt")
            #expect(try await client.storage(.get, "object/b/top.txt", project: project, key: service).status == .notFound)

            let removed = try await client.storage(.delete, "object/b", project: project, key: service, body: #"{"prefixes":["copy.txt","dir/top.txt","nothing"]}"#)
            guard case .array(let rows) = try removed.json() else { Issue.record("not an array"); return }
            #expect(Set(rows.compactMap { if case .string(let name)? = $0["name"] { name } else { nil } }) == ["copy.txt", "dir/top.txt"])
            #expect(try await client.storage(.get, "object/b/copy.txt", project: project, key: service).status == .notFound)
        }
    }

    @Test(arguments: Backend.allCases)
    func signedURLsNameOneObjectOfOneProjectForAWhile(backend: Backend) async throws {
        try await withStorageProject(backend) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"b","name":"b"}"#)
            #expect(try await client.upload("b/dir/x y+z.txt", "secret", project: project, key: service).status == .ok)
            #expect(try await client.upload("b/other.txt", "other", project: project, key: service).status == .ok)
            let signed = try await client.storage(.post, "object/sign/b/dir/x%20y+z.txt", project: project, key: service, body: #"{"expiresIn":"60"}"#).json()
            guard case .string(let url)? = signed["signedURL"] else { Issue.record("no signedURL: \(signed)"); return }
            #expect(url.hasPrefix("/object/sign/b/dir/x%20y+z.txt?token="))
            let fetched = try await client.request(.get, "/storage/v1" + url + "&download=")
            #expect(fetched.status == .ok)
            #expect(fetched.body == "secret")
            #expect(fetched.headers[.contentDisposition] == "attachment; filename=\"x y+z.txt\"")

            let token = String(url.split(separator: "token=")[1])
            let changed = try await client.request(.get, "/storage/v1/object/sign/b/other.txt?token=" + token)
            #expect(changed.status == .badRequest)
            #expect(changed.storageFailure == "400 InvalidSignature")

            let directory = client.node.directory
            let stored = try #require(try await directory.project(ref: project.ref))
            let past = Date().addingTimeInterval(-120)
            let expired = try await directory.keys(for: stored).signStorageToken(StorageTokenClaims(
                ref: project.ref, url: "b/other.txt", purpose: .download, owner: nil, upsert: nil, role: nil,
                iat: .init(value: past), exp: .init(value: past.addingTimeInterval(60))
            ))
            #expect(try await client.request(.get, "/storage/v1/object/sign/b/other.txt?token=" + expired).status == .badRequest)

            let other = try await client.project()
            try await client.createBucket(other, #"{"id":"b","name":"b"}"#)
            #expect(try await client.upload("b/other.txt", "theirs", project: other, key: other.serviceRoleKey).status == .ok)
            let theirs = try await client.storage(.post, "object/sign/b/other.txt", project: other, key: other.serviceRoleKey, body: #"{"expiresIn":60}"#).json()
            guard case .string(let theirURL)? = theirs["signedURL"] else { Issue.record("no signedURL"); return }
            let crossed = try await client.request(.get, "/storage/v1" + theirURL, headers: [HTTPField.Name("apikey")!: project.anonKey])
            #expect(crossed.status == .badRequest)
            #expect(crossed.storageFailure == "400 InvalidSignature")

            let many = try await client.storage(.post, "object/sign/b", project: project, key: service, body: #"{"paths":["other.txt","missing.txt"],"expiresIn":"60"}"#).json()
            guard case .array(let entries) = many else { Issue.record("not an array"); return }
            #expect(entries[0]["error"] == .null)
            #expect(entries[1]["signedURL"] == .null)
            #expect(entries[1]["path"] == .string("missing.txt"))

            let upload = try await client.storage(.post, "object/upload/sign/b/up.txt", project: project, key: service, body: "{}").json()
            guard case .string(let uploadURL)? = upload["url"] else { Issue.record("no url"); return }
            let (body, type) = Multipart.body("via token", contentType: "text/plain")
            let put = try await client.request(.put, "/storage/v1" + uploadURL, headers: [.contentType: type], body: body)
            #expect(put.status == .ok)
            #expect(try put.json()["Key"] == .string("b/up.txt"))
            #expect(try await client.storage(.get, "object/b/up.txt", project: project, key: service).body == "via token")
        }
    }

    static let policies = """
        create policy "own folder: read" on storage.objects for select to authenticated
            using (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
        create policy "own folder: write" on storage.objects for insert to authenticated
            with check (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text and owner = auth.uid());
        create policy "own objects: delete" on storage.objects for delete to authenticated using (owner = auth.uid());
        """

    @Test(arguments: Backend.allCases)
    func objectsAreHeldToTheirPolicies(backend: Backend) async throws {
        try await withStorageProject(backend, migration: Self.policies) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"private","name":"private"}"#)
            try await client.createBucket(project, #"{"id":"open","name":"open","public":true}"#)
            let ada = try await client.signUp(project, "ada@example.com")
            let bob = try await client.signUp(project, "bob@example.com")

            #expect(try await client.upload("private/\(ada.userID)/a.txt", "ada's", project: project, token: ada.accessToken).status == .ok)
            let intruding = try await client.upload("private/\(ada.userID)/b.txt", "bob's", project: project, token: bob.accessToken)
            #expect(intruding.status == .forbidden)
            #expect(intruding.storageFailure == "403 Unauthorized")
            #expect(try await client.upload("private/x.txt", "anon", project: project).status == .forbidden)

            #expect(try await client.storage(.get, "object/private/\(ada.userID)/a.txt", project: project, token: ada.accessToken).body == "ada's")
            #expect(try await client.storage(.get, "object/private/\(ada.userID)/a.txt", project: project, token: bob.accessToken).status == .notFound)
            #expect(try await client.storage(.get, "object/private/\(ada.userID)/a.txt", project: project).status == .notFound)
            let anonList = try await client.storage(.post, "object/list/private", project: project, body: #"{"prefix":"\#(ada.userID)"}"#)
            #expect(try anonList.json() == .array([]))
            let adaList = try await client.storage(.post, "object/list/private", project: project, token: ada.accessToken, body: #"{"prefix":"\#(ada.userID)"}"#)
            #expect(try adaList.json().serialized.contains("a.txt"))
            let signRefused = try await client.storage(.post, "object/sign/private/\(ada.userID)/a.txt", project: project, token: bob.accessToken, body: #"{"expiresIn":60}"#)
            #expect(signRefused.status == .notFound)

            let bobRemoves = try await client.storage(.delete, "object/private", project: project, token: bob.accessToken, body: #"{"prefixes":["\#(ada.userID)/a.txt"]}"#)
            #expect(try bobRemoves.json() == .array([]))
            #expect(try await client.storage(.get, "object/private/\(ada.userID)/a.txt", project: project, key: service).status == .ok)

            #expect(try await client.upload("open/logo.txt", "public", project: project, key: service).status == .ok)
            #expect(try await client.storage(.get, "object/open/logo.txt", project: project).status == .notFound)
            let viaPublicURL = try await client.request(.get, "/storage/v1/object/public/open/logo.txt?apikey=\(project.anonKey)")
            #expect(viaPublicURL.body == "public")
            let privateViaPublicURL = try await client.request(.get, "/storage/v1/object/public/private/\(ada.userID)/a.txt?apikey=\(project.anonKey)")
            #expect(privateViaPublicURL.status == .notFound)
        }
    }

    @Test(arguments: Backend.allCases)
    func hostileNamesAreRefused(backend: Backend) async throws {
        try await withStorageProject(backend) { client, project, node in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"b","name":"b"}"#)
            for path in ["b/..", "b/../x", "b/%2e%2e/x", "b/%2E%2E", "b/a//b", "b/a%00b", "b/a%5Cb", "b/" + String(repeating: "n", count: 1025), "b/a%zz"] {
                let answer = try await client.upload(path, "x", project: project, key: service)
                #expect(answer.status == .badRequest, "\(path.prefix(40))")
                #expect(answer.storageFailure == "400 InvalidKey", "\(path.prefix(40))")
            }
            #expect(try await client.upload("b/" + String(repeating: "n", count: 1024), "x", project: project, key: service).status == .ok)

            #expect(try await client.upload("b/e%CC%81t%C3%A9.txt", "decomposed", project: project, key: service).status == .ok)
            let composed = try await client.storage(.get, "object/b/%C3%A9t%C3%A9.txt", project: project, key: service)
            #expect(composed.body == "decomposed")
            #expect(try await client.upload("b/%C3%A9t%C3%A9.txt", "again", project: project, key: service).status == .conflict)

            let moved = try await client.storage(.post, "object/move", project: project, key: service, body: #"{"bucketId":"b","sourceKey":"%C3%A9t%C3%A9.txt","destinationKey":"../escape"}"#)
            #expect(moved.status == .badRequest)

            // Object files are named by version, never by object name: nothing outside the project's directory.
            let root = node.dataDirectory + "/storage"
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == [project.ref])
        }
    }

    @Test(arguments: Backend.allCases)
    func limitsAndBrokenBodiesStoreNothing(backend: Backend) async throws {
        try await withStorageProject(backend, configure: { $0.storage.maxObjectBytes = 64 }) { client, project, node in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"small","name":"small","file_size_limit":10,"allowed_mime_types":["text/plain","image/*"]}"#)
            try await client.createBucket(project, #"{"id":"big","name":"big","file_size_limit":100000}"#)

            let tooLarge = try await client.upload("small/a.txt", "01234567890", project: project, key: service, contentType: "text/plain")
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.storageFailure == "413 EntityTooLarge")
            #expect(try await client.upload("small/a.txt", "0123456789", project: project, key: service, contentType: "text/plain").status == .ok)
            let global = try await client.upload("big/a.txt", String(repeating: "x", count: 65), project: project, key: service)
            #expect(global.status == .contentTooLarge)

            let wrongType = try await client.upload("small/b.pdf", "pdf", project: project, key: service, contentType: "application/pdf")
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(wrongType.storageFailure == "415 InvalidMimeType")
            #expect(try await client.upload("small/c.png", "png", project: project, key: service, contentType: "image/png").status == .ok)

            let (body, type) = Multipart.body("truncated", contentType: "text/plain")
            let truncated = try await client.storage(.post, "object/big/t.txt", project: project, key: service, headers: [.contentType: type], body: String(body.dropLast(12)))
            #expect(truncated.status == .badRequest)

            for path in ["big/a.txt", "small/b.pdf", "big/t.txt"] {
                #expect(try await client.storage(.get, "object/" + path, project: project, key: service).status == .notFound)
            }
            let directory = node.dataDirectory + "/storage/\(project.ref)"
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
            let versions = try FileManager.default.subpathsOfDirectory(atPath: directory + "/objects").filter { $0.count > 3 }
            #expect(versions.count == 2)
        }
    }

    /// Over a real connection, where `Content-Length` frames the body: a declared size over the
    /// limit is refused before the body is sent, and a multipart body longer than its declared
    /// size is cut there, found truncated, and stores nothing.
    @Test(arguments: Backend.allCases)
    func declaredSizesAreHeldToOnTheWire(backend: Backend) async throws {
        var testNode = TestNode(backend: backend)
        testNode.storage.maxObjectBytes = 64
        defer { testNode.removeData() }
        let (app, node) = try await CellbaseBuilder.build(try testNode.configuration(), logger: testNode.logger)
        try await app.test(.live) { live in
            let client = TestClient(client: live, node: node)
            let project = try await client.project()
            try await client.createBucket(project, #"{"id":"b","name":"b"}"#)
            let port = try #require(live.port)
            let head = "apikey: \(project.serviceRoleKey)\r\nAuthorization: Bearer \(project.serviceRoleKey)\r\n"

            let declared = try await RawHTTP.send(port: port, "POST /storage/v1/object/b/big.txt HTTP/1.1\r\nHost: test\r\n\(head)Content-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
            #expect(declared.hasPrefix("HTTP/1.1 413"), "\(declared)")

            let (body, type) = Multipart.body("0123456789", contentType: "text/plain")
            let short = try await RawHTTP.send(port: port, "POST /storage/v1/object/b/short.txt HTTP/1.1\r\nHost: test\r\n\(head)Content-Type: \(type)\r\nContent-Length: \(body.utf8.count - 20)\r\n\r\n\(body)")
            #expect(short.hasPrefix("HTTP/1.1 400"), "\(short)")
            #expect(try await client.storage(.get, "object/b/short.txt", project: project, key: project.serviceRoleKey).status == .notFound)
        }
    }

    @Test(arguments: Backend.allCases)
    func trafficIsCounted(backend: Backend) async throws {
        try await withStorageProject(backend) { client, project, _ in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"b","name":"b"}"#)
            #expect(try await client.upload("b/a.txt", "0123456789", project: project, key: service).status == .ok)
            #expect(try await client.upload("b/a.txt", "01234", project: project, key: service, upsert: true).status == .ok)
            #expect(try await client.storage(.get, "object/b/a.txt", project: project, key: service, headers: [.range: "bytes=0-1"]).body == "01")
            #expect(try await client.storage(.post, "object/copy", project: project, key: service, body: #"{"bucketId":"b","sourceKey":"a.txt","destinationKey":"c.txt"}"#).status == .ok)
            #expect(try await client.storage(.delete, "object/b", project: project, key: service, body: #"{"prefixes":["a.txt","c.txt"]}"#).status == .ok)
            let metrics = try await client.metrics()
            #expect(metrics.value("cellbase_storage_received_bytes_total") == 15)
            #expect(metrics.value("cellbase_storage_sent_bytes_total") == 2)
            #expect(metrics.value("cellbase_storage_objects_created_total") == 2)
            #expect(metrics.value("cellbase_storage_objects_removed_total") == 2)
        }
    }

    /// Content missing on this node (several nodes without a shared storage directory) reads as
    /// a Storage 404, not a bare one.
    @Test func aRowWithoutItsContentIsNotFound() async throws {
        try await withStorageProject(.sqlite) { client, project, node in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"b","name":"b"}"#)
            #expect(try await client.upload("b/a.txt", "content", project: project, key: service).status == .ok)
            let objects = node.dataDirectory + "/storage/\(project.ref)/objects"
            for file in try FileManager.default.subpathsOfDirectory(atPath: objects) where file.count > 3 {
                try FileManager.default.removeItem(atPath: objects + "/" + file)
            }
            let missing = try await client.storage(.get, "object/b/a.txt", project: project, key: service)
            #expect(missing.status == .notFound)
            #expect(missing.storageFailure == "404 not_found")
        }
    }
}
