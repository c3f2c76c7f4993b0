import CellbaseSQL
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves host names with the system resolver (`getaddrinfo`, so `/etc/hosts` and the
/// configured DNS servers apply), for callers that check addresses before they connect.
enum HostResolver {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Every address of `host`, in the resolver's order of preference, without repeats.
    ///
    /// `getaddrinfo` blocks, so it runs on the thread pool. It cannot be interrupted: when the
    /// calling task is cancelled this returns at once with `CancellationError` and the lookup's
    /// answer, whenever it comes, is dropped.
    static func addresses(of host: String, threadPool: NIOThreadPool = .singleton) async throws -> [IPAddress] {
        let waiter = Waiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[IPAddress], any Error>) in
                guard waiter.wait(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                threadPool.submit { state in
                    let result: Result<[IPAddress], any Error>
                    switch state {
                    case .active: result = Result { try lookUp(host) }
                    case .cancelled: result = .failure(CancellationError())
                    }
                    waiter.finish()?.resume(with: result)
                }
            }
        } onCancel: {
            waiter.finish()?.resume(throwing: CancellationError())
        }
    }

    /// Whoever finishes first — the lookup or a cancellation — resumes the caller; the other finds
    /// nothing left to resume.
    private final class Waiter: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<[IPAddress], any Error>)
            case finished
        }

        private let state = Mutex(State.idle)

        /// Keeps `continuation` for `finish()`; `false` when the wait was cancelled already.
        func wait(_ continuation: CheckedContinuation<[IPAddress], any Error>) -> Bool {
            state.withLock { state in
                guard case .idle = state else { return false }
                state = .waiting(continuation)
                return true
            }
        }

        /// The waiting continuation, once: later calls, and calls before `wait`, get `nil`.
        func finish() -> CheckedContinuation<[IPAddress], any Error>? {
            state.withLock { state in
                defer { state = .finished }
                guard case .waiting(let continuation) = state else { return nil }
                return continuation
            }
        }
    }

    private static func lookUp(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { throw Failure(description: String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }

        var addresses: [IPAddress] = []
        var entry = list
        while let info = entry?.pointee {
            entry = info.ai_next
            guard let socketAddress = info.ai_addr else { continue }
            guard info.ai_family == AF_INET || info.ai_family == AF_INET6 else { continue }
            // The numeric text of the address, read back: no reliance on the layout of
            // `sockaddr_in` and `sockaddr_in6`. A link-local IPv6 address's `%zone` is not part
            // of the address.
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(socketAddress, info.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let address = IPAddress(numeric.prefix { $0 != "%" })
            if let address, !addresses.contains(address) { addresses.append(address) }
        }
        guard !addresses.isEmpty else { throw Failure(description: "no IPv4 or IPv6 address") }
        return addresses
    }
}
