import ArgumentParser
import NIOHTTP1
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply SQL migrations to a project: a .sql file, or a folder of them in name order. Each is applied once, by file name."
    )

    @Option(help: "Project ref.")
    var project: String

    @Argument(help: "A .sql file or a folder of .sql files.")
    var path: String

    @OptionGroup var connection: AdminConnection

    struct Answer: Decodable {
        var name: String
        var applied: Bool
        var warnings: [String]
    }

    func run() async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("No such file or folder: \(path)")
        }
        let files: [String]
        if isDirectory.boolValue {
            files = try FileManager.default.contentsOfDirectory(atPath: path)
                .filter { $0.hasSuffix(".sql") }
                .sorted()
                .map { path + "/" + $0 }
        } else {
            files = [path]
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file), let sql = String(data: data, encoding: .utf8) else {
                throw ValidationError("Cannot read \(file) as UTF-8")
            }
            let name = String(file.split(separator: "/").last ?? Substring(file))
            let answer = try await connection.request(.POST, "/admin/v1/projects/\(project)/migrations", body: ["name": name, "sql": sql])
            guard answer.status == 200 || answer.status == 201 else { throw AdminCallFailed(status: answer.status, body: answer.body) }
            let result = try JSONDecoder().decode(Answer.self, from: Data(answer.body.utf8))
            print(result.applied ? "applied  \(name)" : "skipped  \(name) (already applied)")
            for warning in result.warnings { print("warning: \(warning)") }
        }
    }
}
