/// A `numeric` value as decimal digits, parsed and rounded the way PostgreSQL's `numeric_in` and
/// typmod coercion do, without going through binary floating point.
struct ValueDecimal: Equatable {
    var isNegative: Bool
    /// Decimal digits (0–9), no leading zeros; empty for zero.
    var digits: [UInt8]
    /// How many of `digits` are after the decimal point; never negative.
    var scale: Int

    /// PostgreSQL rejects exponents beyond this as invalid input.
    private static let maxExponent = 1000

    enum ParseFailure: Error {
        case syntax
    }

    /// `[+-]digits[.digits][e[+-]digits]` (or `.digits`), surrounding whitespace allowed.
    /// `NaN` and `Infinity` are not accepted: SQLite cannot store them.
    init(parsing text: String) throws(ParseFailure) {
        var bytes = Substring(text).utf8[...]
        Self.trimWhitespace(&bytes)
        var isNegative = false
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            isNegative = sign == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        var digits: [UInt8] = []
        var fractionCount = 0
        var sawPoint = false
        while let byte = bytes.first {
            if let digit = Self.digit(byte) {
                digits.append(digit)
                if sawPoint { fractionCount += 1 }
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                break
            }
            bytes.removeFirst()
        }
        guard !digits.isEmpty else { throw .syntax }
        var exponent = 0
        if let marker = bytes.first, marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") {
            bytes.removeFirst()
            var exponentIsNegative = false
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                exponentIsNegative = sign == UInt8(ascii: "-")
                bytes.removeFirst()
            }
            var sawDigit = false
            while let byte = bytes.first, let digit = Self.digit(byte) {
                exponent = exponent * 10 + Int(digit)
                guard exponent <= Self.maxExponent else { throw .syntax }
                sawDigit = true
                bytes.removeFirst()
            }
            guard sawDigit else { throw .syntax }
            if exponentIsNegative { exponent = -exponent }
        }
        guard bytes.isEmpty else { throw .syntax }

        var scale = fractionCount - exponent
        if scale < 0 {
            digits.append(contentsOf: repeatElement(0, count: -scale))
            scale = 0
        }
        self.init(isNegative: isNegative, digits: digits, scale: scale)
    }

    init(isNegative: Bool, digits: [UInt8], scale: Int) {
        var digits = digits
        let leadingZeros = digits.prefix { $0 == 0 }.count
        digits.removeFirst(min(leadingZeros, max(digits.count - scale, 0)))
        // numeric has no negative zero.
        self.isNegative = isNegative && digits.contains { $0 != 0 }
        self.digits = digits
        self.scale = scale
    }

    var isZero: Bool { !digits.contains { $0 != 0 } }

    /// Rounds half away from zero to `targetScale` fractional digits, as PostgreSQL's typmod does.
    /// A negative `targetScale` rounds to tens, hundreds, ...
    func rounded(toScale targetScale: Int) -> ValueDecimal {
        guard scale > targetScale else { return self }
        let dropped = scale - targetScale
        var padded = [UInt8](repeating: 0, count: max(dropped + 1 - digits.count, 0)) + digits
        let roundsUp = padded[padded.count - dropped] >= 5
        padded.removeLast(dropped)
        if roundsUp {
            var index = padded.count - 1
            while index >= 0, padded[index] == 9 {
                padded[index] = 0
                index -= 1
            }
            if index >= 0 { padded[index] += 1 } else { padded.insert(1, at: 0) }
        }
        if targetScale < 0 { padded.append(contentsOf: repeatElement(0, count: -targetScale)) }
        return ValueDecimal(isNegative: isNegative, digits: padded, scale: max(targetScale, 0))
    }

    /// How many digits are before the decimal point, counting from the first nonzero one; zero or
    /// negative for values below 1 (`0.001` has -2). `nil` for zero.
    var integerDigitCount: Int? {
        guard let first = digits.firstIndex(where: { $0 != 0 }) else { return nil }
        return digits.count - first - scale
    }

    /// Plain decimal text with no exponent: `-12.50`, `0.001`, `0`.
    var text: String {
        var output: [UInt8] = isNegative ? [UInt8(ascii: "-")] : []
        output.reserveCapacity(digits.count + 3 + max(scale - digits.count, 0))
        let integerCount = digits.count - scale
        if integerCount > 0 {
            output.append(contentsOf: digits[..<integerCount].lazy.map { $0 + UInt8(ascii: "0") })
        } else {
            output.append(UInt8(ascii: "0"))
        }
        if scale > 0 {
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(-integerCount, 0)))
            output.append(contentsOf: digits[max(integerCount, 0)...].lazy.map { $0 + UInt8(ascii: "0") })
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The value as an exact integer when it is integral and fits in 64 bits.
    var exactInteger: Int64? {
        let integerCount = digits.count - scale
        guard !digits[max(integerCount, 0)...].contains(where: { $0 != 0 }) else { return nil }
        var value: Int64 = 0
        for digit in digits.prefix(max(integerCount, 0)) {
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = isNegative
                ? shifted.subtractingReportingOverflow(Int64(digit))
                : shifted.addingReportingOverflow(Int64(digit))
            guard !overflowA, !overflowB else { return nil }
            value = next
        }
        return value
    }

    static func trimWhitespace(_ bytes: inout Substring.UTF8View.SubSequence) {
        while let first = bytes.first, isWhitespace(first) { bytes.removeFirst() }
        while let last = bytes.last, isWhitespace(last) { bytes.removeLast() }
    }

    /// PostgreSQL's `isspace` set, which its number and boolean inputs trim.
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    private static func digit(_ byte: UInt8) -> UInt8? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? byte - UInt8(ascii: "0") : nil
    }
}
