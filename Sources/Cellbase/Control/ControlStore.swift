/// The control plane's storage: the registry of projects and their placements.
///
/// SQLite under the data directory for a single node; PostgreSQL when several nodes share it.
public protocol ControlStore: Sendable {
    /// Creates the control tables if they do not exist.
    func prepare() async throws
    func allProjects() async throws -> [Project]
    func project(ref: String) async throws -> Project?
    /// Inserts a project; throws `ControlStoreError.duplicateName` when the name is taken.
    func insert(_ project: Project) async throws
    func checkReachable() async throws
    func shutdown() async throws
}

public enum ControlStoreError: Error, Equatable {
    case duplicateName(String)
}
