import CellbaseSQL
import FoundationEssentials
import HTTPTypes
import NIOCore

/// Runs `export` jobs: the rows of a table that the caller's filters and policies admit, written
/// as CSV into a new version of a storage object a page at a time, then named at the requested
/// path (replacing what was there) and signed for download.
///
/// Memory holds one page of rows and one chunk of file, whatever the table's size. An attempt
/// that fails or is cancelled discards its version; the next attempt starts over, and a run that
/// completes replaces the object, so a retried export leaves one file.
struct ExportJobHandler: JobHandler {
    let projects: ProjectService
    let storage: StorageController
    /// The node's URL, which the signed download URL in the result starts with.
    let baseURL: String
    /// Rows per page; each page is one read of the Data API.
    var pageSize = 1000
    /// Bytes gathered before they are appended to the file.
    var chunkSize = 256 * 1024

    func run(_ job: ClaimedJob, project: Project) async throws -> String? {
        let request = try ExportRequest(payload: job.payload)
        let shard = try projects.shard(for: project)
        let catalog = try await projects.catalog(for: project)
        guard let table = catalog.schema.table(named: request.table) else {
            throw JobFailure.permanent("the table '\(request.table)' does not exist")
        }
        let export: TableExport
        do {
            export = try TableExport(table: table, parameters: try QueryString.decode(Substring(request.query)), pageSize: pageSize)
        } catch let error as RESTError {
            throw JobFailure.permanent(error.message)
        } catch {
            throw JobFailure.permanent("the query is not a valid query string")
        }
        let planner = RESTPlanner(
            schema: catalog.schema, namespace: shard.namespace(for: project.ref), limits: RESTLimits(maxRows: pageSize),
            access: request.access, policies: catalog.policies
        )
        let store = try await storage.store(for: project)
        guard let bucket = try await store.bucket(id: request.bucket) else {
            throw JobFailure.permanent("the bucket '\(request.bucket)' does not exist")
        }
        guard MimeType.isAllowed(ExportRequest.mimeType, by: bucket.allowedMimeTypes) else {
            throw JobFailure.permanent("the bucket '\(request.bucket)' does not accept text/csv")
        }
        let limit = min(bucket.row.fileSizeLimit ?? storage.configuration.maxExportBytes, storage.configuration.maxExportBytes)

        let version = UUID().uuidString.lowercased()
        var sink = StorageUpload.Sink(writer: try await storage.files.create(ref: project.ref, version: version), limit: limit)
        var rows = 0
        do {
            let encoder = CSVEncoder(formulaProtection: request.formulaProtection)
            var chunk: [UInt8] = []
            chunk.reserveCapacity(chunkSize + 16 * 1024)
            encoder.appendHeader(export.columns, to: &chunk)
            var last: [JSONValue]?
            repeat {
                try Task.checkCancellation()
                let answer: RESTResponse
                do {
                    answer = try await shard.execute(ref: project.ref, plan: try planner.planRead(table: table.name, query: try export.query(after: last)))
                } catch let error as RESTError {
                    throw JobFailure.permanent(error.message)
                } catch {
                    if let refused = DatabaseErrors.restError(from: error) { throw JobFailure.permanent(refused.message) }
                    throw error
                }
                let page = try export.page((answer.body ?? "[]").utf8)
                for record in page.records {
                    encoder.appendRow(record, to: &chunk)
                    if chunk.count >= chunkSize {
                        try await sink.append(ByteBuffer(bytes: chunk))
                        chunk.removeAll(keepingCapacity: true)
                    }
                }
                rows += page.records.count
                last = page.lastKey
            } while last != nil
            if !chunk.isEmpty { try await sink.append(ByteBuffer(bytes: chunk)) }
            try await sink.writer.commit()
        } catch {
            await sink.writer.discard()
            if let apiError = error as? APIError, apiError.status == .contentTooLarge {
                throw JobFailure.permanent("the export is larger than \(limit) bytes, the most its bucket or the node takes")
            }
            throw error
        }

        let content = StorageUpload.Content(
            writer: sink.writer, size: sink.size, eTag: sink.eTag, mimeType: ExportRequest.mimeType,
            cacheControl: StorageUpload.cacheControl(nil), userMetadata: nil
        )
        do {
            _ = try await storage.record(
                content, version: version, in: store, project: project, bucket: request.bucket, name: request.path,
                mode: .upsert, owner: request.owner, access: request.access
            )
        } catch let error as APIError {
            throw JobFailure.permanent("the file could not be stored at \(request.bucket)/\(request.path): \(error.message)")
        }
        let seconds = min(request.expiresIn, storage.configuration.maxSignedURLSeconds)
        let signed = try await storage.signDownload(project: project, bucket: request.bucket, name: request.path, seconds: seconds)
        let expiresAt = Timestamp.iso8601(milliseconds: Int64((Date().timeIntervalSince1970 + Double(seconds)) * 1000))
        return JSONValue.object([
            JSONMember(key: "bucket", value: .string(request.bucket)),
            JSONMember(key: "path", value: .string(request.path)),
            JSONMember(key: "rows", value: .number(String(rows))),
            JSONMember(key: "bytes", value: .number(String(sink.size))),
            JSONMember(key: "signed_url", value: .string(baseURL + "/storage/v1" + signed)),
            JSONMember(key: "expires_at", value: .string(expiresAt)),
        ]).serialized
    }
}
