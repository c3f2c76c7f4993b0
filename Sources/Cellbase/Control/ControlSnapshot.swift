import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Reads the project registry straight from the control database, for `cellbase status`: it
/// works whether or not a node is running.
public enum ControlSnapshot {
    public static func projects(dataDirectory: String, controlURL: String?) async throws -> [Project] {
        let logger = Logger(label: "cellbase.status")
        guard let controlURL else {
            let store = try await SQLiteControlStore.open(path: dataDirectory + "/control.db", threadPool: .singleton)
            try await store.prepare()
            let projects = try await store.allProjects()
            try await store.shutdown()
            return projects
        }
        let client = PostgresClient(configuration: try PostgresURL.configuration(controlURL), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: [Project]?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            let store = PostgresControlStore(client: client, logger: logger)
            try await store.prepare()
            let projects = try await store.allProjects()
            group.cancelAll()
            return projects
        }
    }
}
