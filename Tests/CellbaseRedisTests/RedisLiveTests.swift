import CellbaseRedis
import NIOCore
import NIOPosix
import Testing

/// Against a real redis-server: commands, pipelining, error replies, scripts, failures and recovery.
@Suite struct RedisLiveTests {
    @Test func setGetIncr() async throws {
        try await withClient(try TestRedis.client()) { client in
            let key = TestRedis.key("set")
            let counter = TestRedis.key("incr")
            let set = try await client.send("SET", key, "v1")
            #expect(set == .simpleString("OK"))
            #expect(try await client.send("GET", key).string == "v1")
            #expect(try await client.send("GET", TestRedis.key("missing")) == .bulkString(nil))
            #expect(try await client.send("INCR", counter) == .integer(1))
            #expect(try await client.send("INCRBY", counter, "41") == .integer(42))
            #expect(try await client.send("DEL", key, counter) == .integer(2))
        }
    }

    @Test func binaryValuesRoundTrip() async throws {
        try await withClient(try TestRedis.client()) { client in
            let key = ByteBuffer(string: TestRedis.key("binary"))
            let value = ByteBuffer(bytes: [0, 13, 10, 255, 42, 36])
            _ = try await client.send([ByteBuffer(string: "SET"), key, value, ByteBuffer(string: "PX"), ByteBuffer(string: "60000")])
            #expect(try await client.send([ByteBuffer(string: "GET"), key]) == .bulkString(value))
        }
    }

    @Test func thousandConcurrentCommandsEachGetTheirOwnReply() async throws {
        try await withClient(try TestRedis.client()) { client in
            let counter = TestRedis.key("pipelined")
            let echoes = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for index in 0..<1000 {
                    group.addTask { (index, try await client.send("ECHO", "message-\(index)").string) }
                }
                return try await group.reduce(into: [Int: String?]()) { $0[$1.0] = $1.1 }
            }
            #expect(echoes.count == 1000)
            #expect(echoes.allSatisfy { $0.value == "message-\($0.key)" })

            let counts = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<1000 {
                    group.addTask { try await client.send("INCR", counter).int }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(counts.compactMap { $0 }.sorted() == Array(1...1000))
            _ = try await client.send("DEL", counter)
        }
    }

    @Test func pipelinedRepliesOnOneConnectionArriveInOrder() async throws {
        let connection = try await RedisConnection.connect(to: TestRedis.configuration())
        let key = TestRedis.key("ordered")
        // Started in order without awaiting: RPUSH results must count up exactly as sent.
        async let first = connection.send("RPUSH", key, "a")
        try await Task.sleep(for: .milliseconds(20))
        async let second = connection.send("RPUSH", key, "b")
        try await Task.sleep(for: .milliseconds(20))
        async let third = connection.send("LRANGE", key, "0", "-1")
        let replies = try await [first, second, third]
        #expect(replies == [.integer(1), .integer(2), .array([.bulkString("a"), .bulkString("b")])])
        _ = try await connection.send("DEL", key)
        await connection.close()
    }

    @Test func errorReplyThrowsAndTheConnectionKeepsWorking() async throws {
        try await withClient(try TestRedis.client()) { client in
            let key = TestRedis.key("text")
            _ = try await client.send("SET", key, "not a number", "PX", "60000")
            let error = await #expect(throws: RedisError.self) {
                try await client.send("INCR", key)
            }
            #expect(error?.code == .server)
            #expect(error?.serverErrorKind == "ERR")
            let unknown = await #expect(throws: RedisError.self) {
                try await client.send("NOSUCHCOMMAND")
            }
            #expect(unknown?.code == .server)
            #expect(try await client.send("PING") == .simpleString("PONG"))
            #expect(try await client.send("GET", key).string == "not a number")
        }
    }

    @Test func evalSHARecoversFromNOSCRIPT() async throws {
        try await withClient(try TestRedis.client()) { client in
            // A source of this test's own, so no other test's SCRIPT FLUSH or load interferes with SCRIPT EXISTS.
            let script = RedisScript("return {KEYS[1], ARGV[1], '\(TestRedis.key("script"))'}")
            let first = try await client.evalSHA(script: script, keys: ["k"], args: ["a"])
            #expect(first.array?.prefix(2) == [.bulkString("k"), .bulkString("a")])
            _ = try await client.send("SCRIPT", "FLUSH")
            let again = try await client.evalSHA(script: script, keys: ["k2"], args: ["b"])
            #expect(again.array?.prefix(2) == [.bulkString("k2"), .bulkString("b")])
            let loaded = try await client.send("SCRIPT", "LOAD", script.source)
            #expect(try await client.send("SCRIPT", "EXISTS", loaded.string ?? "") == .array([.integer(1)]))
        }
    }

    @Test func scriptErrorIsAServerError() async throws {
        try await withClient(try TestRedis.client()) { client in
            let error = await #expect(throws: RedisError.self) {
                try await client.evalSHA(script: RedisScript("return redis.call('NOSUCHCOMMAND')"), keys: [], args: [])
            }
            #expect(error?.code == .server)
        }
    }

    @Test func databaseFromTheURL() async throws {
        let inDatabase5 = RedisClient(configuration: try TestRedis.configuration(path: "/5"))
        let inDatabase0 = try TestRedis.client()
        try await withClients(inDatabase5, inDatabase0) {
            let key = TestRedis.key("db")
            _ = try await inDatabase5.send("SET", key, "five", "PX", "60000")
            #expect(try await inDatabase5.send("GET", key).string == "five")
            #expect(try await inDatabase0.send("GET", key) == .bulkString(nil))
        }
    }

    @Test func lostConnectionFailsItsPendingCommands() async throws {
        let configuration = try TestRedis.configuration()
        let blocked = try await RedisConnection.connect(to: configuration)
        let killer = try await RedisConnection.connect(to: configuration)
        let id = try #require(try await blocked.send("CLIENT", "ID").int)
        let waiting = Task { try await blocked.send("BLPOP", TestRedis.key("never"), "0") }
        // Wait until Redis has the BLPOP, so that the kill hits a command in flight.
        var isBlocked = false
        for _ in 0..<500 where !isBlocked {
            isBlocked = try await killer.send("CLIENT", "LIST", "ID", String(id)).string?.contains("cmd=blpop") == true
            if !isBlocked { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(isBlocked)
        #expect(try await killer.send("CLIENT", "KILL", "ID", String(id)) == .integer(1))
        let error = await #expect(throws: RedisError.self) {
            try await waiting.value
        }
        #expect(error?.code == .connectionClosed)
        let afterwards = await #expect(throws: RedisError.self) {
            try await blocked.send("PING")
        }
        #expect(afterwards?.code == .connectionClosed)
        await killer.close()
    }

    @Test func overdueReplyTimesOut() async throws {
        var configuration = try TestRedis.configuration()
        configuration.commandTimeout = .milliseconds(200)
        let connection = try await RedisConnection.connect(to: configuration)
        let error = await #expect(throws: RedisError.self) {
            try await connection.send("BLPOP", TestRedis.key("never"), "0")
        }
        #expect(error?.code == .timeout)
        try await connection.closeFuture.get()
        #expect(!connection.isActive)
    }

    @Test func unreachableRedisFailsThenBacksOff() async throws {
        let refusing = try RefusingPort()
        try await withClient(RedisClient(configuration: RedisConfiguration(port: refusing.port))) { client in
            let first = await #expect(throws: RedisError.self) {
                try await client.send("PING")
            }
            #expect(first?.code == .connectionClosed)
            // While backing off, calls fail without even trying.
            let second = await #expect(throws: RedisError.self) {
                try await client.send("PING")
            }
            #expect(second?.code == .unavailable)
        }
        withExtendedLifetime(refusing) {}
    }

    @Test func clientRecoversWhenRedisRestarts() async throws {
        let server = try await RedisServerProcess.started()
        let port = server.port
        try await withClient(RedisClient(configuration: RedisConfiguration(port: port), maxBackoff: .milliseconds(200))) { client in
            #expect(try await client.send("SET", "k", "before") == .simpleString("OK"))

            server.stop()
            await #expect(throws: RedisError.self) {
                try await client.send("GET", "k")
            }

            try await server.start()
            var reply: RESPValue?
            for _ in 0..<100 where reply == nil {
                reply = try? await client.send("GET", "k")
                if reply == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            // A fresh server (no persistence): the old value is gone, and the client talks to it.
            #expect(reply == .bulkString(nil))
            #expect(try await client.send("SET", "k", "after") == .simpleString("OK"))
            #expect(try await client.send("GET", "k").string == "after")
            server.stop()
        }
    }

    /// The test servers' own check: a port another process listens on is not taken for Redis.
    @Test func aPortHeldByAnotherServerIsNoticed() async throws {
        let other = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.close() }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = try #require(other.localAddress?.port)
        let server = try RedisServerProcess(port: port)
        await #expect(throws: RedisServerProcess.PortTaken.self) {
            try await server.start()
        }
        try await other.close()
    }

    @Test func passwordFromTheURL() async throws {
        let server = try await RedisServerProcess.started(arguments: ["--requirepass", "s3cret"])
        let port = server.port
        // The generous timeouts of the other live tests: this one is about the password, not the clock.
        func generous(_ configuration: RedisConfiguration) -> RedisConfiguration {
            var configuration = configuration
            configuration.connectTimeout = .seconds(10)
            configuration.commandTimeout = .seconds(30)
            return configuration
        }
        let authenticated = RedisClient(configuration: generous(try RedisConfiguration(url: "redis://:s3cret@127.0.0.1:\(port)")))
        let anonymous = RedisClient(configuration: generous(RedisConfiguration(port: port)))
        let wrong = RedisClient(configuration: generous(try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(port)")))
        #expect(try await authenticated.send("PING") == .simpleString("PONG"))
        let refused = await #expect(throws: RedisError.self) {
            try await anonymous.send("PING")
        }
        #expect(refused?.serverErrorKind == "NOAUTH")
        let badPassword = await #expect(throws: RedisError.self) {
            try await wrong.send("PING")
        }
        #expect(badPassword?.code == .server)
        await authenticated.shutdown()
        await anonymous.shutdown()
        await wrong.shutdown()
        server.stop()
    }

    @Test func shutdownClientThrows() async throws {
        let client = try TestRedis.client()
        _ = try await client.send("PING")
        await client.shutdown()
        let error = await #expect(throws: RedisError.self) {
            try await client.send("PING")
        }
        #expect(error?.code == .clientShutdown)
    }
}
