import Testing

@testable import Cellbase

/// The gateway's choice of node, without I/O: heartbeats, ejections after failed requests, and
/// the active health checks' verdicts with their fall and rise thresholds.
@Suite("Gateway routes")
struct GatewayRoutesTests {
    static func node(_ id: String, cell: String = "a", port: Int, age: Double = 0) -> NodeRecord {
        NodeRecord(id: id, cell: cell, url: "http://127.0.0.1:\(port)", shards: [], startedAt: "", beatAt: "", secondsSinceBeat: age)
    }

    static func routes(_ nodes: [NodeRecord], fall: Int = 3, rise: Int = 2) -> GatewayRoutes {
        let routes = GatewayRoutes(nodeTimeout: 6, ejection: 2, fall: fall, rise: rise)
        routes.apply(projects: [], nodes: nodes, plans: [])
        return routes
    }

    /// Every node `pick` hands out over `tries` picks, each finished at once.
    static func picked(_ routes: GatewayRoutes, cell: String = "a", tries: Int = 8, now: Double = 0) -> Set<String> {
        var seen: Set<String> = []
        for _ in 0..<tries {
            guard let upstream = routes.pick(cell: cell, node: nil, now: now) else { continue }
            seen.insert(upstream.id)
            routes.finished(upstream.id, failed: false, now: now)
        }
        return seen
    }

    @Test func onlyNodesOfTheCellThatBeatArePicked() {
        let routes = Self.routes([Self.node("n1", port: 1001), Self.node("n2", port: 1002, age: 6.5), Self.node("b1", cell: "b", port: 2001)])
        #expect(Self.picked(routes) == ["n1"])
        #expect(Self.picked(routes, cell: "b") == ["b1"])
        #expect(Self.picked(routes, cell: "c").isEmpty)
        #expect(Set(routes.beatingUpstreams.map(\.id)) == ["n1", "b1"])
    }

    @Test func thePinnedNodeAndNoOtherServesANodeLocalProject() {
        let routes = Self.routes([Self.node("n1", port: 1001), Self.node("n2", port: 1002)])
        for _ in 0..<4 {
            let upstream = routes.pick(cell: "a", node: "n2", now: 0)
            #expect(upstream?.id == "n2")
            routes.finished("n2", failed: false, now: 0)
        }
        #expect(routes.pick(cell: "a", node: "n2", excluding: ["n2"], now: 0) == nil)
    }

    @Test func theNodeWithFewestRequestsOutstandingIsPicked() {
        let routes = Self.routes([Self.node("n1", port: 1001), Self.node("n2", port: 1002)])
        let first = routes.pick(cell: "a", node: nil, now: 0)
        let second = routes.pick(cell: "a", node: nil, now: 0)
        #expect(first != nil && second != nil && first?.id != second?.id)
        routes.finished(second!.id, failed: false, now: 0)
        // `first` still has one outstanding: the next two go to the other node.
        #expect(routes.pick(cell: "a", node: nil, now: 0)?.id == second?.id)
    }

    @Test func aFailedRequestEjectsTheNodeForLongerEachTimeInARow() {
        let routes = Self.routes([Self.node("n1", port: 1001)])
        _ = routes.pick(cell: "a", node: nil, now: 0)
        routes.finished("n1", failed: true, now: 0)
        #expect(routes.pick(cell: "a", node: nil, now: 1.9) == nil)
        #expect(routes.pick(cell: "a", node: nil, now: 2.1)?.id == "n1")
        routes.finished("n1", failed: true, now: 10)
        #expect(routes.pick(cell: "a", node: nil, now: 13.9) == nil)
        #expect(routes.pick(cell: "a", node: nil, now: 14.1)?.id == "n1")
        // A passed health check lifts the ejection at once.
        routes.finished("n1", failed: true, now: 20)
        #expect(routes.pick(cell: "a", node: nil, now: 20) == nil)
        routes.checked("n1", healthy: true)
        #expect(routes.pick(cell: "a", node: nil, now: 20)?.id == "n1")
    }

    @Test func healthChecksTakeANodeOutAfterFallFailuresAndBackAfterRisePasses() {
        let routes = Self.routes([Self.node("n1", port: 1001), Self.node("n2", port: 1002)])
        #expect(routes.checked("n1", healthy: false) == nil)
        #expect(routes.checked("n1", healthy: false) == nil)
        #expect(Self.picked(routes) == ["n1", "n2"])
        #expect(routes.checked("n1", healthy: false) == false)
        #expect(Self.picked(routes) == ["n2"])
        #expect(routes.checked("n1", healthy: false) == nil)
        #expect(routes.checked("n1", healthy: true) == nil)
        #expect(Self.picked(routes) == ["n2"])
        #expect(routes.checked("n1", healthy: true) == true)
        #expect(Self.picked(routes) == ["n1", "n2"])
        #expect(routes.checked("n1", healthy: true) == nil)
    }

    @Test func aPassBetweenFailuresStartsTheCountAgain() {
        let routes = Self.routes([Self.node("n1", port: 1001)])
        for _ in 0..<5 {
            #expect(routes.checked("n1", healthy: false) == nil)
            #expect(routes.checked("n1", healthy: false) == nil)
            #expect(routes.checked("n1", healthy: true) == nil)
        }
        #expect(Self.picked(routes) == ["n1"])
        // Once out, a failure between passes starts the count of passes again.
        let strict = Self.routes([Self.node("n1", port: 1001)], fall: 1, rise: 2)
        #expect(strict.checked("n1", healthy: false) == false)
        #expect(strict.checked("n1", healthy: true) == nil)
        #expect(strict.checked("n1", healthy: false) == nil)
        #expect(strict.checked("n1", healthy: true) == nil)
        #expect(Self.picked(strict).isEmpty)
        #expect(strict.checked("n1", healthy: true) == true)
        #expect(Self.picked(strict) == ["n1"])
    }

    @Test func aNodeThatLeavesTheTableAndComesBackStartsAfresh() {
        let routes = Self.routes([Self.node("n1", port: 1001)], fall: 1)
        #expect(routes.checked("n1", healthy: false) == false)
        #expect(Self.picked(routes).isEmpty)
        routes.apply(projects: [], nodes: [], plans: [])
        #expect(routes.checked("n1", healthy: true) == nil)
        routes.apply(projects: [], nodes: [Self.node("n1", port: 1001)], plans: [])
        #expect(Self.picked(routes) == ["n1"])
    }
}
