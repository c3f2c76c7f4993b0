import NIOCore

/// A RESP2 value: what Redis replies, and (as an array of bulk strings) what a client sends.
///
/// RESP2 has two distinct nulls, the null bulk string (`$-1`) and the null array (`*-1`); they are
/// kept apart as `.bulkString(nil)` and `.array(nil)` so that a value re-encodes to the same bytes.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer?)
    case array([RESPValue]?)

    /// A bulk string holding the UTF-8 bytes of `string`.
    public static func bulkString(_ string: String) -> RESPValue {
        .bulkString(ByteBuffer(string: string))
    }

    /// True for both RESP2 nulls.
    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): true
        default: false
        }
    }

    /// The text of a simple string, or of a bulk string decoded as UTF-8; nil for other values.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes?): String(buffer: bytes)
        default: nil
        }
    }

    /// An integer reply, or a simple or bulk string holding a decimal integer (as GET returns after INCR).
    public var int: Int? {
        switch self {
        case .integer(let value): value
        case .simpleString, .bulkString: self.string.flatMap { Int($0) }
        default: nil
        }
    }

    /// The elements of a non-null array.
    public var array: [RESPValue]? {
        if case .array(let elements?) = self { return elements }
        return nil
    }
}
