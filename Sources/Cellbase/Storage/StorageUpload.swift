import CellbaseSQL
import Crypto
import Hummingbird
import NIOCore

/// Receives an object's content from a request body, multipart (as the Supabase clients send it:
/// `cacheControl`, optional `metadata`, then the `file` part) or raw, straight into a new file
/// version: the body is never held in memory, and the size limit is enforced as bytes arrive.
struct StorageUpload {
    /// What was received, once the file version is complete on disk (not yet committed).
    struct Content {
        var writer: any ObjectContentWriter
        var size: Int
        var eTag: String
        var mimeType: String
        var cacheControl: String
        var userMetadata: String?
    }

    let files: any ObjectContents
    let ref: String
    let version: String
    let limit: Int
    let allowedTypes: [String]?

    func receive(_ request: Request) async throws -> Content {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        let contentType = request.headers[.contentType] ?? "application/octet-stream"
        if let boundary = MultipartParser.boundary(contentType: contentType) {
            return try await receiveMultipart(request.body, boundary: boundary, declared: declared)
        }
        if let declared, declared > limit { throw StorageError.tooLarge(limit) }
        try checkType(contentType)
        let writer = try await files.create(ref: ref, version: version)
        do {
            var sink = Sink(writer: writer, limit: limit)
            for try await buffer in request.body { try await sink.append(buffer) }
            try Self.checkLength(received: sink.size, declared: declared)
            return Content(
                writer: writer, size: sink.size, eTag: sink.eTag, mimeType: contentType,
                cacheControl: Self.cacheControl(request.headers[.cacheControl]), userMetadata: nil
            )
        } catch {
            await writer.discard()
            throw error
        }
    }

    /// The most bytes the form fields besides the file (`cacheControl`, `metadata`) may hold together.
    static let maxFieldBytes = 64 * 1024

    private func receiveMultipart(_ body: RequestBody, boundary: String, declared: Int?) async throws -> Content {
        var parser = MultipartParser(boundary: boundary)
        var fields: [String: [UInt8]] = [:]
        var currentField: String?
        var sink: Sink?
        var fileType = "text/plain;charset=UTF-8"
        var inFile = false
        var received = 0
        var fieldBytes = 0
        do {
            for try await buffer in body {
                received += buffer.readableBytes
                for event in try parse(&parser, buffer) {
                    switch event {
                    case .part(let headers):
                        if headers.name == "file" || headers.filename != nil, sink == nil {
                            fileType = headers.contentType ?? "text/plain;charset=UTF-8"
                            try checkType(fileType)
                            sink = Sink(writer: try await files.create(ref: ref, version: version), limit: limit)
                            inFile = true
                        } else {
                            currentField = headers.name
                        }
                    case .body(let bytes):
                        if inFile {
                            try await sink?.append(ByteBuffer(bytes: bytes))
                        } else if let name = currentField {
                            // Form fields are small: together they may not pass `maxFieldBytes`.
                            fieldBytes += bytes.count
                            guard fieldBytes <= Self.maxFieldBytes else { throw StorageError.invalid("The form fields are longer than \(Self.maxFieldBytes) bytes") }
                            fields[name, default: []] += bytes
                        }
                    case .partEnd:
                        inFile = false
                        currentField = nil
                    }
                }
            }
            do {
                try parser.finish()
            } catch {
                throw StorageError.invalid("The multipart body ended before its closing boundary")
            }
            try Self.checkLength(received: received, declared: declared)
            guard let sink else { throw StorageError.invalid("The multipart body has no file part") }
            let metadata = try fields["metadata"].map(Self.userMetadata)
            return Content(
                writer: sink.writer, size: sink.size, eTag: sink.eTag, mimeType: fileType,
                cacheControl: Self.cacheControl(fields["cacheControl"].map { String(decoding: $0, as: UTF8.self) }),
                userMetadata: metadata
            )
        } catch {
            await sink?.writer.discard()
            throw error
        }
    }

    /// The `metadata` field: a JSON object, kept as compact text.
    private static func userMetadata(_ bytes: [UInt8]) throws -> String {
        guard case .object(let members)? = try? JSONParser.parse(bytes, maxDepth: 32) else {
            throw StorageError.invalid("metadata must be a JSON object")
        }
        return JSONValue.object(members).serialized
    }

    private func parse(_ parser: inout MultipartParser, _ buffer: ByteBuffer) throws -> [MultipartParser.Event] {
        do {
            return try parser.feed(buffer.readableBytesView)
        } catch {
            throw StorageError.invalid("The multipart body is malformed")
        }
    }

    private func checkType(_ type: String) throws {
        guard MimeType.isAllowed(type, by: allowedTypes) else { throw StorageError.mimeTypeNotAllowed(MimeType.essence(type)) }
    }

    /// A body shorter or longer than its `Content-Length` is not the object the client meant.
    private static func checkLength(received: Int, declared: Int?) throws {
        if let declared, declared != received {
            throw StorageError.invalid("The body has \(received) bytes but Content-Length said \(declared)")
        }
    }

    /// `cacheControl` is sent as seconds (`3600`) or as a header value.
    static func cacheControl(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "max-age=3600" }
        if let seconds = Int(value) { return "max-age=\(seconds)" }
        return value
    }

    /// Appends to the file version, counting and hashing as it goes.
    struct Sink {
        let writer: any ObjectContentWriter
        let limit: Int
        var size = 0
        var hash = Insecure.MD5()

        init(writer: any ObjectContentWriter, limit: Int) {
            self.writer = writer
            self.limit = limit
        }

        mutating func append(_ buffer: ByteBuffer) async throws {
            guard size + buffer.readableBytes <= limit else { throw StorageError.tooLarge(limit) }
            try await writer.write(buffer, at: Int64(size))
            size += buffer.readableBytes
            buffer.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
        }

        var eTag: String {
            "\"" + hash.finalize().map { String($0, radix: 16).leftPadded }.joined() + "\""
        }
    }
}

extension String {
    fileprivate var leftPadded: String { count == 1 ? "0" + self : self }
}
