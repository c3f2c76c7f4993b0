import ArgumentParser

@main
struct CellbaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cellbase",
        abstract: "A Supabase-compatible backend: one binary on SQLite, scaling out over PostgreSQL shards.",
        subcommands: [Serve.self, Status.self, Projects.self, Cells.self, Nodes.self, Placements.self, Plans.self, GatewayCommand.self, Devices.self, Jobs.self, Migrate.self, BenchCommand.self]
    )
}
