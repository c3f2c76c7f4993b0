import _NIOFileSystem
import Hummingbird
import NIOCore

/// The `local` backend: object contents as files under `<data>/storage/<ref>/`.
///
/// Files are named by a random version id, never by the object's name, so no name can reach
/// outside the directory. A version is written under `tmp/`, flushed to disk, then renamed into
/// `objects/<first two characters>/<version>` and only then recorded in the project's metadata:
/// a crash leaves at worst a file nothing refers to, never a half object that can be read.
struct LocalObjectFiles: ObjectContents {
    let root: String

    init(dataDirectory: String) {
        root = dataDirectory + "/storage"
    }

    func path(ref: String, version: String) -> FilePath {
        FilePath(location(ref: ref, version: version))
    }

    /// Where a version's file is, as a path string.
    func location(ref: String, version: String) -> String {
        "\(root)/\(ref)/objects/\(version.prefix(2))/\(version)"
    }

    /// Starts writing a new version of an object's content.
    func create(ref: String, version: String) async throws -> any ObjectContentWriter {
        let temporary = FilePath("\(root)/\(ref)/tmp/\(version)")
        try await FileSystem.shared.createDirectory(at: temporary.removingLastComponent(), withIntermediateDirectories: true, permissions: nil)
        let handle = try await FileSystem.shared.openFile(forWritingAt: temporary, options: .newFile(replaceExisting: false))
        return ObjectFileWriter(handle: handle, temporary: temporary, final: path(ref: ref, version: version))
    }

    /// Streams the range from the file with Hummingbird's file reader.
    func read(ref: String, version: String, range: ClosedRange<Int>, context: some RequestContext) async throws -> ResponseBody {
        do {
            return try await FileIO().loadFile(path: location(ref: ref, version: version), range: range, context: context)
        } catch is HTTPError {
            // A row whose content this node does not hold (see docs/STORAGE.md, "Backends").
            throw StorageError.objectNotFound()
        }
    }

    func copy(ref: String, from source: String, to version: String) async throws {
        let destination = path(ref: ref, version: version)
        try await FileSystem.shared.createDirectory(at: destination.removingLastComponent(), withIntermediateDirectories: true, permissions: nil)
        try await FileSystem.shared.copyItem(at: path(ref: ref, version: source), to: destination)
    }

    func remove(ref: String, versions: [String]) async {
        for version in versions {
            _ = try? await FileSystem.shared.removeItem(at: path(ref: ref, version: version))
        }
    }

    func size(ref: String, version: String) async throws -> Int64? {
        try await FileSystem.shared.info(forFileAt: path(ref: ref, version: version)).map(\.size)
    }
}

/// One version being written: appended to, then committed (renamed into place) or discarded.
struct ObjectFileWriter: ObjectContentWriter {
    let handle: WriteFileHandle
    let temporary: FilePath
    let final: FilePath

    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        try await handle.write(contentsOf: buffer, toAbsoluteOffset: offset)
    }

    /// Flushes the content to disk and renames it into place, then flushes the directory entry.
    func commit() async throws {
        try await handle.synchronize()
        try await handle.close()
        try await FileSystem.shared.createDirectory(at: final.removingLastComponent(), withIntermediateDirectories: true, permissions: nil)
        try await FileSystem.shared.moveItem(at: temporary, to: final)
        try await FileSystem.shared.withDirectoryHandle(atPath: final.removingLastComponent()) { directory in
            try await directory.synchronize()
        }
    }

    func discard() async {
        try? await handle.close()
        _ = try? await FileSystem.shared.removeItem(at: temporary)
    }
}
