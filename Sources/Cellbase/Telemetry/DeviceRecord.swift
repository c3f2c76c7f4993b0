import CellbaseSQL

/// A device row as `TelemetrySQL.deviceColumns` selects it.
struct DeviceRecord: Sendable {
    var id: String
    var name: String
    var metadata: JSONValue
    var tokenHash: String
    var createdAt: String
    var lastSeen: String?
    var state: JSONValue

    init(_ row: [SQLValue]) {
        func text(_ index: Int) -> String? {
            guard index < row.count, case .text(let value) = row[index] else { return nil }
            return value
        }
        func json(_ index: Int) -> JSONValue {
            text(index).flatMap { try? JSONParser.parse(Array($0.utf8), maxDepth: 64) } ?? .object([])
        }
        id = text(0) ?? ""
        name = text(1) ?? ""
        metadata = json(2)
        tokenHash = text(3) ?? ""
        createdAt = text(4) ?? ""
        lastSeen = text(5)
        state = json(6)
    }

    /// The device as the API answers it; the token only right after it was made.
    func json(token: String? = nil) -> JSONValue {
        var members = [
            JSONMember(key: "id", value: .string(id)),
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "metadata", value: metadata),
            JSONMember(key: "created_at", value: .string(createdAt)),
            JSONMember(key: "last_seen", value: lastSeen.map(JSONValue.string) ?? .null),
        ]
        if let token { members.append(JSONMember(key: "token", value: .string(token))) }
        return .object(members)
    }
}

/// A command row as `TelemetrySQL.commandColumns` selects it.
struct CommandRecord: Sendable {
    var id: String
    var device: String
    var topic: String
    /// The payload as JSON text.
    var payload: String
    var createdAt: Int64
    var expiresAt: Int64
    var deliveredAt: Int64?

    init?(_ row: [SQLValue]) {
        guard row.count == 7, case .text(let id) = row[0], case .text(let device) = row[1], case .text(let topic) = row[2],
              case .text(let payload) = row[3], case .integer(let createdAt) = row[4], case .integer(let expiresAt) = row[5]
        else { return nil }
        (self.id, self.device, self.topic, self.payload, self.createdAt, self.expiresAt) = (id, device, topic, payload, createdAt, expiresAt)
        if case .integer(let delivered) = row[6] { deliveredAt = delivered }
    }

    enum Status: String {
        case queued, delivered, expired
    }

    func status(now: Int64) -> Status {
        if deliveredAt != nil { return .delivered }
        return expiresAt <= now ? .expired : .queued
    }

    /// What the device receives: a JSON string's text as is, anything else as its JSON.
    var deliveredBytes: String {
        if case .string(let text)? = try? JSONParser.parse(Array(payload.utf8), maxDepth: 64) { return text }
        return payload
    }

    func json(now: Int64) -> JSONValue {
        .object([
            JSONMember(key: "id", value: .string(id)),
            JSONMember(key: "device", value: .string(device)),
            JSONMember(key: "topic", value: .string(topic)),
            JSONMember(key: "payload", value: (try? JSONParser.parse(Array(payload.utf8), maxDepth: 64)) ?? .null),
            JSONMember(key: "status", value: .string(status(now: now).rawValue)),
            JSONMember(key: "created_at", value: .string(TelemetryTimestamp.rfc3339(createdAt))),
            JSONMember(key: "expires_at", value: .string(TelemetryTimestamp.rfc3339(expiresAt))),
            JSONMember(key: "delivered_at", value: deliveredAt.map { .string(TelemetryTimestamp.rfc3339($0)) } ?? .null),
        ])
    }
}
