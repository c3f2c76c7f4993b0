import CellbaseMQTT
import Testing

@Suite struct MQTTTopicTests {
    @Test func topicNames() {
        for valid in ["a", "/", "a/b", "a//b", "$SYS/x", "devices/d1/telemetry", " ", "ü/ñ"] {
            #expect(MQTTTopic.isValidName(valid), "\(valid)")
        }
        for invalid in ["", "+", "#", "a/+", "a/#", "a+b", "sport#"] {
            #expect(!MQTTTopic.isValidName(invalid), "\(invalid)")
        }
    }

    @Test func topicFilters() {
        for valid in ["#", "+", "a/#", "a/+/c", "+/+", "/+", "a//#", "+/#", "$SYS/#", "a/b"] {
            #expect(MQTTTopic.isValidFilter(valid), "\(valid)")
        }
        for invalid in ["", "a#", "a/#/b", "#/a", "a+", "a/b+/c", "##", "++", "a/#b"] {
            #expect(!MQTTTopic.isValidFilter(invalid), "\(invalid)")
        }
    }

    @Test func matching() {
        let cases: [(filter: String, name: String, matches: Bool)] = [
            ("a/b", "a/b", true), ("a/b", "a/c", false), ("a/b", "a/b/c", false), ("a/b/c", "a/b", false),
            ("a/+", "a/b", true), ("a/+", "a/", true), ("a/+", "a/b/c", false), ("a/+", "a", false),
            ("+/+", "/a", true), ("/+", "/a", true), ("+", "a", true), ("+", "/a", false),
            ("a/#", "a", true), ("a/#", "a/b/c", true), ("a/#", "ab", false), ("#", "a/b", true), ("#", "/", true),
            ("a/+/c", "a/b/c", true), ("a/+/c", "a/b/d", false), ("+/b/#", "x/b", true),
            ("#", "$SYS/x", false), ("+/x", "$SYS/x", false), ("$SYS/#", "$SYS/x", true), ("$SYS/+", "$SYS/x", true),
            ("devices/d1/commands/#", "devices/d1/commands", true), ("devices/d1/commands/#", "devices/d2/commands", false),
        ]
        for (filter, name, expected) in cases {
            #expect(MQTTTopic.matches(filter: filter, name: name) == expected, "\(filter) vs \(name)")
        }
    }

    @Test func sharedSubscriptions() {
        #expect(MQTTTopicFilter(parsing: "$share/group/a/+", version: .v5) == MQTTTopicFilter(shareGroup: "group", filter: "a/+"))
        #expect(MQTTTopicFilter(parsing: "$share/g/#", version: .v5) == MQTTTopicFilter(shareGroup: "g", filter: "#"))
        #expect(MQTTTopicFilter(parsing: "$share/group/a/+", version: .v3_1_1) == MQTTTopicFilter(filter: "$share/group/a/+"))
        #expect(MQTTTopicFilter(parsing: "$shared/g/a", version: .v5) == MQTTTopicFilter(filter: "$shared/g/a"))
        for invalid in ["$share/g", "$share/g/", "$share//a", "$share/g+/a", "$share/#/a", "$share/g/a/#/b"] {
            #expect(MQTTTopicFilter(parsing: invalid, version: .v5) == nil, "\(invalid)")
        }
        #expect(MQTTTopicFilter(parsing: "a/#/b", version: .v3_1_1) == nil)
    }

    @Test func deviceAccess() {
        let topics = MQTTDeviceTopics(deviceID: "d1")
        for allowed in ["devices/d1/telemetry", "devices/d1/telemetry/engine", "devices/d1/telemetry/a/b"] {
            #expect(topics.mayPublish(to: allowed), "\(allowed)")
        }
        for refused in ["devices/d2/telemetry", "devices/d1/telemetryx", "devices/d1/commands", "devices/d1", "devices/d10/telemetry", "x"] {
            #expect(!topics.mayPublish(to: refused), "\(refused)")
        }
        for allowed in ["devices/d1/commands", "devices/d1/commands/#", "devices/d1/commands/+", "devices/d1/commands/reboot"] {
            #expect(topics.maySubscribe(to: MQTTTopicFilter(parsing: allowed, version: .v5)!), "\(allowed)")
        }
        for refused in ["devices/+/commands", "devices/#", "#", "devices/d1/#", "devices/d1/+", "devices/d2/commands", "devices/d1/commandsx",
                        "$share/g/devices/d1/commands", "devices/d1/telemetry"] {
            #expect(!topics.maySubscribe(to: MQTTTopicFilter(parsing: refused, version: .v5)!), "\(refused)")
        }
    }
}
