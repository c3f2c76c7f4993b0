/// How long a failed job waits before its next attempt: exponential backoff with jitter.
///
/// Attempt `n` failed → wait `base · 2^(n-1)`, capped at `cap`, then a random fraction of it
/// between one half and the whole ("equal jitter"): receivers that fail together are not all
/// retried at the same instant, and no wait is shorter than half its nominal value.
struct RetryPolicy: Sendable, Hashable {
    var baseMilliseconds: Int64 = 2_000
    var capMilliseconds: Int64 = 3_600_000

    /// The nominal wait after attempt `attempt` (from 1) failed, before jitter.
    func nominalDelay(afterAttempt attempt: Int) -> Int64 {
        let doublings = max(0, min(attempt - 1, 40))
        let (scaled, overflow) = baseMilliseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        return overflow ? capMilliseconds : min(scaled, capMilliseconds)
    }

    func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Int64 {
        let nominal = nominalDelay(afterAttempt: attempt)
        let half = nominal / 2
        return half + Int64.random(in: 0...(nominal - half), using: &generator)
    }

    func delay(afterAttempt attempt: Int) -> Int64 {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }
}
