/// A name as written in a migration, with where it was written.
struct MigrationName: Sendable, Hashable {
    var value: String
    var position: MigrationPosition
}

/// One statement of a migration file, parsed but not yet checked against the schema.
enum MigrationStatement: Sendable {
    case createTable(CreateTable)
    case alterTable(AlterTable)
    case createIndex(CreateIndex)
    case dropTables(DropTables)
    case dropIndexes(DropIndexes)
    case createPolicy(CreatePolicy)
    case dropPolicy(DropPolicy)
    case alterPublication(AlterPublication)
    /// A database webhook as Supabase writes one: a row trigger calling
    /// `supabase_functions.http_request`.
    case createTrigger(CreateTrigger)
    case dropTrigger(DropTrigger)

    struct CreateTrigger: Sendable {
        var name: MigrationName
        var table: MigrationName
        /// `INSERT`, `UPDATE`, `DELETE`, in the order written.
        var events: [String]
        /// The string arguments of `http_request`: url, method, headers, params, timeout.
        var arguments: [MigrationName]
        var position: MigrationPosition
    }

    struct DropTrigger: Sendable {
        var name: MigrationName
        var table: MigrationName
        var ifExists: Bool
    }

    struct CreateTable: Sendable {
        var name: MigrationName
        var ifNotExists: Bool
        var columns: [MigrationColumnDefinition]
        var constraints: [MigrationTableConstraint]
    }

    struct AlterTable: Sendable {
        var name: MigrationName
        var ifExists: Bool
        var actions: [AlterAction]
    }

    enum AlterAction: Sendable {
        case addColumn(MigrationColumnDefinition, ifNotExists: Bool)
        case dropColumn(MigrationName, ifExists: Bool)
        case renameColumn(MigrationName, to: MigrationName)
        case renameTable(to: MigrationName)
        case rowLevelSecurity(RowLevelSecurityChange)
        /// `REPLICA IDENTITY FULL` (`true`) or `DEFAULT` (`false`).
        case replicaIdentityFull(Bool)
    }

    /// `ALTER PUBLICATION supabase_realtime ADD | DROP | SET TABLE ...`: which tables' row changes
    /// reach the project's change log.
    struct AlterPublication: Sendable {
        enum Action: Sendable { case add, drop, set }
        var action: Action
        var tables: [MigrationName]
        var position: MigrationPosition
    }

    enum RowLevelSecurityChange: Sendable {
        case enable, disable, force, noForce
    }

    struct CreateIndex: Sendable {
        var name: MigrationName?
        var isUnique: Bool
        var ifNotExists: Bool
        var table: MigrationName
        var columns: [IndexColumn]
    }

    struct IndexColumn: Sendable {
        var name: MigrationName
        var descending: Bool
    }

    struct DropTables: Sendable {
        var names: [MigrationName]
        var ifExists: Bool
        var cascade: Bool
    }

    struct DropIndexes: Sendable {
        var names: [MigrationName]
        var ifExists: Bool
    }

    struct CreatePolicy: Sendable {
        var name: MigrationName
        var table: MigrationName
        var isPermissive: Bool
        var command: Policy.Command
        var commandPosition: MigrationPosition?
        var roles: [MigrationName]
        var using: MigrationExpression?
        var withCheck: MigrationExpression?
    }

    struct DropPolicy: Sendable {
        var name: MigrationName
        var table: MigrationName
        var ifExists: Bool
    }
}

struct MigrationColumnDefinition: Sendable {
    var name: MigrationName
    var type: ColumnType
    var typePosition: MigrationPosition
    /// Set by `serial`, `bigserial` and `smallserial`.
    var serial: Bool
    var constraints: [MigrationColumnConstraint]
}

struct MigrationColumnConstraint: Sendable {
    enum Kind: Sendable {
        case primaryKey
        case notNull
        case null
        case unique
        case defaultValue(MigrationDefault)
        case references(MigrationReference)
        case check(MigrationExpression)
        case identity(Identity)
    }

    var name: MigrationName?
    var kind: Kind
    var position: MigrationPosition
}

struct MigrationTableConstraint: Sendable {
    enum Kind: Sendable {
        case primaryKey([MigrationName])
        case unique([MigrationName])
        case foreignKey([MigrationName], MigrationReference)
        case check(MigrationExpression)
    }

    var name: MigrationName?
    var kind: Kind
    var position: MigrationPosition
}

struct MigrationReference: Sendable {
    var table: MigrationName
    /// `nil` when written `REFERENCES t`, meaning t's primary key.
    var columns: [MigrationName]?
    var onDelete: ReferentialAction
}

/// A column default as written: a literal or one of the supported functions, maybe with a cast.
struct MigrationDefault: Sendable {
    var value: DefaultValue
    var cast: ColumnType?
    var position: MigrationPosition
}
