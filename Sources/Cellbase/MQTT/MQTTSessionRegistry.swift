import CellbaseMQTT
import Synchronization
import NIOCore

/// Sessions of disconnected clients that have not expired yet (MQTT 3.1.1 Clean Session 0, 5.0
/// Session Expiry Interval), in memory: their subscriptions. The commands waiting for them are kept
/// by the device backend. Expired sessions are pruned whenever the table has doubled since the last
/// pruning, so the table holds at most twice the sessions alive.
final class MQTTSessionRegistry: Sendable {
    struct Key: Hashable, Sendable {
        var device: DeviceIdentity
        var clientIdentifier: String
    }

    private struct Table {
        var sessions: [Key: (state: MQTTSessionState, expiresAt: NIODeadline)] = [:]
        var pruneAt = 1024
    }

    private let table = Mutex(Table())

    /// Removes and returns the session kept for `key`, unless it expired.
    func take(_ key: Key, now: NIODeadline) -> MQTTSessionState? {
        table.withLock { table in
            guard let kept = table.sessions.removeValue(forKey: key), kept.expiresAt > now else { return nil }
            return kept.state
        }
    }

    func keep(_ state: MQTTSessionState, for key: Key, expiry: UInt32, now: NIODeadline) {
        table.withLock { table in
            table.sessions[key] = (state, now + .seconds(Int64(expiry)))
            if table.sessions.count >= table.pruneAt {
                table.sessions = table.sessions.filter { $0.value.expiresAt > now }
                table.pruneAt = max(1024, table.sessions.count * 2)
            }
        }
    }
}

/// The authenticated connections of each device, so that a posted command reaches the connections
/// of its device.
final class MQTTDeviceConnections: Sendable {
    private let connections = Mutex([DeviceIdentity: [ObjectIdentifier: MQTTServerConnection]]())

    func add(_ connection: MQTTServerConnection, for device: DeviceIdentity) {
        connections.withLock { $0[device, default: [:]][ObjectIdentifier(connection)] = connection }
    }

    func remove(_ connection: MQTTServerConnection, for device: DeviceIdentity) {
        connections.withLock { connections in
            connections[device]?[ObjectIdentifier(connection)] = nil
            if connections[device]?.isEmpty == true { connections[device] = nil }
        }
    }

    func connections(of device: DeviceIdentity) -> [MQTTServerConnection] {
        connections.withLock { $0[device].map { Array($0.values) } ?? [] }
    }
}
