import Foundation
import CellbaseSQL
import PostgresNIO

/// Maps what a database refused into PostgREST's answer for the same refusal.
///
/// The planner rejects bad identifiers and values before any SQL runs; what reaches this point
/// is what only the database can know: constraint violations and lock or capacity trouble.
enum DatabaseErrors {
    static func restError(from error: any Error) -> RESTError? {
        if let moved = error as? ProjectMoved { return movingError(moved.ref) }
        if let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] {
            return restError(
                sqlState: state,
                message: error.serverInfo?[.message] ?? "database error",
                details: error.serverInfo?[.detail],
                hint: error.serverInfo?[.hint]
            )
        }
        if case .server(let message) = error as? PostgresError, let state = message.fields[.sqlState] {
            // Prepared statements report through PostgresNIO's older error type.
            return restError(sqlState: state, message: message.fields[.message] ?? "database error", details: message.fields[.detail], hint: message.fields[.hint])
        }
        if error is PSQLError || error is PostgresError {
            // No SQLSTATE: the connection itself failed (server down, restarting, unreachable).
            return RESTError(status: 503, code: "PGRST000", message: "Could not connect with the database of this project's shard", details: String(describing: error))
        }
        if let error = error as? SQLiteFailure {
            return restError(sqlite: error.message)
        }
        return nil
    }

    static func movingError(_ ref: String?) -> RESTError {
        RESTError(status: 503, code: "project_moving", message: "The project is moving to another shard; retry shortly", details: ref.map { "project \($0)" })
    }

    /// The SQLSTATE of an error PostgreSQL raised, through either of PostgresNIO's error types.
    static func sqlState(of error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if case .server(let message) = error as? PostgresError { return message.fields[.sqlState] }
        return nil
    }

    /// The database's own words for an error it raised; `nil` for errors that are not the database's.
    static func message(of error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.message] ?? "\(error)" }
        if case .server(let message) = error as? PostgresError { return message.fields[.message] ?? "\(error)" }
        if let error = error as? PostgresError { return "\(error)" }
        if let error = error as? SQLiteFailure { return error.message }
        return nil
    }

    /// PostgREST's status for a SQLSTATE (its `pgErrorStatus` table, reduced to what can occur here).
    static func restError(sqlState: String, message: String, details: String?, hint: String?) -> RESTError {
        let status: Int
        switch sqlState {
        case "23505", "23503": status = 409
        case "42501": status = 403
        case "40001", "40P01", "55P03": status = 409
        case _ where sqlState.hasPrefix("08") || sqlState.hasPrefix("53") || sqlState.hasPrefix("57"): status = 503
        case _ where sqlState.hasPrefix("22") || sqlState.hasPrefix("23") || sqlState.hasPrefix("42") || sqlState.hasPrefix("21") || sqlState == "428C9":
            status = 400
        default: status = 500
        }
        return RESTError(status: status, code: sqlState, message: message, details: details, hint: hint)
    }

    /// SQLite reports constraint failures as text; these are the forms it uses.
    static func restError(sqlite message: String) -> RESTError? {
        func after(_ prefix: String) -> String? {
            guard let range = message.range(of: prefix) else { return nil }
            return String(message[range.upperBound...])
        }
        if let target = after("UNIQUE constraint failed: ") ?? after("PRIMARY KEY constraint failed: ") {
            return RESTError(status: 409, code: "23505", message: "duplicate key value violates unique constraint", details: "Key (\(columns(target))) already exists.")
        }
        if message.contains("FOREIGN KEY constraint failed") {
            return RESTError(status: 409, code: "23503", message: "insert or update on table violates foreign key constraint", details: "A referenced row is missing, or a row still references this one.")
        }
        if let target = after("NOT NULL constraint failed: ") {
            let (table, column) = split(target)
            return RESTError(status: 400, code: "23502", message: "null value in column \"\(column)\" of relation \"\(table)\" violates not-null constraint")
        }
        if let constraint = after("CHECK constraint failed: ") {
            return RESTError(status: 400, code: "23514", message: "new row violates check constraint \"\(constraint)\"")
        }
        if message.contains("database is locked") || message.contains("database is busy") {
            return RESTError(status: 503, code: "55P03", message: "the project database is busy, try again")
        }
        return nil
    }

    private static func columns(_ target: String) -> String {
        target.split(separator: ",").map { split(String($0.trimmingPrefixSpaces())).column }.joined(separator: ", ")
    }

    private static func split(_ qualified: String) -> (table: String, column: String) {
        guard let dot = qualified.lastIndex(of: ".") else { return ("", qualified) }
        return (String(qualified[..<dot]), String(qualified[qualified.index(after: dot)...]))
    }
}

private extension Substring {
    func trimmingPrefixSpaces() -> Substring { drop { $0 == " " } }
}
