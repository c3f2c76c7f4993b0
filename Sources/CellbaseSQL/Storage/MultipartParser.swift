/// An incremental `multipart/form-data` parser (RFC 7578): bytes in as they arrive, events out,
/// no I/O. A part's body is handed out in pieces as soon as they cannot be the start of a
/// boundary, so a large file part streams through with at most a boundary's length held back.
public struct MultipartParser: Sendable {
    public enum Event: Sendable, Hashable {
        /// A part begins; its header names are lowercased.
        case part(MultipartPartHeaders)
        /// The next bytes of the current part's body.
        case body([UInt8])
        case partEnd
    }

    public enum Failure: Error, Sendable, Hashable {
        case malformed(String)
        /// The body ended before the closing boundary.
        case truncated
    }

    private enum State: Sendable {
        case preamble
        /// Just after a boundary: `--` ends the body, CRLF starts a part.
        case afterBoundary
        case headers
        case body
        case done
    }

    /// Headers of one part may not exceed this.
    public static let maxHeaderBytes = 16 * 1024

    private let delimiter: [UInt8]
    private var pending: [UInt8]
    private var state = State.preamble

    public init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The first boundary need not follow a line break; pretend one came before it.
        pending = [13, 10]
    }

    /// Whether the closing boundary has been read.
    public var isFinished: Bool {
        if case .done = state { return true }
        return false
    }

    /// Feeds the next bytes; returns the events they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [Event] {
        if case .done = state { return [] }
        pending.append(contentsOf: bytes)
        var events: [Event] = []
        var start = 0
        defer { pending.removeFirst(start) }
        loop: while true {
            switch state {
            case .preamble:
                guard let found = find(delimiter, from: start) else {
                    start = max(start, pending.count - (delimiter.count - 1))
                    break loop
                }
                start = found + delimiter.count
                state = .afterBoundary
            case .afterBoundary:
                guard pending.count - start >= 2 else { break loop }
                let pair = (pending[start], pending[start + 1])
                if pair == (45, 45) {
                    state = .done
                    start = pending.count
                    break loop
                }
                guard pair == (13, 10) else { throw .malformed("a boundary is followed by neither CRLF nor --") }
                start += 2
                state = .headers
            case .headers:
                let end: Int
                let next: Int
                if pending.count - start >= 2, pending[start] == 13, pending[start + 1] == 10 {
                    (end, next) = (start, start + 2)
                } else if let found = find([13, 10, 13, 10], from: start) {
                    (end, next) = (found, found + 4)
                } else {
                    if pending.count - start > Self.maxHeaderBytes { throw .malformed("a part's headers are longer than \(Self.maxHeaderBytes) bytes") }
                    break loop
                }
                guard end - start <= Self.maxHeaderBytes else { throw .malformed("a part's headers are longer than \(Self.maxHeaderBytes) bytes") }
                events.append(.part(try MultipartPartHeaders(parsing: pending[start..<end])))
                start = next
                state = .body
            case .body:
                if let found = find(delimiter, from: start) {
                    if found > start { events.append(.body(Array(pending[start..<found]))) }
                    events.append(.partEnd)
                    start = found + delimiter.count
                    state = .afterBoundary
                } else {
                    let safe = pending.count - (delimiter.count - 1)
                    if safe > start {
                        events.append(.body(Array(pending[start..<safe])))
                        start = safe
                    }
                    break loop
                }
            case .done:
                start = pending.count
                break loop
            }
        }
        return events
    }

    /// Called at the end of the request body: anything short of the closing boundary is truncated.
    public func finish() throws(Failure) {
        guard case .done = state else { throw .truncated }
    }

    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard pending.count - start >= needle.count else { return nil }
        let first = needle[0]
        var index = start
        let last = pending.count - needle.count
        while index <= last {
            if pending[index] == first {
                var offset = 1
                while offset < needle.count, pending[index + offset] == needle[offset] { offset += 1 }
                if offset == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// The `boundary` parameter of a `multipart/form-data` Content-Type; `nil` for any other type.
    public static func boundary(contentType: String) -> String? {
        let parts = HeaderParameters(contentType)
        guard parts.value.lowercased() == "multipart/form-data", let boundary = parts["boundary"],
              (1...70).contains(boundary.utf8.count)
        else { return nil }
        return boundary
    }
}

/// The headers of one part.
public struct MultipartPartHeaders: Sendable, Hashable {
    /// Lowercased names, values as sent.
    public var fields: [String: String]

    init(parsing bytes: ArraySlice<UInt8>) throws(MultipartParser.Failure) {
        fields = [:]
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed("a part's headers are not UTF-8") }
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("a part header line has no ':'") }
            let name = line[..<colon].lowercased()
            fields[name] = String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
        }
    }

    public init(fields: [String: String]) {
        self.fields = fields
    }

    /// The form field name of `Content-Disposition: form-data; name="..."`.
    public var name: String? { fields["content-disposition"].flatMap { HeaderParameters($0)["name"] } }
    public var filename: String? { fields["content-disposition"].flatMap { HeaderParameters($0)["filename"] } }
    public var contentType: String? { fields["content-type"] }
}

/// `value; key=token; key="quoted \" string"`, as Content-Type and Content-Disposition write them.
struct HeaderParameters {
    var value: String
    var parameters: [String: String] = [:]

    init(_ header: String) {
        var scalars = Substring(header)
        value = String(scalars.prefix { $0 != ";" }).trimmingSpaces
        scalars = scalars.drop { $0 != ";" }
        while scalars.first == ";" {
            scalars = scalars.dropFirst().drop { $0 == " " || $0 == "\t" }
            let key = scalars.prefix { $0 != "=" && $0 != ";" }
            scalars = scalars.dropFirst(key.count)
            guard scalars.first == "=" else { continue }
            scalars = scalars.dropFirst()
            var parsed = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                while let character = scalars.first, character != "\"" {
                    scalars = scalars.dropFirst()
                    if character == "\\", let escaped = scalars.first {
                        parsed.append(escaped)
                        scalars = scalars.dropFirst()
                    } else {
                        parsed.append(character)
                    }
                }
                scalars = scalars.dropFirst()
                scalars = scalars.drop { $0 != ";" }
            } else {
                let token = scalars.prefix { $0 != ";" }
                parsed = String(token).trimmingSpaces
                scalars = scalars.dropFirst(token.count)
            }
            parameters[String(key).trimmingSpaces.lowercased()] = parsed
        }
    }

    subscript(_ key: String) -> String? { parameters[key] }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
