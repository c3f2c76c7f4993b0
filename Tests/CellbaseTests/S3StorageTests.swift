import AsyncHTTPClient
import CellbaseSQL
import Crypto
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import Testing

@testable import Cellbase

/// The Storage API on the `s3` backend, against the S3-compatible server of
/// `CELLBASE_TEST_S3_URL` (moto on loopback, started by scripts/test). Each test uses a bucket
/// of its own.
@Suite("Storage on S3")
struct S3StorageTests {
    static let mebibyte = 1024 * 1024

    /// A fresh bucket on the test server, path-style, with parts of 5 MiB (S3's smallest).
    static func configuration(bucket: String = "cellbase-" + UUID().uuidString.lowercased().prefix(18), create: Bool = true) async throws -> S3Configuration {
        let configuration = S3Configuration(
            endpoint: try TestEnvironment.s3URL(), region: "us-east-1", bucket: bucket, addressing: .path,
            accessKeyID: "cellbase-test", secretAccessKey: "cellbase-test-secret", partSize: 5 * mebibyte
        )
        if create {
            let response = try await S3Client(configuration: configuration, http: .shared).send(.PUT, key: nil)
            _ = try await response.body.collect(upTo: 1 << 16)
        }
        return configuration
    }

    /// The keys of the bucket and their ETags, as S3 lists them.
    static func listing(_ configuration: S3Configuration, query: [(name: String, value: String)] = [("list-type", "2")]) async throws -> String {
        let response = try await S3Client(configuration: configuration, http: .shared).send(.GET, key: nil, query: query)
        return String(buffer: try await response.body.collect(upTo: 1 << 20))
    }

    static func keys(_ listing: String) -> [String] {
        listing.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first }
    }

    /// `count` bytes of printable text with a period (61) that does not divide the part size, so
    /// any misplaced range or part shows.
    static func content(_ count: Int) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY".utf8)
        return String(decoding: (0..<count).map { alphabet[$0 % alphabet.count] }, as: UTF8.self)
    }

    static func md5(_ text: String) -> String {
        "\"" + Insecure.MD5.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined() + "\""
    }

    func withS3Project(
        _ backend: Backend, _ s3: S3Configuration, maxObjectBytes: Int = 64 * 1024 * 1024,
        _ test: @Sendable (TestClient, TestProject) async throws -> Void
    ) async throws {
        try await withStorageProject(backend, configure: { node in
            node.storage.backend = .s3(s3)
            node.storage.maxObjectBytes = maxObjectBytes
        }) { client, project, _ in try await test(client, project) }
    }

    @Test(arguments: Backend.allCases)
    func smallObjectsRoundTrip(_ backend: Backend) async throws {
        let s3 = try await Self.configuration()
        try await withS3Project(backend, s3) { client, project in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"docs","name":"docs"}"#)
            #expect(try await client.upload("docs/a.txt", "hello from s3", project: project, key: service).status == .ok)
            let stored = Self.keys(try await Self.listing(s3))
            #expect(stored.count == 1)
            #expect(stored.first?.hasPrefix(project.ref + "/") == true)

            let whole = try await client.storage(.get, "object/docs/a.txt", project: project, key: service)
            #expect(whole.status == .ok)
            #expect(whole.body == "hello from s3")
            #expect(whole.headers[.eTag] == Self.md5("hello from s3"))
            let part = try await client.storage(.get, "object/docs/a.txt", project: project, key: service, headers: [.range: "bytes=6-9"])
            #expect(part.status == .partialContent)
            #expect(part.body == "from")
            #expect(part.headers[.contentRange] == "bytes 6-9/13")

            let copy = try await client.storage(.post, "object/copy", project: project, key: service,
                body: #"{"bucketId":"docs","sourceKey":"a.txt","destinationKey":"b.txt"}"#)
            #expect(copy.status == .ok)
            #expect(try await client.storage(.get, "object/docs/b.txt", project: project, key: service).body == "hello from s3")
            #expect(Self.keys(try await Self.listing(s3)).count == 2)

            let move = try await client.storage(.post, "object/move", project: project, key: service,
                body: #"{"bucketId":"docs","sourceKey":"b.txt","destinationKey":"c/d.txt"}"#)
            #expect(move.status == .ok)
            #expect(try await client.storage(.get, "object/docs/c/d.txt", project: project, key: service).body == "hello from s3")
            #expect(try await client.storage(.get, "object/docs/b.txt", project: project, key: service).status == .notFound)

            #expect(try await client.upload("docs/a.txt", "replaced", project: project, key: service, upsert: true).status == .ok)
            #expect(try await client.storage(.get, "object/docs/a.txt", project: project, key: service).body == "replaced")
            // The replaced version is deleted from S3 once the new row commits.
            #expect(Self.keys(try await Self.listing(s3)).count == 2)

            let removed = try await client.storage(.delete, "object/docs", project: project, key: service, body: #"{"prefixes":["a.txt","c/d.txt"]}"#)
            #expect(removed.status == .ok)
            #expect(Self.keys(try await Self.listing(s3)).isEmpty)
        }
    }

    @Test func largeObjectsAreSentInParts() async throws {
        let s3 = try await Self.configuration()
        let size = 20 * Self.mebibyte + 12_345
        let content = Self.content(size)
        try await withS3Project(.sqlite, s3) { client, project in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"big","name":"big"}"#)
            let uploaded = try await client.storage(.post, "object/big/blob.bin", project: project, key: service,
                headers: [.contentType: "application/octet-stream"], body: content)
            #expect(uploaded.status == .ok)
            // A multipart upload's ETag ends with its number of parts: 20 MiB and a bit in 5 MiB parts.
            let listing = try await Self.listing(s3)
            #expect(Self.keys(listing).count == 1)
            #expect(listing.contains("-5&quot;</ETag>") || listing.contains("-5\"</ETag>"))

            let info = try await client.storage(.get, "object/info/big/blob.bin", project: project, key: service)
            #expect(try info.json()["size"] == .number(String(size)))
            let boundary = 5 * Self.mebibyte
            let range = (boundary - 7)...(boundary + 8)
            let part = try await client.storage(.get, "object/big/blob.bin", project: project, key: service,
                headers: [.range: "bytes=\(range.lowerBound)-\(range.upperBound)"])
            #expect(part.status == .partialContent)
            #expect(part.body == String(Array(content.utf8)[range].map { Character(Unicode.Scalar($0)) }))
            let whole = try await client.storage(.get, "object/big/blob.bin", project: project, key: service)
            #expect(whole.body.utf8.count == size)
            #expect(whole.body == content)
        }
    }

    @Test func crossingTheLimitAbortsTheMultipartUpload() async throws {
        let s3 = try await Self.configuration()
        try await withS3Project(.sqlite, s3, maxObjectBytes: 12 * Self.mebibyte) { client, project in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"big","name":"big"}"#)
            // Multipart: the form's length is not the file's, so the limit is found while streaming,
            // after two parts went to S3.
            let tooLarge = try await client.upload("big/blob.bin", Self.content(20 * Self.mebibyte), project: project, key: service)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.storageFailure == "413 EntityTooLarge")
            #expect(Self.keys(try await Self.listing(s3)).isEmpty)
            let uploads = try await Self.listing(s3, query: [("uploads", "")])
            #expect(uploads.contains("<ListMultipartUploadsResult"))
            #expect(!uploads.contains("<UploadId>"))
            #expect(try await client.storage(.get, "object/big/blob.bin", project: project, key: service).status == .notFound)
        }
    }

    @Test func s3ErrorsAreStorageErrors() async throws {
        let missingBucket = try await Self.configuration(create: false)
        try await withS3Project(.sqlite, missingBucket) { client, project in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"docs","name":"docs"}"#)
            let refused = try await client.upload("docs/a.txt", "content", project: project, key: service)
            #expect(refused.status == .badGateway)
            #expect(refused.storageFailure == "502 StorageBackendError")
            #expect(!refused.body.contains("<"))
            #expect(try await client.storage(.get, "object/docs/a.txt", project: project, key: service).status == .notFound)
        }
        let s3 = try await Self.configuration()
        try await withS3Project(.sqlite, s3) { client, project in
            let service = project.serviceRoleKey
            try await client.createBucket(project, #"{"id":"docs","name":"docs"}"#)
            #expect(try await client.upload("docs/a.txt", "content", project: project, key: service).status == .ok)
            // The content is gone from S3 behind the node's back: the row answers 404, not S3's XML.
            for key in Self.keys(try await Self.listing(s3)) {
                try await S3Client(configuration: s3, http: .shared).deleteObject(key: key)
            }
            let missing = try await client.storage(.get, "object/docs/a.txt", project: project, key: service)
            #expect(missing.status == .notFound)
            #expect(missing.storageFailure == "404 not_found")
        }
    }
}
