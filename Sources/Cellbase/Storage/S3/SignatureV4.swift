import Crypto
import FoundationEssentials

/// AWS Signature Version 4 for S3 requests, computed over the exact method, path, query, headers
/// and payload hash that go on the wire. Pure: the time is an argument, nothing is sent.
struct SignatureV4: Sendable {
    var accessKeyID: String
    var secretAccessKey: String
    var region: String
    var service = "s3"

    /// The SHA-256 of an empty payload, which GET, HEAD and DELETE requests sign.
    static let emptyPayloadHash = hexSHA256([UInt8]())

    /// The request as it is signed. `path` is the URI-encoded path; query values are raw.
    struct Request: Sendable {
        var method: String
        var path: String
        var query: [(name: String, value: String)]
        /// Every header to sign, `host` included; names in any case.
        var headers: [(name: String, value: String)]
        var payloadHash: String
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` and `YYYYMMDD` in UTC.
    static func timestamps(_ date: Date) -> (dateTime: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(value ?? 0).leftPadded(to: 2) }
        let day = String(parts.year ?? 0).leftPadded(to: 4) + two(parts.month) + two(parts.day)
        return (day + "T" + two(parts.hour) + two(parts.minute) + two(parts.second) + "Z", day)
    }

    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (uriEncode($0.name, slash: true), uriEncode($0.value, slash: true)) }
        let sorted = encoded.sorted { first, second in
            first.name == second.name ? first.value < second.value : first.name < second.name
        }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// Header names lowercased and sorted, values trimmed with inner runs of spaces collapsed.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (lines: String, signed: String) {
        var merged: [String: [String]] = [:]
        for header in headers {
            let value = header.value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[header.name.lowercased(), default: []].append(value)
        }
        let names = merged.keys.sorted()
        let lines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    static func canonicalRequest(_ request: Request) -> String {
        let headers = canonicalHeaders(request.headers)
        return [
            request.method, request.path, canonicalQuery(request.query), headers.lines, headers.signed, request.payloadHash,
        ].joined(separator: "\n")
    }

    func scope(day: String) -> String {
        "\(day)/\(region)/\(service)/aws4_request"
    }

    func stringToSign(_ request: Request, dateTime: String, day: String) -> String {
        ["AWS4-HMAC-SHA256", dateTime, scope(day: day), Self.hexSHA256(Array(Self.canonicalRequest(request).utf8))].joined(separator: "\n")
    }

    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    func signature(_ request: Request, dateTime: String, day: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(stringToSign(request, dateTime: dateTime, day: day).utf8), using: signingKey(day: day))
        return Self.hex(code)
    }

    /// The `Authorization` header for a request whose headers already hold `x-amz-date`
    /// (`dateTime`) and `x-amz-content-sha256`.
    func authorization(_ request: Request, dateTime: String, day: String) -> String {
        let signed = Self.canonicalHeaders(request.headers).signed
        return "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope(day: day)), SignedHeaders=\(signed), Signature=\(signature(request, dateTime: dateTime, day: day))"
    }

    /// Encodes all but the unreserved characters (`A-Z a-z 0-9 - . _ ~`), as SigV4 requires;
    /// `/` too when `slash` is set (query parts), not in paths.
    static func uriEncode(_ text: String, slash: Bool) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where !slash:
                encoded.append("/")
            default:
                encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return encoded
    }

    static func hexSHA256(_ bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
