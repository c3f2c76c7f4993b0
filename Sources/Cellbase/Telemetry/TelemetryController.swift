import CellbaseSQL
import HTTPTypes
import Hummingbird
import NIOCore

/// `/telemetry/v1`: devices, ingest, series queries, commands and the project's telemetry settings.
///
/// A request is made with the project's `service_role` key (`apikey` header or query parameter,
/// or `Authorization: Bearer`), or — for ingest only — with a device token in
/// `Authorization: Bearer`, which names its project itself. The `anon` key and user tokens are
/// refused: devices and their data belong to the project's operator.
struct TelemetryController {
    let telemetry: TelemetryService
    let maxBodySize: Int

    func addRoutes(to group: RouterGroup<CellbaseRequestContext>) {
        group.post("/ingest", use: ingest)
        group.get("/series", use: series)
        group.get("/latest", use: latest)
        group.get("/settings", use: settings)
        group.patch("/settings", use: updateSettings)
        group.post("/devices", use: createDevice)
        group.get("/devices", use: listDevices)
        group.get("/devices/{id}", use: getDevice)
        group.patch("/devices/{id}", use: updateDevice)
        group.delete("/devices/{id}", use: deleteDevice)
        group.post("/devices/{id}/token", use: rotateToken)
        group.post("/devices/{id}/commands", use: postCommand)
        group.get("/devices/{id}/commands/{command}", use: getCommand)
    }

    // MARK: Callers

    enum Caller {
        case service(Project)
        case device(Project, String)

        var project: Project {
            switch self {
            case .service(let project), .device(let project, _): project
            }
        }
    }

    private func caller(_ request: Request, _ context: CellbaseRequestContext) async throws -> Caller {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        if let bearer, let token = DeviceToken(parsing: bearer) {
            let identity = DeviceIdentity(projectRef: token.projectRef, deviceID: token.deviceID)
            guard let project = try await telemetry.directory.project(ref: token.projectRef),
                  try await telemetry.verify(device: identity, token: bearer, project: project)
            else {
                throw APIError(.unauthorized, code: "invalid_device_token", message: "The device token is not valid: it was rotated, or its device deleted")
            }
            return .device(project, token.deviceID)
        }
        guard let key = request.headers[APIKeyMiddleware.apiKeyField] ?? request.uri.queryParameters["apikey"].map(String.init) ?? bearer, !key.isEmpty else {
            throw APIError(.unauthorized, code: "no_api_key", message: "No API key found in request", hint: "Send the project's service_role key in `apikey`, or a device token in `Authorization: Bearer`.")
        }
        let resolved: ResolvedKey
        do {
            resolved = try await telemetry.directory.resolve(apiKey: key)
        } catch {
            throw APIError(.unauthorized, code: "invalid_api_key", message: "Invalid API key", hint: "Double check your `service_role` API key.")
        }
        guard resolved.role == .serviceRole else { throw Self.serviceRoleRequired }
        return .service(resolved.project)
    }

    static let serviceRoleRequired = APIError(.forbidden, code: "service_role_required", message: "Telemetry is managed with the project's service_role key")

    private func project(_ request: Request, _ context: CellbaseRequestContext) async throws -> Project {
        guard case .service(let project) = try await caller(request, context) else { throw Self.serviceRoleRequired }
        return project
    }

    private func parameters(_ request: Request) throws -> [(name: String, value: String)] {
        do {
            return try QueryString.decode(request.uri.query.map { Substring($0) } ?? "")
        } catch {
            throw APIError.badRequest(TelemetryError.Code.invalidParameter.rawValue, error.message)
        }
    }

    /// The body up to `maxBodySize`, refused in this API's shape when larger.
    private func collectBody(_ request: Request) async throws -> [UInt8] {
        do {
            return try await DataAPIController.collectBody(request, limit: maxBodySize)
        } catch let error as RESTError {
            throw APIError(HTTPResponse.Status(code: error.status), code: error.code, message: error.message)
        }
    }

    private func jsonBody(_ request: Request) async throws -> JSONValue {
        let bytes = try await collectBody(request)
        do {
            return try JSONParser.parse(bytes, maxDepth: 64)
        } catch {
            throw APIError.badRequest("invalid_body", "The body is not JSON: \(error.message) at byte \(error.offset)")
        }
    }

    // MARK: Ingest and queries

    /// JSON (`application/json`, the default) or Influx line protocol (`text/plain`, with
    /// `precision=ns|us|ms|s`, default `ns` as Influx's).
    @Sendable func ingest(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let caller = try await caller(request, context)
        let parameters = try parameters(request)
        let body = try await collectBody(request)
        let arrival = TelemetryService.now()
        let contentType = request.headers[.contentType]?.lowercased() ?? "application/json"
        let records: [TelemetryRecord]
        do throws(TelemetryError) {
            if contentType.hasPrefix("text/plain") {
                let text = parameters.last { $0.name == "precision" }?.value ?? "ns"
                guard let precision = LineProtocol.Precision(rawValue: text) else {
                    throw TelemetryError(.invalidParameter, "precision is ns, us, ms or s")
                }
                records = try LineProtocol.parse(body, precision: precision, arrival: arrival)
            } else {
                records = try TelemetryPayload.parseBatch(body, arrival: arrival)
            }
        } catch {
            telemetry.metrics?.rejected()
            throw TelemetryAnswer.error(error)
        }
        let device: String?
        if case .device(_, let id) = caller { device = id } else { device = nil }
        do {
            let points = try await telemetry.ingest(records, project: caller.project, device: device)
            return TelemetryAnswer(.object([
                JSONMember(key: "records", value: .number(String(records.count))),
                JSONMember(key: "points", value: .number(String(points))),
            ]))
        } catch let error as APIError {
            telemetry.metrics?.rejected()
            throw error
        }
    }

    @Sendable func series(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let parameters = try parameters(request)
        let query: SeriesQuery
        do throws(TelemetryError) {
            query = try SeriesQuery.parse(parameters, now: TelemetryService.now())
        } catch {
            throw TelemetryAnswer.error(error)
        }
        let points = try await telemetry.series(query, project: project)
        var members = [
            JSONMember(key: "device", value: .string(query.device)),
            JSONMember(key: "metric", value: .string(query.metric)),
            JSONMember(key: "from", value: .string(TelemetryTimestamp.rfc3339(query.from))),
            JSONMember(key: "to", value: .string(TelemetryTimestamp.rfc3339(query.to))),
        ]
        if let bucket = query.bucket {
            members.append(JSONMember(key: "bucket_seconds", value: .number(String(Double(bucket) / 1_000_000))))
            members.append(JSONMember(key: "agg", value: .string(query.aggregate.rawValue)))
        } else {
            members.append(JSONMember(key: "truncated", value: .bool(points.count == query.limit)))
        }
        let counts = query.bucket != nil && query.aggregate == .count
        members.append(JSONMember(key: "points", value: .array(points.map { point in
            .object([
                JSONMember(key: "ts", value: .string(TelemetryTimestamp.rfc3339(point.time))),
                JSONMember(key: "value", value: .number(counts ? String(Int64(point.value)) : Self.number(point.value))),
            ])
        })))
        return TelemetryAnswer(.object(members))
    }

    @Sendable func latest(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        guard let device = try parameters(request).last(where: { $0.name == "device" })?.value, DeviceID.isValid(device) else {
            throw APIError.badRequest(TelemetryError.Code.invalidParameter.rawValue, "device is required: 1 to 64 letters, digits, '-' or '_'")
        }
        let latest = try await telemetry.latest(device: device, project: project)
        return TelemetryAnswer(.object([
            JSONMember(key: "device", value: .string(device)),
            JSONMember(key: "metrics", value: .object(latest.metrics.map { entry in
                JSONMember(key: entry.metric, value: .object([
                    JSONMember(key: "ts", value: .string(TelemetryTimestamp.rfc3339(entry.time))),
                    JSONMember(key: "value", value: .number(Self.number(entry.value))),
                ]))
            })),
            JSONMember(key: "state", value: latest.state),
        ]))
    }

    /// A finite double as JSON: Swift's shortest round-tripping form (`21.5`, `1200.0`, `1e-07`).
    static func number(_ value: Double) -> String { value.description }

    // MARK: Settings

    @Sendable func settings(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        return try await settingsAnswer(project)
    }

    @Sendable func updateSettings(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        guard case .number(let text)? = try await jsonBody(request)["retention_days"], let days = Int(text) else {
            throw APIError.badRequest("invalid_body", "Expected {\"retention_days\": <1 to \(TelemetryConfiguration.maxRetentionDays)>}")
        }
        try await telemetry.setRetention(days: days, project: project)
        return try await settingsAnswer(project)
    }

    private func settingsAnswer(_ project: Project) async throws -> TelemetryAnswer {
        let (storage, partitions) = try await telemetry.settings(project: project)
        return TelemetryAnswer(.object([
            JSONMember(key: "retention_days", value: .number(String(storage.retentionDays))),
            JSONMember(key: "partition_hours", value: .number(String(storage.layout.hours))),
            JSONMember(key: "partitions", value: .array(partitions.map { partition in
                .object([
                    JSONMember(key: "name", value: .string(partition.name)),
                    JSONMember(key: "from", value: .string(TelemetryTimestamp.rfc3339(partition.start))),
                    JSONMember(key: "to", value: .string(TelemetryTimestamp.rfc3339(partition.end))),
                ])
            })),
        ]))
    }

    // MARK: Devices

    @Sendable func createDevice(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let body = try await jsonBody(request)
        guard case .string(let id)? = body["id"] else { throw APIError.badRequest("invalid_body", "Expected {\"id\": \"…\", \"name\"?: \"…\", \"metadata\"?: {…}}") }
        let (name, metadata) = try Self.nameAndMetadata(body)
        let (device, token) = try await telemetry.createDevice(id: id, name: name, metadata: metadata, project: project)
        return TelemetryAnswer(device.json(token: token), status: .created)
    }

    @Sendable func listDevices(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let parameters = try parameters(request)
        func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
            guard let text = parameters.last(where: { $0.name == name })?.value else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw APIError.badRequest(TelemetryError.Code.invalidParameter.rawValue, "\(name) is \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        let limit = try integer("limit", default: TelemetryService.maxDevicesPerPage, in: 1...TelemetryService.maxDevicesPerPage)
        let offset = try integer("offset", default: 0, in: 0...Int(Int32.max))
        return TelemetryAnswer(.array(try await telemetry.devices(project: project, limit: limit, offset: offset).map { $0.json() }))
    }

    @Sendable func getDevice(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        return TelemetryAnswer(try await telemetry.device(context.parameters.get("id") ?? "", project: project).json())
    }

    @Sendable func updateDevice(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let (name, metadata) = try Self.nameAndMetadata(try await jsonBody(request))
        return TelemetryAnswer(try await telemetry.updateDevice(context.parameters.get("id") ?? "", name: name, metadata: metadata, project: project).json())
    }

    @Sendable func deleteDevice(_ request: Request, context: CellbaseRequestContext) async throws -> HTTPResponse.Status {
        let project = try await project(request, context)
        try await telemetry.deleteDevice(context.parameters.get("id") ?? "", project: project)
        return .noContent
    }

    @Sendable func rotateToken(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let (device, token) = try await telemetry.rotateToken(context.parameters.get("id") ?? "", project: project)
        return TelemetryAnswer(device.json(token: token))
    }

    private static func nameAndMetadata(_ body: JSONValue) throws -> (String?, JSONValue?) {
        guard case .object = body else { throw APIError.badRequest("invalid_body", "The body must be a JSON object") }
        var name: String?
        switch body["name"] {
        case nil, .null?: break
        case .string(let text)? where (1...200).contains(text.utf8.count): name = text
        default: throw APIError.badRequest("invalid_body", "name is a string of 1 to 200 bytes")
        }
        switch body["metadata"] {
        case nil, .null?: return (name, nil)
        case .object(let members)?: return (name, .object(members))
        default: throw APIError.badRequest("invalid_body", "metadata is a JSON object")
        }
    }

    // MARK: Commands

    @Sendable func postCommand(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let body = try await jsonBody(request)
        guard case .object = body, let payload = body["payload"] else {
            throw APIError.badRequest("invalid_body", "Expected {\"payload\": <JSON>, \"ttl\"?: <seconds>, \"topic\"?: \"sub/topic\"}")
        }
        var ttl: Int?
        switch body["ttl"] {
        case nil, .null?: break
        case .number(let text)? where Int(text) != nil: ttl = Int(text)
        default: throw APIError.badRequest("invalid_body", "ttl is a whole number of seconds")
        }
        var subtopic: String?
        switch body["topic"] {
        case nil, .null?: break
        case .string(let text)?: subtopic = text
        default: throw APIError.badRequest("invalid_body", "topic is a string")
        }
        let command = try await telemetry.postCommand(device: context.parameters.get("id") ?? "", payload: payload, ttlSeconds: ttl, subtopic: subtopic, project: project)
        return TelemetryAnswer(command.json(now: TelemetryService.now()), status: .created)
    }

    @Sendable func getCommand(_ request: Request, context: CellbaseRequestContext) async throws -> TelemetryAnswer {
        let project = try await project(request, context)
        let command = try await telemetry.command(context.parameters.get("command") ?? "", device: context.parameters.get("id") ?? "", project: project)
        return TelemetryAnswer(command.json(now: TelemetryService.now()))
    }
}

/// A JSON answer of `/telemetry/v1`.
struct TelemetryAnswer: ResponseGenerator {
    var body: JSONValue
    var status: HTTPResponse.Status

    init(_ body: JSONValue, status: HTTPResponse.Status = .ok) {
        self.body = body
        self.status = status
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body.serialized)))
    }

    /// A refused input or query, in the `{"code","message"}` shape; too many points is 413.
    static func error(_ error: TelemetryError) -> APIError {
        APIError(error.code == .tooManyPoints ? .contentTooLarge : .badRequest, code: error.code.rawValue, message: error.message)
    }
}
