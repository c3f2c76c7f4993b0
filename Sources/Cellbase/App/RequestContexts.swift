import CellbaseSQL
import Hummingbird
import NIOCore

/// The context of every request. The API-key middleware fills `resolvedKey`; the access-token
/// middleware fills `accessToken` when a signed-in user's token came with the request.
public struct CellbaseRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var resolvedKey: ResolvedKey?
    var accessToken: VerifiedAccessToken?
    /// The peer's address, for per-client limits such as sign-in throttling.
    public let remoteAddress: SocketAddress?
    /// Set around the router when the request's metrics, its log line or its span name its project.
    var observedProject: RequestProject?
    /// The connection, for streams that must end it when the client stops reading.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.resolvedKey = nil
        self.accessToken = nil
        self.observedProject = nil
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
}

/// The context of routes that serve one project: inside them the project is a known fact.
public struct ProjectRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let project: Project
    /// `authenticated` with a user's access token, otherwise the API key's role.
    public let role: KeyRole
    /// The verified JWT claims the request runs with: the access token's, or the API key's.
    public let claims: JSONValue
    public let remoteAddress: SocketAddress?
    let channel: any Channel

    public init(context: CellbaseRequestContext) throws {
        guard let key = context.resolvedKey else {
            throw APIError(.unauthorized, code: "no_api_key", message: "No API key found in request", hint: "No `apikey` request header or url param was found.")
        }
        self.coreContext = context.coreContext
        self.project = key.project
        self.role = context.accessToken?.role ?? key.role
        self.claims = context.accessToken?.claims ?? key.claims
        self.remoteAddress = context.remoteAddress
        self.channel = context.channel
    }
}
