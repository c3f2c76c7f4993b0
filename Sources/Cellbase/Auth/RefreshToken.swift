import Crypto
import FoundationEssentials

/// Refresh tokens: opaque random strings, stored only as their SHA-256.
///
/// A leaked table therefore holds no usable token, and a token is found by an equality lookup
/// on its digest — the comparison never touches the secret itself.
enum RefreshToken {
    /// 32 random bytes, base64url without padding.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
