import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The admin token: created on first start, kept in `<data>/admin_token` with mode 0600.
public enum AdminToken {
    public static func path(in dataDirectory: String) -> String { dataDirectory + "/admin_token" }

    public static func load(from dataDirectory: String) -> String? {
        DataDirectoryFile.load(path: path(in: dataDirectory))
    }

    static func loadOrCreate(in dataDirectory: String) throws -> String {
        try DataDirectoryFile.loadOrCreate(path: path(in: dataDirectory)) { "cb_admin_" + ProjectKeys.randomSecret() }
    }
}

/// The node's id: created on first start and kept in `<data>/node_id`, so the node is the same one
/// to the outside across restarts — the upstream MQTT broker keeps its session under it.
enum NodeID {
    static func path(in dataDirectory: String) -> String { dataDirectory + "/node_id" }

    static func loadOrCreate(in dataDirectory: String) throws -> String {
        try DataDirectoryFile.loadOrCreate(path: path(in: dataDirectory)) { ProjectKeys.randomRef() }
    }
}

/// A one-line file in the data directory, written once (mode 0600, `O_EXCL`, fsync'd) and read thereafter.
private enum DataDirectoryFile {
    static func load(path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path),
              let value = String(data: data, encoding: .utf8)?.filter({ !$0.isWhitespace }),
              !value.isEmpty
        else { return nil }
        return value
    }

    static func loadOrCreate(path: String, make: () -> String) throws -> String {
        if let value = load(path: path) { return value }
        let value = make()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            // Another process created it first: use theirs.
            if let value = load(path: path) { return value }
            throw ConfigurationError("cannot create \(path): errno \(errno)")
        }
        defer { close(descriptor) }
        let bytes = Array((value + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw ConfigurationError("cannot write \(path): errno \(errno)")
        }
        return value
    }
}

/// `<data>/cellbase.json`: where the node listens and which control plane it uses, so that
/// `cellbase status` and the other subcommands find a running node from its data directory.
public enum StatusFile {
    public struct Contents: Codable, Sendable {
        public var url: String
        public var control: String?
        /// `mqtt://host:port` of the node's MQTT listener; absent when it opens none.
        public var mqtt: String?
    }

    public static func path(in dataDirectory: String) -> String { dataDirectory + "/cellbase.json" }

    static func write(_ contents: Contents, in dataDirectory: String) throws {
        let data = try JSONEncoder().encode(contents)
        let path = path(in: dataDirectory)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write \(path)")
        }
    }

    public static func read(in dataDirectory: String) -> Contents? {
        guard let data = FileManager.default.contents(atPath: path(in: dataDirectory)) else { return nil }
        return try? JSONDecoder().decode(Contents.self, from: data)
    }
}
