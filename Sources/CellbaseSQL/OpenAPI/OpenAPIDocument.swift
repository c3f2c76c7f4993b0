/// The Swagger 2.0 description of a project's Data API, in the shape PostgREST serves at the root
/// of `/rest/v1/`, so that tools reading Supabase's document read ours.
public enum OpenAPIDocument {
    public static func json(for schema: Schema, title: String, basePath: String = "/") -> String {
        document(for: schema, title: title, basePath: basePath).serialized
    }

    static func document(for schema: Schema, title: String, basePath: String) -> JSONValue {
        let mediaTypes: JSONValue = .array([
            "application/json", "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.object+json", "text/csv",
        ].map(JSONValue.string))
        var paths: [JSONMember] = [member("/", .object([
            member("get", .object([
                member("produces", .array([.string("application/openapi+json"), .string("application/json")])),
                member("responses", .object([member("200", .object([member("description", .string("OK"))]))])),
                member("summary", .string("OpenAPI description (this document)")),
                member("tags", .array([.string("Introspection")])),
            ])),
        ]))]
        var definitions: [JSONMember] = []
        var parameters = commonParameters
        for table in schema.tables {
            paths.append(member("/\(table.name)", path(for: table)))
            definitions.append(member(table.name, definition(for: table)))
            parameters.append(member("body.\(table.name)", .object([
                member("name", .string(table.name)),
                member("description", .string(table.name)),
                member("required", .bool(false)),
                member("in", .string("body")),
                member("schema", reference("definitions", table.name)),
            ])))
            for column in table.columns {
                parameters.append(member("rowFilter.\(table.name).\(column.name)", .object([
                    member("name", .string(column.name)),
                    member("required", .bool(false)),
                    member("format", .string(column.type.postgresName)),
                    member("in", .string("query")),
                    member("type", .string("string")),
                ])))
            }
        }
        return .object([
            member("swagger", .string("2.0")),
            member("info", .object([
                member("description", .string("A PostgREST-compatible Data API served by Cellbase")),
                member("title", .string(title)),
                member("version", .string("1.0")),
            ])),
            member("basePath", .string(basePath)),
            member("schemes", .array([.string("http"), .string("https")])),
            member("consumes", mediaTypes),
            member("produces", mediaTypes),
            member("paths", .object(paths)),
            member("definitions", .object(definitions)),
            member("parameters", .object(parameters)),
        ])
    }

    static func path(for table: Table) -> JSONValue {
        let filters = table.columns.map { reference("parameters", "rowFilter.\(table.name).\($0.name)") }
        let tags: JSONMember = member("tags", .array([.string(table.name)]))
        func responses(_ code: String, _ description: String, schema: JSONValue? = nil) -> JSONMember {
            var response = [member("description", .string(description))]
            if let schema { response.append(member("schema", schema)) }
            return member("responses", .object([member(code, .object(response))]))
        }
        let rows: JSONValue = .object([member("items", reference("definitions", table.name)), member("type", .string("array"))])
        return .object([
            member("get", .object([
                member("parameters", .array(filters + ["select", "order", "offset", "limit", "preferCount"].map { reference("parameters", $0) })),
                responses("200", "OK", schema: rows),
                tags,
            ])),
            member("post", .object([
                member("parameters", .array(["body.\(table.name)", "select", "columns", "on_conflict", "preferPost"].map { reference("parameters", $0) })),
                responses("201", "Created"),
                tags,
            ])),
            member("delete", .object([
                member("parameters", .array(filters + [reference("parameters", "preferReturn")])),
                responses("204", "No Content"),
                tags,
            ])),
            member("patch", .object([
                member("parameters", .array(filters + ["body.\(table.name)", "preferReturn"].map { reference("parameters", $0) })),
                responses("204", "No Content"),
                tags,
            ])),
        ])
    }

    static func definition(for table: Table) -> JSONValue {
        var properties: [JSONMember] = []
        for column in table.columns {
            var property: [JSONMember] = []
            var notes: [String] = []
            if table.primaryKey.contains(column.name) { notes.append("This is a Primary Key.<pk/>") }
            for key in table.foreignKeys {
                if let position = key.columns.firstIndex(of: column.name), position < key.referencedColumns.count {
                    let target = key.referencedColumns[position]
                    notes.append("This is a Foreign Key to `\(key.referencedTable).\(target)`.<fk table='\(key.referencedTable)' column='\(target)'/>")
                }
            }
            if !notes.isEmpty { property.append(member("description", .string("Note:\n" + notes.joined(separator: "\n")))) }
            if let value = defaultValue(column.defaultValue) { property.append(member("default", value)) }
            property.append(member("format", .string(column.type.postgresName)))
            if case .varchar(let length?) = column.type { property.append(member("maxLength", .number(String(length)))) }
            if case .array(let element) = column.type {
                property.append(member("items", jsonType(element).map { .object([member("type", .string($0))]) } ?? .object([])))
            }
            if let type = jsonType(column.type) { property.append(member("type", .string(type))) }
            properties.append(member(column.name, .object(property)))
        }
        var definition: [JSONMember] = []
        let required = table.columns.filter { !$0.isNullable && !$0.hasDefault }.map { JSONValue.string($0.name) }
        if !required.isEmpty { definition.append(member("required", .array(required))) }
        definition.append(member("properties", .object(properties)))
        definition.append(member("type", .string("object")))
        return .object(definition)
    }

    /// The JSON Schema type of a column; json and jsonb hold any value and have none.
    static func jsonType(_ type: ColumnType) -> String? {
        switch type {
        case .smallint, .integer, .bigint: "integer"
        case .real, .doublePrecision, .numeric: "number"
        case .boolean: "boolean"
        case .json, .jsonb: nil
        case .array: "array"
        case .text, .varchar, .date, .timestamp, .timestamptz, .uuid, .bytea: "string"
        }
    }

    static func defaultValue(_ value: DefaultValue?) -> JSONValue? {
        switch value {
        case nil, .null?: nil
        case .number(let number)?: .number(number)
        case .string(let text)?: .string(text)
        case .bool(let flag)?: .bool(flag)
        case .now?: .string("now()")
        case .currentDate?: .string("CURRENT_DATE")
        case .randomUUID?: .string("gen_random_uuid()")
        }
    }

    static let commonParameters: [JSONMember] = {
        func parameter(_ key: String, name: String, description: String, in location: String, extra: [JSONMember] = []) -> JSONMember {
            member(key, .object([
                member("name", .string(name)),
                member("description", .string(description)),
                member("required", .bool(false)),
            ] + extra + [
                member("in", .string(location)),
                member("type", .string("string")),
            ]))
        }
        func preference(_ values: [String]) -> [JSONMember] {
            [member("enum", .array(values.map(JSONValue.string)))]
        }
        let returns = ["return=representation", "return=minimal", "return=headers-only"]
        return [
            parameter("preferReturn", name: "Prefer", description: "Preference", in: "header", extra: preference(returns)),
            parameter("preferCount", name: "Prefer", description: "Preference", in: "header", extra: preference(["count=exact", "count=planned", "count=estimated"])),
            parameter("preferPost", name: "Prefer", description: "Preference", in: "header", extra: preference(returns + [
                "resolution=ignore-duplicates", "resolution=merge-duplicates", "missing=default",
            ])),
            parameter("select", name: "select", description: "Filtering Columns", in: "query"),
            parameter("columns", name: "columns", description: "Columns of the body to insert", in: "query"),
            parameter("on_conflict", name: "on_conflict", description: "On Conflict", in: "query"),
            parameter("order", name: "order", description: "Ordering", in: "query"),
            parameter("offset", name: "offset", description: "Limiting and Pagination", in: "query"),
            parameter("limit", name: "limit", description: "Limiting and Pagination", in: "query"),
        ]
    }()

    static func member(_ key: String, _ value: JSONValue) -> JSONMember {
        JSONMember(key: key, value: value)
    }

    static func reference(_ section: String, _ name: String) -> JSONValue {
        .object([member("$ref", .string("#/\(section)/\(escapePointer(name))"))])
    }

    /// JSON Pointer escaping (RFC 6901) for names used in `$ref`.
    static func escapePointer(_ name: String) -> String {
        var escaped = ""
        for character in name {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
