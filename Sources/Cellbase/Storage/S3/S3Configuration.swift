import FoundationEssentials

/// An S3-compatible service holding object content (`--storage-backend s3`).
public struct S3Configuration: Sendable {
    /// How the bucket appears in request URLs.
    public enum Addressing: String, Sendable, CaseIterable {
        /// `http://endpoint/bucket/key`: MinIO, Ceph and most self-hosted services.
        case path
        /// `https://bucket.endpoint/key`: AWS's default, and R2.
        case virtual
    }

    /// `scheme://host[:port]`, without a path.
    public var endpoint: String
    public var region: String
    public var bucket: String
    public var addressing: Addressing
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Content is sent in parts of this many bytes (at least 5 MiB, S3's smallest part); an
    /// object no larger than one part is sent with a single PutObject.
    public var partSize: Int

    public static let minimumPartSize = 5 * 1024 * 1024

    public init(
        endpoint: String, region: String, bucket: String, addressing: Addressing,
        accessKeyID: String, secretAccessKey: String, partSize: Int = 8 * 1024 * 1024
    ) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.addressing = addressing
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.partSize = partSize
    }
}

/// Request URLs for one bucket, path-style or virtual-hosted. Pure.
struct S3Address: Sendable, Equatable {
    let scheme: String
    /// The `Host` header: the endpoint's host (with the bucket first when virtual-hosted) and a
    /// port other than the scheme's default.
    let host: String
    /// The URI-encoded path prefix before an object key: `/bucket` or empty.
    let prefix: String

    struct InvalidEndpoint: Error, CustomStringConvertible {
        var endpoint: String
        var description: String { "the S3 endpoint \(endpoint) is not an http:// or https:// URL without a path" }
    }

    init(endpoint: String, bucket: String, addressing: S3Configuration.Addressing) throws {
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty, components.path.isEmpty || components.path == "/",
            components.query == nil, components.user == nil
        else { throw InvalidEndpoint(endpoint: endpoint) }
        let defaultPort = scheme == "https" ? 443 : 80
        let port = components.port.flatMap { $0 == defaultPort ? nil : ":\($0)" } ?? ""
        self.scheme = scheme
        switch addressing {
        case .path:
            self.host = host + port
            prefix = "/" + SignatureV4.uriEncode(bucket, slash: true)
        case .virtual:
            self.host = bucket + "." + host + port
            prefix = ""
        }
    }

    /// The encoded path of `key` (`/` for the bucket itself).
    func path(key: String?) -> String {
        guard let key else { return prefix.isEmpty ? "/" : prefix }
        return prefix + "/" + SignatureV4.uriEncode(key, slash: false)
    }

    func url(path: String, query: [(name: String, value: String)]) -> String {
        let query = SignatureV4.canonicalQuery(query)
        return "\(scheme)://\(host)\(path)" + (query.isEmpty ? "" : "?" + query)
    }
}
