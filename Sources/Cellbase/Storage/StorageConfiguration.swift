/// How Storage keeps objects and how large they may be.
public struct StorageConfiguration: Sendable {
    /// Where object content lives (`--storage-backend`).
    public enum Backend: Sendable {
        /// Files under `<data>/storage/` on this node.
        case local
        /// One bucket of an S3-compatible service, shared by every node.
        case s3(S3Configuration)
    }

    public var backend: Backend
    /// The largest object any bucket accepts, in bytes (`--storage-max-object-bytes`); a
    /// bucket's `file_size_limit` can only lower it.
    public var maxObjectBytes: Int
    /// The longest lifetime a signed URL may be given, in seconds.
    public var maxSignedURLSeconds: Int
    /// The largest CSV file an export writes, in bytes (`--export-max-bytes`); exports are not
    /// uploads, so `maxObjectBytes` does not bound them, but a bucket's `file_size_limit` does.
    public var maxExportBytes: Int

    public init(
        backend: Backend = .local, maxObjectBytes: Int = 50 * 1024 * 1024, maxSignedURLSeconds: Int = 7 * 24 * 3600,
        maxExportBytes: Int = 1 << 30
    ) {
        self.backend = backend
        self.maxObjectBytes = maxObjectBytes
        self.maxSignedURLSeconds = maxSignedURLSeconds
        self.maxExportBytes = maxExportBytes
    }
}
