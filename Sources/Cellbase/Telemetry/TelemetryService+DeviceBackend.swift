import CellbaseSQL
import NIOCore

extension TelemetryService: DeviceBackend {
    /// Commands handed to a device at once when it connects.
    static let maxPendingCommands = 1_000

    func authenticate(username: String, password: ByteBuffer) async throws -> DeviceIdentity? {
        let ref: String
        let deviceID: String
        if let colon = username.firstIndex(of: ":") {
            ref = String(username[..<colon])
            deviceID = String(username[username.index(after: colon)...])
        } else {
            // A bare device id names a device of the node's only project.
            let projects = directory.projects
            guard projects.count == 1 else { return nil }
            ref = projects[0].ref
            deviceID = username
        }
        guard Project.isValidRef(ref), DeviceID.isValid(deviceID), let project = try await directory.project(ref: ref) else { return nil }
        let identity = DeviceIdentity(projectRef: ref, deviceID: deviceID)
        return try await verify(device: identity, token: String(buffer: password), project: project) ? identity : nil
    }

    func store(_ publishes: [DevicePublish]) async throws -> [DevicePublishOutcome] {
        var outcomes = [DevicePublishOutcome](repeating: .stored, count: publishes.count)
        var byProject: [String: [Int]] = [:]
        for (index, publish) in publishes.enumerated() { byProject[publish.device.projectRef, default: []].append(index) }
        for (ref, indices) in byProject {
            guard let project = try await directory.project(ref: ref) else {
                for index in indices { outcomes[index] = .rejected(reason: "unknown project") }
                continue
            }
            try await store(indices.map { publishes[$0] }, project: project).enumerated().forEach { outcomes[indices[$0.offset]] = $0.element }
        }
        let rejected = outcomes.count { $0 != .stored }
        if rejected > 0 { metrics?.rejected(rejected) }
        return outcomes
    }

    /// One project's publishes in one transaction. A device deleted since it connected has its
    /// publishes refused and the rest are written without them.
    private func store(_ publishes: [DevicePublish], project: Project) async throws -> [DevicePublishOutcome] {
        try await onCurrentShard(project) { project in try await self.store(publishes, placed: project) }
    }

    private func store(_ publishes: [DevicePublish], placed project: Project) async throws -> [DevicePublishOutcome] {
        let now = Self.now()
        let handle = try await handle(for: project, now: now)
        var outcomes = [DevicePublishOutcome](repeating: .stored, count: publishes.count)
        var records: [(index: Int, record: TelemetryRecord)] = []
        let window = builder(for: handle, now: now)
        for (index, publish) in publishes.enumerated() {
            do throws(TelemetryError) {
                let record = try TelemetryPayload.parseRecord(publish.payload.readableBytesView, arrival: publish.receivedAtMillis * 1_000)
                try window.check(record)
                records.append((index, record))
            } catch {
                outcomes[index] = .rejected(reason: error.description)
            }
        }
        while !records.isEmpty {
            var builder = window
            for (index, record) in records { builder.add(record, device: publishes[index].device.deviceID) }
            do {
                try await commit(builder.build(), handle: handle, now: now)
                return outcomes
            } catch TelemetryStoreError.unknownDevice(let id) {
                for (index, _) in records where publishes[index].device.deviceID == id {
                    outcomes[index] = .rejected(reason: "unknown device '\(id)'")
                }
                records.removeAll { publishes[$0.index].device.deviceID == id }
            }
        }
        return outcomes
    }

    func pendingCommands(for device: DeviceIdentity) async throws -> [DeviceCommand] {
        guard let project = try await directory.project(ref: device.projectRef) else { return [] }
        let handle = try await handle(for: project)
        let rows = try await handle.database.telemetryRows(ref: project.ref, handle.sql.pendingCommands(device: device.deviceID, now: Self.now(), limit: Self.maxPendingCommands))
        return rows.compactMap(CommandRecord.init).map { command in
            DeviceCommand(id: command.id, topic: command.topic, payload: ByteBuffer(string: command.deliveredBytes), expiresAtMillis: command.expiresAt / 1_000)
        }
    }

    func commandDelivered(id: String, to device: DeviceIdentity) async throws {
        guard let project = try await directory.project(ref: device.projectRef) else { return }
        let handle = try await handle(for: project)
        _ = try await handle.database.telemetryTransaction(ref: project.ref, [handle.sql.markDelivered(id: id, device: device.deviceID, at: Self.now())])
    }

    func commandNotifications() -> AsyncStream<DeviceIdentity> {
        makeNotificationStream()
    }
}
