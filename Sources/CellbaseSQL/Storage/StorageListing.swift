/// A `POST /object/list/{bucket}` request: one level of the bucket under a prefix.
public struct StorageListing: Sendable, Hashable {
    public enum SortColumn: String, Sendable, Hashable {
        case name
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case lastAccessedAt = "last_accessed_at"
    }

    /// Most entries one listing returns, whatever `limit` asks for.
    public static let maxLimit = 1000
    public static let defaultLimit = 100

    /// The folder listed, without a trailing `/`; `""` for the bucket's root.
    public var prefix: String
    public var limit: Int
    public var offset: Int
    public var sortColumn: SortColumn
    public var ascending: Bool
    /// Entries whose name starts with this, ignoring case.
    public var search: String?

    public init(prefix: String = "", limit: Int = defaultLimit, offset: Int = 0, sortColumn: SortColumn = .name, ascending: Bool = true, search: String? = nil) {
        self.prefix = prefix
        self.limit = limit
        self.offset = offset
        self.sortColumn = sortColumn
        self.ascending = ascending
        self.search = search
    }

    /// The listing a JSON body asks for, as the Supabase clients send it
    /// (`{"limit","offset","sortBy":{"column","order"},"prefix","search"}`). A limit above
    /// `maxLimit` is capped rather than refused.
    public init(body: JSONValue) throws(StorageRequestError) {
        self.init()
        guard case .object = body else { throw StorageRequestError("The listing options must be a JSON object") }
        if let prefix = body["prefix"], prefix != .null {
            guard case .string(let text) = prefix else { throw StorageRequestError("prefix must be a string") }
            do {
                self.prefix = try ObjectKey.prefix(text)
            } catch {
                throw StorageRequestError("prefix: " + error.message)
            }
        }
        if let limit = try Self.count(body["limit"], "limit") {
            guard limit > 0 else { throw StorageRequestError("limit must be a positive integer") }
            self.limit = min(limit, Self.maxLimit)
        }
        if let offset = try Self.count(body["offset"], "offset") { self.offset = offset }
        if let sortBy = body["sortBy"], sortBy != .null {
            if case .string(let column)? = sortBy["column"] {
                guard let parsed = SortColumn(rawValue: column) else {
                    throw StorageRequestError("sortBy.column must be name, created_at, updated_at or last_accessed_at")
                }
                sortColumn = parsed
            }
            if case .string(let order)? = sortBy["order"] {
                switch order.lowercased() {
                case "asc": ascending = true
                case "desc": ascending = false
                default: throw StorageRequestError("sortBy.order must be asc or desc")
                }
            }
        }
        if case .string(let search)? = body["search"], !search.isEmpty {
            self.search = search
        }
    }

    /// A non-negative integer given as a number or a numeric string; `nil` when absent.
    private static func count(_ value: JSONValue?, _ name: String) throws(StorageRequestError) -> Int? {
        let text: String
        switch value {
        case nil, .null?: return nil
        case .number(let number)?: text = number
        case .string(let string)?: text = string
        default: throw StorageRequestError("\(name) must be a non-negative integer")
        }
        guard let parsed = Int(text), parsed >= 0 else {
            // Huge values are still a request for "as many as allowed".
            if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), !text.isEmpty { return Int.max }
            throw StorageRequestError("\(name) must be a non-negative integer")
        }
        return parsed
    }
}

/// A Storage request that does not say what it must; answered with 400.
public struct StorageRequestError: Error, Sendable, Hashable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }
}
