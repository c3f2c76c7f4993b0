/// Why a cron expression was refused: a stable snake_case code, the field at fault when there is one,
/// and a message for the person who wrote the expression that names the field, the token and the reason.
struct CronExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    struct Code: RawRepresentable, Sendable, Hashable {
        var rawValue: String
        init(rawValue: String) { self.rawValue = rawValue }

        /// Longer than `CronExpression.maxLength` characters.
        static let tooLong = Code(rawValue: "too_long")
        /// Not exactly five fields: empty, a seconds (or seconds and year) field, or a macro with company.
        static let fieldCount = Code(rawValue: "field_count")
        /// `@reboot`, or an `@` word that is not one of the macros.
        static let unsupportedMacro = Code(rawValue: "unsupported_macro")
        /// A token that is neither a number, a name of its field, a range nor a step.
        static let invalidToken = Code(rawValue: "invalid_token")
        /// An empty item in a list (`1,,2`, `1,`).
        static let emptyItem = Code(rawValue: "empty_item")
        /// A number outside its field's range.
        static let outOfRange = Code(rawValue: "out_of_range")
        /// A range whose start is after its end (ranges do not wrap around).
        static let reversedRange = Code(rawValue: "reversed_range")
        /// A step of 0, or one wider than the field.
        static let invalidStep = Code(rawValue: "invalid_step")
        /// A day-of-month and month combination that no calendar has, so the schedule would never fire.
        static let neverFires = Code(rawValue: "never_fires")
    }

    var code: Code
    /// The field at fault; `nil` when the expression as a whole is (too long, wrong number of fields, a macro).
    var field: CronExpression.Field?
    var message: String

    init(_ code: Code, field: CronExpression.Field? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    var description: String { message }
}
