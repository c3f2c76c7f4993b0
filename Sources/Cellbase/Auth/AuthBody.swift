import CellbaseSQL
import Hummingbird
import NIOCore

/// A request body of the Auth API: one JSON object, read field by field.
///
/// Fields are checked one at a time so a wrong type names the field (`400 bad_json`), and
/// metadata objects pass through as parsed JSON. Unknown fields are ignored, as GoTrue does —
/// supabase-py sends `gotrue_meta_security`, `code_challenge` and friends with every call.
struct AuthBody: Sendable {
    /// Auth bodies are small (credentials and metadata); anything larger is refused before it is
    /// parsed, and long before a password in it could reach bcrypt.
    static let maxSize = 64 * 1024
    static let maxDepth = 32

    let fields: JSONValue

    /// An empty body reads as `{}`: `logout` and GET-style calls send none.
    static func collect(_ request: Request) async throws -> AuthBody {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxSize { throw AuthError.tooLarge }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxSize)
        } catch is NIOTooManyBytesError {
            throw AuthError.tooLarge
        }
        return try AuthBody(bytes: buffer.readableBytesView)
    }

    init(bytes: some Collection<UInt8>) throws(AuthError) {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            fields = .object([])
            return
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, maxDepth: Self.maxDepth)
        } catch {
            throw .badJSON("Could not parse request body as JSON: \(error.message) at byte \(error.offset)")
        }
        guard case .object = value else { throw .badJSON("Could not parse request body as JSON: expected an object") }
        fields = value
    }

    /// A string field; absent and `null` are `nil`.
    func string(_ name: String) throws(AuthError) -> String? {
        switch fields[name] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw .badJSON("Could not parse request body as JSON: \(name) must be a string")
        }
    }

    func bool(_ name: String) throws(AuthError) -> Bool? {
        switch fields[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw .badJSON("Could not parse request body as JSON: \(name) must be a boolean")
        }
    }

    /// An object field (metadata); absent and `null` are `nil`.
    func object(_ name: String) throws(AuthError) -> JSONValue? {
        switch fields[name] {
        case nil, .null?: return nil
        case .object(let members)?: return .object(members)
        default: throw .badJSON("Could not parse request body as JSON: \(name) must be an object")
        }
    }
}
