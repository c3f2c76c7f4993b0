/// The local IPv4 addresses subscriber sockets are bound to, in turn.
///
/// A TCP connection is named by its four-tuple, so one local address can open only as many
/// connections to one node address as it has ephemeral ports (about 28,000 by default on Linux).
/// Loopback answers on all of 127.0.0.0/8, so spreading sockets over several local addresses
/// lifts that limit without touching the node.
public struct SourceAddresses: Sendable, Equatable {
    /// Largest list accepted, so that a mistyped range cannot ask for millions of addresses.
    public static let maximumCount = 65_536

    public let addresses: [String]

    /// Parses `A,B,...`, where each item is an IPv4 address or an inclusive range `A-B`, such as
    /// `127.0.0.1-127.0.0.8`.
    public init(parsing text: String) throws(SourceAddressesError) {
        var addresses: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2 else { throw SourceAddressesError("'\(item)' is not an address or a range A-B") }
            let first = try Self.parseIPv4(bounds[0])
            let last = bounds.count == 2 ? try Self.parseIPv4(bounds[1]) : first
            guard first <= last else { throw SourceAddressesError("the range '\(item)' ends before it starts") }
            guard Int(last - first) + 1 + addresses.count <= Self.maximumCount else {
                throw SourceAddressesError("more than \(Self.maximumCount) addresses")
            }
            for value in first...last { addresses.append(Self.format(value)) }
        }
        self.addresses = addresses
    }

    /// The address socket `index` binds to.
    public func address(for index: Int) -> String {
        addresses[index % addresses.count]
    }

    static func parseIPv4(_ text: Substring) throws(SourceAddressesError) -> UInt32 {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { throw SourceAddressesError("'\(text)' is not an IPv4 address") }
        var value: UInt32 = 0
        for octet in octets {
            guard (1...3).contains(octet.count), octet.allSatisfy(\.isASCIIDigit), let byte = UInt8(octet) else {
                throw SourceAddressesError("'\(text)' is not an IPv4 address")
            }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    static func format(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }
}

public struct SourceAddressesError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
