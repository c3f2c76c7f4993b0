import CellbaseSQL
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)),
        ("127.0.0.1", 0x7F00_0001),
        ("255.255.255.255", 0xFFFF_FFFF),
        ("10.20.30.40", 0x0A14_1E28),
        ("192.168.0.9", 0xC0A8_0009),
    ])
    func parsesDottedDecimal(text: String, value: UInt32) {
        #expect(IPAddress(text) == .v4(value))
        #expect(IPAddress(text)?.description == text)
    }

    /// What `inet_aton` and friends accept and a strict parser must not.
    @Test(arguments: [
        "127.1", "127.0.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1", "127.0.0.01", "127.000.0.1",
        "256.0.0.1", "1.2.3.4.5", "1.2.3", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.-4", "1.2.3.+4", " 1.2.3.4", "1.2.3.4 ",
        "1.2.3.4/32", "", "a.b.c.d", "１.2.3.4", "1.2.3.1000",
    ])
    func refusesLooseIPv4(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [
        ("::", UInt128(0), "::"),
        ("::1", 1, "::1"),
        ("1::", UInt128(1) << 112, "1::"),
        ("2001:db8::1", 0x2001_0db8_0000_0000_0000_0000_0000_0001, "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", 0x2001_0db8_0000_0000_0000_0000_0000_0001, "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", 0x2001_0db8_0000_0000_0000_ff00_0042_8329, "2001:db8::ff00:42:8329"),
        ("fe80::1:0:0:2", 0xfe80_0000_0000_0000_0001_0000_0000_0002, "fe80::1:0:0:2"),
        ("1:0:0:2:0:0:0:3", 0x0001_0000_0000_0002_0000_0000_0000_0003, "1:0:0:2::3"),
        ("1:0:0:2:0:0:3:4", 0x0001_0000_0000_0002_0000_0000_0003_0004, "1::2:0:0:3:4"),
        ("1:2:3:4:5:6:7:8", 0x0001_0002_0003_0004_0005_0006_0007_0008, "1:2:3:4:5:6:7:8"),
        ("1:0:2:3:4:5:6:7", 0x0001_0000_0002_0003_0004_0005_0006_0007, "1:0:2:3:4:5:6:7"),
        ("::ffff:127.0.0.1", 0xffff_7f00_0001, "::ffff:127.0.0.1"),
        ("::ffff:7f00:1", 0xffff_7f00_0001, "::ffff:127.0.0.1"),
        ("::127.0.0.1", 0x7f00_0001, "::7f00:1"),
        ("64:ff9b::10.0.0.1", 0x0064_ff9b_0000_0000_0000_0000_0a00_0001, "64:ff9b::a00:1"),
        ("1:2:3:4:5:6:1.2.3.4", 0x0001_0002_0003_0004_0005_0006_0102_0304, "1:2:3:4:5:6:102:304"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ~UInt128(0), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ])
    func parsesIPv6(text: String, value: UInt128, canonical: String) {
        #expect(IPAddress(text) == .v6(value))
        #expect(IPAddress(text)?.description == canonical)
    }

    @Test(arguments: [
        ":", ":::", "1:::2", "1::2::3", ":1::", "1:", ":1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2:3:4:5:6:7:8",
        "12345::", "g::", "::1%eth0", "[::1]", "::ffff:127.1", "::ffff:1.2.3.4:5", "1.2.3.4::", "::1.2.3.4.5",
        "1:2:3:4:5:6:7:1.2.3.4", " ::1", "::1 ", "::-1",
    ])
    func refusesMalformedIPv6(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func fromNetworkOrderBytes() {
        #expect(IPAddress(bytes: [127, 0, 0, 1]) == .v4(0x7F00_0001))
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1]) == .v6(1))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }
}

@Suite struct IPNetworkTests {
    @Test func parsesAndContains() throws {
        let ten = try #require(IPNetwork("10.0.0.0/8"))
        #expect(ten.contains(try #require(IPAddress("10.255.0.1"))))
        #expect(!ten.contains(try #require(IPAddress("11.0.0.0"))))
        #expect(!ten.contains(try #require(IPAddress("::ffff:10.0.0.1"))), "a network holds addresses of its own family only")
        let host = try #require(IPNetwork("203.0.113.7/32"))
        #expect(host.contains(try #require(IPAddress("203.0.113.7"))))
        #expect(!host.contains(try #require(IPAddress("203.0.113.8"))))
        let everything = try #require(IPNetwork("0.0.0.0/0"))
        #expect(everything.contains(try #require(IPAddress("255.255.255.255"))))
        let unique = try #require(IPNetwork("fd00::/8"))
        #expect(unique.contains(try #require(IPAddress("fd12:3456::1"))))
        #expect(!unique.contains(try #require(IPAddress("fc00::1"))))
        let all6 = try #require(IPNetwork("::/0"))
        #expect(all6.contains(try #require(IPAddress("ffff::"))))
        #expect(IPNetwork("2001:db8::1/128")?.description == "2001:db8::1/128")
    }

    @Test(arguments: [
        "10.0.0.0", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/", "/8", "10.0.0.0/8/8",
        "10.0.0.0/ 8", "10/8", "127.1/32", "fd00::1/8", "::/129", "::1/0", "10.0.0.0/+8", "10.0.0.0/0x8",
    ])
    func refusesMalformed(text: String) {
        #expect(IPNetwork(text) == nil)
    }
}

@Suite struct OutboundAddressPolicyTests {
    @Test(arguments: [
        ("8.8.8.8", AddressCategory.global),
        ("1.1.1.1", .global),
        ("9.255.255.255", .global),
        ("11.0.0.0", .global),
        ("0.0.0.0", .unspecified),
        ("0.255.255.255", .unspecified),
        ("10.0.0.1", .private),
        ("10.255.255.255", .private),
        ("100.63.255.255", .global),
        ("100.64.0.0", .sharedAddressSpace),
        ("100.127.255.255", .sharedAddressSpace),
        ("100.128.0.0", .global),
        ("126.255.255.255", .global),
        ("127.0.0.1", .loopback),
        ("127.255.255.254", .loopback),
        ("128.0.0.0", .global),
        ("169.254.169.254", .linkLocal),
        ("169.254.0.0", .linkLocal),
        ("169.255.0.0", .global),
        ("172.15.255.255", .global),
        ("172.16.0.0", .private),
        ("172.31.255.255", .private),
        ("172.32.0.0", .global),
        ("192.0.0.8", .protocolAssignments),
        ("192.0.1.0", .global),
        ("192.0.2.1", .documentation),
        ("192.88.99.1", .reserved),
        ("192.167.255.255", .global),
        ("192.168.1.1", .private),
        ("192.169.0.0", .global),
        ("198.17.255.255", .global),
        ("198.18.0.0", .benchmarking),
        ("198.19.255.255", .benchmarking),
        ("198.20.0.0", .global),
        ("198.51.100.7", .documentation),
        ("203.0.113.255", .documentation),
        ("223.255.255.255", .global),
        ("224.0.0.1", .multicast),
        ("239.255.255.255", .multicast),
        ("240.0.0.1", .reserved),
        ("255.255.255.254", .reserved),
        ("255.255.255.255", .broadcast),
        ("::", .unspecified),
        ("::1", .loopback),
        ("::2", .unspecified),
        ("::ffff:127.0.0.1", .loopback),
        ("::ffff:169.254.169.254", .linkLocal),
        ("::ffff:8.8.8.8", .global),
        ("::127.0.0.1", .loopback),
        ("::10.1.2.3", .private),
        ("64:ff9b::127.0.0.1", .loopback),
        ("64:ff9b::192.168.0.1", .private),
        ("64:ff9b::8.8.8.8", .global),
        ("64:ff9b:1::1", .private),
        ("2002:7f00:1::", .loopback),
        ("2002:a9fe:a9fe::1", .linkLocal),
        ("2002:808:808::1", .global),
        ("100::1", .reserved),
        ("2001::1", .protocolAssignments),
        ("2001:1ff::1", .protocolAssignments),
        ("2001:200::1", .global),
        ("2001:db8::1", .documentation),
        ("2001:4860:4860::8888", .global),
        ("2606:4700:4700::1111", .global),
        ("3fff::1", .documentation),
        ("3fff:fff::1", .documentation),
        ("3fff:1000::1", .global),
        ("fc00::1", .private),
        ("fd12:3456::1", .private),
        ("fe80::1", .linkLocal),
        ("febf::1", .linkLocal),
        ("fec0::1", .reserved),
        ("ff02::1", .multicast),
        ("1fff::1", .reserved),
        ("4000::1", .reserved),
        ("5f00::1", .reserved),
    ])
    func categorises(text: String, category: AddressCategory) throws {
        #expect(AddressCategory(of: try #require(IPAddress(text))) == category)
    }

    @Test func defaultAllowsOnlyGlobalAddresses() throws {
        let policy = OutboundAddressPolicy()
        for category in AddressCategory.allCases {
            let example = try #require(Self.examples[category])
            let expected: OutboundAddressPolicy.Decision = category == .global ? .allowed : .denied(category)
            #expect(policy.decision(for: try #require(IPAddress(example))) == expected, "\(example)")
        }
    }

    @Test func allowPrivateAllowsEverything() throws {
        let policy = OutboundAddressPolicy(allowsPrivate: true)
        for example in Self.examples.values {
            #expect(policy.decision(for: try #require(IPAddress(example))) == .allowed, "\(example)")
        }
    }

    @Test func allowedNetworksOpenOnlyThemselves() throws {
        let policy = OutboundAddressPolicy(allowedNetworks: [try #require(IPNetwork("10.1.0.0/16")), try #require(IPNetwork("fd00::/8"))])
        #expect(policy.decision(for: try #require(IPAddress("10.1.2.3"))) == .allowed)
        #expect(policy.decision(for: try #require(IPAddress("10.2.0.1"))) == .denied(.private))
        #expect(policy.decision(for: try #require(IPAddress("fd00::5"))) == .allowed)
        #expect(policy.decision(for: try #require(IPAddress("fc00::5"))) == .denied(.private))
        #expect(policy.decision(for: try #require(IPAddress("127.0.0.1"))) == .denied(.loopback))
        // The IPv6 forms carrying an allowed IPv4 address reach the same host.
        #expect(policy.decision(for: try #require(IPAddress("::ffff:10.1.2.3"))) == .allowed)
        #expect(policy.decision(for: try #require(IPAddress("64:ff9b::10.1.2.3"))) == .allowed)
        #expect(policy.decision(for: try #require(IPAddress("::ffff:10.2.0.1"))) == .denied(.private))
    }

    @Test func loopbackNetworkAllowsLoopbackOnly() throws {
        let policy = OutboundAddressPolicy(allowedNetworks: [try #require(IPNetwork("127.0.0.0/8")), try #require(IPNetwork("::1/128"))])
        #expect(policy.decision(for: try #require(IPAddress("127.0.0.1"))) == .allowed)
        #expect(policy.decision(for: try #require(IPAddress("::1"))) == .allowed)
        #expect(policy.decision(for: try #require(IPAddress("169.254.169.254"))) == .denied(.linkLocal))
    }

    @Test func embeddedIPv4() throws {
        #expect(try #require(IPAddress("::ffff:1.2.3.4")).embeddedIPv4 == 0x0102_0304)
        #expect(try #require(IPAddress("::1.2.3.4")).embeddedIPv4 == 0x0102_0304)
        #expect(try #require(IPAddress("64:ff9b::1.2.3.4")).embeddedIPv4 == 0x0102_0304)
        #expect(try #require(IPAddress("2002:102:304:5::6")).embeddedIPv4 == 0x0102_0304)
        #expect(try #require(IPAddress("::1")).embeddedIPv4 == nil)
        #expect(try #require(IPAddress("::")).embeddedIPv4 == nil)
        #expect(try #require(IPAddress("2001:db8::1.2.3.4")).embeddedIPv4 == nil)
        #expect(try #require(IPAddress("1.2.3.4")).embeddedIPv4 == nil)
    }

    /// One address of every category.
    static let examples: [AddressCategory: String] = [
        .global: "93.184.215.14", .loopback: "127.0.0.1", .unspecified: "0.0.0.0", .private: "192.168.0.1",
        .linkLocal: "169.254.169.254", .sharedAddressSpace: "100.64.0.1", .multicast: "ff02::1", .broadcast: "255.255.255.255",
        .benchmarking: "198.18.0.1", .documentation: "2001:db8::1", .protocolAssignments: "192.0.0.1", .reserved: "240.0.0.1",
    ]
}
