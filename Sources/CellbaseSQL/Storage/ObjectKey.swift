/// Object names and bucket ids as Storage accepts them.
///
/// A name is never used as a file path (the local backend names files by id), but names are
/// still held to rules that keep them unambiguous: no `.`/`..` or empty segments, no leading or
/// trailing `/`, no backslashes or control characters, at most 1,024 bytes of UTF-8, and stored
/// in Unicode NFC, so two spellings of `é` are one object.
public enum ObjectKey {
    public static let maxNameBytes = 1024

    public enum Rejection: Error, Sendable, Hashable {
        case empty
        case tooLong(bytes: Int)
        /// A control character (NUL included) or a backslash.
        case forbiddenCharacter
        /// A `//` run, or a leading or trailing `/`.
        case emptySegment
        case dotSegment
        /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
        case badEncoding

        public var message: String {
            switch self {
            case .empty: "The object name is empty"
            case .tooLong(let bytes): "The object name is \(bytes) bytes long; the limit is \(ObjectKey.maxNameBytes)"
            case .forbiddenCharacter: "The object name contains a control character or a backslash"
            case .emptySegment: "The object name has an empty segment (a leading, trailing or doubled '/')"
            case .dotSegment: "The object name has a '.' or '..' segment"
            case .badEncoding: "The object name is not valid percent-encoded UTF-8"
            }
        }
    }

    /// A name as it arrives in a URL path: percent-decoded once, then checked like `name(_:)`.
    /// `+` stays a plus, as the Supabase clients mean it in paths.
    public static func name(fromPath raw: Substring) throws(Rejection) -> String {
        try name(try percentDecoded(raw))
    }

    /// A name as it arrives in a JSON body, checked and NFC-normalised.
    public static func name(_ name: String) throws(Rejection) -> String {
        guard !name.isEmpty else { throw .empty }
        // The standard library's normaliser, the one String comparison itself relies on.
        let normalized = String(decoding: Array(name._nfcCodeUnits), as: UTF8.self)
        let bytes = normalized.utf8.count
        guard bytes <= maxNameBytes else { throw .tooLong(bytes: bytes) }
        for scalar in normalized.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\\" {
            throw .forbiddenCharacter
        }
        for segment in normalized.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { throw .emptySegment }
            if segment == "." || segment == ".." { throw .dotSegment }
        }
        return normalized
    }

    /// A listing prefix: a name or the start of one, where a trailing `/` is allowed and `""` is the bucket's root.
    public static func prefix(_ prefix: String) throws(Rejection) -> String {
        var trimmed = Substring(prefix)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty { return "" }
        return try name(String(trimmed))
    }

    /// The name as a URL path: each segment percent-encoded as the Supabase clients encode it
    /// (unreserved characters and `!$&'()*+,;=:@` kept), so `percentDecoded` gives it back.
    public static func encodedPath(_ name: String) -> String {
        var output = ""
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"),
                 UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                output.unicodeScalars.append("%")
                output.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                output.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
            }
        }
        return output
    }

    static func percentDecoded(_ raw: Substring) throws(Rejection) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        var iterator = raw.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { throw .badEncoding }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw .badEncoding }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Words the object routes use where a bucket id would go (`/object/sign/...`), which a bucket
    /// of that name could never be reached past.
    public static let reservedBucketIDs: Set<String> = ["authenticated", "copy", "info", "list", "move", "public", "sign", "upload"]

    /// Bucket ids: 1 to 63 letters, digits, `-`, `_` and `.`, not `.` or `..` nor a reserved
    /// word — safe in any URL segment.
    public static func isValidBucketID(_ id: String) -> Bool {
        (1...63).contains(id.utf8.count) && id != "." && id != ".." && !reservedBucketIDs.contains(id)
            && id.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }
}
