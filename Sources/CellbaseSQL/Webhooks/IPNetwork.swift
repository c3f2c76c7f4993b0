/// A block of addresses in CIDR notation: `10.0.0.0/8`, `fd00::/8`, `203.0.113.7/32`.
public struct IPNetwork: Hashable, Sendable {
    /// The first address of the block: every bit after the prefix is zero.
    public let address: IPAddress
    public let prefixLength: Int

    /// A network from an address and a prefix length; `nil` when the length does not fit the
    /// address family or the address has bits set after the prefix (`10.0.0.1/8` is a typo for
    /// either a host or a network, so it is refused rather than guessed).
    public init?(address: IPAddress, prefixLength: Int) {
        guard (0...address.bitWidth).contains(prefixLength), address == Self.masked(address, prefixLength) else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `ADDRESS/LENGTH` with a strictly parsed address and a decimal length without leading zeros.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]),
            (1...3).contains(parts[1].count), parts[1].allSatisfy(\.isASCIIDigit),
            parts[1].count == 1 || parts[1].first != "0",
            let length = Int(parts[1])
        else { return nil }
        self.init(address: address, prefixLength: length)
    }

    /// Whether `candidate` lies in the block. Addresses of the other family never do.
    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4, .v4), (.v6, .v6): Self.masked(candidate, prefixLength) == address
        default: false
        }
    }

    /// The address with the bits after the prefix cleared (Swift's `<<` shifts a whole width out to zero).
    private static func masked(_ address: IPAddress, _ prefixLength: Int) -> IPAddress {
        switch address {
        case .v4(let value): .v4(value & ~UInt32(0) << (32 - prefixLength))
        case .v6(let value): .v6(value & ~UInt128(0) << (128 - prefixLength))
        }
    }
}

extension IPNetwork: CustomStringConvertible {
    public var description: String { "\(address)/\(prefixLength)" }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
