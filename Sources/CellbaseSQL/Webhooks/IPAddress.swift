/// An IPv4 or IPv6 address, parsed strictly from its standard text forms.
///
/// Only dotted-decimal IPv4 (four decimal parts, no leading zeros) and RFC 4291 IPv6 text are
/// addresses. The forms `inet_aton` also accepts (`127.1`, `0x7f.0.0.1`, `0177.0.0.1`,
/// `2130706433`) are refused: they are the classic way past a filter that parses addresses
/// differently from the resolver that connects.
public enum IPAddress: Hashable, Sendable {
    case v4(UInt32)
    case v6(UInt128)

    /// Parses dotted-decimal IPv4 or IPv6 text (without brackets or a zone).
    public init?(_ text: some StringProtocol) {
        if let v4 = Self.parseIPv4(text.utf8) {
            self = .v4(v4)
        } else if let v6 = Self.parseIPv6(text.utf8) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// The address from its network-order bytes: 4 for IPv4, 16 for IPv6.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self = .v6(bytes.reduce(0) { $0 << 8 | UInt128($1) })
        default: return nil
        }
    }

    /// Number of bits in the address: 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    /// Four decimal parts of 0–255, each without leading zeros.
    static func parseIPv4(_ text: some Collection<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        for part in text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard (1...3).contains(part.count), part.allSatisfy(\.isDecimalDigit),
                part.count == 1 || part.first != UInt8(ascii: "0")
            else { return nil }
            let number = part.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard number <= 255 else { return nil }
            value = value << 8 | number
            parts += 1
        }
        return parts == 4 ? value : nil
    }

    /// RFC 4291 section 2.2: eight groups of one to four hex digits, one `::` standing for one or
    /// more zero groups, and optionally a dotted-decimal IPv4 address as the last 32 bits.
    static func parseIPv6(_ text: some Collection<UInt8>) -> UInt128? {
        let bytes = Array(text)
        guard bytes.count >= 2, bytes.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var compressed = false
        var index = 0
        if bytes.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            compressed = true
            index = 2
        } else if bytes[0] == UInt8(ascii: ":") {
            return nil
        }
        while index < bytes.count {
            let end = bytes[index...].firstIndex(of: UInt8(ascii: ":")) ?? bytes.count
            let group = bytes[index..<end]
            if end == bytes.count, group.contains(UInt8(ascii: ".")) {
                guard let v4 = parseIPv4(group) else { return nil }
                let pair = [UInt16(truncatingIfNeeded: v4 >> 16), UInt16(truncatingIfNeeded: v4)]
                if compressed { tail += pair } else { head += pair }
                index = end
                break
            }
            guard (1...4).contains(group.count) else { return nil }
            var value: UInt16 = 0
            for byte in group {
                guard let digit = byte.hexDigitValue else { return nil }
                value = value << 4 | UInt16(digit)
            }
            if compressed { tail.append(value) } else { head.append(value) }
            index = end
            guard index < bytes.count else { break }
            // A group ends at `:`; `::` after it is the compression, and a trailing `:` is malformed.
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                index += 1
            } else if index == bytes.count {
                return nil
            }
        }
        let groups = head.count + tail.count
        guard compressed ? groups <= 7 : groups == 8 else { return nil }
        let all = head + Array(repeating: 0, count: 8 - groups) + tail
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }
}

extension IPAddress {
    /// The IPv4 address an IPv6 address carries where that address is the real destination:
    /// IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96` (but `::` and `::1`), NAT64
    /// `64:ff9b::/96` and 6to4 `2002::/16` (bits 16–47). `nil` for IPv4 and other IPv6.
    public var embeddedIPv4: UInt32? {
        guard case .v6(let value) = self else { return nil }
        let low = UInt32(truncatingIfNeeded: value)
        switch value >> 32 {
        case 0xffff, 0x0064_ff9b_0000_0000_0000_0000: return low
        case 0: return value > 1 ? low : nil
        default: break
        }
        return value >> 112 == 0x2002 ? UInt32(truncatingIfNeeded: value >> 80) : nil
    }
}

extension IPAddress: CustomStringConvertible {
    /// Dotted decimal for IPv4; RFC 5952 for IPv6 (lower case, the longest run of two or more zero
    /// groups compressed, IPv4-mapped addresses with their IPv4 part dotted).
    public var description: String {
        switch self {
        case .v4(let value):
            return Self.dotted(value)
        case .v6(let value):
            if value >> 32 == 0xffff {
                return "::ffff:" + Self.dotted(UInt32(truncatingIfNeeded: value))
            }
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
            var best = (start: 0, length: 0)
            var run = (start: 0, length: 0)
            for (index, group) in groups.enumerated() {
                if group == 0 {
                    run = run.length == 0 ? (index, 1) : (run.start, run.length + 1)
                    if run.length > best.length { best = run }
                } else {
                    run = (0, 0)
                }
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.length >= 2 else { return hex.joined(separator: ":") }
            let before = hex[..<best.start].joined(separator: ":")
            let after = hex[(best.start + best.length)...].joined(separator: ":")
            return before + "::" + after
        }
    }

    private static func dotted(_ value: UInt32) -> String {
        [24, 16, 8, 0].map { String(value >> $0 & 0xff) }.joined(separator: ".")
    }
}

extension UInt8 {
    fileprivate var isDecimalDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
}
