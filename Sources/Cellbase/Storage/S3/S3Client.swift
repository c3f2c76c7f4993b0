import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1

/// The few S3 calls Storage makes, signed with Signature Version 4 and sent with AsyncHTTPClient.
/// Request bodies are buffers of at most one part, so each is signed with its own SHA-256.
struct S3Client: Sendable {
    let bucket: String
    let address: S3Address
    let signer: SignatureV4
    let http: HTTPClient

    /// How long a request with a buffered body, or the head of a download, may take.
    static let requestTimeout = TimeAmount.minutes(5)
    /// How long a download may stream before it is cut.
    static let downloadTimeout = TimeAmount.minutes(60)
    /// The most bytes of an answer read to find its error code or upload id.
    static let maxAnswerBytes = 64 * 1024

    init(configuration: S3Configuration, http: HTTPClient) throws {
        bucket = configuration.bucket
        address = try S3Address(endpoint: configuration.endpoint, bucket: configuration.bucket, addressing: configuration.addressing)
        signer = SignatureV4(accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey, region: configuration.region)
        self.http = http
    }

    func putObject(key: String, body: ByteBuffer) async throws {
        let response = try await send(.PUT, key: key, body: body)
        try await Self.drain(response)
    }

    /// Starts a multipart upload and answers its id.
    func createMultipartUpload(key: String) async throws -> String {
        let response = try await send(.POST, key: key, query: [("uploads", "")])
        let answer = try await Self.text(response)
        guard let id = S3XML.element("UploadId", in: answer), !id.isEmpty else { throw S3Failure.answer(status: Int(response.status.code), code: "MalformedAnswer") }
        return id
    }

    /// Sends one part and answers its ETag, which completing the upload names.
    func uploadPart(key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        let response = try await send(.PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body)
        try await Self.drain(response)
        guard let eTag = response.headers.first(name: "ETag") else { throw S3Failure.answer(status: Int(response.status.code), code: "MalformedAnswer") }
        return eTag
    }

    func completeMultipartUpload(key: String, uploadID: String, parts: [String]) async throws {
        let body = ByteBuffer(string: S3XML.completeMultipartUpload(parts: parts))
        let response = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: body)
        // S3 may answer 200 and report a failure in the body.
        try S3XML.check(try await Self.text(response), status: Int(response.status.code))
    }

    func abortMultipartUpload(key: String, uploadID: String) async throws {
        let response = try await send(.DELETE, key: key, query: [("uploadId", uploadID)])
        try await Self.drain(response)
    }

    /// The object's bytes in `range`, as a stream the caller must consume.
    func getObject(key: String, range: ClosedRange<Int>) async throws -> HTTPClientResponse.Body {
        let response = try await send(
            .GET, key: key, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")], timeout: Self.downloadTimeout
        )
        return response.body
    }

    func copyObject(from source: String, to key: String) async throws {
        let response = try await send(.PUT, key: key, headers: [("x-amz-copy-source", sourcePath(source))])
        try S3XML.check(try await Self.text(response), status: Int(response.status.code))
    }

    func deleteObject(key: String) async throws {
        let response = try await send(.DELETE, key: key)
        try await Self.drain(response)
    }

    /// Signs and sends a request; an answer other than 2xx becomes `S3Failure.answer` with the
    /// code from its XML body.
    func send(
        _ method: HTTPMethod, key: String?, query: [(name: String, value: String)] = [], headers extra: [(name: String, value: String)] = [],
        body: ByteBuffer? = nil, timeout: TimeAmount = Self.requestTimeout
    ) async throws -> HTTPClientResponse {
        let (dateTime, day) = SignatureV4.timestamps(Date())
        let payloadHash = body.map { buffer in buffer.withUnsafeReadableBytes { SignatureV4.hexSHA256($0) } } ?? SignatureV4.emptyPayloadHash
        let path = address.path(key: key)
        var signed: [(name: String, value: String)] = [("host", address.host), ("x-amz-date", dateTime), ("x-amz-content-sha256", payloadHash)]
        signed += extra
        let signing = SignatureV4.Request(method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash)
        var request = HTTPClientRequest(url: address.url(path: path, query: query))
        request.method = method
        for header in signed where header.name != "host" { request.headers.add(name: header.name, value: header.value) }
        request.headers.add(name: "Authorization", value: signer.authorization(signing, dateTime: dateTime, day: day))
        if let body {
            request.headers.add(name: "Content-Length", value: String(body.readableBytes))
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw S3Failure.unreachable(String(describing: error))
        }
        guard (200..<300).contains(response.status.code) else {
            let answer = (try? await Self.text(response)) ?? ""
            throw S3Failure.answer(status: Int(response.status.code), code: S3XML.element("Code", in: answer) ?? "HTTP\(response.status.code)")
        }
        return response
    }

    /// `x-amz-copy-source`: the bucket and key, URI-encoded.
    private func sourcePath(_ key: String) -> String {
        "/" + SignatureV4.uriEncode(bucket, slash: true) + "/" + SignatureV4.uriEncode(key, slash: false)
    }

    private static func text(_ response: HTTPClientResponse) async throws -> String {
        do {
            return String(buffer: try await response.body.collect(upTo: maxAnswerBytes))
        } catch {
            throw S3Failure.unreachable(String(describing: error))
        }
    }

    private static func drain(_ response: HTTPClientResponse) async throws {
        do {
            for try await _ in response.body {}
        } catch {
            throw S3Failure.unreachable(String(describing: error))
        }
    }
}

/// Why an S3 call failed: an error answer (its status and `<Code>`), or no answer at all.
enum S3Failure: Error, Equatable {
    case answer(status: Int, code: String)
    case unreachable(String)
}

/// The little XML Storage reads and writes. S3's answers are flat enough that the text of a
/// named element is all that is needed.
enum S3XML {
    /// The text of the first `<name>` element, with the five predefined entities decoded.
    static func element(_ name: String, in text: String) -> String? {
        guard let open = text.firstRange(of: "<\(name)>"), let close = text[open.upperBound...].firstRange(of: "</\(name)>") else {
            return nil
        }
        return unescape(String(text[open.upperBound..<close.lowerBound]))
    }

    /// Throws the `<Error>` an answer holds despite its 2xx status.
    static func check(_ text: String, status: Int) throws {
        if text.contains("<Error>") { throw S3Failure.answer(status: status, code: element("Code", in: text) ?? "InternalError") }
    }

    static func completeMultipartUpload(parts: [String]) -> String {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (index, eTag) in parts.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(escape(eTag))</ETag></Part>"
        }
        return xml + "</CompleteMultipartUpload>"
    }

    static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;")
            .replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
    }

    static func unescape(_ text: String) -> String {
        text.replacing("&quot;", with: "\"").replacing("&apos;", with: "'")
            .replacing("&lt;", with: "<").replacing("&gt;", with: ">")
            .replacing("&amp;", with: "&")
    }
}
