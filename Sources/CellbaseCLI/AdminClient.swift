import ArgumentParser
import AsyncHTTPClient
import Cellbase
import FoundationEssentials
import NIOCore
import NIOHTTP1

/// Talks to a running node's admin API, finding it from the data directory unless told.
struct AdminConnection: ParsableArguments {
    @Option(help: "Data directory of the node (to find its URL and admin token).")
    var data = "./cellbase-data"

    @Option(help: "URL of the node (default: from the data directory).")
    var url: String?

    @Option(name: .customLong("admin-token"), help: "Admin token (default: from the data directory).")
    var adminToken: String?

    func request(_ method: HTTPMethod, _ path: String, body: [String: String]? = nil) async throws -> (status: Int, body: String) {
        guard let token = adminToken ?? AdminToken.load(from: data) else {
            throw ValidationError("No admin token in \(data); pass --admin-token")
        }
        return try await send(method, path, bearer: token, body: try body.map { try JSONEncoder().encode($0) })
    }

    /// A request with a JSON body given as text.
    func request(_ method: HTTPMethod, _ path: String, json: String) async throws -> (status: Int, body: String) {
        guard let token = adminToken ?? AdminToken.load(from: data) else {
            throw ValidationError("No admin token in \(data); pass --admin-token")
        }
        return try await send(method, path, bearer: token, body: Data(json.utf8))
    }

    /// One JSON request to the node with `Authorization: Bearer <bearer>`.
    func send(_ method: HTTPMethod, _ path: String, bearer: String, body: Data?) async throws -> (status: Int, body: String) {
        guard let base = url ?? StatusFile.read(in: data)?.url else {
            throw ValidationError("No running node found in \(data); start `cellbase serve` or pass --url")
        }
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return (Int(response.status.code), String(buffer: bytes))
    }
}

struct AdminCallFailed: Error, CustomStringConvertible {
    var status: Int
    var body: String
    var description: String { "HTTP \(status): \(body)" }
}
