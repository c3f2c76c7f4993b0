import Foundation

/// The URLs of the mail flows: the link a mail carries and the redirect that answers it.
enum AuthRedirect {
    /// `<issuer>/verify?token=…&type=…&redirect_to=…&apikey=…`. The project's anon key names the
    /// project, as for every Auth request; it is public by design.
    static func verifyLink(issuer: String, tokenHash: String, type: VerificationType, redirectTo: String, apiKey: String) -> String {
        let query = [("token", tokenHash), ("type", type.rawValue), ("redirect_to", redirectTo), ("apikey", apiKey)]
        return issuer + "/verify?" + query.map { "\($0.0)=\(encoded($0.1))" }.joined(separator: "&")
    }

    /// `target` with `parameters` as its fragment (replacing any), GoTrue's implicit-flow answer:
    /// the fragment never reaches a server, so neither do the tokens in it.
    static func withFragment(_ target: String, _ parameters: [(String, String)]) -> String {
        let base = target.firstIndex(of: "#").map { String(target[..<$0]) } ?? target
        return base + "#" + parameters.map { "\($0.0)=\(encoded($0.1))" }.joined(separator: "&")
    }

    /// Same scheme, host and port (absent ports read as the scheme's default).
    static func sameOrigin(_ first: String, _ second: String) -> Bool {
        guard let a = URLComponents(string: first), let b = URLComponents(string: second),
              let schemeA = a.scheme?.lowercased(), let schemeB = b.scheme?.lowercased(),
              let hostA = a.host?.lowercased(), let hostB = b.host?.lowercased(), !hostA.isEmpty
        else { return false }
        func port(_ components: URLComponents, _ scheme: String) -> Int? { components.port ?? ["http": 80, "https": 443][scheme] }
        return schemeA == schemeB && hostA == hostB && port(a, schemeA) == port(b, schemeB)
    }

    /// Percent-encoding of everything but RFC 3986's unreserved characters.
    static func encoded(_ value: String) -> String {
        var output = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let digits = Array("0123456789ABCDEF")
                output += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
            }
        }
        return output
    }
}
