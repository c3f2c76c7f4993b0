/// SQL text with slots filled when a statement is built: the claims of whoever asks (always
/// bound, never spliced) and the columns of the row an expression is evaluated on, which go by a
/// different name in a WHERE clause, a RETURNING list, a CTE or an upsert's `excluded` row.
///
/// A policy compiles to a template once per table, role and command; filling it only concatenates.
struct SQLTemplate: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case text(String)
        case claim(PolicyClaim)
        /// A column of the row under test.
        case column(String)
    }

    private(set) var pieces: [Piece] = []

    init(_ text: String = "") {
        if !text.isEmpty { pieces = [.text(text)] }
    }

    mutating func append(_ text: String) {
        guard !text.isEmpty else { return }
        if case .text(let last)? = pieces.last {
            pieces[pieces.count - 1] = .text(last + text)
        } else {
            pieces.append(.text(text))
        }
    }

    mutating func append(_ piece: Piece) {
        if case .text(let text) = piece { return append(text) }
        pieces.append(piece)
    }

    mutating func append(_ other: SQLTemplate) {
        for piece in other.pieces { append(piece) }
    }

    /// The parts joined by `separator` (`" AND "`, `" OR "`), each parenthesised when there are
    /// several; `nil` when there are none.
    static func joined(_ parts: [SQLTemplate?], separator: String) -> SQLTemplate? {
        let parts = parts.compactMap { $0 }
        guard parts.count > 1 else { return parts.first }
        var combined = SQLTemplate()
        for (index, part) in parts.enumerated() {
            combined.append(index == 0 ? "(" : ")" + separator + "(")
            combined.append(part)
        }
        combined.append(")")
        return combined
    }

    static func and(_ first: SQLTemplate, _ others: SQLTemplate?...) -> SQLTemplate {
        joined([first] + others, separator: " AND ") ?? first
    }

    /// The same template with the row's columns named, claims still open: how a policy of a table
    /// read inside another policy's EXISTS is spliced in.
    func naming(columns name: (String) -> String) -> SQLTemplate {
        var named = SQLTemplate()
        for piece in pieces {
            if case .column(let column) = piece {
                named.append(name(column))
            } else {
                named.append(piece)
            }
        }
        return named
    }

    /// The text with every slot filled.
    func sql(column: (String) -> String, claim: (PolicyClaim) -> String) -> String {
        var sql = ""
        for piece in pieces {
            switch piece {
            case .text(let text): sql += text
            case .claim(let value): sql += claim(value)
            case .column(let name): sql += column(name)
            }
        }
        return sql
    }
}
