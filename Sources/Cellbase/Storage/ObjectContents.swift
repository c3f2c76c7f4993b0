import Hummingbird
import NIOCore

/// Where object content lives: the seam between the Storage API, which keeps metadata in each
/// project's database, and a backend that keeps bytes (`LocalObjectFiles`, `S3ObjectContents`).
///
/// Contents are addressed by project ref and a random version id, never by an object's name.
/// A version becomes readable only once `commit()` returns, and the metadata row naming it is
/// committed after that, so a crash never leaves a row that points at half an object.
protocol ObjectContents: Sendable {
    /// Starts writing a new version.
    func create(ref: String, version: String) async throws -> any ObjectContentWriter

    /// The bytes of `range` of a version, streamed. A version that is missing answers
    /// `StorageError.objectNotFound()`.
    func read(ref: String, version: String, range: ClosedRange<Int>, context: some RequestContext) async throws -> ResponseBody

    /// A second version with the same content (copying an object).
    func copy(ref: String, from source: String, to version: String) async throws

    /// Removes versions no metadata refers to any more; a missing version is not an error.
    func remove(ref: String, versions: [String]) async
}

/// One version being written: appended to in order, then committed or discarded.
protocol ObjectContentWriter: Sendable {
    /// Appends `buffer`; `offset` is the number of bytes written before it.
    func write(_ buffer: ByteBuffer, at offset: Int64) async throws

    /// Makes the version complete and durable; only then may a metadata row name it.
    func commit() async throws

    /// Drops everything written so far.
    func discard() async
}
