import CellbaseSQL
import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import Testing

@testable import Cellbase

extension TestClient {
    /// A Storage request as storage3 sends it: the key in `apiKey`, a token in `Authorization`.
    func storage(
        _ method: HTTPRequest.Method, _ path: String, project: TestProject, key: String? = nil, token: String? = nil,
        headers extra: HTTPFields = [:], body: String? = nil
    ) async throws -> Answer {
        var headers: HTTPFields = [
            HTTPField.Name("apiKey")!: key ?? project.anonKey,
            .authorization: "Bearer \(token ?? key ?? project.anonKey)",
        ]
        if body != nil { headers[.contentType] = "application/json" }
        for field in extra { headers[field.name] = field.value }
        return try await request(method, "/storage/v1/" + path, headers: headers, body: body)
    }

    /// Uploads as storage3 does: multipart with `cacheControl` and the `file` part.
    func upload(
        _ path: String, _ content: String, project: TestProject, key: String? = nil, token: String? = nil,
        contentType: String = "text/plain;charset=UTF-8", method: HTTPRequest.Method = .post, upsert: Bool = false
    ) async throws -> Answer {
        let (body, type) = Multipart.body(content, contentType: contentType)
        return try await storage(
            method, "object/" + path, project: project, key: key, token: token,
            headers: [.contentType: type, HTTPField.Name("x-upsert")!: upsert ? "true" : "false"], body: body
        )
    }

    func createBucket(_ project: TestProject, _ body: String) async throws {
        let created = try await storage(.post, "bucket", project: project, key: project.serviceRoleKey, body: body)
        guard created.status == .ok else { throw UnexpectedAnswer(answer: created) }
    }
}

enum Multipart {
    static let boundary = "cellbase-test-boundary"

    static func body(_ content: String, contentType: String, metadata: String? = nil) -> (body: String, contentType: String) {
        var body = "--\(boundary)\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n"
        if let metadata { body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n\(metadata)\r\n" }
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: \(contentType)\r\n\r\n\(content)\r\n--\(boundary)--\r\n"
        return (body, "multipart/form-data; boundary=\(boundary)")
    }
}

extension TestClient.Answer {
    /// Storage's `statusCode` and `error` as `"404 not_found"`, when the body has the three keys
    /// storage3 requires.
    var storageFailure: String? {
        guard let json = try? json(), case .string(let status)? = json["statusCode"], case .string(let error)? = json["error"],
              case .string? = json["message"]
        else { return nil }
        return status + " " + error
    }
}

/// A fresh node on `backend` with one project, its migration applied.
func withStorageProject(
    _ backend: Backend, migration: String? = nil, configure: (inout TestNode) -> Void = { _ in },
    _ test: @Sendable (TestClient, TestProject, TestNode) async throws -> Void
) async throws {
    var node = TestNode(backend: backend)
    configure(&node)
    defer { node.removeData() }
    let captured = node
    try await node.run { client in try await test(client, try await client.project(migration: migration), captured) }
}

/// One request written as raw bytes over TCP, for what HTTP clients will not send (a
/// `Content-Length` that does not match the body); answers the response head.
enum RawHTTP {
    static func send(port: Int, _ request: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var received = ""
            for try await chunk in inbound {
                received += String(buffer: chunk)
                if received.contains("\r\n\r\n") { break }
            }
            return received
        }
    }
}
