import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore

/// The `s3` backend: object contents as objects `<ref>/<version>` in one bucket of an
/// S3-compatible service.
///
/// An object becomes visible in S3 only when its PutObject or CompleteMultipartUpload succeeds,
/// and the metadata row naming it commits after that; versions are random, so a key is written
/// once and never overwritten. A crash leaves at worst an S3 object no row names, or an
/// incomplete multipart upload, never a row pointing at half an object.
struct S3ObjectContents: ObjectContents {
    let client: S3Client
    let partSize: Int
    let logger: Logger

    init(configuration: S3Configuration, http: HTTPClient, logger: Logger) throws {
        client = try S3Client(configuration: configuration, http: http)
        partSize = max(configuration.partSize, S3Configuration.minimumPartSize)
        self.logger = logger
    }

    static func key(ref: String, version: String) -> String {
        "\(ref)/\(version)"
    }

    func create(ref: String, version: String) async throws -> any ObjectContentWriter {
        S3ObjectWriter(contents: self, key: Self.key(ref: ref, version: version))
    }

    func read(ref: String, version: String, range: ClosedRange<Int>, context: some RequestContext) async throws -> ResponseBody {
        let body = try await mapping { try await client.getObject(key: Self.key(ref: ref, version: version), range: range) }
        return ResponseBody(asyncSequence: body)
    }

    func copy(ref: String, from source: String, to version: String) async throws {
        try await mapping { try await client.copyObject(from: Self.key(ref: ref, version: source), to: Self.key(ref: ref, version: version)) }
    }

    func remove(ref: String, versions: [String]) async {
        for version in versions {
            do {
                try await client.deleteObject(key: Self.key(ref: ref, version: version))
            } catch {
                // The row is gone already; the object is an orphan (docs/STORAGE.md, "Backends").
                logger.warning("storage: could not delete an S3 object", metadata: ["key": "\(Self.key(ref: ref, version: version))", "error": "\(error)"])
            }
        }
    }

    /// Runs an S3 call, turning its failure into a Storage error: a missing key is a missing
    /// object, anything else is the backend's failure, logged here and answered without S3's text.
    func mapping<Result: Sendable>(_ call: @Sendable () async throws -> Result) async throws -> Result {
        do {
            return try await call()
        } catch let failure as S3Failure {
            if case .answer(404, "NoSuchKey") = failure { throw StorageError.objectNotFound() }
            logger.error("storage: the S3 backend failed", metadata: ["error": "\(failure)"])
            throw StorageError.backendFailed(failure)
        }
    }
}

/// One version being sent to S3: bytes collect into a part buffer; a full part starts (or
/// continues) a multipart upload, so at most one part is held in memory. A version that never
/// fills a part is sent with one PutObject on commit.
actor S3ObjectWriter: ObjectContentWriter {
    let contents: S3ObjectContents
    let key: String
    private var pending = ByteBuffer()
    private var uploadID: String?
    private var parts: [String] = []

    init(contents: S3ObjectContents, key: String) {
        self.contents = contents
        self.key = key
    }

    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        var incoming = buffer
        while incoming.readableBytes > 0 {
            var slice = incoming.readSlice(length: min(contents.partSize - pending.readableBytes, incoming.readableBytes))!
            pending.writeBuffer(&slice)
            if pending.readableBytes == contents.partSize { try await sendPart() }
        }
    }

    func commit() async throws {
        guard let uploadID else {
            let (contents, key, body) = (contents, key, pending)
            try await contents.mapping { try await contents.client.putObject(key: key, body: body) }
            pending = ByteBuffer()
            return
        }
        if pending.readableBytes > 0 { try await sendPart() }
        let (contents, key, parts) = (contents, key, parts)
        try await contents.mapping { try await contents.client.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts) }
    }

    func discard() async {
        pending = ByteBuffer()
        guard let uploadID else { return }
        do {
            try await contents.client.abortMultipartUpload(key: key, uploadID: uploadID)
        } catch {
            contents.logger.warning("storage: could not abort an S3 multipart upload", metadata: ["key": "\(key)", "error": "\(error)"])
        }
    }

    private func sendPart() async throws {
        let (contents, key) = (contents, key)
        if uploadID == nil {
            uploadID = try await contents.mapping { try await contents.client.createMultipartUpload(key: key) }
        }
        let uploadID = uploadID!
        let number = parts.count + 1
        let part = pending
        let eTag = try await contents.mapping { try await contents.client.uploadPart(key: key, uploadID: uploadID, number: number, body: part) }
        parts.append(eTag)
        pending.clear()
    }
}
