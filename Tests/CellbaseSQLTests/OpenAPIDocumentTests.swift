import Testing
@testable import CellbaseSQL

@Suite struct OpenAPIDocumentTests {
    static let schema = Schema(tables: [
        Table(
            name: "users",
            columns: [
                Column(name: "id", type: .uuid, isNullable: false, defaultValue: .randomUUID),
                Column(name: "name", type: .varchar(length: 40), isNullable: false),
            ],
            primaryKey: ["id"]
        ),
        Table(
            name: "todos",
            columns: [
                Column(name: "id", type: .bigint, isNullable: false, identity: .byDefault),
                Column(name: "owner", type: .uuid),
                Column(name: "done", type: .boolean, isNullable: false, defaultValue: .bool(false)),
                Column(name: "data", type: .jsonb),
                Column(name: "tags", type: .array(.text)),
                Column(name: "price", type: .numeric(precision: 10, scale: 2), defaultValue: .number("0")),
            ],
            primaryKey: ["id"],
            foreignKeys: [ForeignKey(columns: ["owner"], referencedTable: "users", referencedColumns: ["id"])]
        ),
    ])

    static func document() throws -> JSONValue {
        try JSONParser.parse(Array(OpenAPIDocument.json(for: schema, title: "proj").utf8), maxDepth: 64)
    }

    @Test func header() throws {
        let document = try Self.document()
        #expect(document["swagger"] == .string("2.0"))
        #expect(document["info"]?["title"] == .string("proj"))
        #expect(document["basePath"] == .string("/"))
        guard case .object(let paths)? = document["paths"] else { Issue.record("no paths"); return }
        #expect(paths.map(\.key) == ["/", "/users", "/todos"])
    }

    @Test func definitionsDescribeColumns() throws {
        let todos = try #require(try Self.document()["definitions"]?["todos"])
        #expect(todos["required"] == nil)
        #expect(todos["type"] == .string("object"))
        let properties = try #require(todos["properties"])
        #expect(properties["id"]?.serialized == #"{"description":"Note:\nThis is a Primary Key.<pk/>","format":"bigint","type":"integer"}"#)
        #expect(properties["owner"]?.serialized == #"{"description":"Note:\nThis is a Foreign Key to `users.id`.<fk table='users' column='id'/>","format":"uuid","type":"string"}"#)
        #expect(properties["done"]?.serialized == #"{"default":false,"format":"boolean","type":"boolean"}"#)
        #expect(properties["data"]?.serialized == #"{"format":"jsonb"}"#)
        #expect(properties["tags"]?.serialized == #"{"format":"text[]","items":{"type":"string"},"type":"array"}"#)
        #expect(properties["price"]?.serialized == #"{"default":0,"format":"numeric(10,2)","type":"number"}"#)

        let users = try #require(try Self.document()["definitions"]?["users"])
        #expect(users["required"] == .array([.string("name")]))
        #expect(users["properties"]?["name"]?.serialized == #"{"format":"character varying(40)","maxLength":40,"type":"string"}"#)
        #expect(users["properties"]?["id"]?.serialized == #"{"description":"Note:\nThis is a Primary Key.<pk/>","default":"gen_random_uuid()","format":"uuid","type":"string"}"#)
    }

    @Test func pathsListOperationsAndFilters() throws {
        let document = try Self.document()
        let todos = try #require(document["paths"]?["/todos"])
        guard case .object(let operations) = todos else { Issue.record("not an object"); return }
        #expect(operations.map(\.key) == ["get", "post", "delete", "patch"])
        #expect(todos["get"]?["parameters"]?.serialized == "[" + [
            "rowFilter.todos.id", "rowFilter.todos.owner", "rowFilter.todos.done", "rowFilter.todos.data", "rowFilter.todos.tags",
            "rowFilter.todos.price", "select", "order", "offset", "limit", "preferCount",
        ].map { ##"{"$ref":"#/parameters/\##($0)"}"## }.joined(separator: ",") + "]")
        #expect(todos["get"]?["responses"]?.serialized == ##"{"200":{"description":"OK","schema":{"items":{"$ref":"#/definitions/todos"},"type":"array"}}}"##)
        #expect(todos["post"]?["responses"]?.serialized == #"{"201":{"description":"Created"}}"#)
        #expect(todos["delete"]?["tags"] == .array([.string("todos")]))
        #expect(document["parameters"]?["rowFilter.todos.price"]?.serialized == #"{"name":"price","required":false,"format":"numeric(10,2)","in":"query","type":"string"}"#)
        #expect(document["parameters"]?["body.todos"]?.serialized == ##"{"name":"todos","description":"todos","required":false,"in":"body","schema":{"$ref":"#/definitions/todos"}}"##)
    }

    @Test func emptySchema() throws {
        let document = try JSONParser.parse(Array(OpenAPIDocument.json(for: Schema(), title: "x", basePath: "/rest/v1/").utf8), maxDepth: 64)
        #expect(document["definitions"] == .object([]))
        #expect(document["basePath"] == .string("/rest/v1/"))
    }

    @Test func pointerEscaping() {
        #expect(OpenAPIDocument.escapePointer("a/b~c") == "a~1b~0c")
    }
}
