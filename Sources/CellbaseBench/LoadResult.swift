import Histogram

/// Why a request did not get a 2xx answer.
public enum FailureKind: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Answered, but not with a 2xx status.
    case status(Int)
    /// The connection could not be opened.
    case connect
    /// The server closed the connection while a request waited for its answer.
    case closed
    /// Bytes that are not an HTTP/1.1 response.
    case invalidResponse
    /// A read or write on the socket failed.
    case socket
    /// An MQTT CONNACK or PUBACK with a failure code (0x80 and above; 1–5 for a 3.1.1 CONNACK).
    case mqtt(UInt8)

    public var description: String {
        switch self {
        case .status(let code): "HTTP \(code)"
        case .connect: "connect"
        case .closed: "closed"
        case .invalidResponse: "invalid response"
        case .socket: "socket"
        case .mqtt(let code): "MQTT reason 0x" + (code < 16 ? "0" : "") + String(code, radix: 16, uppercase: true)
        }
    }
}

/// What a run measured: answers and failures within the measured window, and their latencies in
/// microseconds.
public struct LoadResult: Sendable {
    /// Latency of every answered request, in microseconds.
    public var latency: Histogram<UInt64>
    /// Requests answered within the window, whatever their status.
    public var answered = 0
    /// Of those, answered with a 2xx status.
    public var succeeded = 0
    public var failures: [FailureKind: Int] = [:]
    /// The length of the measured window.
    public var seconds: Double

    public init(seconds: Double) {
        self.seconds = seconds
        latency = Self.makeHistogram()
    }

    /// Microseconds from 1 µs to a minute at three significant digits, growing if a run has worse.
    static func makeHistogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }

    public var throughput: Double { seconds > 0 ? Double(answered) / seconds : 0 }
    public var successThroughput: Double { seconds > 0 ? Double(succeeded) / seconds : 0 }
    public var failureCount: Int { failures.values.reduce(0, +) }

    mutating func add(_ other: ConnectionTally) {
        latency.add(other.latency)
        answered += other.answered
        succeeded += other.succeeded
        failures.merge(other.failures, uniquingKeysWith: +)
    }

    public var summary: LatencySummary { LatencySummary(latency) }
}

/// The percentiles a report shows, in milliseconds.
public struct LatencySummary: Sendable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        (self.p50, self.p90, self.p99, self.p999, self.max) = (p50, p90, p99, p999, max)
    }

    public init(_ histogram: Histogram<UInt64>) {
        func milliseconds(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
        if histogram.totalCount == 0 {
            (p50, p90, p99, p999, max) = (0, 0, 0, 0, 0)
        } else {
            p50 = milliseconds(histogram.valueAtPercentile(50))
            p90 = milliseconds(histogram.valueAtPercentile(90))
            p99 = milliseconds(histogram.valueAtPercentile(99))
            p999 = milliseconds(histogram.valueAtPercentile(99.9))
            max = milliseconds(histogram.maxRecorded)
        }
    }
}

/// One connection's share of a result, kept on its event loop and added up at the end.
struct ConnectionTally: Sendable {
    var latency = LoadResult.makeHistogram()
    var answered = 0
    var succeeded = 0
    var failures: [FailureKind: Int] = [:]
    /// Where an open-loop schedule stands, so a reconnected connection carries on from there.
    var nextSequence = 0
}
