/// A Lua script for `RedisClient.evalSHA`; the client learns its SHA-1 from SCRIPT LOAD.
public struct RedisScript: Sendable, Hashable {
    public var source: String

    public init(_ source: String) {
        self.source = source
    }
}
