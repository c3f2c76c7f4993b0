import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Cellbase

/// A realtime client that joins a channel and then never reads: the node queues at most
/// `--realtime-max-pending-bytes` for it and then disconnects it, instead of buffering without
/// bound.
@Suite("Realtime slow consumers")
struct RealtimeSlowConsumerTests {
    /// A WebSocket written by hand on a blocking socket with a small receive buffer, so that
    /// not reading backs up into the node quickly.
    final class SilentSocket {
        let descriptor: Int32

        init(port: Int, path: String) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var size: Int32 = 4096
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw Failure("connect failed") }
            try send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8))
            // Reads the upgrade answer only, up to its blank line.
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
                guard recv(descriptor, &byte, 1, 0) == 1 else { throw Failure("no upgrade answer") }
                head.append(byte)
            }
            guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else { throw Failure("not upgraded: \(String(decoding: head, as: UTF8.self))") }
        }

        deinit { close(descriptor) }

        /// A masked text frame, as clients must send them.
        func sendText(_ text: String) throws {
            let payload = Array(text.utf8)
            var frame: [UInt8] = [0x81]
            if payload.count < 126 {
                frame.append(0x80 | UInt8(payload.count))
            } else {
                frame.append(0x80 | 126)
                frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            }
            let mask: [UInt8] = [1, 2, 3, 4]
            frame += mask
            frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
            try send(frame)
        }

        private func send(_ bytes: [UInt8]) throws {
            guard bytes.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }) == bytes.count else { throw Failure("send failed") }
        }

        /// Reads what is left until the node closes the connection; false if it is still open
        /// after `seconds`.
        func isClosedByPeer(within seconds: Int) -> Bool {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count == 0 { return true }
                if count < 0 { return errno == ECONNRESET }
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// `cellbase_realtime_slow_consumers_disconnected_total` as the node exposes it.
    static func slowConsumers(_ client: TestClient) async throws -> Double {
        let metrics = try await client.request(.get, "/metrics")
        let line = metrics.body.split(separator: "\n").first { $0.hasPrefix("cellbase_realtime_slow_consumers_disconnected_total ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test func aClientThatNeverReadsIsDisconnected() async throws {
        var node = RealtimeTestNode(backend: .sqlite)
        node.realtime.maxPendingBytes = RealtimeConfiguration.maxFrameBytes
        node.realtime.maxEventsPerSecond = 10_000
        try await node.run { client in
            let project = try await client.project()
            let port = try #require(client.client.port)
            let silent = try SilentSocket(port: port, path: "/realtime/v1/websocket?apikey=\(project.anonKey)&vsn=1.0.0")
            try silent.sendText(#"{"topic":"realtime:flood","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}"#)
            // Broadcasts of 200 kB until the node gives up on the client: far more than the
            // socket buffers and the 1 MiB the node may queue.
            let payload = #"{"text":"\#(String(repeating: "x", count: 200_000))"}"#
            var sent = 0
            while sent < 200, try await Self.slowConsumers(client) == 0 {
                let answer = try await client.request(
                    .post, "/realtime/v1/api/broadcast/flood/events/big",
                    headers: [HTTPField.Name("apikey")!: project.anonKey, .contentType: "application/json"], body: payload
                )
                #expect(answer.status == .accepted)
                sent += 1
            }
            #expect(try await Self.slowConsumers(client) == 1, "after \(sent) broadcasts of 200 kB")
            #expect(silent.isClosedByPeer(within: 20))
        }
    }
}
