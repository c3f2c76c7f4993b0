import Hummingbird
import NIOCore

/// `GET /metrics`: the node's figures in Prometheus's text exposition format.
struct MetricsController {
    let metrics: NodeMetrics

    func addRoutes(to router: some RouterMethods<CellbaseRequestContext>) {
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.scrape()))
            )
        }
    }
}
