import CellbaseSQL
import Foundation
import HTTPTypes
import Testing

@testable import Cellbase

/// Schedules: their definitions through the admin API, and taking runs exactly once.
@Suite struct SchedulesTests {
    static let table = "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL);"

    @Test(arguments: Backend.allCases)
    func definitionsAreCheckedAndListed(backend: Backend) async throws {
        let node = TestNode(backend: backend)
        defer { node.removeData() }
        try await node.run { client in
            let project = try await client.project(migration: Self.table)
            let hook = try await client.admin(.post, "/admin/v1/projects/\(project.ref)/webhooks", body: #"{"name":"nightly","table":"orders","url":"https://example.com/hook"}"#)
            #expect(hook.status == .created, "\(hook.body)")
            let path = "/admin/v1/projects/\(project.ref)/schedules"
            let job = #""job":{"kind":"webhook","payload":{"webhook":"nightly","body":{"report":"daily"}}}"#
            let refusals: [(String, String)] = [
                (#"{"name":"a","cron":"* * * * * *",\#(job)}"#, "invalid_cron"),
                (#"{"name":"a","cron":"61 * * * *",\#(job)}"#, "invalid_cron"),
                (#"{"name":"a","cron":"0 0 30 2 *",\#(job)}"#, "invalid_cron"),
                (#"{"name":"a","cron":"@reboot",\#(job)}"#, "invalid_cron"),
                (#"{"name":"a","cron":"0 3 * * *","time_zone":"Mars/Olympus",\#(job)}"#, "invalid_time_zone"),
                (#"{"name":"a b","cron":"0 3 * * *",\#(job)}"#, "invalid_name"),
                (#"{"name":"a","cron":"0 3 * * *","job":{"kind":"noop"}}"#, "invalid_job"),
                (#"{"name":"a","cron":"0 3 * * *","job":{"kind":"webhook","payload":{}}}"#, "invalid_payload"),
            ]
            for (body, code) in refusals {
                let answer = try await client.admin(.post, path, body: body)
                #expect(answer.status == .badRequest, "\(body): \(answer.body)")
                #expect(answer.code == code, "\(body): \(answer.body)")
            }
            let unknownHook = try await client.admin(.post, path, body: #"{"name":"a","cron":"0 3 * * *","job":{"kind":"webhook","payload":{"webhook":"nobody"}}}"#)
            #expect(unknownHook.status == .notFound)

            let leap = try await client.admin(.post, path, body: #"{"name":"leap","cron":"* * 29 2 *","time_zone":"Europe/Berlin",\#(job)}"#)
            #expect(leap.status == .created, "\(leap.body)")
            guard case .string(let next)? = try leap.json()["next_run_at"], let date = try? Date(next, strategy: .iso8601) else { throw UnexpectedAnswer(answer: leap) }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Europe/Berlin")!
            let parts = calendar.dateComponents([.month, .day, .hour, .minute], from: date)
            #expect(parts.month == 2 && parts.day == 29 && parts.hour == 0 && parts.minute == 0)
            #expect(date > Date())

            let again = try await client.admin(.post, path, body: #"{"name":"leap","cron":"0 3 * * *",\#(job)}"#)
            #expect(again.status == .conflict)
            let listed = try await client.admin(.get, path)
            guard case .array(let items) = try listed.json() else { throw UnexpectedAnswer(answer: listed) }
            #expect(items.count == 1)
            #expect(items.first?["job"]?["payload"]?["body"]?["report"] == .string("daily"))
            #expect(try await client.admin(.delete, path + "/leap").status == .noContent)
            #expect(try await client.admin(.delete, path + "/leap").status == .notFound)
        }
    }

    /// Two nodes' duties on one due schedule, at once: one job for the run, and the schedule
    /// moves on to the time after now.
    @Test(arguments: Backend.allCases)
    func aDueRunIsTakenOnceAndTheScheduleMovesOn(backend: Backend) async throws {
        try await JobStoreTests.withStore(backend) { store in
            let longAgo: Int64 = 1_700_000_000_000
            let schedule = Schedule(
                name: "hourly", cron: "0 * * * *", timeZone: "UTC", kind: .webhook,
                payload: #"{"webhook":"w","body":{}}"#, enabled: true, nextRunAt: longAgo, lastRunAt: nil, createdAt: longAgo
            )
            try await store.insert(schedule)
            let project = Project(ref: store.ref, name: "p", shard: "x", jwtSecret: "", anonKey: "", serviceRoleKey: "", createdAt: "")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 { group.addTask { try await ScheduleDuty().perform(for: project, store: store) } }
                try await group.waitForAll()
            }
            try await ScheduleDuty().perform(for: project, store: store)
            let jobs = try await store.jobs(state: nil, queue: "schedules", limit: 10, offset: 0)
            #expect(jobs.map(\.idempotencyKey) == ["schedule:hourly:\(longAgo)"])
            let moved = try #require(try await store.schedule(named: "hourly"))
            #expect(moved.lastRunAt == longAgo)
            let now = Timestamp.nowMilliseconds()
            #expect(moved.nextRunAt > now - 5_000)
            #expect(moved.nextRunAt <= now + 3_600_000)
            #expect(moved.nextRunAt % 3_600_000 == 0)
        }
    }
}
