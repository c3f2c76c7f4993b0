/// Decodes an `application/x-www-form-urlencoded` query string the way PostgREST reads it:
/// `+` is a space, `%XX` is a byte, keys may repeat and keep their order.
public enum QueryString {
    public struct Invalid: Error, Sendable, Hashable {
        public var message: String
    }

    public static func decode(_ raw: Substring) throws(Invalid) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        for part in raw.split(separator: "&", omittingEmptySubsequences: true) {
            if let equals = part.firstIndex(of: "=") {
                pairs.append((try component(part[..<equals]), try component(part[part.index(after: equals)...])))
            } else {
                pairs.append((try component(part), ""))
            }
        }
        return pairs
    }

    static func component(_ encoded: Substring) throws(Invalid) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.utf8.count)
        var iterator = encoded.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(\.hexDigitValue), let low = iterator.next().flatMap(\.hexDigitValue) else {
                    throw Invalid(message: "malformed percent-encoding in the query string")
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw Invalid(message: "the query string is not valid UTF-8")
        }
        return string
    }
}
