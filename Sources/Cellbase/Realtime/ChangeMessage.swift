import CellbaseSQL

/// The `data` of a `postgres_changes` message, built once per change and shared by every
/// subscriber it reaches:
/// `{"schema","table","commit_timestamp","type","errors":null,"columns":[{"name","type"}],"record","old_record"}`.
///
/// `errors` is always present (the client requires the key); `old_record` is left out rather
/// than null (the client refuses null), and `record` is left out of deletes.
enum ChangeMessage {
    static func data(of change: RowChange, in table: Table) -> JSONValue {
        var members = [
            JSONMember(key: "schema", value: .string(PostgresChangesBinding.schema)),
            JSONMember(key: "table", value: .string(change.table)),
            JSONMember(key: "commit_timestamp", value: .string(change.committedAt)),
            JSONMember(key: "type", value: .string(change.operation.rawValue)),
            JSONMember(key: "errors", value: .null),
            JSONMember(key: "columns", value: .array(table.columns.map { column in
                .object([JSONMember(key: "name", value: .string(column.name)), JSONMember(key: "type", value: .string(column.type.udtName))])
            })),
        ]
        if change.operation != .delete {
            members.append(JSONMember(key: "record", value: change.record ?? .object([])))
        }
        if change.operation != .insert, let old = change.oldRecord, case .object = old {
            members.append(JSONMember(key: "old_record", value: old))
        }
        return .object(members)
    }

    /// The whole message for one channel, around `data` already serialised once for all channels.
    static func frame(topic: String, ids: [Int], data: String) -> String {
        var text = #"{"event":"postgres_changes","topic":"#
        JSONValue.appendQuoted(topic, to: &text)
        text += #","payload":{"ids":["#
        text += ids.map(String.init).joined(separator: ",")
        text += #"],"data":"#
        text += data
        text += #"},"ref":null}"#
        return text
    }
}
