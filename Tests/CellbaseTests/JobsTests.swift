import CellbaseSQL
import Foundation
import HTTPTypes
import Testing

@testable import Cellbase

/// The queue through the real application, on SQLite and PostgreSQL: enqueuing, idempotency,
/// workers, dead jobs and what operators do to them, pausing, leases.
@Suite struct JobsTests {
    @Test(arguments: Backend.allCases)
    func noopJobsComplete(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            var ids: [String] = []
            for index in 0..<20 {
                let answer = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"noop","queue":"q\#(index % 2)"}"#)
                #expect(answer.status == .created, "\(answer.body)")
                ids.append(try Self.string(answer, "id"))
            }
            for id in ids {
                let job = try await client.waitForJob(project, id) { $0 == "completed" }
                #expect(job["attempts"] == .number("1"))
                #expect(job["finished_at"] != .null)
                #expect(job["lease_owner"] == .null)
            }
            let completed = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs?state=completed&limit=1000")
            guard case .array(let rows) = try completed.json() else { throw UnexpectedAnswer(answer: completed) }
            #expect(Set(rows.compactMap { if case .string(let id)? = $0["id"] { id } else { nil } }) == Set(ids))
        }
    }

    @Test(arguments: Backend.allCases)
    func anIdempotencyKeyMakesOneJob(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            let body = #"{"kind":"noop","idempotency_key":"order-42"}"#
            let first = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: body)
            let second = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: body)
            #expect(first.status == .created)
            #expect(second.status == .ok)
            #expect(try Self.string(first, "id") == Self.string(second, "id"))
            #expect(try Self.string(second, "idempotency_key") == "order-42")
        }
    }

    @Test(arguments: Backend.allCases)
    func aJobWithoutAnyPossibleSuccessIsDeadAndCanBeRetriedOrDiscarded(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            let created = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"webhook","payload":{"webhook":"nobody","body":{}}}"#)
            #expect(created.status == .created, "\(created.body)")
            let id = try Self.string(created, "id")
            let dead = try await client.waitForJob(project, id) { $0 == "dead" }
            guard case .string(let error)? = dead["last_error"] else { throw UnexpectedAnswer(answer: created) }
            #expect(error.contains("'nobody' no longer exists"))

            let listed = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs?state=dead")
            #expect(try listed.json() == .array([dead]))

            let retried = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs/\(id)/retry")
            #expect(retried.status == .ok, "\(retried.body)")
            let deadAgain = try await client.waitForJob(project, id) { $0 == "dead" }
            #expect(deadAgain["attempts"] == .number("1"))

            let discarded = try await client.admin(.delete, "/admin/v1/projects/\(project.ref)/jobs/\(id)")
            #expect(discarded.status == .noContent)
            let gone = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs/\(id)")
            #expect(gone.status == .notFound)
            #expect(gone.code == "job_not_found")
        }
    }

    @Test(arguments: Backend.allCases)
    func onlyDeadJobsAreRetriedOrDiscarded(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            let paused = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/queues/held", body: #"{"paused":true}"#)
            #expect(paused.status == .ok)
            let created = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"noop","queue":"held"}"#)
            let id = try Self.string(created, "id")
            let retry = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs/\(id)/retry")
            #expect(retry.status == .conflict)
            #expect(retry.code == "job_not_dead")
            let discard = try await client.admin(.delete, "/admin/v1/projects/\(project.ref)/jobs/\(id)")
            #expect(discard.status == .conflict)
            let missing = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs/no-such-job/retry")
            #expect(missing.status == .notFound)
        }
    }

    @Test(arguments: Backend.allCases)
    func aPausedQueueHoldsItsJobsUntilResumed(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            _ = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/queues/mail", body: #"{"paused":true}"#)
            let held = try Self.string(try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"noop","queue":"mail"}"#), "id")
            let other = try Self.string(try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"noop","queue":"other"}"#), "id")
            _ = try await client.waitForJob(project, other) { $0 == "completed" }
            // The other queue's job ran after the held one was enqueued: the held one was passed over.
            let stillHeld = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs/\(held)")
            #expect(try Self.string(stillHeld, "state") == "queued")

            let queues = try await client.admin(.get, "/admin/v1/projects/\(project.ref)/queues")
            guard case .array(let list) = try queues.json(), let mail = list.first(where: { $0["name"] == .string("mail") }) else { throw UnexpectedAnswer(answer: queues) }
            #expect(mail["paused"] == .bool(true))
            #expect(mail["counts"]?["queued"] == .number("1"))

            let resumed = try await client.admin(.put, "/admin/v1/projects/\(project.ref)/queues/mail", body: #"{"paused":false}"#)
            #expect(resumed.status == .ok)
            _ = try await client.waitForJob(project, held) { $0 == "completed" }
        }
    }

    @Test(arguments: Backend.allCases)
    func malformedRequestsAreRefusedWithTheirCode(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            let path = "/admin/v1/projects/\(project.ref)/jobs"
            let cases: [(String, String)] = [
                ("not json", "invalid_body"),
                (#"[1,2]"#, "invalid_body"),
                (#"{"kind":"export"}"#, "invalid_kind"),
                (#"{"kind":"rm -rf"}"#, "invalid_kind"),
                (#"{"kind":"noop","queue":"a b"}"#, "invalid_queue"),
                (#"{"kind":"noop","queue":""}"#, "invalid_queue"),
                (#"{"kind":"noop","max_attempts":0}"#, "invalid_max_attempts"),
                (#"{"kind":"noop","max_attempts":"3"}"#, "invalid_max_attempts"),
                (#"{"kind":"noop","run_at":"tomorrow"}"#, "invalid_run_at"),
                (#"{"kind":"noop","idempotency_key":""}"#, "invalid_idempotency_key"),
                (#"{"kind":"webhook","payload":{"body":{}}}"#, "invalid_payload"),
            ]
            for (body, code) in cases {
                let answer = try await client.admin(.post, path, body: body)
                #expect(answer.status == .badRequest, "\(body): \(answer.body)")
                #expect(answer.code == code, "\(body): \(answer.body)")
            }
            let huge = #"{"kind":"noop","payload":""# + String(repeating: "x", count: 600_000) + #""}"#
            let tooLarge = try await client.admin(.post, path, body: huge)
            #expect(tooLarge.status == .contentTooLarge)
            let badState = try await client.admin(.get, path + "?state=sleeping")
            #expect(badState.code == "invalid_state")
            let badLimit = try await client.admin(.get, path + "?limit=100000")
            #expect(badLimit.code == "invalid_limit")
            let noProject = try await client.admin(.get, "/admin/v1/projects/abcdefghijklmnopqrst/jobs")
            #expect(noProject.status == .notFound)
            let noToken = try await client.request(.get, path)
            #expect(noToken.status == .unauthorized)
        }
    }

    @Test(arguments: Backend.allCases)
    func aJobRunsNoEarlierThanItsRunAt(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project()
            let later = Date().addingTimeInterval(3600).formatted(.iso8601)
            let created = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"noop","run_at":"\#(later)"}"#)
            let id = try Self.string(created, "id")
            let now = try Self.string(try await client.admin(.post, "/admin/v1/projects/\(project.ref)/jobs", body: #"{"kind":"noop"}"#), "id")
            _ = try await client.waitForJob(project, now) { $0 == "completed" }
            #expect(try Self.string(try await client.admin(.get, "/admin/v1/projects/\(project.ref)/jobs/\(id)"), "state") == "queued")
        }
    }

    static func string(_ answer: TestClient.Answer, _ key: String) throws -> String {
        guard case .string(let value)? = try answer.json()[key] else { throw UnexpectedAnswer(answer: answer) }
        return value
    }
}

extension TestClient {
    /// Polls the job until `done` holds for its state; fails after about 30 seconds.
    func waitForJob(_ project: TestProject, _ id: String, _ done: (String) -> Bool) async throws -> JSONValue {
        var last: Answer?
        for _ in 0..<300 {
            let answer = try await admin(.get, "/admin/v1/projects/\(project.ref)/jobs/\(id)")
            last = answer
            if case .string(let state)? = try answer.json()["state"], done(state) { return try answer.json() }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("job \(id) never reached the expected state: \(last?.body ?? "")")
        throw UnexpectedAnswer(answer: last!)
    }
}
