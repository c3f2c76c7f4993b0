/// "Required capacity = peak load × growth factor × safety margin", turned into nodes: how many
/// nodes, each doing what one node was measured to do, carry the planned load.
public struct CapacityPlan: Sendable, Equatable {
    /// Requests per second at the busiest time today.
    public var peak: Double
    /// How much the peak is expected to grow over the planning horizon.
    public var growth: Double
    /// Headroom for what the benchmark does not model: a node down, a bad deploy, a hot project.
    public var safety: Double

    public static let defaultGrowth = 2.0
    public static let defaultSafety = 1.5

    public init(peak: Double, growth: Double = Self.defaultGrowth, safety: Double = Self.defaultSafety) {
        self.peak = peak
        self.growth = growth
        self.safety = safety
    }

    /// Parses `peak=RPS[,growth=G][,safety=S]`; growth and safety default to 2 and 1.5.
    public init(parsing text: String) throws(CapacityPlanError) {
        var values: [String: Double] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = pair[0].trimmingSpaces
            guard pair.count == 2, ["peak", "growth", "safety"].contains(name) else {
                throw CapacityPlanError("'\(part)' is not one of peak=, growth=, safety=")
            }
            guard values[name] == nil else { throw CapacityPlanError("\(name) is given twice") }
            guard let value = Double(pair[1].trimmingSpaces), value.isFinite, value > 0 else {
                throw CapacityPlanError("\(name) must be a positive number, got '\(pair[1])'")
            }
            values[name] = value
        }
        guard let peak = values["peak"] else { throw CapacityPlanError("peak= is required") }
        self.init(peak: peak, growth: values["growth"] ?? Self.defaultGrowth, safety: values["safety"] ?? Self.defaultSafety)
    }

    /// The load to plan for: peak × growth × safety.
    public var requiredThroughput: Double { peak * growth * safety }

    /// Nodes needed when one node does `measuredThroughput` requests per second; `nil` when it did none.
    public func nodes(measuredThroughput: Double) -> Int? {
        guard measuredThroughput > 0 else { return nil }
        // A hair of tolerance so 3.0000000001 from floating-point products is 3, not 4.
        return max(1, Int((requiredThroughput / measuredThroughput - 1e-9).rounded(.up)))
    }
}

public struct CapacityPlanError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
