/// A webhook's target, parsed strictly: `http` or `https`, a host name or an address literal, a
/// port, and the path with its query.
///
/// Strict, because the address guard is only as good as the agreement between what it checks
/// and what is connected to. A host is either an LDH name (letters, digits, hyphens; IDNs in their
/// `xn--` form), a dotted-decimal IPv4 address, or a bracketed IPv6 address. A host whose last
/// label is numeric (`127.1`, `2130706433`, `0x7f.0.0.1`) is read as an address by resolvers and
/// browsers alike, so unless it is a plain dotted-decimal address it is refused. User information
/// (`user:pass@`) is refused: credentials belong in headers, not in a URL that is shown in lists.
public struct WebhookURL: Hashable, Sendable {
    public enum Scheme: String, Hashable, Sendable {
        case http, https

        public var defaultPort: Int { self == .http ? 80 : 443 }
    }

    public enum Host: Hashable, Sendable {
        /// A lower-cased DNS name, resolved at delivery.
        case name(String)
        case address(IPAddress)
    }

    public var scheme: Scheme
    public var host: Host
    public var port: Int
    /// The request target: the path (at least `/`) and the query, without the fragment.
    public var target: String

    /// The longest URL accepted.
    public static let maxLength = 2048

    public init(_ text: String) throws(WebhookURLError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maxLength else { throw WebhookURLError("is longer than \(Self.maxLength) bytes") }
        guard bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw WebhookURLError("must be ASCII without spaces or control characters (percent-encode the rest, IDNs as xn--)")
        }
        guard let schemeEnd = text.firstRange(of: "://") else { throw WebhookURLError("has no scheme (http:// or https://)") }
        guard let scheme = Scheme(rawValue: text[..<schemeEnd.lowerBound].lowercased()) else {
            throw WebhookURLError("scheme must be http or https")
        }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@") else { throw WebhookURLError("must not carry user information (user:password@); send credentials in headers") }

        let hostText: Substring
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw WebhookURLError("has an unclosed [ in its host") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { throw WebhookURLError("has characters after its IPv6 address") }
            portText = after.isEmpty ? nil : after.dropFirst()
            guard let address = IPAddress.parseIPv6(hostText.utf8).map(IPAddress.v6) else {
                throw WebhookURLError("host [\(hostText)] is not an IPv6 address")
            }
            host = .address(address)
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw WebhookURLError("has more than one ':' in its host and port (bracket IPv6 addresses)") }
            hostText = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            host = try Self.host(hostText.lowercased())
        }
        self.scheme = scheme
        if let portText {
            guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isWholeNumber }),
                let port = Int(portText), (1...65535).contains(port)
            else { throw WebhookURLError("port must be 1 to 65535") }
            self.port = port
        } else {
            port = scheme.defaultPort
        }
        let pathAndQuery = rest[authorityEnd...].prefix { $0 != "#" }
        target = pathAndQuery.hasPrefix("/") ? String(pathAndQuery) : "/" + pathAndQuery
    }

    private static func host(_ text: String) throws(WebhookURLError) -> Host {
        guard !text.isEmpty else { throw WebhookURLError("has no host") }
        guard text.utf8.count <= 253 else { throw WebhookURLError("host is longer than 253 characters") }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        let last = labels[labels.count - 1]
        if !last.isEmpty, last.allSatisfy({ $0.isASCII && $0.isWholeNumber }) || last.hasPrefix("0x") {
            guard let address = IPAddress.parseIPv4(text.utf8) else {
                throw WebhookURLError("host \(text) is not a dotted-decimal IPv4 address (four parts 0-255, no leading zeros)")
            }
            return .address(.v4(address))
        }
        for label in labels {
            guard (1...63).contains(label.utf8.count),
                label.utf8.allSatisfy({ $0.isLDH }),
                label.first != "-", label.last != "-"
            else { throw WebhookURLError("host \(text) is not a valid DNS name (letters, digits and inner hyphens, dot-separated)") }
        }
        return .name(text)
    }

    /// The host as written in a URL: a name, dotted-decimal IPv4, or bracketed IPv6.
    public var hostText: String {
        switch host {
        case .name(let name): name
        case .address(.v4(let value)): IPAddress.v4(value).description
        case .address(.v6(let value)): "[\(IPAddress.v6(value))]"
        }
    }
}

extension WebhookURL: CustomStringConvertible {
    /// The normalised URL: lower-case scheme and host, the port always written out, no fragment.
    public var description: String { "\(scheme.rawValue)://\(hostText):\(port)\(target)" }
}

/// Why a webhook URL was refused; `reason` completes "the URL ...".
public struct WebhookURLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { "the URL \(reason)" }
}

extension UInt8 {
    /// Letters, digits and the hyphen: what a DNS host name label is made of.
    fileprivate var isLDH: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): true
        default: false
        }
    }
}
