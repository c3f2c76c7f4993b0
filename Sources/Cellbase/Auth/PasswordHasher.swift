import HummingbirdBcrypt
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// bcrypt on threads of its own.
///
/// A cost-10 hash takes tens of milliseconds of CPU. Run on an event loop it would stall every
/// connection of that loop; run on the shared thread pool it would queue SQLite's jobs behind it.
/// A dedicated pool with one thread per core bounds how many hashes run at once, and sign-ins
/// beyond that wait their turn without holding up anything else. The pool stops with the node.
final class PasswordHasher: Service {
    private let pool: NIOThreadPool
    private let cost: UInt8
    /// A hash of a random password, verified against when the email is unknown, so an unknown
    /// email costs as much as a wrong password and timing does not tell which emails exist.
    private let dummyHash = Mutex<String?>(nil)

    init(cost: UInt8, threads: Int = System.coreCount) {
        self.cost = cost
        self.pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    func hash(_ password: String) async throws -> String {
        try await pool.runIfActive { [cost] in Bcrypt.hash(password, cost: cost) }
    }

    /// Whether `password` matches `hash`. With no hash (unknown user, or a user without a
    /// password) the dummy hash is verified instead, and the answer is always `false`.
    func verify(_ password: String, against hash: String?) async throws -> Bool {
        guard let hash else {
            let dummy = try await dummy()
            _ = try await pool.runIfActive { Bcrypt.verify(password, hash: dummy) }
            return false
        }
        return try await pool.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    private func dummy() async throws -> String {
        if let hash = dummyHash.withLock({ $0 }) { return hash }
        let hash = try await self.hash(RefreshToken.random())
        return dummyHash.withLock { stored in
            if stored == nil { stored = hash }
            return stored!
        }
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }
}
