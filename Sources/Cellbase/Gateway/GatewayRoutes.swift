import Crypto
import FoundationEssentials
import Synchronization

/// The gateway's picture of the deployment: where each project is placed, which nodes of each
/// cell are up, the rate-limit plans — refreshed from the control plane — and, per node, the
/// requests outstanding and whether it is ejected for failing. Every request reads it; only the
/// refresh task and the outcomes of requests write it.
final class GatewayRoutes: Sendable {
    struct Route: Sendable, Equatable {
        var ref: String
        var cell: String
        /// The node whose own SQLite holds the project; `nil`: any node of the cell.
        var node: String?
        var version: Int64
        var plan: String?
        var secret: [UInt8]
    }

    struct Upstream: Sendable, Hashable {
        var id: String
        var cell: String
        var host: String
        var port: Int
        /// Seconds since its last heartbeat when the list was read.
        var secondsSinceBeat: Double
    }

    private struct NodeState {
        var outstanding = 0
        var consecutiveFailures = 0
        /// Monotonic seconds until which the node gets no requests.
        var ejectedUntil = 0.0
        /// The active health checks' verdict: it turns after `fall` failed checks in a row, and back
        /// after `rise` passed ones, so one slow answer on a busy machine takes no node out.
        var checkedHealthy = true
        /// Checks in a row that disagreed with `checkedHealthy`.
        var checksAgainst = 0
    }

    private struct VerifiedKey {
        var ref: String
        var expiresAt: Double
    }

    private struct State {
        var routes: [String: Route] = [:]
        var placementVersion: Int64 = 0
        var upstreams: [String: [Upstream]] = [:]
        var nodes: [String: NodeState] = [:]
        var plans: [String: RatePlan] = [:]
        var verified: [String: VerifiedKey] = [:]
        var loaded = false
        var rotation = 0
    }

    static let maxVerifiedKeys = 100_000
    private let state = Mutex(State())
    let nodeTimeout: Double
    let ejection: Double
    let fall: Int
    let rise: Int

    /// - Parameters:
    ///   - nodeTimeout: seconds without a heartbeat after which a node is out.
    ///   - ejection: seconds a node that failed gets no requests.
    ///   - fall: failed health checks in a row that take a node out.
    ///   - rise: passed health checks in a row that bring it back.
    init(nodeTimeout: Double, ejection: Double, fall: Int = 3, rise: Int = 2) {
        self.nodeTimeout = nodeTimeout
        self.ejection = ejection
        self.fall = max(1, fall)
        self.rise = max(1, rise)
    }

    var isLoaded: Bool { state.withLock { $0.loaded } }
    var projectCount: Int { state.withLock { $0.routes.count } }
    var verifiedKeyCount: Int { state.withLock { $0.verified.count } }

    /// Takes in what changed in the control plane: placements above the last version seen, every
    /// node and plan (small tables). Answers how many placements changed.
    @discardableResult
    func refresh(from store: any ControlStore) async throws -> Int {
        let since = state.withLock { $0.placementVersion }
        let changed = try await store.projects(placedAfter: since)
        let nodes = try await store.nodes()
        let plans = try await store.plans()
        apply(projects: changed, nodes: nodes, plans: plans)
        return changed.count
    }

    func apply(projects: [Project], nodes: [NodeRecord], plans: [RatePlan]) {
        var upstreams: [String: [Upstream]] = [:]
        for node in nodes {
            guard let (host, port) = Self.hostAndPort(node.url) else { continue }
            upstreams[node.cell, default: []].append(Upstream(id: node.id, cell: node.cell, host: host, port: port, secondsSinceBeat: node.secondsSinceBeat))
        }
        state.withLock { state in
            for project in projects {
                state.routes[project.ref] = Route(
                    ref: project.ref, cell: project.cell, node: project.node, version: project.placementVersion,
                    plan: project.plan, secret: Array(project.jwtSecret.utf8)
                )
                state.placementVersion = max(state.placementVersion, project.placementVersion)
            }
            state.upstreams = upstreams
            for node in nodes where state.nodes[node.id] == nil { state.nodes[node.id] = NodeState() }
            let known = Set(nodes.map(\.id))
            state.nodes = state.nodes.filter { known.contains($0.key) }
            state.plans = Dictionary(plans.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
            state.loaded = true
        }
    }

    func route(_ ref: String) -> Route? {
        state.withLock { $0.routes[ref] }
    }

    func plan(named name: String?) -> RatePlan? {
        guard let name else { return nil }
        return state.withLock { $0.plans[name] }
    }

    /// Whether `token` is an HS256 key signed with the secret of `route`'s project, not expired.
    /// Verified tokens are remembered (a bounded number), so a key costs one HMAC the first time.
    func isVerified(_ token: String, for route: Route, now: Double = Date().timeIntervalSince1970) -> Bool {
        if let entry = state.withLock({ $0.verified[token] }), entry.ref == route.ref, entry.expiresAt > now { return true }
        guard let expiresAt = HS256.verify(token, secret: route.secret, now: now) else { return false }
        state.withLock { state in
            if state.verified.count >= Self.maxVerifiedKeys { state.verified.removeAll(keepingCapacity: true) }
            state.verified[token] = VerifiedKey(ref: route.ref, expiresAt: expiresAt)
        }
        return true
    }

    /// The node to send a request of `route` to: a node of its cell (its own node when it is on a
    /// node's SQLite) that beats, passes its health checks and is not ejected, with the fewest
    /// requests outstanding; `nil` when there is none. `excluding` are nodes already tried.
    func pick(cell: String, node pinned: String?, excluding: Set<String> = [], now: Double) -> Upstream? {
        state.withLock { state in
            let candidates = (state.upstreams[cell] ?? []).filter { upstream in
                guard !excluding.contains(upstream.id), upstream.secondsSinceBeat < nodeTimeout else { return false }
                if let pinned, upstream.id != pinned { return false }
                let node = state.nodes[upstream.id] ?? NodeState()
                return node.checkedHealthy && node.ejectedUntil <= now
            }
            guard !candidates.isEmpty else { return nil }
            state.rotation &+= 1
            let start = state.rotation % candidates.count
            var best: Upstream?
            var fewest = Int.max
            for offset in 0..<candidates.count {
                let upstream = candidates[(start + offset) % candidates.count]
                let outstanding = state.nodes[upstream.id]?.outstanding ?? 0
                if outstanding < fewest { best = upstream; fewest = outstanding }
            }
            if let best { state.nodes[best.id, default: NodeState()].outstanding += 1 }
            return best
        }
    }

    /// A request to `node` ended; `failed` when the node could not be reached or dropped it.
    /// A failure ejects the node for `ejection` seconds (longer after repeated failures).
    func finished(_ node: String, failed: Bool, now: Double) {
        state.withLock { state in
            guard var entry = state.nodes[node] else { return }
            entry.outstanding = max(0, entry.outstanding - 1)
            if failed {
                entry.consecutiveFailures += 1
                entry.ejectedUntil = now + ejection * Double(min(entry.consecutiveFailures, 8))
            } else {
                entry.consecutiveFailures = 0
            }
            state.nodes[node] = entry
        }
    }

    /// Takes in one active health check of a node. Answers the node's new verdict when this check
    /// turned it (after `fall` failures or `rise` passes in a row), `nil` when it stands.
    @discardableResult
    func checked(_ node: String, healthy: Bool) -> Bool? {
        state.withLock { state in
            guard var entry = state.nodes[node] else { return nil }
            defer { state.nodes[node] = entry }
            if healthy, entry.consecutiveFailures > 0 {
                entry.consecutiveFailures = 0
                entry.ejectedUntil = 0
            }
            guard healthy != entry.checkedHealthy else {
                entry.checksAgainst = 0
                return nil
            }
            entry.checksAgainst += 1
            guard entry.checksAgainst >= (healthy ? rise : fall) else { return nil }
            entry.checkedHealthy = healthy
            entry.checksAgainst = 0
            return healthy
        }
    }

    var allUpstreams: [Upstream] { state.withLock { $0.upstreams.values.flatMap { $0 } } }

    /// The nodes worth a health check: those whose heartbeat is recent enough to route to.
    var beatingUpstreams: [Upstream] { allUpstreams.filter { $0.secondsSinceBeat < nodeTimeout } }

    static func hostAndPort(_ url: String) -> (String, Int)? {
        guard url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst(7)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        let host: Substring
        let port: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            port = after.hasPrefix(":") ? after.dropFirst() : nil
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            port = rest[rest.index(after: colon)...]
        } else {
            host = rest
            port = nil
        }
        guard !host.isEmpty else { return nil }
        guard let port else { return (String(host), 80) }
        guard let number = Int(port), (1...65535).contains(number) else { return nil }
        return (String(host), number)
    }
}

/// HS256 JWT verification without a JWT library: the gateway checks a key's signature with one
/// HMAC, synchronously, on the event loop.
enum HS256 {
    /// The token's `exp` when its signature is right for `secret` and it has not expired; `nil` otherwise.
    static func verify(_ token: String, secret: [UInt8], now: Double) -> Double? {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 8192,
              let signature = base64URL(parts[2]), let payload = base64URL(parts[1])
        else { return nil }
        let signed = token.utf8.prefix(parts[0].count + 1 + parts[1].count)
        let key = SymmetricKey(data: secret)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(signed), using: key) else { return nil }
        guard let claims = try? JSONDecoder().decode(Expiry.self, from: Data(payload)) else { return nil }
        let expiresAt = claims.exp ?? .infinity
        return expiresAt > now ? expiresAt : nil
    }

    private struct Expiry: Decodable {
        var exp: Double?
    }

    static func base64URL(_ text: Substring.UTF8View.SubSequence) -> [UInt8]? {
        var base64 = String(decoding: text, as: UTF8.self).replacing("-", with: "+").replacing("_", with: "/")
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64).map(Array.init)
    }
}
