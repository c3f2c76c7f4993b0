import Hummingbird
import NIOCore

/// `/health/live`: the process answers. `/health/ready`: the control database and every shard do.
struct HealthController {
    let control: any ControlStore
    let shards: [any Shard]

    func addRoutes(to router: Router<CellbaseRequestContext>) {
        router.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(staticString: #"{"status":"ok"}"#)))
        }
        router.get("/health/ready") { _, _ in try await ready() }
    }

    func ready() async throws -> Response {
        var failures: [(String, String)] = []
        let control = self.control
        do { try await withDeadline(.seconds(2)) { try await control.checkReachable() } } catch { failures.append(("control", String(describing: error))) }
        for shard in shards {
            do { try await withDeadline(.seconds(2)) { try await shard.checkReady() } } catch { failures.append(("shard:" + shard.name, String(describing: error))) }
        }
        var json = JSONWriter()
        json.beginObject()
        json.key("status"); json.string(failures.isEmpty ? "ready" : "unavailable")
        if !failures.isEmpty {
            json.key("reason")
            json.string(failures.map { "\($0.0) unreachable: \($0.1)" }.joined(separator: "; "))
        }
        json.endObject()
        return Response(
            status: failures.isEmpty ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: json.output))
        )
    }
}
