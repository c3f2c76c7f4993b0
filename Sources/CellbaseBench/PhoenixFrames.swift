import NIOCore

/// The Phoenix channel messages `realtime-fanout` sends, written as bytes, and the few facts it
/// reads from what the node sends back.
///
/// Every frame the bench sends has a fixed shape, so it is assembled from literal pieces; frames
/// it receives are searched for the handful of members it needs rather than parsed as JSON, so a
/// subscriber costs no allocation per delivery beyond the frame itself.
public enum PhoenixFrames {
    /// The `join_ref` and `ref` of every join. No other ref the bench sends looks like it.
    static let joinRef = "join"

    /// `phx_join` of `topic` with broadcast `self` off, so a publisher does not receive its own
    /// messages, and no presence or postgres_changes.
    public static func join(topic: String) -> ByteBuffer {
        ByteBuffer(string: #"{"topic":"realtime:\#(topic)","event":"phx_join","payload":{"config":{"broadcast":{"ack":false,"self":false},"presence":{"enabled":false},"private":false,"postgres_changes":[]}},"ref":"\#(joinRef)","join_ref":"\#(joinRef)"}"#)
    }

    /// A heartbeat on topic `phoenix`, as the clients send every 25 s.
    public static func heartbeat(ref: Int) -> ByteBuffer {
        ByteBuffer(string: #"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb\#(ref)","join_ref":null}"#)
    }

    /// A broadcast to the joined `topic` carrying its sequence number and when it was due.
    public static func broadcast(topic: String, stamp: BroadcastStamp) -> ByteBuffer {
        ByteBuffer(string: #"{"topic":"realtime:\#(topic)","event":"broadcast","payload":{"type":"broadcast","event":"bench","payload":{"\#(BroadcastStamp.sequenceKey)":\#(stamp.sequence),"\#(BroadcastStamp.sentKey)":\#(stamp.sentNanoseconds)}},"ref":null,"join_ref":"\#(joinRef)"}"#)
    }

    /// What a frame from the node means to the bench.
    public enum Inbound: Equatable, Sendable {
        /// A broadcast sent by the bench's publisher.
        case delivery(BroadcastStamp)
        /// The answer to the join: `ok` or refused.
        case joinReply(ok: Bool)
        /// The node closed the channel (`phx_close`, or `system` with an error status).
        case channelClosed
        /// Heartbeat replies and anything else.
        case other
    }

    public static func classify<Bytes: Collection<UInt8>>(_ frame: Bytes) -> Inbound {
        if let stamp = BroadcastStamp(searching: frame) { return .delivery(stamp) }
        if frame.contains(Self.phxReply) && frame.contains(Self.joinReplyRef) {
            return .joinReply(ok: frame.contains(Self.statusOK))
        }
        if frame.contains(Self.phxClose) || (frame.contains(Self.system) && frame.contains(Self.statusError)) {
            return .channelClosed
        }
        return .other
    }

    private static let phxReply = Array(#""event":"phx_reply""#.utf8)
    private static let phxClose = Array(#""event":"phx_close""#.utf8)
    private static let system = Array(#""event":"system""#.utf8)
    private static let joinReplyRef = Array(#""ref":"\#(joinRef)""#.utf8)
    private static let statusOK = Array(#""status":"ok""#.utf8)
    private static let statusError = Array(#""status":"error""#.utf8)
}

/// What each broadcast of the publisher carries: its sequence number and the moment it was due,
/// in nanoseconds of this machine's monotonic clock (`NIODeadline.uptimeNanoseconds`), which the
/// subscribers, on the same machine, read again on arrival.
public struct BroadcastStamp: Equatable, Sendable {
    static let sequenceKey = "cellbase_bench_seq"
    static let sentKey = "cellbase_bench_sent_ns"

    public var sequence: UInt64
    public var sentNanoseconds: UInt64

    public init(sequence: UInt64, sentNanoseconds: UInt64) {
        self.sequence = sequence
        self.sentNanoseconds = sentNanoseconds
    }

    /// Finds both members in a frame, in either order; `nil` unless both are there with an
    /// unsigned integer value.
    init?<Bytes: Collection<UInt8>>(searching frame: Bytes) {
        guard let sequence = Self.integer(after: Self.sequenceMarker, in: frame),
              let sent = Self.integer(after: Self.sentMarker, in: frame)
        else { return nil }
        self.init(sequence: sequence, sentNanoseconds: sent)
    }

    private static let sequenceMarker = Array(#""\#(sequenceKey)":"#.utf8)
    private static let sentMarker = Array(#""\#(sentKey)":"#.utf8)

    private static func integer<Bytes: Collection<UInt8>>(after marker: [UInt8], in frame: Bytes) -> UInt64? {
        guard let range = frame.firstRange(of: marker) else { return nil }
        var value: UInt64 = 0
        var digits = 0
        for byte in frame[range.upperBound...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { break }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            let (sum, carry) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !carry else { return nil }
            value = sum
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}
