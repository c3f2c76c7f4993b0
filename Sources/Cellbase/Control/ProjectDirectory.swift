import CellbaseSQL
import JWTKit
import FoundationEssentials
import Logging
import Synchronization

/// A verified API key: which project a request is for, with which role, and the key's claims.
public struct ResolvedKey: Sendable, Hashable {
    public var project: Project
    public var role: KeyRole
    /// `{"iss","ref","role"}`: what `auth.jwt()` reads for a request made with the key alone.
    public var claims: JSONValue
}

/// Answers "which project is this API key for?" fast: projects and their verifiers are cached in
/// memory, and every verified key — and every verified user access token — is remembered until it
/// expires, so a request pays for a JWT verification only the first time its token is seen.
final class ProjectDirectory: Sendable {
    private struct CachedKey {
        var ref: String
        var role: KeyRole
        var claims: JSONValue
        var expiresAt: Date
    }

    private struct CachedAccessToken {
        var ref: String
        var token: VerifiedAccessToken
        /// `exp`, in seconds since 1970.
        var expiresAt: Double
    }

    private struct State {
        var projects: [String: Project] = [:]
        /// The highest placement version seen: the next refresh asks for the ones above it.
        var placementVersion: Int64 = 0
        var listeners: [@Sendable ([String]) -> Void] = []
        var verifiers: [String: ProjectKeys] = [:]
        var keys: [String: CachedKey] = [:]
        var accessTokens: [String: CachedAccessToken] = [:]
    }

    static let maxCachedKeys = 100_000
    /// Access tokens are larger than keys (user metadata rides in them): fewer are kept.
    static let maxCachedAccessTokens = 20_000

    let store: any ControlStore
    /// Where this node stands: it serves the projects placed in its cell, and of those on a
    /// node's own SQLite shard only its own.
    let place: NodePlace
    private let state = Mutex(State())
    private let refreshes = PlacementRefreshes()
    /// Projects whose requests wait while a move on this node switches their shard.
    let fences = ProjectFences()

    init(store: any ControlStore, place: NodePlace = NodePlace(cell: Cell.defaultName, node: nil)) {
        self.store = store
        self.place = place
    }

    func reload() async throws {
        let projects = try await store.allProjects()
        state.withLock { state in
            state.projects = Dictionary(projects.map { ($0.ref, $0) }, uniquingKeysWith: { $1 })
            state.placementVersion = projects.map(\.placementVersion).max() ?? 0
        }
    }

    /// Takes in the placements that changed since the last look (projects created, moved
    /// elsewhere, migrated by another node, plans changed); answers how many. The projects that
    /// changed go to the `onChange` listeners (the catalogs of their schemas are read again, the
    /// realtime sockets of projects now served elsewhere are closed).
    @discardableResult
    func refreshPlacements() async throws -> Int {
        let since = state.withLock { $0.placementVersion }
        let changed = try await store.projects(placedAfter: since)
        guard !changed.isEmpty else { return 0 }
        let listeners = state.withLock { state in
            for project in changed {
                state.projects[project.ref] = project
                state.placementVersion = max(state.placementVersion, project.placementVersion)
            }
            return state.listeners
        }
        for listener in listeners { listener(changed.map(\.ref)) }
        return changed.count
    }

    /// Adds a listener called with the refs of the projects a refresh found changed, and of a
    /// project this node moved.
    func onChange(_ listener: @escaping @Sendable ([String]) -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// Takes in the new placement of a project this node moved, and tells the listeners.
    func moved(_ project: Project) {
        let listeners = state.withLock { state in
            state.projects[project.ref] = project
            return state.listeners
        }
        for listener in listeners { listener([project.ref]) }
    }

    /// A caller (the gateway) knows of a placement `version` of `ref` newer than this node's:
    /// the placements are read again first — at most every `PlacementRefreshes.minimumInterval`,
    /// however many requests claim a newer version, so a forged one costs one read, not one a request.
    func catchUp(ref: String, version: Int64) async {
        let known = state.withLock { $0.projects[ref]?.placementVersion ?? 0 }
        guard version > known, refreshes.mayRefresh() else { return }
        _ = try? await refreshPlacements()
    }

    /// Why this node must not serve `project`, or `nil` when it may.
    func misplacement(of project: Project) -> Misplacement? {
        if project.cell != place.cell { return .cell(project.cell) }
        if let owner = project.node, let node = place.node, owner != node { return .node(owner) }
        return nil
    }

    var projects: [Project] {
        state.withLock { Array($0.projects.values) }.sorted { ($0.createdAt, $0.ref) < ($1.createdAt, $1.ref) }
    }

    func add(_ project: Project) {
        state.withLock { $0.projects[project.ref] = project }
    }

    /// The project with this ref, asking the control store when this node has not seen it yet
    /// (another node may have created it).
    func project(ref: String) async throws -> Project? {
        if let project = state.withLock({ $0.projects[ref] }) { return project }
        guard Project.isValidRef(ref), let project = try await store.project(ref: ref) else { return nil }
        add(project)
        return project
    }

    /// The project as this node last saw it, without asking the control plane.
    func cachedProject(ref: String) -> Project? {
        state.withLock { $0.projects[ref] }
    }

    func project(named name: String) -> Project? {
        state.withLock { $0.projects.values.first { $0.name == name } }
    }

    func keys(for project: Project) async -> ProjectKeys {
        if let keys = state.withLock({ $0.verifiers[project.ref] }) { return keys }
        let keys = await ProjectKeys(secret: project.jwtSecret)
        state.withLock { $0.verifiers[project.ref] = keys }
        return keys
    }

    enum KeyError: Error {
        case malformed
        case unknownProject
        case invalid
    }

    func resolve(apiKey token: String, now: Date = Date()) async throws(KeyError) -> ResolvedKey {
        let cached = state.withLock { state -> ResolvedKey? in
            guard let entry = state.keys[token], entry.expiresAt > now, let project = state.projects[entry.ref] else { return nil }
            return ResolvedKey(project: project, role: entry.role, claims: entry.claims)
        }
        if let cached { return cached }

        guard token.utf8.count <= 8192, let ref = UnverifiedJWT.ref(in: token) else { throw .malformed }
        let project: Project?
        do { project = try await self.project(ref: ref) } catch { throw .unknownProject }
        guard let project else { throw .unknownProject }
        let claims: APIKeyClaims
        do { claims = try await keys(for: project).verifyAPIKey(token) } catch { throw .invalid }
        guard claims.ref == project.ref, let role = KeyRole(rawValue: claims.role), role != .authenticated else { throw .invalid }
        let resolved = ResolvedKey(project: project, role: role)
        state.withLock { state in
            if state.keys.count >= Self.maxCachedKeys { state.keys.removeAll(keepingCapacity: true) }
            state.keys[token] = CachedKey(ref: project.ref, role: role, claims: resolved.claims, expiresAt: claims.exp.value)
        }
        return resolved
    }
}

extension ProjectDirectory {
    /// A user's access token for `project`, verified (signature, `exp`, `iat`, `nbf`, role) the
    /// first time it is seen and then answered from memory until its `exp`. The cache is keyed by
    /// the token and checked against the project, so a token of one project never passes for another.
    func verifyAccessToken(_ token: String, of project: Project, now: Date = Date()) async throws(AccessTokenRejection) -> VerifiedAccessToken {
        let seconds = now.timeIntervalSince1970
        let cached = state.withLock { state -> VerifiedAccessToken? in
            guard let entry = state.accessTokens[token], entry.ref == project.ref, entry.expiresAt > seconds else { return nil }
            return entry.token
        }
        if let cached { return cached }
        let verified = try await keys(for: project).verifyAccessToken(token, now: now)
        guard let expiresAt = verified.claims["exp"]?.numberValue else { return verified }
        state.withLock { state in
            if state.accessTokens.count >= Self.maxCachedAccessTokens { state.accessTokens.removeAll(keepingCapacity: true) }
            state.accessTokens[token] = CachedAccessToken(ref: project.ref, token: verified, expiresAt: expiresAt)
        }
        return verified
    }
}

extension ResolvedKey {
    /// A key's claims as the Data API hands them on: the ones a policy can ask about.
    init(project: Project, role: KeyRole) {
        self.init(project: project, role: role, claims: .object([
            JSONMember(key: "iss", value: .string("cellbase")),
            JSONMember(key: "ref", value: .string(project.ref)),
            JSONMember(key: "role", value: .string(role.rawValue)),
        ]))
    }
}
