import CellbaseSQL

/// A device's credential: `cbd.<project ref>.<device id>.<32 random bytes, base64url>`.
///
/// It names its project and device so an HTTP request carrying only the token finds both without
/// an API key, the way an MQTT CONNECT's username does. Only its SHA-256 is stored; checking one
/// hashes what was presented and compares the digests in constant time.
struct DeviceToken: Sendable, Hashable {
    static let prefix = "cbd"

    var projectRef: String
    var deviceID: String
    var text: String

    static func generate(projectRef: String, deviceID: String) -> DeviceToken {
        DeviceToken(projectRef: projectRef, deviceID: deviceID, text: [prefix, projectRef, deviceID, RefreshToken.random()].joined(separator: "."))
    }

    /// The project and device a presented token names, or `nil` when it is not shaped like one.
    init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.prefix, Project.isValidRef(String(parts[1])), DeviceID.isValid(String(parts[2])),
              parts[3].utf8.count == 43
        else { return nil }
        self.init(projectRef: String(parts[1]), deviceID: String(parts[2]), text: text)
    }

    private init(projectRef: String, deviceID: String, text: String) {
        self.projectRef = projectRef
        self.deviceID = deviceID
        self.text = text
    }

    var digest: String { Self.digest(text) }

    static func digest(_ text: String) -> String { RefreshToken.digest(text) }

    static func matches(digest presented: String, stored: String) -> Bool {
        ConstantTime.equals(Array(presented.utf8), Array(stored.utf8))
    }
}
