/// How Storage keeps objects and how large they may be.
public struct StorageConfiguration: Sendable {
    /// The largest object any bucket accepts, in bytes (`--storage-max-object-bytes`); a
    /// bucket's `file_size_limit` can only lower it.
    public var maxObjectBytes: Int
    /// The longest lifetime a signed URL may be given, in seconds.
    public var maxSignedURLSeconds: Int

    public init(maxObjectBytes: Int = 50 * 1024 * 1024, maxSignedURLSeconds: Int = 7 * 24 * 3600) {
        self.maxObjectBytes = maxObjectBytes
        self.maxSignedURLSeconds = maxSignedURLSeconds
    }
}
