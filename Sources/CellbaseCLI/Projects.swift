import ArgumentParser
import NIOHTTP1

struct Projects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage projects through a running node's admin API.",
        subcommands: [Create.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project; prints its ref and keys as JSON.")

        @Argument(help: "Project name: letters, digits, '-' and '_'.")
        var name: String

        @Option(help: "Shard to place it on (default: the node's default shard).")
        var shard: String?

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            var body = ["name": name]
            if let shard { body["shard"] = shard }
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
}
