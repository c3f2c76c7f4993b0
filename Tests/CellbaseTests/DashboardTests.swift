import CellbaseSQL
import Foundation
import HTTPTypes
import Testing

@testable import Cellbase

/// The Grafana dashboard in `docs/grafana/` may only chart what a node exposes and
/// `docs/METRICS.md` documents, so a renamed or dropped metric fails here instead of leaving an
/// empty panel.
@Suite("Grafana dashboard")
struct DashboardTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func dashboard() throws -> JSONValue {
        let text = try String(contentsOf: repository.appendingPathComponent("docs/grafana/cellbase.json"), encoding: .utf8)
        return try JSONParser.parse(Array(text.utf8), maxDepth: 64)
    }

    /// Every query of the dashboard: each panel's targets (rows' nested panels included) and the
    /// metric of each template variable's `label_values(metric, label)`, by panel title.
    static func queries(in dashboard: JSONValue) -> [(panel: String, expr: String)] {
        var found: [(String, String)] = []
        func visit(_ panels: JSONValue?) {
            guard case .array(let panels)? = panels else { return }
            for panel in panels {
                guard case .string(let title)? = panel["title"] else { continue }
                if case .array(let targets)? = panel["targets"] {
                    for target in targets {
                        if case .string(let expr)? = target["expr"] { found.append((title, expr)) }
                    }
                }
                visit(panel["panels"])
            }
        }
        visit(dashboard["panels"])
        if case .array(let variables)? = dashboard["templating"]?["list"] {
            for variable in variables {
                guard case .string(let query)? = variable["query"]?["query"], case .string(let name)? = variable["name"] else { continue }
                let arguments = query.split(separator: "(", maxSplits: 1).last?.split(separator: ",").first
                #expect(query.hasPrefix("label_values(") && arguments != nil, "variable \(name): \(query)")
                found.append(("variable \(name)", String(arguments ?? "")))
            }
        }
        return found
    }

    @Test func metricNamesAreFoundInPromQL() {
        #expect(PromQLNames.metrics(in: #"histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!="x",b=~"$v"}[$__rate_interval])))"#) == ["a_bucket"])
        #expect(PromQLNames.metrics(in: #"sum(rate(x_total[5m])) / ignoring(status_class) sum without (le) (y) or on(instance) z offset 5m"#) == ["x_total", "y", "z"])
        #expect(PromQLNames.metrics(in: #"topk(10, sum by (project) (rate(c{p="a b(c)"}[1m]))) > bool 0.5"#) == ["c"])
    }

    @Test func everyPanelChartsMetricsTheNodeExposesAndTheDocsDocument() async throws {
        let dashboard = try Self.dashboard()
        let queries = Self.queries(in: dashboard)
        #expect(queries.count >= 15)
        let documentation = try String(contentsOf: Self.repository.appendingPathComponent("docs/METRICS.md"), encoding: .utf8)

        // A node with a PostgreSQL shard, after an error and a sign-in, exposes every family it has.
        let node = TestNode(backend: .postgres)
        defer { node.removeData() }
        let exposition = try await node.run { client in
            let project = try await client.project(migration: "create table t (id int primary key)")
            _ = try await client.rest(.get, "t", project: project)
            _ = try await client.rest(.get, "missing", project: project)
            _ = try await client.signUp(project, "grafana@example.com")
            _ = try await client.signIn(project, "grafana@example.com")
            return try await client.metrics()
        }
        var charted: Set<String> = []
        for (panel, expr) in queries {
            let names = PromQLNames.metrics(in: expr)
            #expect(!names.isEmpty, "\(panel): no metric in \(expr)")
            for name in names {
                charted.insert(name)
                let family = exposition.family(of: name)
                #expect(family != nil, "\(panel): \(name) is not exposed at /metrics")
                if let family {
                    #expect(documentation.contains("`\(family)`"), "\(panel): \(family) is not documented in docs/METRICS.md")
                }
            }
        }
        // The RED panels are there: rate, errors and latency from the histogram by route.
        #expect(charted.isSuperset(of: ["cellbase_http_requests_total", "cellbase_http_errors_total", "cellbase_http_request_duration_seconds_bucket"]))
        #expect(queries.contains { $0.expr.contains("histogram_quantile(0.99, sum by (le, route)") })
    }
}

/// The metric names a PromQL expression selects: identifiers that are not functions, keywords,
/// label names (inside `{}` or a `by`/`without`/`on`/`ignoring` list) or parts of strings,
/// durations and numbers.
enum PromQLNames {
    static let keywords: Set<String> = [
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan",
        // Aggregations, which may put their `by`/`without` clause before their parentheses.
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    ]
    static let labelLists: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]

    static func metrics(in expression: String) -> [String] {
        let characters = Array(expression)
        var names: [String] = []
        var index = 0
        var braces = 0
        func isStart(_ character: Character) -> Bool { character.isASCII && (character.isLetter || character == "_" || character == ":") }
        func isPart(_ character: Character) -> Bool { isStart(character) || (character.isASCII && character.isNumber) }
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "\"", "'", "`":
                index += 1
                while index < characters.count, characters[index] != character {
                    index += characters[index] == "\\" ? 2 : 1
                }
                index += 1
            case "{": braces += 1; index += 1
            case "}": braces -= 1; index += 1
            case "[":
                while index < characters.count, characters[index] != "]" { index += 1 }
                index += 1
            case "$":
                index += 1
                while index < characters.count, isPart(characters[index]) { index += 1 }
            case _ where character.isNumber || (character == "." && index + 1 < characters.count && characters[index + 1].isNumber):
                while index < characters.count, isPart(characters[index]) || characters[index] == "." { index += 1 }
            case _ where isStart(character):
                let start = index
                while index < characters.count, isPart(characters[index]) { index += 1 }
                let word = String(characters[start..<index])
                var next = index
                while next < characters.count, characters[next] == " " { next += 1 }
                if labelLists.contains(word), next < characters.count, characters[next] == "(" {
                    while next < characters.count, characters[next] != ")" { next += 1 }
                    index = next + 1
                } else if braces == 0, !keywords.contains(word), !(next < characters.count && characters[next] == "(") {
                    names.append(word)
                }
            default:
                index += 1
            }
        }
        return names
    }
}
