import ArgumentParser
import NIOHTTP1

/// `cellbase cells`, `cellbase nodes`, `cellbase placements`, `cellbase plans`: the control plane
/// through a running node's admin API. Each prints the API's JSON.
struct Cells: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage cells (groups of nodes and the shards they serve).",
        subcommands: [Create.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a cell; nodes join it with `cellbase serve --cell NAME`.")

        @Argument(help: "Cell name: lowercase letters, digits, '-' and '_', starting with a letter.")
        var name: String

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await connection.print(.POST, "/admin/v1/cells", body: ["name": name], expecting: 201)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List cells with their shards and node counts.")

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await connection.print(.GET, "/admin/v1/cells")
        }
    }
}

struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the running nodes, their cells and health (heartbeats).")

    @OptionGroup var connection: AdminConnection

    func run() async throws {
        try await connection.print(.GET, "/admin/v1/nodes")
    }
}

struct Placements: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show where every project is placed: cell, shard, node, version, plan.")

    @OptionGroup var connection: AdminConnection

    func run() async throws {
        try await connection.print(.GET, "/admin/v1/placements")
    }
}

struct Plans: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the gateway's rate-limit plans.",
        subcommands: [Set.self, List.self, Assign.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or replace a plan.")

        @Argument(help: "Plan name.")
        var name: String

        @Option(name: .customLong("requests-per-second"), help: "Sustained requests per second a project of the plan may make.")
        var requestsPerSecond: Double

        @Option(help: "Requests a project may make at once above the sustained rate.")
        var burst: Int

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await connection.print(.PUT, "/admin/v1/plans/\(name)", json: #"{"requests_per_second": \#(requestsPerSecond), "burst": \#(burst)}"#)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List plans.")

        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await connection.print(.GET, "/admin/v1/plans")
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a project on a plan (--default: the gateway's default).")

        @Argument(help: "Project ref.")
        var ref: String

        @Argument(help: "Plan name.")
        var plan: String?

        @Flag(name: .customLong("default"), help: "Take the project off any plan.")
        var toDefault = false

        @OptionGroup var connection: AdminConnection

        func validate() throws {
            guard (plan == nil) == toDefault else { throw ValidationError("Name a plan or pass --default") }
        }

        func run() async throws {
            let body = plan.map { #"{"plan": "\#($0)"}"# } ?? #"{"plan": null}"#
            try await connection.print(.PUT, "/admin/v1/projects/\(ref)/plan", json: body)
        }
    }
}

extension AdminConnection {
    func print(_ method: HTTPMethod, _ path: String, body: [String: String]? = nil, expecting status: Int = 200) async throws {
        let answer = try await request(method, path, body: body)
        guard answer.status == status else { throw AdminCallFailed(status: answer.status, body: answer.body) }
        Swift.print(answer.body)
    }

    func print(_ method: HTTPMethod, _ path: String, json: String, expecting status: Int = 200) async throws {
        let answer = try await request(method, path, json: json)
        guard answer.status == status else { throw AdminCallFailed(status: answer.status, body: answer.body) }
        Swift.print(answer.body)
    }
}
