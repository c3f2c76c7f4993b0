import ServiceLifecycle

/// Closes the node's databases when the service group shuts down. It is the last service of the
/// group, so it stops first, while the PostgreSQL pools it may still need are running.
struct NodeShutdown: Service {
    let control: any ControlStore
    let shards: [any Shard]

    func run() async throws {
        try? await gracefulShutdown()
        for shard in shards { await shard.shutdown() }
        try await control.shutdown()
    }
}
