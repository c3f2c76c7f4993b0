import ArgumentParser
import NIOCore

/// What one connection sends: the bytes of its next request, and what it learns from each answer.
///
/// Requests are encoded before the run wherever they can be, so sending one is handing a buffer
/// that already exists to the socket.
public protocol RequestSource: Sendable {
    /// Whether `answered` needs response bodies; when not, bodies are skipped unread.
    var readsBodies: Bool { get }
    mutating func next() -> ByteBuffer
    mutating func answered(status: Int, body: ByteBuffer?)
}

/// An HTTP/1.1 request, encoded once.
public enum EncodedRequest {
    public static func encode(method: String, path: String, host: String, headers: [(String, String)], body: [UInt8]? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n")
        for (name, value) in headers {
            buffer.writeString("\(name): \(value)\r\n")
        }
        if let body {
            buffer.writeString("Content-Length: \(body.count)\r\n\r\n")
            buffer.writeBytes(body)
        } else {
            buffer.writeString("\r\n")
        }
        return buffer
    }
}

/// The same few requests over and over, in turn.
public struct RequestRotation: RequestSource {
    private let requests: [ByteBuffer]
    private var index: Int

    /// - Parameter start: where in the rotation to begin, so connections do not move in step.
    public init(_ requests: [ByteBuffer], start: Int = 0) {
        precondition(!requests.isEmpty, "a rotation needs a request")
        self.requests = requests
        self.index = start % requests.count
    }

    public var readsBodies: Bool { false }

    public mutating func next() -> ByteBuffer {
        defer { index = index + 1 == requests.count ? 0 : index + 1 }
        return requests[index]
    }

    public mutating func answered(status: Int, body: ByteBuffer?) {}
}

/// Reads and writes interleaved at a fixed ratio: request `n` is a read when `floor((n+1)·r)`
/// passes an integer, so every prefix of the sequence holds as close to `r` reads as it can.
public struct RequestMix: RequestSource {
    private var reads: RequestRotation
    private var writes: RequestRotation
    private let readRatio: Double
    private var sent = 0

    public init(reads: RequestRotation, writes: RequestRotation, readRatio: Double) {
        precondition((0...1).contains(readRatio), "a ratio is between 0 and 1")
        self.reads = reads
        self.writes = writes
        self.readRatio = readRatio
    }

    public var readsBodies: Bool { false }

    /// Whether request number `index` (from 0) of the sequence is a read.
    public static func isRead(_ index: Int, ratio: Double) -> Bool {
        (Double(index + 1) * ratio).rounded(.down) > (Double(index) * ratio).rounded(.down)
    }

    public mutating func next() -> ByteBuffer {
        defer { sent += 1 }
        return Self.isRead(sent, ratio: readRatio) ? reads.next() : writes.next()
    }

    public mutating func answered(status: Int, body: ByteBuffer?) {}
}

/// Auth's refresh grant as clients use it: each answer carries the next refresh token, and the
/// one just used is spent (using it again would revoke the session), so each request is built
/// from the previous answer.
public struct RefreshChain: RequestSource {
    private let host: String
    private let apiKey: String
    private var token: String

    public init(host: String, apiKey: String, refreshToken: String) {
        self.host = host
        self.apiKey = apiKey
        self.token = refreshToken
    }

    public var readsBodies: Bool { true }

    public mutating func next() -> ByteBuffer {
        EncodedRequest.encode(
            method: "POST", path: "/auth/v1/token?grant_type=refresh_token", host: host,
            headers: [("apikey", apiKey), ("Content-Type", "application/json")],
            body: Array(#"{"refresh_token":"\#(token)"}"#.utf8)
        )
    }

    /// A failed grant leaves the token as it was: the next request repeats it and fails the same
    /// way, so a broken chain shows in the errors instead of stopping the connection.
    public mutating func answered(status: Int, body: ByteBuffer?) {
        guard (200..<300).contains(status), let body, let next = Self.refreshToken(in: body) else { return }
        token = next
    }

    /// The `refresh_token` string of a session object. Tokens are base64url, so they need no
    /// unescaping; anything else is not taken for one.
    public static func refreshToken(in body: ByteBuffer) -> String? {
        let key = Array(#""refresh_token":""#.utf8)
        let bytes = body.readableBytesView
        guard let keyStart = bytes.firstRange(of: key) else { return nil }
        let valueStart = keyStart.upperBound
        guard let valueEnd = bytes[valueStart...].firstIndex(of: UInt8(ascii: "\"")), valueEnd > valueStart else { return nil }
        let value = bytes[valueStart..<valueEnd]
        let isBase64URL = value.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"): true
            default: false
            }
        }
        return isBase64URL ? String(decoding: value, as: UTF8.self) : nil
    }
}

/// The body format of http-ingest's batches.
public enum IngestFormat: String, Sendable, CaseIterable, ExpressibleByArgument {
    /// A JSON array of `{"device","ts","temp","rpm"}` records.
    case json
    /// Influx line protocol, `bench,device=… temp=…,rpm=…i <ms>` with `precision=ms`.
    case line
}

/// http-ingest's batches: every request carries `pointsPerRequest` points of one device (two a
/// record, `temp` and `rpm`), its records one millisecond apart and later than the previous
/// request's, so no point repeats another and idempotent storage cannot skip any.
public struct IngestBatches: RequestSource {
    private let host: String
    private let key: String
    private let device: String
    private let records: Int
    private let format: IngestFormat
    private var nextTimestamp: Int64

    /// - Parameter startMillis: the first record's time, in milliseconds since the Unix epoch.
    public init(host: String, key: String, device: String, pointsPerRequest: Int, format: IngestFormat, startMillis: Int64) {
        precondition(pointsPerRequest >= 2 && pointsPerRequest % 2 == 0, "records carry two points")
        self.host = host
        self.key = key
        self.device = device
        self.records = pointsPerRequest / 2
        self.format = format
        self.nextTimestamp = startMillis
    }

    public var readsBodies: Bool { false }

    public mutating func next() -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(records * 64)
        switch format {
        case .json:
            body.writeStaticString("[")
            for index in 0..<records {
                if index > 0 { body.writeStaticString(",") }
                body.writeString(#"{"device":"\#(device)","ts":\#(nextTimestamp),"temp":\#(20 + index % 10).5,"rpm":\#(1000 + index % 500)}"#)
                nextTimestamp += 1
            }
            body.writeStaticString("]")
        case .line:
            for index in 0..<records {
                body.writeString("bench,device=\(device) temp=\(20 + index % 10).5,rpm=\(1000 + index % 500)i \(nextTimestamp)\n")
                nextTimestamp += 1
            }
        }
        return EncodedRequest.encode(
            method: "POST", path: format == .json ? "/telemetry/v1/ingest" : "/telemetry/v1/ingest?precision=ms", host: host,
            headers: [
                ("apikey", key), ("Authorization", "Bearer \(key)"),
                ("Content-Type", format == .json ? "application/json" : "text/plain; charset=utf-8"),
            ],
            body: Array(body.readableBytesView)
        )
    }

    public mutating func answered(status: Int, body: ByteBuffer?) {}
}
