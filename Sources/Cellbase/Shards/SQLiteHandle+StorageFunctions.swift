import CellbaseSQL
import Crypto
import VaporCSQLite

/// Supabase's `storage.foldername`, `storage.filename` and `storage.extension` for policies on
/// `storage.objects`: SQLite cannot split strings, so every connection gets them as SQL functions
/// (`cellbase_storage_*`, the names the policy compiler emits for SQLite).
enum SQLiteStorageFunctions {
    static func register(on database: OpaquePointer) throws(SQLiteFailure) {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC
        for (name, arguments, function) in [
            ("cellbase_storage_foldername", Int32(2), folderName),
            ("cellbase_storage_filename", Int32(1), fileName),
            ("cellbase_storage_extension", Int32(1), fileExtension),
            ("cellbase_key_hash", Int32(1), keyHash),
        ] as [(String, Int32, @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void)] {
            let status = sqlite_nio_sqlite3_create_function_v2(database, name, arguments, flags, nil, function, nil, nil, nil)
            guard status == SQLITE_OK else { throw SQLiteFailure(code: status, message: "cannot register \(name)") }
        }
    }

    private static let folderName: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, values in
        guard let values, let name = text(values[0]), sqlite_nio_sqlite3_value_type(values[1]) != SQLITE_NULL else {
            return sqlite_nio_sqlite3_result_null(context)
        }
        let index = sqlite_nio_sqlite3_value_int64(values[1])
        guard let folder = StorageObjectName.folder(name, Int(clamping: index)) else { return sqlite_nio_sqlite3_result_null(context) }
        result(folder, context)
    }

    private static let fileName: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, values in
        guard let values, let name = text(values[0]) else { return sqlite_nio_sqlite3_result_null(context) }
        result(StorageObjectName.fileName(name), context)
    }

    private static let fileExtension: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, values in
        guard let values, let name = text(values[0]) else { return sqlite_nio_sqlite3_result_null(context) }
        result(StorageObjectName.fileExtension(name), context)
    }

    /// A project move's key checksum term: the first 32 bits of the MD5 of the text, as a
    /// non-negative integer — what PostgreSQL computes as `('x' || substr(md5(k), 1, 8))::bit(32)::bigint`.
    private static let keyHash: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, values in
        guard let values, let key = text(values[0]) else { return sqlite_nio_sqlite3_result_null(context) }
        sqlite_nio_sqlite3_result_int64(context, MoveKeyHash.hash(key))
    }

    private static func text(_ value: OpaquePointer?) -> String? {
        guard sqlite_nio_sqlite3_value_type(value) != SQLITE_NULL, let bytes = sqlite_nio_sqlite3_value_text(value) else { return nil }
        let count = Int(sqlite_nio_sqlite3_value_bytes(value))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    private static func result(_ text: String, _ context: OpaquePointer?) {
        var text = text
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { characters in
                guard let base = characters.baseAddress else {
                    return sqlite_nio_sqlite3_result_text64(context, "", 0, nil, UInt8(SQLITE_UTF8))
                }
                sqlite_nio_sqlite3_result_text64(context, base, UInt64(characters.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self), UInt8(SQLITE_UTF8))
            }
        }
    }
}


enum MoveKeyHash {
    static func hash(_ key: String) -> Int64 {
        let digest = Array(Insecure.MD5.hash(data: Array(key.utf8)))
        return Int64(digest[0]) << 24 | Int64(digest[1]) << 16 | Int64(digest[2]) << 8 | Int64(digest[3])
    }
}
