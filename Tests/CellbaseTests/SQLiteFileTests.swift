import CellbaseSQL
import Foundation
import NIOPosix
import Testing

@testable import Cellbase

@Suite("SQLite file")
struct SQLiteFileTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cellbase-file-\(UUID().uuidString).db").path
    }

    /// Concurrent writes are committed in groups; a write that fails (here a duplicate key) fails
    /// alone, and every write answered as done is in the database.
    @Test func groupedWritesFailAlone() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try await SQLiteFile.open(path: path, synchronous: "normal", threadPool: .singleton)
        try await file.write { try $0.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)") }

        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<300 {
                // Every tenth write repeats the id of the write before it.
                let id = index % 10 == 9 ? index - 1 : index
                group.addTask {
                    do {
                        try await file.write { try $0.query("INSERT INTO t (id) VALUES (?1)", [.integer(Int64(id))]) }
                        return (id, true)
                    } catch {
                        return (id, false)
                    }
                }
            }
            var outcomes: [(Int, Bool)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let succeeded = Set(outcomes.filter(\.1).map(\.0))
        #expect(outcomes.filter(\.1).count == 270)
        #expect(outcomes.filter { !$0.1 }.count == 30)

        let stored = try await file.read { handle in
            var ids: [Int] = []
            try handle.query("SELECT id FROM t ORDER BY id", []) { ids.append($0.integer(0) ?? -1) }
            return ids
        }
        #expect(Set(stored) == succeeded)
        #expect(stored.count == 270)
        await file.close()
    }

    @Test func aThrowingWriteLeavesNothingBehind() async throws {
        struct Refused: Error {}
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try await SQLiteFile.open(path: path, synchronous: "normal", threadPool: .singleton)
        try await file.write { try $0.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)") }
        await #expect(throws: Refused.self) {
            try await file.write { handle in
                try handle.query("INSERT INTO t (id) VALUES (1)", [])
                throw Refused()
            }
        }
        let count = try await file.read { handle in
            var count = -1
            try handle.query("SELECT count(*) FROM t", []) { count = $0.integer(0) ?? -1 }
            return count
        }
        #expect(count == 0)
        await file.close()
    }
}
