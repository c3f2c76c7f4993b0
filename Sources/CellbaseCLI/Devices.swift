import ArgumentParser
import FoundationEssentials
import NIOHTTP1

/// `cellbase devices`: a project's telemetry devices, through `/telemetry/v1/devices`.
///
/// Devices are managed with the project's `service_role` key; the CLI reads it through the admin
/// API with the node's admin token, so the operator needs nothing beyond what `projects` needs.
struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage a project's telemetry devices through a running node.",
        subcommands: [Create.self, List.self, Rotate.self, Delete.self]
    )

    struct Target: ParsableArguments {
        @Option(help: "Ref of the project the devices belong to.")
        var project: String

        @OptionGroup var connection: AdminConnection

        /// Calls `/telemetry/v1` with the project's service_role key and prints the answer.
        func call(_ method: HTTPMethod, _ path: String, body: String? = nil, expecting status: Int) async throws {
            struct Keys: Decodable {
                var service_role_key: String
            }
            let project = try await connection.request(.GET, "/admin/v1/projects/\(self.project)")
            guard project.status == 200, let keys = try? JSONDecoder().decode(Keys.self, from: Data(project.body.utf8)) else {
                throw AdminCallFailed(status: project.status, body: project.body)
            }
            let answer = try await connection.send(method, "/telemetry/v1" + path, bearer: keys.service_role_key, body: body.map { Data($0.utf8) })
            guard answer.status == status else { throw AdminCallFailed(status: answer.status, body: answer.body) }
            if !answer.body.isEmpty { print(answer.body) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a device; prints it as JSON with its token, shown only this once.")

        @Argument(help: "Device id: 1 to 64 letters, digits, '-' and '_'.")
        var id: String

        @Option(help: "Display name (default: the id).")
        var name: String?

        @Option(help: "Metadata, a JSON object.")
        var metadata: String?

        @OptionGroup var target: Target

        func run() async throws {
            var fields = [#""id":\#(Self.quoted(id))"#]
            if let name { fields.append(#""name":\#(Self.quoted(name))"#) }
            if let metadata { fields.append(#""metadata":\#(metadata)"#) }
            try await target.call(.POST, "/devices", body: "{" + fields.joined(separator: ",") + "}", expecting: 201)
        }

        static func quoted(_ text: String) -> String {
            String(decoding: (try? JSONEncoder().encode(text)) ?? Data(#""""#.utf8), as: UTF8.self)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the project's devices as JSON.")

        @OptionGroup var target: Target

        func run() async throws {
            try await target.call(.GET, "/devices", expecting: 200)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a device's token; prints the device with the new token.")

        @Argument(help: "Device id.")
        var id: String

        @OptionGroup var target: Target

        func run() async throws {
            try await target.call(.POST, "/devices/\(id)/token", expecting: 200)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a device with its series, last state and commands.")

        @Argument(help: "Device id.")
        var id: String

        @OptionGroup var target: Target

        func run() async throws {
            try await target.call(.DELETE, "/devices/\(id)", expecting: 204)
        }
    }
}
