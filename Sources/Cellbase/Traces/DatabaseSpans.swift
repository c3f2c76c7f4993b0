import Tracing

/// The spans of one shard's database work: one per use of a pooled PostgreSQL connection and one
/// per SQLite read or write transaction, each a child of the request's span.
///
/// A span is named by what the work does and where (`read pg1`, `write local`), never by its SQL:
/// the text of a migration holds literal values, and a name per statement shape would make
/// traces hard to group.
struct DatabaseSpans: Sendable {
    /// `db.system.name` as OpenTelemetry's semantic conventions spell it.
    enum System: String, Sendable {
        case postgresql
        case sqlite
    }

    /// `db.operation.name`: a use that only reads, or a write transaction (migrations included).
    enum Operation: String, Sendable {
        case read
        case write
    }

    let tracer: any Tracer
    let system: System
    let shard: String

    /// Runs `body` in a child span of the current one. Work that runs outside a request's span —
    /// the change feed's reads, start-up — gets none, rather than a trace of its own per poll.
    func withSpan<T>(_ operation: Operation, _ body: () async throws -> T) async throws -> T {
        guard ServiceContext.current != nil else { return try await body() }
        return try await tracer.withAnySpan(operation.rawValue + " " + shard, ofKind: .client) { span in
            if span.isRecording {
                span.updateAttributes { attributes in
                    attributes["db.system.name"] = system.rawValue
                    attributes["db.operation.name"] = operation.rawValue
                    attributes["cellbase.shard"] = shard
                }
            }
            return try await body()
        }
    }
}

extension DatabaseSpans? {
    /// `body` in a span when the shard traces, as it is when it does not.
    func withSpan<T>(_ operation: DatabaseSpans.Operation, _ body: () async throws -> T) async throws -> T {
        guard let self else { return try await body() }
        return try await self.withSpan(operation, body)
    }
}
