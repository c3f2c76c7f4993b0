import CellbaseBench
import NIOCore
import Testing

@Suite("realtime-fanout frames and source addresses")
struct RealtimeFanoutTests {
    @Test(arguments: [
        ("127.0.0.1", ["127.0.0.1"]),
        ("127.0.0.1,10.0.0.2", ["127.0.0.1", "10.0.0.2"]),
        ("127.0.0.1-127.0.0.3", ["127.0.0.1", "127.0.0.2", "127.0.0.3"]),
        ("127.0.0.254-127.0.1.1", ["127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1"]),
        ("127.0.0.5-127.0.0.5,127.0.0.1", ["127.0.0.5", "127.0.0.1"]),
    ])
    func sourceAddressesParse(text: String, addresses: [String]) throws {
        #expect(try SourceAddresses(parsing: text).addresses == addresses)
    }

    @Test(arguments: [
        "", "127.0.0.1,", "127.0.0", "127.0.0.1.1", "127.0.0.256", "127.0.0.-1", "127.0.0.01x", "::1", "localhost",
        "127.0.0.2-127.0.0.1", "127.0.0.1-127.0.0.2-127.0.0.3", "127.0.0.1-", "0.0.0.0-0.1.0.0", "127.0.0.0001",
    ])
    func malformedSourceAddressesAreRefused(text: String) {
        #expect(throws: SourceAddressesError.self) { try SourceAddresses(parsing: text) }
    }

    @Test func socketsTakeTheAddressesInTurn() throws {
        let addresses = try SourceAddresses(parsing: "127.0.0.1-127.0.0.3")
        #expect((0..<7).map(addresses.address(for:)) == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"])
    }

    @Test(arguments: [
        BroadcastStamp(sequence: 0, sentNanoseconds: 1),
        BroadcastStamp(sequence: 41, sentNanoseconds: 987_654_321_012_345),
        BroadcastStamp(sequence: .max, sentNanoseconds: .max),
    ])
    func aBroadcastsStampSurvivesTheRoundTrip(stamp: BroadcastStamp) {
        let sent = PhoenixFrames.broadcast(topic: "room", stamp: stamp)
        #expect(PhoenixFrames.classify(sent.readableBytesView) == .delivery(stamp))
    }

    @Test func theNodesFormOfABroadcastIsADelivery() {
        // The node re-serialises the payload inside its own envelope, members in its own order.
        let frame = #"{"event":"broadcast","payload":{"event":"bench","payload":{"cellbase_bench_sent_ns":5000123,"cellbase_bench_seq":7},"type":"broadcast"},"ref":null,"topic":"realtime:room"}"#
        #expect(PhoenixFrames.classify(Array(frame.utf8)) == .delivery(BroadcastStamp(sequence: 7, sentNanoseconds: 5_000_123)))
    }

    @Test(arguments: [
        (#"{"topic":"realtime:room","event":"phx_reply","payload":{"status":"ok","response":{"postgres_changes":[]}},"ref":"join","join_ref":"join"}"#, PhoenixFrames.Inbound.joinReply(ok: true)),
        (#"{"topic":"realtime:room","event":"phx_reply","payload":{"status":"error","response":{"reason":"ConnectionRateLimitReached: Too many connected users"}},"ref":"join"}"#, .joinReply(ok: false)),
        (#"{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"hb3"}"#, .other),
        (#"{"topic":"realtime:room","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"hb1","join_ref":"join"}"#, .other),
        (#"{"topic":"realtime:room","event":"phx_close","payload":{},"ref":null}"#, .channelClosed),
        (#"{"topic":"realtime:room","event":"system","payload":{"status":"error","message":"x"},"ref":null}"#, .channelClosed),
        (#"{"topic":"realtime:room","event":"system","payload":{"status":"ok","message":"x"},"ref":null}"#, .other),
        (#"{"event":"broadcast","payload":{"payload":{"cellbase_bench_seq":7}},"topic":"realtime:room"}"#, .other),
        (#"{"event":"broadcast","payload":{"payload":{"cellbase_bench_seq":"7","cellbase_bench_sent_ns":9}}}"#, .other),
        (#"{"event":"broadcast","payload":{"payload":{"cellbase_bench_seq":1,"cellbase_bench_sent_ns":99999999999999999999}}}"#, .other),
    ])
    func framesFromTheNodeAreClassified(frame: String, inbound: PhoenixFrames.Inbound) {
        #expect(PhoenixFrames.classify(Array(frame.utf8)) == inbound)
    }

    @Test func framesTheBenchSendsAreTheProtocolsShape() {
        #expect(String(buffer: PhoenixFrames.join(topic: "room")) == #"{"topic":"realtime:room","event":"phx_join","payload":{"config":{"broadcast":{"ack":false,"self":false},"presence":{"enabled":false},"private":false,"postgres_changes":[]}},"ref":"join","join_ref":"join"}"#)
        #expect(String(buffer: PhoenixFrames.heartbeat(ref: 12)) == #"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb12","join_ref":null}"#)
        #expect(String(buffer: PhoenixFrames.broadcast(topic: "room", stamp: BroadcastStamp(sequence: 3, sentNanoseconds: 44))) == #"{"topic":"realtime:room","event":"broadcast","payload":{"type":"broadcast","event":"bench","payload":{"cellbase_bench_seq":3,"cellbase_bench_sent_ns":44}},"ref":null,"join_ref":"join"}"#)
    }
}
