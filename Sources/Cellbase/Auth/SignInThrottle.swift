import Synchronization

/// Limits failed password sign-ins per email and per client address, each within its project.
///
/// Each key gets a window that opens at its first failure; once `limit` failures fall inside it,
/// sign-ins for that key are refused until it closes — without checking the password, so a
/// guesser learns nothing more. A successful sign-in clears the email's window but not the
/// address's: otherwise an attacker could interleave sign-ins to an account of their own to keep
/// guessing from one address. State is per node and in memory; with several nodes behind a
/// balancer each node counts on its own.
final class SignInThrottle: Sendable {
    struct Window {
        var failures: Int
        var opened: Int
    }

    /// Windows kept at most; past that, closed windows are dropped (and all if none is closed),
    /// so a flood of distinct emails cannot grow memory without bound.
    static let maxWindows = 100_000

    let limit: Int
    let window: Int
    private let windows = Mutex<[String: Window]>([:])

    init(limit: Int, window: Int) {
        self.limit = max(1, limit)
        self.window = max(1, window)
    }

    static func emailKey(ref: String, email: String) -> String { ref + " email " + email }
    static func addressKey(ref: String, address: String) -> String { ref + " address " + address }

    /// Seconds until sign-ins for any of `keys` are allowed again; `nil` when they are allowed now.
    func retryAfter(_ keys: [String], now: Int) -> Int? {
        windows.withLock { windows in
            keys.compactMap { key -> Int? in
                guard let entry = windows[key], entry.failures >= limit else { return nil }
                let remaining = entry.opened + window - now
                return remaining > 0 ? remaining : nil
            }.max()
        }
    }

    func recordFailure(_ keys: [String], now: Int) {
        windows.withLock { windows in
            if windows.count >= Self.maxWindows {
                windows = windows.filter { $0.value.opened + window > now }
                if windows.count >= Self.maxWindows { windows.removeAll(keepingCapacity: true) }
            }
            for key in keys {
                if let entry = windows[key], entry.opened + window > now {
                    windows[key]!.failures = entry.failures + 1
                } else {
                    windows[key] = Window(failures: 1, opened: now)
                }
            }
        }
    }

    func reset(_ key: String) {
        _ = windows.withLock { $0.removeValue(forKey: key) }
    }
}
