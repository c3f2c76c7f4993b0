import CellbaseSQL
import FoundationEssentials
import Logging
import NIOPosix
import Synchronization
import Tracing

/// The embedded shard: each project is one SQLite file under `<data>/projects/`.
///
/// A bounded set of project databases stays open; the least recently used idle one is closed when
/// the bound is reached, so ten thousand projects do not mean ten thousand open files.
final class SQLiteShard: Shard {
    let name = "local"
    let dialect = SQLDialect.sqlite
    private let directory: String
    private let capacity: Int
    private let synchronous: String
    let threadPool: NIOThreadPool
    /// `nil` when the node does not trace.
    private let spans: DatabaseSpans?
    private let logger: Logger
    /// Told after every write through the Data API, so change readers wake at once.
    let commitObservers = CommitObservers()

    private struct Entry {
        var file: Task<SQLiteFile, any Error>
        var leases = 0
        var lastUsed: UInt64 = 0
    }

    private struct State {
        var open: [String: Entry] = [:]
        var clock: UInt64 = 0
        /// Projects this shard handed over to another in a move: their files are not opened
        /// (nor created) again by this process.
        var retired: Set<String> = []
    }

    private let state = Mutex(State())

    init(directory: String, capacity: Int, synchronous: String, threadPool: NIOThreadPool, tracer: (any Tracer)? = nil, logger: Logger) throws {
        self.directory = directory
        self.capacity = max(1, capacity)
        self.synchronous = synchronous
        self.threadPool = threadPool
        self.logger = logger
        self.spans = tracer.map { DatabaseSpans(tracer: $0, system: .sqlite, shard: "local") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var openDatabaseCount: Int { state.withLock { $0.open.count } }

    func namespace(for ref: String) -> SQLNamespace { .sqlite }

    func path(for ref: String) -> String {
        precondition(Project.isValidRef(ref), "project refs are validated before they reach a shard")
        return directory + "/" + ref + ".db"
    }

    /// Leases the project's open database (opening it if needed) for the duration of `body`.
    func withFile<T: Sendable>(_ ref: String, _ body: (SQLiteFile) async throws -> T) async throws -> T {
        let path = path(for: ref)
        let (task, evicted) = try state.withLock { state throws(ProjectMoved) -> (Task<SQLiteFile, any Error>, [Task<SQLiteFile, any Error>]) in
            if state.retired.contains(ref) { throw ProjectMoved(ref: ref) }
            state.clock &+= 1
            if var entry = state.open[ref] {
                entry.leases += 1
                entry.lastUsed = state.clock
                state.open[ref] = entry
                return (entry.file, [])
            }
            let (threadPool, synchronous, spans) = (self.threadPool, self.synchronous, self.spans)
            let task = Task {
                try await SQLiteFile.open(path: path, synchronous: synchronous, threadPool: threadPool, spans: spans)
            }
            state.open[ref] = Entry(file: task, leases: 1, lastUsed: state.clock)
            var evicted: [Task<SQLiteFile, any Error>] = []
            while state.open.count > capacity,
                  let victim = state.open.filter({ $0.value.leases == 0 }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
                evicted.append(victim.value.file)
                state.open[victim.key] = nil
            }
            return (task, evicted)
        }
        for file in evicted {
            if let file = try? await file.value { await file.close() }
        }
        defer {
            state.withLock { state in
                if var entry = state.open[ref] {
                    entry.leases -= 1
                    state.open[ref] = entry
                }
            }
        }
        let file: SQLiteFile
        do {
            file = try await task.value
        } catch {
            state.withLock { state in
                if state.open[ref]?.leases == 1 { state.open[ref] = nil }
            }
            throw error
        }
        return try await body(file)
    }

    /// Marks the project as handed over (`true`) or back (`false`); answers its open file, if any.
    func setRetired(_ retired: Bool, ref: String) {
        state.withLock { state in
            if retired { state.retired.insert(ref) } else { state.retired.remove(ref) }
        }
    }

    /// Closes the project's file once nobody holds it, and forgets it.
    func closeFile(ref: String) async {
        while true {
            let (file, busy) = state.withLock { state -> (Task<SQLiteFile, any Error>?, Bool) in
                guard let entry = state.open[ref] else { return (nil, false) }
                if entry.leases > 0 { return (nil, true) }
                state.open[ref] = nil
                return (entry.file, false)
            }
            if busy {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            if let file, let opened = try? await file.value { await opened.close() }
            return
        }
    }

    func createProject(ref: String) async throws {
        try await withFile(ref) { file in
            try await file.write { handle in
                try handle.execute("""
                    CREATE TABLE IF NOT EXISTS "\(Bookkeeping.migrationsTable)" (
                        position INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        sql TEXT NOT NULL,
                        applied_at TEXT NOT NULL
                    )
                    """)
            }
        }
    }

    func appliedMigrations(ref: String) async throws -> [AppliedMigration] {
        try await withFile(ref) { file in
            try await file.read(Self.readMigrations)
        }
    }

    func applyMigration(ref: String, name: String, sql: String, plan: @escaping @Sendable ([AppliedMigration]) throws -> MigrationPlan) async throws -> MigrationOutcome {
        try await withFile(ref) { file in
            let appliedAt = Timestamp.now()
            return try await file.write { handle in
                let applied = try Self.readMigrations(handle)
                if let existing = applied.first(where: { $0.name == name }) {
                    guard existing.sql == sql else { throw ShardError.migrationConflict(name: name) }
                    return .alreadyApplied
                }
                let migrationPlan = try plan(applied)
                for statement in migrationPlan.statements {
                    try handle.execute(statement)
                }
                try handle.query(
                    "INSERT INTO \"\(Bookkeeping.migrationsTable)\" (name, sql, applied_at) VALUES (?1, ?2, ?3)",
                    [.text(name), .text(sql), .text(appliedAt)]
                )
                return .applied(migrationPlan)
            }
        }
    }

    func execute(ref: String, plan: RESTPlan) async throws -> RESTResponse {
        try await withFile(ref) { file in
            if plan.isWrite {
                let response = try await file.write { handle in try plan.respond(try Self.run(plan, on: handle)) }
                commitObservers.committed(ref)
                return response
            }
            return try plan.respond(try await file.read { handle in try Self.run(plan, on: handle) })
        }
    }

    private static func run(_ plan: RESTPlan, on handle: SQLiteHandle) throws -> RESTResult {
        switch plan.form {
        case .aggregated:
            var result = RESTResult(json: "[]", rowCount: 0, total: nil)
            for statement in plan.statements {
                try handle.query(statement.sql, statement.binds) { row in
                    result = RESTResult(
                        json: row.text(0) ?? "[]",
                        rowCount: row.columnCount > 1 ? row.integer(1) ?? 0 : 0,
                        total: row.columnCount > 2 ? row.integer(2) : nil,
                        policyViolations: result.policyViolations + (row.columnCount > 3 ? row.integer(3) ?? 0 : 0)
                    )
                }
            }
            return result
        case .objectPerRow:
            var json = "["
            var count = 0
            var violations = 0
            for statement in plan.statements {
                try handle.query(statement.sql, statement.binds) { row in
                    if count > 0 { json.append(",") }
                    json.append(row.text(0) ?? "null")
                    if row.columnCount > 1, row.integer(1) == 0 { violations += 1 }
                    count += 1
                }
            }
            json.append("]")
            return RESTResult(json: json, rowCount: count, total: nil, policyViolations: violations)
        case .changes:
            var count = 0
            for statement in plan.statements {
                try handle.query(statement.sql, statement.binds)
                count += handle.changes
            }
            return RESTResult(json: nil, rowCount: count, total: nil)
        }
    }

    func checkReady() async throws {
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw ShardNotReady(reason: "project directory \(directory) is not writable")
        }
    }

    func shutdown() async {
        let files = state.withLock { state -> [Task<SQLiteFile, any Error>] in
            defer { state.open.removeAll() }
            return state.open.values.map(\.file)
        }
        for file in files {
            if let file = try? await file.value { await file.close() }
        }
    }

    private static func readMigrations(_ handle: SQLiteHandle) throws -> [AppliedMigration] {
        var migrations: [AppliedMigration] = []
        try handle.query("SELECT name, sql, applied_at FROM \"\(Bookkeeping.migrationsTable)\" ORDER BY position", []) { row in
            migrations.append(AppliedMigration(name: row.text(0) ?? "", sql: row.text(1) ?? "", appliedAt: row.text(2) ?? ""))
        }
        return migrations
    }
}

struct ShardNotReady: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
