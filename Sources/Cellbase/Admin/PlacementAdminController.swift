import CellbaseSQL
import FoundationEssentials
import Hummingbird
import NIOCore

/// `/admin/v1`: cells, the nodes that run in them, where each project is placed, and the
/// gateway's rate-limit plans.
struct PlacementAdminController {
    let store: any ControlStore
    let projects: ProjectService
    /// A node whose last heartbeat is older than this is out.
    let nodeTimeout: Duration
    let mover: ProjectMover

    func addRoutes(to group: RouterGroup<CellbaseRequestContext>) {
        group.post("/cells", use: createCell)
        group.get("/cells", use: listCells)
        group.get("/nodes", use: listNodes)
        group.get("/placements", use: listPlacements)
        group.get("/plans", use: listPlans)
        group.put("/plans/{name}", use: savePlan)
        group.put("/projects/{ref}/plan", use: setPlan)
        group.post("/projects/{ref}/move", use: startMove)
        group.get("/projects/{ref}/move", use: showMove)
        group.delete("/projects/{ref}/move", use: cancelMove)
    }

    static let bodyLimit = 64 * 1024

    @Sendable func createCell(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let body = try await AdminRequests.jsonBody(request, limit: Self.bodyLimit)
        guard let name = try AdminRequests.string(body, "name"), Cell.isValidName(name) else {
            throw APIError.badRequest("invalid_name", "A cell name is 1 to 63 lowercase letters, digits, '-' and '_', starting with a letter")
        }
        let cell = Cell(name: name, createdAt: Timestamp.now())
        do {
            try await store.insert(cell)
        } catch ControlStoreError.duplicateCell {
            throw APIError(.conflict, code: "cell_exists", message: "A cell named '\(name)' already exists")
        }
        return AdminRequests.json(try await cellJSON(cell), status: .created)
    }

    @Sendable func listCells(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        var cells: [JSONValue] = []
        for cell in try await store.cells() { cells.append(try await cellJSON(cell)) }
        return AdminRequests.json(.array(cells))
    }

    private func cellJSON(_ cell: Cell) async throws -> JSONValue {
        let shards = try await store.shardCells().filter { $0.value == cell.name }.keys.sorted()
        let nodes = try await store.nodes().filter { $0.cell == cell.name }
        return .object([
            JSONMember(key: "name", value: .string(cell.name)),
            JSONMember(key: "shards", value: .array(shards.map(JSONValue.string))),
            JSONMember(key: "nodes", value: .number(String(nodes.count))),
            JSONMember(key: "healthy_nodes", value: .number(String(nodes.filter(isHealthy).count))),
            JSONMember(key: "created_at", value: .string(cell.createdAt)),
        ])
    }

    private func isHealthy(_ node: NodeRecord) -> Bool {
        node.secondsSinceBeat < Double(nodeTimeout.components.seconds) + Double(nodeTimeout.components.attoseconds) / 1e18
    }

    @Sendable func listNodes(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let nodes = try await store.nodes().map { node -> JSONValue in
            .object([
                JSONMember(key: "id", value: .string(node.id)),
                JSONMember(key: "cell", value: .string(node.cell)),
                JSONMember(key: "url", value: .string(node.url)),
                JSONMember(key: "shards", value: .array(node.shards.map(JSONValue.string))),
                JSONMember(key: "started_at", value: .string(node.startedAt)),
                JSONMember(key: "last_heartbeat_at", value: .string(node.beatAt)),
                JSONMember(key: "seconds_since_heartbeat", value: Self.number((node.secondsSinceBeat * 1000).rounded() / 1000)),
                JSONMember(key: "healthy", value: .bool(isHealthy(node))),
            ])
        }
        return AdminRequests.json(.array(nodes))
    }

    @Sendable func listPlacements(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let placements = try await store.allProjects().map { project -> JSONValue in
            .object([
                JSONMember(key: "ref", value: .string(project.ref)),
                JSONMember(key: "name", value: .string(project.name)),
                JSONMember(key: "cell", value: .string(project.cell)),
                JSONMember(key: "shard", value: .string(project.shard)),
                JSONMember(key: "node", value: project.node.map(JSONValue.string) ?? .null),
                JSONMember(key: "version", value: .number(String(project.placementVersion))),
                JSONMember(key: "plan", value: project.plan.map(JSONValue.string) ?? .null),
            ])
        }
        return AdminRequests.json(.array(placements))
    }

    @Sendable func listPlans(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        AdminRequests.json(.array(try await store.plans().map(Self.planJSON)))
    }

    /// `PUT /plans/{name} {"requests_per_second": 100, "burst": 200}`: creates or replaces a plan.
    @Sendable func savePlan(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard Cell.isValidName(name) else {
            throw APIError.badRequest("invalid_name", "A plan name is 1 to 63 lowercase letters, digits, '-' and '_', starting with a letter")
        }
        let body = try await AdminRequests.jsonBody(request, limit: Self.bodyLimit)
        guard case .number(let rateText)? = body["requests_per_second"], let rate = Double(rateText), rate > 0, rate <= 1_000_000,
              let burst = try AdminRequests.integer(body, "burst"), (1...10_000_000).contains(burst)
        else {
            throw APIError.badRequest("invalid_plan", "A plan has requests_per_second (above 0, at most 1000000) and burst (1 to 10000000)")
        }
        let plan = RatePlan(name: name, requestsPerSecond: rate, burst: burst)
        try await store.save(plan)
        return AdminRequests.json(Self.planJSON(plan))
    }

    /// `PUT /projects/{ref}/plan {"plan": "pro"}` (or `null` for the gateway's default).
    @Sendable func setPlan(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let project = try await AdminRequests.project(context, projects)
        let body = try await AdminRequests.jsonBody(request, limit: Self.bodyLimit)
        let plan = try AdminRequests.string(body, "plan")
        if let plan, !(try await store.plans().contains { $0.name == plan }) {
            throw APIError.badRequest("unknown_plan", "No plan named '\(plan)': create it with PUT /admin/v1/plans/\(plan)")
        }
        guard try await store.setPlan(plan, ofProject: project.ref) else {
            throw APIError.notFound("project_not_found", "No project with ref '\(project.ref)'")
        }
        try await projects.directory.refreshPlacements()
        return AdminRequests.json(.object([
            JSONMember(key: "ref", value: .string(project.ref)),
            JSONMember(key: "plan", value: plan.map(JSONValue.string) ?? .null),
        ]))
    }

    static func planJSON(_ plan: RatePlan) -> JSONValue {
        .object([
            JSONMember(key: "name", value: .string(plan.name)),
            JSONMember(key: "requests_per_second", value: number(plan.requestsPerSecond)),
            JSONMember(key: "burst", value: .number(String(plan.burst))),
        ])
    }
}

extension PlacementAdminController {
    /// A JSON number for `value`: integral values without a fraction.
    static func number(_ value: Double) -> JSONValue {
        value.rounded() == value && abs(value) < 1e15 ? .number(String(Int64(value))) : .number("\(value)")
    }

    // MARK: Moves

    @Sendable func startMove(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let ref = try context.parameters.require("ref")
        let body = try await AdminRequests.jsonBody(request, limit: Self.bodyLimit)
        guard let target = try AdminRequests.string(body, "to"), !target.isEmpty else {
            throw APIError.badRequest("invalid_body", "Name the shard to move to: {\"to\": \"<shard>\"}")
        }
        guard Project.isValidRef(ref) else { throw APIError.notFound("project_not_found", "No project with ref \(ref)") }
        return try Self.moveJSON(try await mover.start(ref: ref, to: target), status: .accepted)
    }

    @Sendable func showMove(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let ref = try context.parameters.require("ref")
        guard let status = mover.status(of: ref) else {
            throw APIError.notFound("move_not_found", "This node has not moved project \(ref)")
        }
        return try Self.moveJSON(status, status: .ok)
    }

    @Sendable func cancelMove(_ request: Request, context: CellbaseRequestContext) async throws -> Response {
        let ref = try context.parameters.require("ref")
        return try Self.moveJSON(try mover.cancel(ref: ref), status: .accepted)
    }

    static func moveJSON(_ status: MoveStatus, status code: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: code, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(status))))
    }
}
