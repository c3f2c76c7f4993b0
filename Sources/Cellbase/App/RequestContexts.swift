import Hummingbird

/// The context of every request. The API-key middleware fills `resolvedKey`.
public struct CellbaseRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var resolvedKey: ResolvedKey?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.resolvedKey = nil
    }
}

/// The context of routes that serve one project: inside them the project is a known fact.
public struct ProjectRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let project: Project
    public let role: KeyRole

    public init(context: CellbaseRequestContext) throws {
        guard let key = context.resolvedKey else {
            throw APIError(.unauthorized, code: "no_api_key", message: "No API key found in request", hint: "No `apikey` request header or url param was found.")
        }
        self.coreContext = context.coreContext
        self.project = key.project
        self.role = key.role
    }
}
