import AsyncHTTPClient
import CellbaseSQL
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOPosix

/// Makes one attempt at delivering a webhook: checks where the URL leads, posts the signed body
/// there, and says how it went. Retrying, backing off and giving up are the queue's business.
///
/// The connection goes to an address that was checked. Checking a host name's addresses and
/// then letting the HTTP client resolve the name again would leave a window in which a DNS answer
/// with a short lifetime turns from a public address into a private one (DNS rebinding), so the
/// name is resolved here, every address it has is checked, and the client is pinned to the first
/// one with AsyncHTTPClient's `dnsOverride`: the request keeps the host name — in `Host`, in the
/// TLS server name (SNI) and in the verification of the certificate — while the socket connects
/// to the checked address without another lookup. `dnsOverride` belongs to a client, so each
/// attempt has a client of its own, shut down when the attempt ends; the connections it would
/// have kept for later attempts matter little at webhook rates, and dropping them also drops
/// whatever of a response was left unread.
public struct WebhookDelivery: Sendable {
    public static let userAgent = "Cellbase-Webhooks/1"

    public var configuration: WebhookConfiguration
    let eventLoopGroup: any EventLoopGroup

    public init(configuration: WebhookConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
    }

    /// Makes the attempt. It never throws: every failure is an outcome.
    public func deliver(_ request: WebhookRequest) async -> WebhookOutcome {
        let url: WebhookURL
        do {
            url = try WebhookURL(request.url)
        } catch {
            return .refused(reason: error.description)
        }
        if let problem = Self.problem(with: request) { return .refused(reason: problem) }
        let deadline = NIODeadline.now() + TimeAmount(request.timeout)

        let address: IPAddress
        switch url.host {
        case .address(let literal):
            if let denied = denial(of: literal, reachedAs: nil) { return denied }
            address = literal
        case .name(let name):
            let addresses: [IPAddress]
            do {
                addresses = try await withDeadline(Self.remaining(until: deadline)) { try await HostResolver.addresses(of: name) }
            } catch is DeadlineExceeded {
                return .retry(reason: "resolving \(name) took longer than the timeout of \(request.timeout)", status: nil)
            } catch {
                return .retry(reason: "could not resolve \(name): \(error)", status: nil)
            }
            for candidate in addresses {
                if let denied = denial(of: candidate, reachedAs: name) { return denied }
            }
            address = addresses[0]
        }
        return await send(request, to: url, at: address, deadline: deadline)
    }

    private func denial(of address: IPAddress, reachedAs name: String?) -> WebhookOutcome? {
        guard case .denied(let category) = configuration.addressPolicy.decision(for: address) else { return nil }
        let subject = name.map { "\($0) resolves to \(address), which is" } ?? "\(address) is"
        return .refused(
            reason: "\(subject) in a range webhooks may not reach (\(category.rawValue)); --webhook-allow-cidr or --webhook-allow-private allows it"
        )
    }

    private func send(_ request: WebhookRequest, to url: WebhookURL, at address: IPAddress, deadline: NIODeadline) async -> WebhookOutcome {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.httpVersion = .http1Only
        // One connection per attempt: the client would otherwise retry a refused connection or a
        // failed TLS handshake until its connect timeout, knocking on the receiver many times for
        // one attempt. Trying again later, with backoff, is the queue's business.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        if case .name(let name) = url.host {
            clientConfiguration.dnsOverride = [name: address.description]
        }
        let client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: clientConfiguration)
        let outcome: WebhookOutcome
        do {
            let response = try await client.execute(Self.httpRequest(request, url: url), deadline: deadline)
            let body = await Self.read(response.body, upTo: configuration.maxResponseBodyBytes, until: deadline)
            outcome = Self.outcome(status: Int(response.status.code), location: response.headers.first(name: "location"), body: body)
        } catch {
            outcome = .retry(reason: Self.describe(error, timeout: request.timeout), status: nil)
        }
        // Closes the connection, with whatever of the response was not read.
        try? await client.shutdown()
        return outcome
    }

    private static func httpRequest(_ request: WebhookRequest, url: WebhookURL) -> HTTPClientRequest {
        var http = HTTPClientRequest(url: url.description)
        http.method = .POST
        for field in request.headers {
            http.headers.add(name: field.name.rawName, value: field.value)
        }
        http.headers.add(name: "content-type", value: "application/json")
        http.headers.add(name: "user-agent", value: userAgent)
        http.headers.add(name: WebhookSignature.idHeader, value: request.id)
        http.headers.add(name: WebhookSignature.timestampHeader, value: String(request.timestamp))
        http.headers.add(
            name: WebhookSignature.signatureHeader,
            value: WebhookSignature.sign(id: request.id, timestamp: request.timestamp, body: request.body, secrets: request.secrets)
        )
        http.body = .bytes(request.body)
        return http
    }

    /// What makes a request impossible to send, whatever the receiver: a permanent refusal.
    private static func problem(with request: WebhookRequest) -> String? {
        if request.secrets.isEmpty { return "the webhook has no signing secret" }
        if !WebhookRequest.isValidID(request.id) { return "the webhook id must be 1 to 128 letters, digits, '_', '-' or ':'" }
        if let reserved = request.headers.first(where: { WebhookRequest.reservedHeaderNames.contains($0.name) }) {
            return "the header \(reserved.name.canonicalName) is set by the delivery itself and cannot be configured"
        }
        return nil
    }

    /// Reads the body until it ends, `limit` bytes have come, or the deadline passes, whichever is
    /// first. Returning drops the body's iterator, which makes AsyncHTTPClient close the connection
    /// rather than read the rest.
    private static func read(_ body: HTTPClientResponse.Body, upTo limit: Int, until deadline: NIODeadline) async -> [UInt8] {
        await withTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                var bytes: [UInt8] = []
                do {
                    for try await chunk in body {
                        bytes += chunk.readableBytesView.prefix(max(0, limit - bytes.count))
                        if bytes.count >= limit { break }
                    }
                } catch {
                    // A body cut short (closed, or the read cancelled at the deadline) still shows what arrived.
                }
                return bytes
            }
            group.addTask {
                try? await Task.sleep(for: remaining(until: deadline))
                return nil
            }
            var bytes: [UInt8] = []
            while let finished = await group.next() {
                group.cancelAll()
                if let finished { bytes = finished }
            }
            return bytes
        }
    }

    static func outcome(status: Int, location: String?, body: [UInt8]) -> WebhookOutcome {
        switch status {
        case 200..<300:
            return .delivered(status: status)
        case 410:
            return .gone
        case 300..<400:
            let target = location.map { " to \(printable(Array($0.utf8)))" } ?? ""
            return .retry(reason: "HTTP \(status): redirects\(target) are not followed; point the webhook at the final URL", status: status)
        default:
            let snippet = printable(body)
            return .retry(reason: "HTTP \(status)" + (snippet.isEmpty ? "" : ": \(snippet)"), status: status)
        }
    }

    /// Text from a receiver, fit for a log line or an error column: invalid UTF-8 replaced, control
    /// characters turned into spaces, surrounding whitespace trimmed.
    private static func printable(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        let scalars = text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) }
        return String(scalars).trimmingWhitespace()
    }

    private static func describe(_ error: any Error, timeout: Duration) -> String {
        guard let error = error as? HTTPClientError else { return "\(error)" }
        return switch error {
        case .deadlineExceeded: "no response within the timeout of \(timeout)"
        case .connectTimeout: "could not connect within the timeout of \(timeout)"
        case .remoteConnectionClosed: "the receiver closed the connection without answering"
        case .cancelled: "the attempt was cancelled"
        default: "\(error)"
        }
    }

    private static func remaining(until deadline: NIODeadline) -> Duration {
        .nanoseconds((deadline - .now()).nanoseconds)
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
