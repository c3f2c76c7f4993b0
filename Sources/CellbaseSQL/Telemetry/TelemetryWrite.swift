/// A batch of records turned into what the database writes: the devices to touch, one series per
/// (device, metric) with its newest value, and the points grouped by partition with duplicates
/// (same series and time) resolved in favour of the later record.
public struct TelemetryWrite: Sendable {
    public struct Series: Sendable, Hashable {
        public var device: String
        public var metric: String
        public var lastTimestamp: Int64
        public var lastValue: Double

        public init(device: String, metric: String, lastTimestamp: Int64, lastValue: Double) {
            self.device = device
            self.metric = metric
            self.lastTimestamp = lastTimestamp
            self.lastValue = lastValue
        }
    }

    public struct Point: Sendable, Hashable {
        /// Index into `series`.
        public var series: Int
        public var timestamp: Int64
        public var value: Double

        public init(series: Int, timestamp: Int64, value: Double) {
            self.series = series
            self.timestamp = timestamp
            self.value = value
        }
    }

    /// Distinct devices, in first-seen order.
    public internal(set) var devices: [String] = []
    public internal(set) var series: [Series] = []
    /// Points by partition start, each partition's points in time order.
    public internal(set) var partitions: [(start: Int64, points: [Point])] = []
    /// Last-state members per device, merged in record order.
    public internal(set) var states: [(device: String, members: [JSONMember])] = []

    public var pointCount: Int { partitions.reduce(0) { $0 + $1.points.count } }
    public var isEmpty: Bool { devices.isEmpty }
}

/// Collects records of one project into a `TelemetryWrite`, checking each record's time against
/// the accepted window first.
public struct TelemetryWriteBuilder: Sendable {
    public let layout: PartitionLayout
    /// Points before this are older than the project's retention.
    public let earliest: Int64
    /// Points from this on are too far in the future.
    public let latest: Int64

    private var devices: [String: Int] = [:]
    private var deviceOrder: [String] = []
    private var series: [SeriesKey: Int] = [:]
    private var seriesList: [TelemetryWrite.Series] = []
    private var points: [PointKey: TelemetryWrite.Point] = [:]
    private var states: [Int: [JSONMember]] = [:]

    private struct SeriesKey: Hashable {
        var device: String
        var metric: String
    }

    private struct PointKey: Hashable {
        var series: Int
        var timestamp: Int64
    }

    public init(layout: PartitionLayout, earliest: Int64, latest: Int64) {
        self.layout = layout
        self.earliest = earliest
        self.latest = latest
    }

    /// Checks that the record's time is inside the window; nothing is added when it is not.
    public func check(_ record: TelemetryRecord) throws(TelemetryError) {
        guard record.timestamp >= earliest else {
            throw TelemetryError(.timestampOutOfRange, "\(TelemetryTimestamp.rfc3339(record.timestamp)) is older than the project's retention (\(TelemetryTimestamp.rfc3339(earliest)))")
        }
        guard record.timestamp < latest else {
            throw TelemetryError(.timestampOutOfRange, "\(TelemetryTimestamp.rfc3339(record.timestamp)) is more than a day ahead of the node's clock")
        }
    }

    public mutating func add(_ record: TelemetryRecord, device: String) {
        let deviceIndex: Int
        if let index = devices[device] {
            deviceIndex = index
        } else {
            deviceIndex = deviceOrder.count
            devices[device] = deviceIndex
            deviceOrder.append(device)
        }
        for point in record.points {
            let key = SeriesKey(device: device, metric: point.metric)
            let seriesIndex: Int
            if let index = series[key] {
                seriesIndex = index
                if record.timestamp >= seriesList[index].lastTimestamp {
                    seriesList[index].lastTimestamp = record.timestamp
                    seriesList[index].lastValue = point.value
                }
            } else {
                seriesIndex = seriesList.count
                series[key] = seriesIndex
                seriesList.append(TelemetryWrite.Series(device: device, metric: point.metric, lastTimestamp: record.timestamp, lastValue: point.value))
            }
            points[PointKey(series: seriesIndex, timestamp: record.timestamp)] = TelemetryWrite.Point(series: seriesIndex, timestamp: record.timestamp, value: point.value)
        }
        if !record.state.isEmpty {
            states[deviceIndex, default: []].append(contentsOf: record.state)
        }
    }

    public func build() -> TelemetryWrite {
        var write = TelemetryWrite()
        write.devices = deviceOrder
        write.series = seriesList
        var byPartition: [Int64: [TelemetryWrite.Point]] = [:]
        for point in points.values {
            byPartition[layout.start(containing: point.timestamp), default: []].append(point)
        }
        write.partitions = byPartition.keys.sorted().map { start in
            (start, byPartition[start]!.sorted { ($0.timestamp, $0.series) < ($1.timestamp, $1.series) })
        }
        write.states = states.keys.sorted().map { (deviceOrder[$0], states[$0]!) }
        return write
    }
}

/// A device's last state: a JSON object whose keys each hold the last non-numeric value sent under them.
public enum LastState {
    /// `existing` with each of `members` set, later members winning. An unreadable `existing`
    /// (never written by Cellbase) is replaced.
    public static func merge(_ existing: String?, with members: [JSONMember]) -> String {
        var merged: [JSONMember] = []
        if let existing, case .object(let current)? = try? JSONParser.parse(Array(existing.utf8), maxDepth: TelemetryPayload.maxDepth + 1) {
            merged = current
        }
        var positions: [String: Int] = [:]
        for (index, member) in merged.enumerated() { positions[member.key] = index }
        for member in members {
            if let index = positions[member.key] {
                merged[index] = member
            } else {
                positions[member.key] = merged.count
                merged.append(member)
            }
        }
        return JSONValue.object(merged).serialized
    }
}
