/// When each request of an open-loop run is due.
///
/// The run's requests are due at fixed intervals of `1/rate`, dealt to the connections in turn:
/// request `k` of connection `c` is the run's request `k·connections + c`. A request's latency is
/// measured from the moment it was due, not from when a busy connection got round to sending it,
/// so a stalled server shows as latency rather than as requests quietly not sent (coordinated
/// omission).
public struct OpenLoopSchedule: Sendable, Equatable {
    public let rate: Double
    public let connections: Int

    public init(rate: Double, connections: Int) {
        precondition(rate > 0 && connections > 0, "an open loop needs a rate and a connection")
        self.rate = rate
        self.connections = connections
    }

    /// Nanoseconds from the start of the run at which request `sequence` of connection `connection` is due.
    public func dueOffset(connection: Int, sequence: Int) -> Int64 {
        let slot = Double(sequence) * Double(connections) + Double(connection)
        return Int64((slot * 1e9 / rate).rounded())
    }
}
