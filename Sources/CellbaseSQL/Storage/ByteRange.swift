/// What a `Range` request header asks of an object of known size (RFC 9110 §14).
public enum ByteRange: Sendable, Hashable {
    /// No usable single range: the whole object, with 200. Several ranges are answered this way
    /// too, which the RFC allows.
    case whole
    /// One satisfiable range, answered with 206 and `Content-Range`.
    case partial(ClosedRange<Int>)
    /// A range that starts past the end: 416 with `Content-Range: bytes */size`.
    case unsatisfiable

    public init(header: String?, size: Int) {
        guard let header, header.hasPrefix("bytes=") else { self = .whole; return }
        let spec = header.dropFirst(6).filter { $0 != " " }
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // A suffix: the last n bytes.
            guard let count = Self.number(last) else { self = .whole; return }
            guard count > 0, size > 0 else { self = .unsatisfiable; return }
            self = .partial(max(0, size - count)...(size - 1))
            return
        }
        guard let start = Self.number(first) else { self = .whole; return }
        var end = size - 1
        if !last.isEmpty {
            guard let given = Self.number(last), given >= start else { self = .whole; return }
            end = min(given, size - 1)
        }
        guard start < size else { self = .unsatisfiable; return }
        self = .partial(start...end)
    }

    /// Digits only, and small enough for an `Int`.
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(text)
    }
}
