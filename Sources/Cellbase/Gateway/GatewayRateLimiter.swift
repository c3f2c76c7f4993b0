import Synchronization

/// Requests per second and burst.
public struct RateLimit: Sendable, Hashable {
    public var requestsPerSecond: Double
    public var burst: Int

    public init(requestsPerSecond: Double, burst: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }

    /// `RPS:BURST`, as the gateway's flags take it (`100:200`).
    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let rate = Double(parts[0]), rate > 0, rate.isFinite, let burst = Int(parts[1]), burst >= 1 else { return nil }
        self.init(requestsPerSecond: rate, burst: burst)
    }
}

/// The gateway's rate limits, in memory: a bucket per project (its plan's limit, else the
/// default) and a bucket per client address. A request takes a token from both; the project's
/// decision is the one the `RateLimit-*` headers report.
final class GatewayRateLimiter: Sendable {
    struct Verdict: Sendable, Equatable {
        /// The decision the headers report; `nil` when no limit applies.
        var decision: TokenBucket.Decision?
        /// Which limit refused, when one did.
        var refusedBy: Scope?
    }

    enum Scope: String, Sendable {
        case project
        case address
    }

    let projectDefault: RateLimit?
    let perAddress: RateLimit?
    private let projects: Mutex<KeyedBuckets>
    private let addresses: Mutex<KeyedBuckets>
    /// Buckets shared with the other gateways through Redis; `nil`: this gateway's memory only.
    let shared: SharedRateLimits?

    init(projectDefault: RateLimit?, perAddress: RateLimit?, capacity: Int = 100_000, shared: SharedRateLimits? = nil) {
        self.projectDefault = projectDefault
        self.perAddress = perAddress
        self.projects = Mutex(KeyedBuckets(capacity: capacity))
        self.addresses = Mutex(KeyedBuckets(capacity: capacity))
        self.shared = shared
    }

    /// Redis keys of the shared buckets.
    static func sharedKey(_ scope: Scope, _ key: String) -> String { "cellbase:ratelimit:\(scope.rawValue):\(key)" }

    /// - Parameters:
    ///   - project: the project to charge, `nil` when the request proved none (no key, a forged key).
    ///   - plan: the project's plan, when it has one.
    func decide(project: String?, plan: RatePlan?, address: String?, now: Double) -> Verdict {
        var verdict = Verdict()
        if let address, let limit = perAddress {
            let decision = shared?.take(Self.sharedKey(.address, address), limit: limit, now: now)
                ?? addresses.withLock { $0.take(address, rate: limit.requestsPerSecond, burst: limit.burst, now: now) }
            verdict.decision = decision
            if !decision.allowed {
                verdict.refusedBy = .address
                return verdict
            }
        }
        if let project, let limit = plan.map({ RateLimit(requestsPerSecond: $0.requestsPerSecond, burst: $0.burst) }) ?? projectDefault {
            let decision = shared?.take(Self.sharedKey(.project, project), limit: limit, now: now)
                ?? projects.withLock { $0.take(project, rate: limit.requestsPerSecond, burst: limit.burst, now: now) }
            verdict.decision = decision
            if !decision.allowed { verdict.refusedBy = .project }
        }
        return verdict
    }

    var trackedKeys: Int { projects.withLock { $0.count } + addresses.withLock { $0.count } + (shared?.trackedKeys ?? 0) }
}
