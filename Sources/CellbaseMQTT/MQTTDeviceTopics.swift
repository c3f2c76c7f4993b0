/// The topics one device may use: it publishes telemetry under `devices/{id}/telemetry` and receives
/// commands under `devices/{id}/commands`. Nothing else is open to it, so one device can neither read
/// nor write another's data.
public struct MQTTDeviceTopics: Hashable, Sendable {
    public let deviceID: String
    private let telemetry: String
    private let commands: String

    public init(deviceID: String) {
        self.deviceID = deviceID
        self.telemetry = "devices/\(deviceID)/telemetry"
        self.commands = "devices/\(deviceID)/commands"
    }

    /// Whether the device may publish to `topic`: its telemetry topic or a topic under it.
    public func mayPublish(to topic: String) -> Bool {
        topic == telemetry || topic.hasPrefix(telemetry + "/")
    }

    /// Whether the device may subscribe to `filter`: its command topic, `…/commands/#`, or any filter
    /// under its command topic. Shared subscriptions and wildcards above that level are refused.
    public func maySubscribe(to filter: MQTTTopicFilter) -> Bool {
        filter.shareGroup == nil && (filter.filter == commands || filter.filter.hasPrefix(commands + "/"))
    }
}
