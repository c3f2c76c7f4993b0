import CellbaseSQL
import FoundationEssentials
import HTTPTypes

extension TelemetryService {
    static let maxDevicesPerPage = 1_000

    /// Creates a device and returns it with its token, which is not stored and never shown again.
    func createDevice(id: String, name: String?, metadata: JSONValue?, project: Project) async throws -> (DeviceRecord, token: String) {
        guard DeviceID.isValid(id) else {
            throw APIError.badRequest(TelemetryError.Code.invalidDeviceID.rawValue, "A device id is 1 to 64 letters, digits, '-' or '_'")
        }
        let handle = try await handle(for: project)
        let token = DeviceToken.generate(projectRef: project.ref, deviceID: id)
        let insert = handle.sql.insertDevice(
            id: id, name: name ?? id, metadata: (metadata ?? .object([])).serialized, tokenHash: token.digest, createdAt: Timestamp.now()
        )
        let results = try await handle.database.telemetryTransaction(ref: project.ref, [insert, handle.sql.deviceByID(id)])
        guard !results[0].isEmpty, let row = results[1].first else {
            throw APIError(.conflict, code: "device_exists", message: "The project already has a device '\(id)'")
        }
        return (DeviceRecord(row), token.text)
    }

    func devices(project: Project, limit: Int, offset: Int) async throws -> [DeviceRecord] {
        let handle = try await handle(for: project)
        return try await handle.database.telemetryRows(ref: project.ref, handle.sql.listDevices(limit: limit, offset: offset)).map(DeviceRecord.init)
    }

    func device(_ id: String, project: Project) async throws -> DeviceRecord {
        let handle = try await handle(for: project)
        guard DeviceID.isValid(id), let row = try await handle.database.telemetryRows(ref: project.ref, handle.sql.deviceByID(id)).first else {
            throw Self.deviceNotFound(id)
        }
        return DeviceRecord(row)
    }

    func updateDevice(_ id: String, name: String?, metadata: JSONValue?, project: Project) async throws -> DeviceRecord {
        let current = try await device(id, project: project)
        let handle = try await handle(for: project)
        let update = handle.sql.updateDevice(id, name: name ?? current.name, metadata: (metadata ?? current.metadata).serialized)
        guard let row = try await handle.database.telemetryTransaction(ref: project.ref, [update])[0].first else {
            throw Self.deviceNotFound(id)
        }
        return DeviceRecord(row)
    }

    func deleteDevice(_ id: String, project: Project) async throws {
        let handle = try await handle(for: project)
        guard DeviceID.isValid(id), !(try await handle.database.telemetryTransaction(ref: project.ref, [handle.sql.deleteDevice(id)])[0].isEmpty) else {
            throw Self.deviceNotFound(id)
        }
        forgetCredential(DeviceIdentity(projectRef: project.ref, deviceID: id))
    }

    /// Replaces the device's token: the old one stops working at once on this node, and on other
    /// nodes once their cached verification of it lapses (`credentialCacheSeconds`).
    func rotateToken(_ id: String, project: Project) async throws -> (DeviceRecord, token: String) {
        let handle = try await handle(for: project)
        let token = DeviceToken.generate(projectRef: project.ref, deviceID: id)
        guard DeviceID.isValid(id),
              let row = try await handle.database.telemetryTransaction(ref: project.ref, [handle.sql.replaceToken(id, tokenHash: token.digest)])[0].first
        else { throw Self.deviceNotFound(id) }
        forgetCredential(DeviceIdentity(projectRef: project.ref, deviceID: id))
        return (DeviceRecord(row), token.text)
    }

    // MARK: Commands

    /// Queues a command for `devices/{id}/commands[/subtopic]` and wakes this node's listeners.
    func postCommand(device id: String, payload: JSONValue, ttlSeconds: Int?, subtopic: String?, project: Project) async throws -> CommandRecord {
        let ttl = ttlSeconds ?? TelemetryConfiguration.defaultCommandTTLSeconds
        guard (1...TelemetryConfiguration.maxCommandTTLSeconds).contains(ttl) else {
            throw APIError.badRequest("invalid_body", "ttl is 1 to \(TelemetryConfiguration.maxCommandTTLSeconds) seconds")
        }
        var topic = "devices/\(id)/commands"
        if let subtopic {
            guard Self.isValidSubtopic(subtopic) else {
                throw APIError.badRequest("invalid_body", "topic is 1 to 128 bytes of letters, digits, '-', '_' and '/' between non-empty levels")
            }
            topic += "/" + subtopic
        }
        let handle = try await handle(for: project)
        let now = Self.now()
        let insert = handle.sql.insertCommand(
            id: UUID().uuidString.lowercased(), device: id, topic: topic, payload: payload.serialized,
            createdAt: now, expiresAt: now + Int64(ttl) * 1_000_000
        )
        guard DeviceID.isValid(id), let row = try await handle.database.telemetryTransaction(ref: project.ref, [insert])[0].first, let command = CommandRecord(row) else {
            throw Self.deviceNotFound(id)
        }
        notify(DeviceIdentity(projectRef: project.ref, deviceID: id))
        return command
    }

    func command(_ commandID: String, device: String, project: Project) async throws -> CommandRecord {
        let handle = try await handle(for: project)
        guard let row = try await handle.database.telemetryRows(ref: project.ref, handle.sql.command(id: commandID, device: device)).first,
              let command = CommandRecord(row)
        else { throw APIError.notFound("command_not_found", "Device '\(device)' has no command '\(commandID)'") }
        return command
    }

    static func isValidSubtopic(_ topic: String) -> Bool {
        (1...128).contains(topic.utf8.count)
            && topic.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { level in
                !level.isEmpty && level.utf8.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                }
            }
    }
}
