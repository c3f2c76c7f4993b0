import CellbaseSQL
import HTTPTypes
import NIOHTTP1
import Testing

@testable import Cellbase

/// One delivery attempt against a real receiver on loopback. Loopback is what the default policy
/// forbids, so the tests that deliver allow `127.0.0.0/8` explicitly.
@Suite(.timeLimit(.minutes(1))) struct WebhookDeliveryTests {
    static let secret = WebhookSecret.generate()
    static let body = Array(#"{"type":"INSERT","table":"orders","record":{"id":7}}"#.utf8)
    static let loopbackAllowed = WebhookDelivery(
        configuration: WebhookConfiguration(addressPolicy: OutboundAddressPolicy(allowedNetworks: [IPNetwork("127.0.0.0/8")!]))
    )

    static func request(_ url: String, timeout: Duration = .seconds(30), headers: HTTPFields = [:]) -> WebhookRequest {
        WebhookRequest(
            url: url, secrets: [secret], id: "msg_0001", timestamp: 1_700_000_000, body: body, headers: headers, timeout: timeout
        )
    }

    @Test func deliversASignedRequestTheReceiverVerifies() async throws {
        let receiver = WebhookReceiver(.respond(.noContent))
        let outcome = try await receiver.run { port in
            await Self.loopbackAllowed.deliver(
                Self.request("http://127.0.0.1:\(port)/hooks/orders?source=cellbase", headers: [HTTPField.Name("x-project")!: "shop"])
            )
        }
        #expect(outcome == .delivered(status: 204))
        let received = try #require(receiver.requests.only)
        #expect(received.uri == "/hooks/orders?source=cellbase")
        #expect(received.body == Self.body)
        #expect(received.headers["content-type"] == ["application/json"])
        #expect(received.headers["user-agent"] == ["Cellbase-Webhooks/1"])
        #expect(received.headers["x-project"] == ["shop"])
        #expect(received.headers["webhook-id"] == ["msg_0001"])
        #expect(received.headers["webhook-timestamp"] == ["1700000000"])
        try WebhookSignature.verify(
            id: try #require(received.headers.first(name: "webhook-id")),
            timestamp: try #require(received.headers.first(name: "webhook-timestamp")),
            signature: try #require(received.headers.first(name: "webhook-signature")),
            body: received.body,
            secrets: [Self.secret],
            now: 1_700_000_010
        )
        #expect(throws: WebhookSignatureError(.signatureMismatch)) {
            try WebhookSignature.verify(
                id: "msg_0001", timestamp: "1700000000", signature: received.headers.first(name: "webhook-signature") ?? "",
                body: received.body, secrets: [WebhookSecret.generate()], now: 1_700_000_010
            )
        }
    }

    @Test func aReceiverThatNeverAnswersIsRetried() async throws {
        let receiver = WebhookReceiver(.silence)
        let outcome = try await receiver.run { port in
            await Self.loopbackAllowed.deliver(Self.request("http://127.0.0.1:\(port)/", timeout: .seconds(1)))
        }
        #expect(outcome == .retry(reason: "no response within the timeout of 1.0 seconds", status: nil))
        #expect(receiver.requests.count == 1)
    }

    @Test func aServerErrorIsRetriedWithTheStartOfItsBody() async throws {
        let receiver = WebhookReceiver(.respond(.internalServerError, body: "database\tdown\n"))
        let outcome = try await receiver.run { port in await Self.loopbackAllowed.deliver(Self.request("http://127.0.0.1:\(port)/")) }
        #expect(outcome == .retry(reason: "HTTP 500: database down", status: 500))
    }

    @Test func goneAsksForNoMoreDeliveries() async throws {
        let receiver = WebhookReceiver(.respond(.gone))
        let outcome = try await receiver.run { port in await Self.loopbackAllowed.deliver(Self.request("http://127.0.0.1:\(port)/")) }
        #expect(outcome == .gone)
    }

    @Test func aRedirectIsRetriedAndNotFollowed() async throws {
        let receiver = WebhookReceiver(.respond(.found, headers: ["location": "/hook"]))
        let outcome = try await receiver.run { port in await Self.loopbackAllowed.deliver(Self.request("http://127.0.0.1:\(port)/hook")) }
        #expect(outcome == .retry(reason: "HTTP 302: redirects to /hook are not followed; point the webhook at the final URL", status: 302))
        #expect(receiver.requests.count == 1)
    }

    /// A 2xx is an answer however long its body: the attempt reads up to the limit, drops the
    /// connection, and the receiver sees it go.
    @Test func anEndlessBodyIsCutOff() async throws {
        let receiver = WebhookReceiver(.endless(.ok))
        let outcome = try await receiver.run { port in
            let outcome = await Self.loopbackAllowed.deliver(Self.request("http://127.0.0.1:\(port)/"))
            var closed = receiver.closedMidBody.makeAsyncIterator()
            await closed.next()
            return outcome
        }
        #expect(outcome == .delivered(status: 200))
        #expect(receiver.connections == 1)
    }

    @Test func anEndlessErrorBodyIsReadUpToTheLimitOnly() async throws {
        let receiver = WebhookReceiver(.endless(.badGateway))
        var configuration = Self.loopbackAllowed.configuration
        configuration.maxResponseBodyBytes = 1000
        let delivery = WebhookDelivery(configuration: configuration)
        let outcome = try await receiver.run { port in
            let outcome = await delivery.deliver(Self.request("http://127.0.0.1:\(port)/"))
            var closed = receiver.closedMidBody.makeAsyncIterator()
            await closed.next()
            return outcome
        }
        #expect(outcome == .retry(reason: "HTTP 502: " + String(repeating: "x", count: 1000), status: 502))
    }

    /// The default policy refuses loopback, private and link-local receivers before any connection,
    /// whether the URL names the address or a host that resolves to it.
    @Test(arguments: [
        ("http://127.0.0.1:PORT/", "127.0.0.1 is", "loopback"),
        ("http://localhost:PORT/", "localhost resolves to ", "loopback"),
        ("http://LocalHost:PORT/", "localhost resolves to ", "loopback"),
        ("http://[::1]:PORT/", "::1 is", "loopback"),
        ("http://[::ffff:127.0.0.1]:PORT/", "::ffff:127.0.0.1 is", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is", "link-local"),
        ("http://10.0.0.1:PORT/", "10.0.0.1 is", "private"),
        ("http://0.0.0.0:PORT/", "0.0.0.0 is", "unspecified"),
    ])
    func theDefaultPolicyRefusesWithoutConnecting(url: String, subject: String, category: String) async throws {
        let receiver = WebhookReceiver(.respond(.ok))
        let delivery = WebhookDelivery(configuration: WebhookConfiguration())
        let outcome = try await receiver.run { port in
            await delivery.deliver(Self.request(url.replacing("PORT", with: String(port))))
        }
        guard case .refused(let reason) = outcome else {
            Issue.record("expected a refusal, got \(outcome)")
            return
        }
        #expect(reason.hasPrefix(subject), "\(reason)")
        #expect(reason.hasSuffix(" in a range webhooks may not reach (\(category)); --webhook-allow-cidr or --webhook-allow-private allows it"), "\(reason)")
        #expect(receiver.connections == 0)
    }

    /// A host name is resolved once, checked, and connected to at the checked address, while the
    /// request still names the host.
    @Test func aHostNameIsConnectedToAtItsCheckedAddress() async throws {
        let address = try #require(try await HostResolver.addresses(of: "localhost").first)
        let receiver = WebhookReceiver(.respond(.ok))
        let delivery = WebhookDelivery(
            configuration: WebhookConfiguration(addressPolicy: OutboundAddressPolicy(allowedNetworks: [IPNetwork("127.0.0.0/8")!, IPNetwork("::1/128")!]))
        )
        let (outcome, port) = try await receiver.run(host: address.description) { port in
            (await delivery.deliver(Self.request("http://localhost:\(port)/hook")), port)
        }
        #expect(outcome == .delivered(status: 200))
        #expect(receiver.requests.only?.headers["host"] == ["localhost:\(port)"])
        #expect(receiver.connections == 1)
    }

    /// TLS stays on for https: a receiver that does not speak it fails the attempt, which is retried.
    @Test(arguments: ["https://127.0.0.1:PORT/", "https://localhost:PORT/"])
    func httpsWithoutTLSIsRetried(url: String) async throws {
        let address = try #require(try await HostResolver.addresses(of: "localhost").first)
        let receiver = WebhookReceiver(.respond(.ok))
        let delivery = WebhookDelivery(configuration: WebhookConfiguration(addressPolicy: OutboundAddressPolicy(allowsPrivate: true)))
        let outcome = try await receiver.run(host: url.contains("localhost") ? address.description : "127.0.0.1") { port in
            await delivery.deliver(Self.request(url.replacing("PORT", with: String(port))))
        }
        guard case .retry(_, let status) = outcome else {
            Issue.record("expected a retry, got \(outcome)")
            return
        }
        #expect(status == nil)
        #expect(receiver.requests.isEmpty)
        #expect(receiver.connections == 1)
    }

    @Test func aRefusedConnectionIsRetried() async throws {
        let receiver = WebhookReceiver(.respond(.ok))
        let closedPort = try await receiver.run { port in port }
        guard case .retry(_, let status) = await Self.loopbackAllowed.deliver(Self.request("http://127.0.0.1:\(closedPort)/")) else {
            Issue.record("expected a retry")
            return
        }
        #expect(status == nil)
    }

    @Test func allowingPrivateAddressesReachesLoopback() async throws {
        let receiver = WebhookReceiver(.respond(.ok))
        let delivery = WebhookDelivery(configuration: WebhookConfiguration(addressPolicy: OutboundAddressPolicy(allowsPrivate: true)))
        let outcome = try await receiver.run { port in await delivery.deliver(Self.request("http://127.0.0.1:\(port)/")) }
        #expect(outcome == .delivered(status: 200))
        #expect(receiver.connections == 1)
    }

    @Test(arguments: [
        ("ftp://127.0.0.1/", "the URL scheme must be http or https"),
        ("http://127.1:PORT/", "the URL host 127.1 is not a dotted-decimal IPv4 address (four parts 0-255, no leading zeros)"),
        ("http://2130706433:PORT/", "the URL host 2130706433 is not a dotted-decimal IPv4 address (four parts 0-255, no leading zeros)"),
        ("http://0x7f.0.0.1:PORT/", "the URL host 0x7f.0.0.1 is not a dotted-decimal IPv4 address (four parts 0-255, no leading zeros)"),
        ("http://user:pass@127.0.0.1:PORT/", "the URL must not carry user information (user:password@); send credentials in headers"),
    ])
    func malformedURLsAreRefusedEvenWhenLoopbackIsAllowed(url: String, reason: String) async throws {
        let receiver = WebhookReceiver(.respond(.ok))
        let outcome = try await receiver.run { port in
            await Self.loopbackAllowed.deliver(Self.request(url.replacing("PORT", with: String(port))))
        }
        #expect(outcome == .refused(reason: reason))
        #expect(receiver.connections == 0)
    }

    @Test func malformedRequestsAreRefused() async throws {
        let receiver = WebhookReceiver(.respond(.ok))
        try await receiver.run { port in
            let url = "http://127.0.0.1:\(port)/"
            var noSecret = Self.request(url)
            noSecret.secrets = []
            #expect(await Self.loopbackAllowed.deliver(noSecret) == .refused(reason: "the webhook has no signing secret"))
            for id in ["", "msg.1", "msg 1", String(repeating: "a", count: 129)] {
                var badID = Self.request(url)
                badID.id = id
                #expect(
                    await Self.loopbackAllowed.deliver(badID) == .refused(reason: "the webhook id must be 1 to 128 letters, digits, '_', '-' or ':'")
                )
            }
            for name in ["Host", "webhook-signature", "Content-Type", "transfer-encoding"] {
                let reserved = Self.request(url, headers: [HTTPField.Name(name)!: "x"])
                #expect(
                    await Self.loopbackAllowed.deliver(reserved)
                        == .refused(reason: "the header \(name.lowercased()) is set by the delivery itself and cannot be configured")
                )
            }
        }
        #expect(receiver.connections == 0)
    }
}

extension Collection {
    /// The single element, or `nil` when there are none or several.
    fileprivate var only: Element? { count == 1 ? first : nil }
}
