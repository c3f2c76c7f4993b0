import CellbaseSQL
import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import Testing

@testable import Cellbase

/// A TCP listener on loopback that greets every connection with one line and closes it: a mail
/// server that refuses service (`554`) or is busy (`421`).
struct GreetingServer {
    let greeting: String

    private final class Greeter: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let line: String
        init(line: String) { self.line = line }
        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(NIOAny(ByteBuffer(string: line + "\r\n"))).whenComplete { _ in context.close(promise: nil) }
        }
    }

    func run<Value: Sendable>(_ body: (Int) async throws -> Value) async throws -> Value {
        let line = greeting
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.pipeline.addHandler(Greeter(line: line)) }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            let value = try await body(channel.localAddress?.port ?? 0)
            try await channel.close()
            return value
        } catch {
            try? await channel.close()
            throw error
        }
    }
}

/// Auth's mails go through the project's queue when SMTP is configured: the request does not
/// wait on the mail server, a server that is down is tried again, one that refuses ends the job.
@Suite struct MailJobTests {
    static func node(_ backend: Backend, smtpPort: Int) throws -> TestNode {
        var node = TestNode(backend: backend)
        node.auth = AuthConfiguration(confirmEmail: true, bcryptCost: 4, siteURL: "https://app.example.com")
        node.mail = MailConfiguration(
            smtp: SMTPConfiguration(host: "127.0.0.1", port: smtpPort, startTLS: .off, connectTimeout: .seconds(2), commandTimeout: .seconds(2)),
            from: try MailAddress(parsing: "Cellbase <noreply@example.com>")
        )
        node.jobs = JobsConfiguration(retryBaseMilliseconds: 50, retryCapMilliseconds: 100)
        return node
    }

    /// The project's mail jobs once one of them is in `state`; fails after about 30 seconds.
    static func mailJobs(_ client: TestClient, _ project: TestProject, state: String) async throws -> [JSONValue] {
        for _ in 0..<300 {
            if case .array(let jobs) = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs?queue=mail").json(),
               jobs.contains(where: { $0["state"] == .string(state) }) {
                return jobs
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("no mail job of project \(project.ref) became \(state)")
        return []
    }

    @Test(arguments: Backend.allCases)
    func aSignUpIsAnsweredWhileItsMailWaitsForTheServer(backend: Backend) async throws {
        try await GreetingServer(greeting: "421 busy, try later").run { port in
            let node = try Self.node(backend, smtpPort: port)
            defer { node.removeData() }
            try await node.run { client in
                let project = try await client.project(migration: todosMigration)
                let signedUp = try await client.auth(.post, "/signup", project: project, body: #"{"email":"ann@example.com","password":"ann-password"}"#)
                #expect(signedUp.status == .ok, "\(signedUp.body)")
                let jobs = try await Self.mailJobs(client, project, state: "failed")
                #expect(jobs.count == 1)
                let job = try #require(jobs.first)
                #expect(job["kind"] == .string("mail"))
                #expect(job["last_error"]?.stringValue?.contains("421") == true, "\(job.serialized)")
                #expect(job["payload"]?["to"]?.serialized.contains("ann@example.com") == true)
                guard case .string(let key)? = job["idempotency_key"], case .string(let messageID)? = job["payload"]?["messageID"] else {
                    Issue.record("\(job.serialized)"); return
                }
                #expect(key == "mail:" + messageID)
            }
        }
    }

    @Test func aRefusingServerEndsTheMailJob() async throws {
        try await GreetingServer(greeting: "554 no mail service here").run { port in
            let node = try Self.node(.sqlite, smtpPort: port)
            defer { node.removeData() }
            try await node.run { client in
                let project = try await client.project(migration: todosMigration)
                #expect(try await client.auth(.post, "/signup", project: project, body: #"{"email":"bo@example.com","password":"bo-password"}"#).status == .ok)
                let jobs = try await Self.mailJobs(client, project, state: "dead")
                #expect(jobs.first?["attempts"] == .number("1"))
                #expect(jobs.first?["last_error"]?.stringValue?.contains("554") == true)
            }
        }
    }
}
