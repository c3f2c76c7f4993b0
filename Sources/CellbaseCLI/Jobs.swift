import ArgumentParser
import Foundation
import NIOHTTP1

/// `cellbase jobs`: a project's queue through the admin API of a running node.
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "See and operate a project's job queue through a running node.",
        subcommands: [List.self, Show.self, Retry.self, Discard.self, Queues.self, Pause.self, Resume.self]
    )

    struct Target: ParsableArguments {
        @Option(help: "Ref of the project.")
        var project: String

        @OptionGroup var connection: AdminConnection

        func call(_ method: HTTPMethod, _ path: String, json: String? = nil, expecting status: Int) async throws {
            let path = "/admin/v1/projects/\(Self.segment(project))" + path
            let answer = if let json { try await connection.request(method, path, json: json) } else { try await connection.request(method, path) }
            guard answer.status == status else { throw AdminCallFailed(status: answer.status, body: answer.body) }
            if !answer.body.isEmpty { print(answer.body) }
        }

        /// A path segment with everything but unreserved characters percent-encoded.
        static func segment(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs as JSON, newest first.")

        @Option(help: "Only jobs in this state: queued, running, failed, completed or dead.")
        var state: String?

        @Option(help: "Only jobs of this queue.")
        var queue: String?

        @Option(help: "At most this many (1 to 1000).")
        var limit = 100

        @OptionGroup var target: Target

        func run() async throws {
            var query = ["limit=\(limit)"]
            if let state { query.append("state=" + Target.segment(state)) }
            if let queue { query.append("queue=" + Target.segment(queue)) }
            try await target.call(.GET, "/jobs?" + query.joined(separator: "&"), expecting: 200)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one job as JSON.")
        @Argument(help: "Job id.") var id: String
        @OptionGroup var target: Target
        func run() async throws { try await target.call(.GET, "/jobs/" + Target.segment(id), expecting: 200) }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a dead job again with fresh attempts.")
        @Argument(help: "Job id.") var id: String
        @OptionGroup var target: Target
        func run() async throws { try await target.call(.POST, "/jobs/\(Target.segment(id))/retry", expecting: 200) }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a dead job.")
        @Argument(help: "Job id.") var id: String
        @OptionGroup var target: Target
        func run() async throws { try await target.call(.DELETE, "/jobs/" + Target.segment(id), expecting: 204) }
    }

    struct Queues: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the project's queues with their depth by state.")
        @OptionGroup var target: Target
        func run() async throws { try await target.call(.GET, "/queues", expecting: 200) }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop claiming jobs from a queue; running jobs finish.")
        @Argument(help: "Queue name.") var queue: String
        @OptionGroup var target: Target
        func run() async throws { try await target.call(.PUT, "/queues/" + Target.segment(queue), json: #"{"paused":true}"#, expecting: 200) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Claim jobs from a paused queue again.")
        @Argument(help: "Queue name.") var queue: String
        @OptionGroup var target: Target
        func run() async throws { try await target.call(.PUT, "/queues/" + Target.segment(queue), json: #"{"paused":false}"#, expecting: 200) }
    }
}
