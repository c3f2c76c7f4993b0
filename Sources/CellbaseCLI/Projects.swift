import ArgumentParser
import NIOHTTP1

struct Projects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage projects through a running node's admin API.",
        subcommands: [Create.self, List.self, Move.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project; prints its ref and keys as JSON.")

        @Argument(help: "Project name: letters, digits, '-' and '_'.")
        var name: String

        @Option(help: "Shard to place it on (default: the node's placement policy).")
        var shard: String?

        @Option(help: "Cell to place it in; must be the cell of the node asked.")
        var cell: String?

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            var body = ["name": name]
            if let shard { body["shard"] = shard }
            if let cell { body["cell"] = cell }
            let answer = try await connection.request(.POST, "/admin/v1/projects", body: body)
            guard answer.status == 201 else { throw AdminCallFailed(status: answer.status, body: answer.body) }
            print(answer.body)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects as JSON.")

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            let answer = try await connection.request(.GET, "/admin/v1/projects")
            guard answer.status == 200 else { throw AdminCallFailed(status: answer.status, body: answer.body) }
            print(answer.body)
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a project to another shard while it is served.",
            discussion: """
                Copies the project's tables to the shard in key order, catches up with what is \
                written meanwhile, holds its writes for the switch, verifies every table and moves \
                the placement. Waits for the end and prints the move's last status, unless \
                --no-wait. --cancel cancels a move that has not switched yet.
                """
        )

        @Argument(help: "Project ref.")
        var ref: String

        @Option(help: "The shard to move to (a PostgreSQL shard, or `local`: the SQLite shard of the node asked).")
        var to: String?

        @Flag(help: "Cancel the project's move instead.")
        var cancel = false

        @Flag(inversion: .prefixedNo, help: "Wait for the move to end.")
        var wait = true

        @OptionGroup var connection: AdminConnection

        func validate() throws {
            guard (to == nil) == cancel else { throw ValidationError("Pass --to SHARD, or --cancel") }
        }

        func run() async throws {
            let path = "/admin/v1/projects/\(ref)/move"
            if cancel {
                return try await connection.print(.DELETE, path, expecting: 202)
            }
            let started = try await connection.request(.POST, path, body: ["to": to ?? ""])
            guard started.status == 202 else { throw AdminCallFailed(status: started.status, body: started.body) }
            guard wait else { return Swift.print(started.body) }
            while true {
                try await Task.sleep(for: .milliseconds(200))
                let status = try await connection.request(.GET, path)
                guard status.status == 200 else { throw AdminCallFailed(status: status.status, body: status.body) }
                for state in ["\"state\":\"done\"", "\"state\":\"failed\"", "\"state\":\"cancelled\""] where status.body.contains(state) {
                    Swift.print(status.body)
                    if state.contains("done") { return }
                    throw ExitCode.failure
                }
            }
        }
    }
}
