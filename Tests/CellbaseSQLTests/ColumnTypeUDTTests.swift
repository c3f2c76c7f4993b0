import CellbaseSQL
import Testing

@Suite struct ColumnTypeUDTTests {
    @Test func everyTypeIsFoundByItsUDTName() {
        let types: [ColumnType] = [
            .smallint, .integer, .bigint, .real, .doublePrecision, .numeric(precision: nil, scale: nil), .text, .varchar(length: nil),
            .boolean, .date, .timestamp, .timestamptz, .uuid, .json, .jsonb, .bytea,
        ]
        for type in types {
            #expect(ColumnType(udtName: type.udtName) == type)
            #expect(ColumnType(udtName: ColumnType.array(type).udtName) == .array(type))
        }
        // Lengths and precision are not in the name: the unconstrained type comes back.
        #expect(ColumnType(udtName: ColumnType.varchar(length: 5).udtName) == .varchar(length: nil))
        #expect(ColumnType(udtName: ColumnType.numeric(precision: 10, scale: 2).udtName) == .numeric(precision: nil, scale: nil))
        for unknown in ["", "_", "int16", "money", "__int4", "INT8"] {
            #expect(ColumnType(udtName: unknown) == nil, "\(unknown)")
        }
    }
}
