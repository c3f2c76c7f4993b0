import ArgumentParser
import Cellbase
import FoundationEssentials

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the node's URL, admin token and projects with their keys.")

    @Option(help: "Data directory of the node.")
    var data = "./cellbase-data"

    @Flag(help: "Print JSON: {url, admin_token, projects: [{ref, anon_key, service_role_key, shard}]}.")
    var json = false

    struct Output: Encodable {
        struct ProjectEntry: Encodable {
            var ref: String
            var name: String
            var anon_key: String
            var service_role_key: String
            var shard: String
        }

        var url: String
        var mqtt: String?
        var admin_token: String
        var projects: [ProjectEntry]
    }

    func run() async throws {
        guard let status = StatusFile.read(in: data), let token = AdminToken.load(from: data) else {
            throw ValidationError("No Cellbase data in \(data): run `cellbase serve --data \(data)` first")
        }
        let projects = try await ControlSnapshot.projects(dataDirectory: data, controlURL: status.control)
        let output = Output(
            url: status.url,
            mqtt: status.mqtt,
            admin_token: token,
            projects: projects.map { .init(ref: $0.ref, name: $0.name, anon_key: $0.anonKey, service_role_key: $0.serviceRoleKey, shard: $0.shard) }
        )
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        } else {
            print("url:         \(output.url)")
            if let mqtt = output.mqtt { print("mqtt:        \(mqtt)") }
            print("admin token: \(output.admin_token)")
            for project in output.projects {
                print("project \(project.name) (ref \(project.ref), shard \(project.shard))")
                print("  anon key:         \(project.anon_key)")
                print("  service_role key: \(project.service_role_key)")
            }
        }
    }
}
