import CellbaseRedis
import NIOCore
import Testing

@Suite struct RedisConfigurationTests {
    @Test func hostAndPort() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:6390")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 6390)
        #expect(configuration.database == 0)
        #expect(configuration.password == nil)
        #expect(configuration.username == nil)
    }

    @Test func defaultPort() throws {
        #expect(try RedisConfiguration(url: "redis://cache.internal").port == 6379)
    }

    @Test func passwordAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://:s%40cret@localhost:6379/3")
        #expect(configuration.password == "s@cret")
        #expect(configuration.username == nil)
        #expect(configuration.database == 3)
    }

    @Test func aclUser() throws {
        let configuration = try RedisConfiguration(url: "redis://gateway:pw@localhost/0")
        #expect(configuration.username == "gateway")
        #expect(configuration.password == "pw")
    }

    @Test func ipv6Host() throws {
        #expect(try RedisConfiguration(url: "redis://[::1]:7000").host == "::1")
    }

    @Test(arguments: ["http://localhost:6379", "redis://", "redis://localhost/x", "redis://localhost/-1", "not a url", "redis://localhost:0"])
    func invalidURL(_ url: String) {
        let error = #expect(throws: RedisError.self) {
            try RedisConfiguration(url: url)
        }
        #expect(error?.code == .invalidURL)
    }

    @Test func backoffDoublesUpToTheCap() {
        let delays = (0...8).map { RedisClient.backoff(afterFailures: $0, maxBackoff: .seconds(2)) }
        #expect(delays == [.zero, .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
                           .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2)])
        #expect(RedisClient.backoff(afterFailures: 10_000, maxBackoff: .seconds(2)) == .seconds(2))
    }

    @Test func valueAccessors() {
        #expect(RESPValue.bulkString("12").int == 12)
        #expect(RESPValue.integer(5).int == 5)
        #expect(RESPValue.simpleString("OK").string == "OK")
        #expect(RESPValue.error("ERR").string == nil)
        #expect(RESPValue.bulkString(nil).isNull)
        #expect(RESPValue.array(nil).isNull)
        #expect(!RESPValue.array([]).isNull)
        #expect(RESPValue.array([.integer(1)]).array == [.integer(1)])
    }

    @Test func serverErrorKind() {
        #expect(RedisError.server("NOSCRIPT No matching script").serverErrorKind == "NOSCRIPT")
        #expect(RedisError.connectionClosed.serverErrorKind == nil)
    }
}
