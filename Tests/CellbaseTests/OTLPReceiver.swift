import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

/// An OpenTelemetry collector in miniature: `POST /v1/traces` in OTLP/HTTP protobuf, on an
/// ephemeral loopback port, keeping what it receives for the test to read.
final class OTLPReceiver: Sendable {
    private let bodies = Mutex<[[UInt8]]>([])

    /// Every span received so far, in the order the requests came.
    func spans() throws -> [ExportedSpan] {
        try bodies.withLock { $0 }.flatMap(ExportedSpan.decodeExportRequest)
    }

    /// Runs `body` with the receiver listening; `body` gets its port.
    func run<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            guard request.headers[.contentType] == "application/x-protobuf" else { return Response(status: .unsupportedMediaType) }
            let body = try await request.body.collect(upTo: 16 << 20)
            self.bodies.withLock { $0.append(Array(buffer: body)) }
            // An empty ExportTraceServiceResponse: full success.
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init())
        }
        var logger = Logger(label: "otlp-receiver")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        return try await app.test(.live) { client in
            try await body(try #require(client.port))
        }
    }
}

/// A span as an OTLP collector receives it.
struct ExportedSpan: Equatable {
    enum Value: Equatable {
        case string(String)
        case int(Int64)
        case bool(Bool)
        case double(Double)
        /// Arrays, key-value lists and bytes, which Cellbase does not send.
        case other
    }

    /// `opentelemetry.proto.trace.v1.Span.SpanKind`.
    enum Kind: UInt64 {
        case unspecified, `internal`, server, client, producer, consumer
    }

    var traceID = ""
    var spanID = ""
    /// `nil` for a root span.
    var parentSpanID: String?
    var traceState = ""
    var name = ""
    var kind = Kind.unspecified
    var attributes: [String: Value] = [:]
    /// `opentelemetry.proto.trace.v1.Status.StatusCode`: 0 unset, 1 ok, 2 error.
    var statusCode: UInt64 = 0
    /// The attributes of the resource the span was exported with (`service.name`, ...).
    var resource: [String: Value] = [:]

    /// `ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }`.
    static func decodeExportRequest(_ bytes: [UInt8]) throws -> [ExportedSpan] {
        var spans: [ExportedSpan] = []
        try ProtobufReader(bytes).fields { field, value in
            guard field == 1 else { return }
            spans += try resourceSpans(value.bytes())
        }
        return spans
    }

    /// `ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }` with
    /// `Resource { repeated KeyValue attributes = 1; }` and `ScopeSpans { repeated Span spans = 2; }`.
    private static func resourceSpans(_ bytes: [UInt8]) throws -> [ExportedSpan] {
        var resource: [String: Value] = [:]
        var spans: [ExportedSpan] = []
        try ProtobufReader(bytes).fields { field, value in
            switch field {
            case 1:
                try ProtobufReader(value.bytes()).fields { field, value in
                    if field == 1 { try keyValue(value.bytes(), into: &resource) }
                }
            case 2:
                try ProtobufReader(value.bytes()).fields { field, value in
                    if field == 2 { spans.append(try span(value.bytes())) }
                }
            default: break
            }
        }
        return spans.map { span in
            var span = span
            span.resource = resource
            return span
        }
    }

    private static func span(_ bytes: [UInt8]) throws -> ExportedSpan {
        var span = ExportedSpan()
        try ProtobufReader(bytes).fields { field, value in
            switch field {
            case 1: span.traceID = try value.bytes().hex
            case 2: span.spanID = try value.bytes().hex
            case 3: span.traceState = try value.string()
            case 4:
                let parent = try value.bytes()
                span.parentSpanID = parent.isEmpty ? nil : parent.hex
            case 5: span.name = try value.string()
            case 6: span.kind = Kind(rawValue: try value.varint()) ?? .unspecified
            case 9: try keyValue(value.bytes(), into: &span.attributes)
            case 15:
                try ProtobufReader(value.bytes()).fields { field, value in
                    if field == 3 { span.statusCode = try value.varint() }
                }
            default: break
            }
        }
        return span
    }

    /// `KeyValue { string key = 1; AnyValue value = 2; }`, `AnyValue { oneof value { string
    /// string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ... } }`.
    private static func keyValue(_ bytes: [UInt8], into attributes: inout [String: Value]) throws {
        var key = ""
        var attribute = Value.other
        try ProtobufReader(bytes).fields { field, value in
            switch field {
            case 1: key = try value.string()
            case 2:
                try ProtobufReader(value.bytes()).fields { field, value in
                    switch field {
                    case 1: attribute = .string(try value.string())
                    case 2: attribute = .bool(try value.varint() != 0)
                    case 3: attribute = .int(Int64(bitPattern: try value.varint()))
                    case 4: attribute = .double(Double(bitPattern: try value.fixed64()))
                    default: attribute = .other
                    }
                }
            default: break
            }
        }
        attributes[key] = attribute
    }
}

/// Protocol Buffers' wire format, just enough to read OTLP: varints, 64- and 32-bit fixed values
/// and length-delimited fields. Unknown fields are skipped, as protobuf readers do.
struct ProtobufReader {
    struct Malformed: Error {}

    enum FieldValue {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes([UInt8])

        func varint() throws -> UInt64 {
            guard case .varint(let value) = self else { throw Malformed() }
            return value
        }

        func fixed64() throws -> UInt64 {
            guard case .fixed64(let value) = self else { throw Malformed() }
            return value
        }

        func bytes() throws -> [UInt8] {
            guard case .bytes(let value) = self else { throw Malformed() }
            return value
        }

        func string() throws -> String {
            guard let text = String(validating: try bytes(), as: UTF8.self) else { throw Malformed() }
            return text
        }
    }

    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Calls `body` with each field's number and value, in order.
    consuming func fields(_ body: (UInt64, FieldValue) throws -> Void) throws {
        while offset < bytes.count {
            let tag = try readVarint()
            let value: FieldValue
            switch tag & 7 {
            case 0: value = .varint(try readVarint())
            case 1: value = .fixed64(try readLittleEndian(8))
            case 2:
                let length = Int(try readVarint())
                guard length <= bytes.count - offset else { throw Malformed() }
                value = .bytes(Array(bytes[offset..<offset + length]))
                offset += length
            case 5: value = .fixed32(UInt32(try readLittleEndian(4)))
            default: throw Malformed()
            }
            try body(tag >> 3, value)
        }
    }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard offset < bytes.count else { throw Malformed() }
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return result }
        }
        throw Malformed()
    }

    private mutating func readLittleEndian(_ count: Int) throws -> UInt64 {
        guard count <= bytes.count - offset else { throw Malformed() }
        var result: UInt64 = 0
        for index in 0..<count { result |= UInt64(bytes[offset + index]) << UInt64(8 * index) }
        offset += count
        return result
    }
}

extension [UInt8] {
    var hex: String {
        map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }
}
