import NIOHTTP1

/// Where a request goes: the cell (and node, for a node-local project), and whether the request
/// proved its project (a key signed with the project's secret), which decides whose rate limit it spends.
struct GatewayTarget {
    var cell: String
    var pinned: String?
    var route: GatewayRoutes.Route?
    var proven: Bool

    enum Identified {
        case project(GatewayRoutes.Route, proven: Bool)
        /// The admin API: to a node of this cell (`Cellbase-Cell` header, else `default`).
        case admin(cell: String)
        case unknownProject(String)
    }

    /// The project of a request: the `apikey` header or query parameter, a signed URL's `token`,
    /// else the first label of the host (`<ref>.gateway.example`). Nothing the client sends chooses
    /// a node directly.
    static func identify(_ head: HTTPRequestHead, routes: GatewayRoutes) -> Identified? {
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first
        for token in [head.headers.first(name: "apikey"), query.flatMap { parameter("apikey", in: $0) }, query.flatMap { parameter("token", in: $0) }] {
            guard let token, !token.isEmpty else { continue }
            guard let ref = UnverifiedJWT.ref(in: token), Project.isValidRef(ref) else { continue }
            guard let route = routes.route(ref) else { return .unknownProject(ref) }
            return .project(route, proven: routes.isVerified(token, for: route))
        }
        if let host = head.headers.first(name: "host"), let label = host.split(separator: ".").first, label.utf8.count == 20 {
            let ref = String(label)
            if Project.isValidRef(ref), host.contains(".") {
                guard let route = routes.route(ref) else { return .unknownProject(ref) }
                return .project(route, proven: true)
            }
        }
        if head.uri.hasPrefix("/admin/") {
            let cell = head.headers.first(name: "cellbase-cell").flatMap { Cell.isValidName($0) ? $0 : nil } ?? Cell.defaultName
            return .admin(cell: cell)
        }
        return nil
    }

    /// The value of `name` in a query string, as sent (keys and signed-URL tokens are base64url and dots, never escaped).
    static func parameter(_ name: String, in query: Substring) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1])
        }
        return nil
    }
}
