/// What an address is for, by the IANA special-purpose address registries (RFC 6890 and later).
public enum AddressCategory: String, Hashable, Sendable, CaseIterable {
    /// Globally routable: the only kind allowed by default.
    case global
    case loopback
    /// `0.0.0.0/8` ("this network", which Linux connects to itself) and `::`.
    case unspecified
    /// RFC 1918 `10/8`, `172.16/12`, `192.168/16`; IPv6 unique local `fc00::/7` and local-use NAT64 `64:ff9b:1::/48`.
    case `private`
    /// `169.254/16` (cloud metadata services live at `169.254.169.254`) and `fe80::/10`.
    case linkLocal = "link-local"
    /// Carrier-grade NAT, `100.64/10`.
    case sharedAddressSpace = "shared address space"
    case multicast
    /// `255.255.255.255`.
    case broadcast
    /// `198.18/15`.
    case benchmarking
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    case documentation
    /// IETF protocol assignments: `192.0.0/24` and `2001::/23` (Teredo included).
    case protocolAssignments = "protocol assignments"
    /// Reserved or unassigned: `240/4`, the 6to4 relay anycast `192.88.99/24`, the discard prefix
    /// `100::/64`, and all IPv6 outside global unicast `2000::/3`.
    case reserved

    public init(of address: IPAddress) {
        switch address {
        case .v4(let value):
            self = Self.ipv4Blocks.first { $0.contains(value) }?.category ?? .global
        case .v6(let value):
            if let embedded = address.embeddedIPv4 {
                self = AddressCategory(of: .v4(embedded))
            } else if let block = Self.ipv6Blocks.first(where: { $0.contains(value) }) {
                self = block.category
            } else {
                // Global unicast is 2000::/3; everything else is not for the public internet.
                self = value >> 125 == 1 ? .global : .reserved
            }
        }
    }

    private struct Block<Value: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
        var prefix: Value
        var length: Int
        var category: AddressCategory

        func contains(_ value: Value) -> Bool {
            value & ~Value(0) << (Value.bitWidth - length) == prefix
        }
    }

    /// Searched in order: the broadcast address before the reserved block holding it.
    private static let ipv4Blocks: [Block<UInt32>] = [
        Block(prefix: 0x0000_0000, length: 8, category: .unspecified),
        Block(prefix: 0x0A00_0000, length: 8, category: .private),
        Block(prefix: 0x6440_0000, length: 10, category: .sharedAddressSpace),
        Block(prefix: 0x7F00_0000, length: 8, category: .loopback),
        Block(prefix: 0xA9FE_0000, length: 16, category: .linkLocal),
        Block(prefix: 0xAC10_0000, length: 12, category: .private),
        Block(prefix: 0xC000_0000, length: 24, category: .protocolAssignments),
        Block(prefix: 0xC000_0200, length: 24, category: .documentation),
        Block(prefix: 0xC058_6300, length: 24, category: .reserved),
        Block(prefix: 0xC0A8_0000, length: 16, category: .private),
        Block(prefix: 0xC612_0000, length: 15, category: .benchmarking),
        Block(prefix: 0xC633_6400, length: 24, category: .documentation),
        Block(prefix: 0xCB00_7100, length: 24, category: .documentation),
        Block(prefix: 0xE000_0000, length: 4, category: .multicast),
        Block(prefix: 0xFFFF_FFFF, length: 32, category: .broadcast),
        Block(prefix: 0xF000_0000, length: 4, category: .reserved),
    ]

    /// IPv6 blocks without an embedded IPv4 address (those are judged by it), searched in order:
    /// specific blocks before the ones holding them.
    private static let ipv6Blocks: [Block<UInt128>] = [
        Block(prefix: 0, length: 128, category: .unspecified),
        Block(prefix: 1, length: 128, category: .loopback),
        Block(prefix: 0x0064_ff9b_0001 << 80, length: 48, category: .private),
        Block(prefix: 0x0100 << 112, length: 64, category: .reserved),
        Block(prefix: 0x2001_0db8 << 96, length: 32, category: .documentation),
        Block(prefix: 0x2001 << 112, length: 23, category: .protocolAssignments),
        Block(prefix: 0x3fff << 112, length: 20, category: .documentation),
        Block(prefix: 0xfc00 << 112, length: 7, category: .private),
        Block(prefix: 0xfe80 << 112, length: 10, category: .linkLocal),
        Block(prefix: 0xff00 << 112, length: 8, category: .multicast),
    ]
}
