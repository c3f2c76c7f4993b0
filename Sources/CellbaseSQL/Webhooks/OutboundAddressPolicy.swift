/// Which addresses the node may open outbound connections to on a user's behalf (webhook
/// receivers): the guard against server-side request forgery.
///
/// A webhook URL is chosen by whoever can declare a webhook, so without a guard it reaches what
/// the node reaches: its own admin API on loopback, the cloud metadata service on
/// `169.254.169.254`, databases on the private network. Only globally routable addresses are
/// allowed unless the operator allows more. Addresses that carry an IPv4 address inside IPv6
/// (IPv4-mapped and -compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that IPv4
/// address, since that is where the packets end up.
public struct OutboundAddressPolicy: Hashable, Sendable {
    /// Allow every address, private or not (`--webhook-allow-private`).
    public var allowsPrivate: Bool
    /// Networks allowed although not globally routable (`--webhook-allow-cidr`). An IPv4 network
    /// also covers the IPv6 forms that embed its addresses.
    public var allowedNetworks: [IPNetwork]

    public init(allowsPrivate: Bool = false, allowedNetworks: [IPNetwork] = []) {
        self.allowsPrivate = allowsPrivate
        self.allowedNetworks = allowedNetworks
    }

    public enum Decision: Hashable, Sendable {
        case allowed
        case denied(AddressCategory)
    }

    public func decision(for address: IPAddress) -> Decision {
        let category = AddressCategory(of: address)
        if category == .global || allowsPrivate { return .allowed }
        let embedded = address.embeddedIPv4.map(IPAddress.v4)
        let listed = allowedNetworks.contains { network in
            network.contains(address) || embedded.map(network.contains) == true
        }
        return listed ? .allowed : .denied(category)
    }
}
