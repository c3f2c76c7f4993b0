/// `storage.objects` as policies see it: a built-in table of every project's catalog.
///
/// Migrations may create and drop policies on it (`CREATE POLICY ... ON storage.objects`) and
/// nothing else; its row-level security is always on, as on Supabase, so without a policy only
/// the service role reads or writes objects. Its rows live in `_cellbase_storage_objects`, which
/// the Data API does not serve.
public enum StorageObjects {
    /// The name migrations use for it.
    public static let catalogName = "storage.objects"
    public static let objectsTable = "_cellbase_storage_objects"
    public static let bucketsTable = "_cellbase_storage_buckets"

    /// The columns policies can read. Timestamps are RFC 3339 text, as the API returns them.
    public static let columns: [Column] = [
        Column(name: "id", type: .uuid, isNullable: false),
        Column(name: "bucket_id", type: .text, isNullable: false),
        Column(name: "name", type: .text, isNullable: false),
        Column(name: "owner", type: .uuid),
        Column(name: "owner_id", type: .text),
        Column(name: "metadata", type: .jsonb),
        Column(name: "user_metadata", type: .jsonb),
        Column(name: "version", type: .text),
        Column(name: "created_at", type: .text),
        Column(name: "updated_at", type: .text),
        Column(name: "last_accessed_at", type: .text),
    ]

    public static func table(policies: [Policy] = []) -> Table {
        Table(name: catalogName, columns: columns, primaryKey: ["id"], rowLevelSecurity: true, policies: policies)
    }
}

/// Supabase's `storage.foldername`, `storage.filename` and `storage.extension`, which policies
/// use to match an object's path. The SQLite shard registers them as SQL functions.
public enum StorageObjectName {
    /// The `index`-th folder (1-based) of `name`, or `nil` when the name has fewer folders.
    public static func folder(_ name: String, _ index: Int) -> String? {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        guard index >= 1, index < segments.count else { return nil }
        return String(segments[index - 1])
    }

    /// The last segment of `name`.
    public static func fileName(_ name: String) -> String {
        String(name.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    }

    /// What follows the last `.` of the file name; the whole file name when it has no `.`, as
    /// Supabase's function answers.
    public static func fileExtension(_ name: String) -> String {
        String(fileName(name).split(separator: ".", omittingEmptySubsequences: false).last ?? "")
    }
}
