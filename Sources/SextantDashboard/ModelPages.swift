import Foundation
import SextantAPI
import SextantJSON
import SextantKubeTypes

/// The registry pages' bodies: pure, objects in, HTML out.
public enum ModelPages {
    /// Every model's versions, newest first, with their metrics side by side.
    public static func list(_ versions: [ModelVersion], namespace: String?, selector: String?, next: String?) -> String {
        var out = "<h1>Models</h1>" + Layout.filter(path: "/models", namespace: namespace, selector: selector)
        if versions.isEmpty { return out + "<p class=\"empty\">No ModelVersions found.</p>" }
        let byModel = Dictionary(grouping: versions) { "\($0.metadata.namespace ?? "")/\($0.spec.modelName)" }
        for key in byModel.keys.sorted() {
            let group = (byModel[key] ?? []).sorted { $0.spec.version > $1.spec.version }
            let metricNames = Array(Set(group.flatMap { metrics(of: $0).keys })).sorted()
            out += "<h2 class=\"model\" data-model=\"\(Html.escape(key))\">\(Html.escape(key))</h2>"
            out += Layout.table(["Version", "Name", "Phase", "Approval", "Served by", "Data"] + metricNames, group.map { mv in
                let ns = mv.metadata.namespace ?? "", name = mv.metadata.name ?? ""
                let values = metrics(of: mv)
                return ["v\(mv.spec.version)", Layout.link("/models/\(Html.component(ns))/\(Html.component(name))", name),
                        Layout.badge(mv.status?.phase?.rawValue ?? "Pending"), Layout.badge(approval(mv)?.state.rawValue ?? "Pending"),
                        Html.escape(mv.status?.servedBy ?? "-"), Html.escape(mv.spec.data?.version ?? mv.spec.data?.sha256.map { String($0.prefix(12)) } ?? "-")]
                    + metricNames.map { n in values[n].map(RolloutView.number) ?? "-" }
            }, id: "model-\(Html.component(key))")
        }
        return out + RolloutPages.more(path: "/models", namespace: namespace, selector: selector, next: next)
    }

    static func metrics(of mv: ModelVersion) -> [String: Double] {
        (mv.spec.metrics ?? [:]).merging(mv.status?.displayMetrics ?? [:]) { spec, _ in spec }
    }

    static func approval(_ mv: ModelVersion) -> Approval? { mv.status?.approval ?? mv.spec.approval }

    /// `traffic`: the version's periods in the namespace's rollouts, or why they could not be read.
    public static func version(_ mv: ModelVersion, csrf: String, access: ActionAccess = .allowed,
                               traffic: Result<ModelTraffic, TrafficUnavailable>? = nil, weights: [ModelTraffic.WeightSeries]? = nil) -> String {
        let ns = mv.metadata.namespace ?? "", name = mv.metadata.name ?? ""
        var out = "<h1>ModelVersion <span id=\"version-name\">\(Html.escape(ns))/\(Html.escape(name))</span></h1><dl class=\"facts\">"
        func fact(_ label: String, _ value: String, id: String? = nil) {
            out += "<dt>\(label)</dt><dd\(id.map { " id=\"\($0)\"" } ?? "")>\(value)</dd>"
        }
        fact("Model", Html.escape(mv.spec.modelName) + " v\(mv.spec.version)")
        fact("Phase", Layout.badge(mv.status?.phase?.rawValue ?? "Pending"), id: "phase")
        if let message = mv.status?.message { fact("Message", Html.escape(message)) }
        let approval = approval(mv)
        fact("Approval", Layout.badge(approval?.state.rawValue ?? "Pending")
             + (approval?.by.map { " by " + Html.escape($0) } ?? "") + (approval?.reason.map { ": " + Html.escape($0) } ?? ""), id: "approval")
        fact("Served by", mv.status?.servedBy.map { Layout.link("/rollouts/\(Html.component(ns))/\(Html.component($0))", $0) } ?? "-")
        fact("Artifact", "<code>\(Html.escape(mv.spec.artifact.uri))</code> \(Html.escape(mv.spec.artifact.format?.rawValue ?? ""))")
        if let data = mv.spec.data {
            fact("Data", "<code>\(Html.escape(data.uri ?? "-"))</code> version \(Html.escape(data.version ?? "-")) · "
                 + "\(data.rows.map(String.init) ?? "-") rows · target \(Html.escape(data.target ?? "-"))")
        }
        if let lineage = mv.spec.lineage {
            fact("Lineage", "TrainingJob " + (lineage.trainingJob.map { Layout.link("/training/\(Html.component(ns))/\(Html.component($0))", $0) } ?? "-")
                 + " run \(Html.escape(lineage.run ?? "-")) · parent \(Html.escape(lineage.parentVersion ?? "-"))")
        }
        if let rolledBack = mv.status?.rolledBack {
            fact("Rolled back", "\(Html.escape(rolledBack.time)) by \(Html.escape(rolledBack.canaryRollout ?? "-")): "
                 + Html.escape(rolledBack.reason ?? "") + " " + Html.escape(rolledBack.message ?? ""))
        }
        out += "</dl>" + Layout.actions([.approve, .reject], namespace: ns, name: name, csrf: csrf, access: access)
        out += "<h2>Metrics</h2>" + Layout.table(["Metric", "Value"], metrics(of: mv).sorted { $0.key < $1.key }.map {
            [Html.escape($0.key), RolloutView.number($0.value)]
        }, id: "metrics", empty: "No metrics recorded.")
        let gates = mv.spec.gates?.results ?? []
        out += "<h2>Gates</h2>" + Layout.table(["Gate", "Check", "Value", "Threshold", "Result"], gates.flatMap { gate in
            (gate.checks ?? []).map { check in
                [Html.escape(gate.gate.rawValue), Html.escape(check.name), check.value.map(RolloutView.number) ?? "-",
                 Html.escape((check.comparison ?? "") + " " + (check.threshold.map(RolloutView.number) ?? "-")),
                 Layout.badge(check.passed ? "Pass" : "Fail")]
            }
        }, id: "gates", empty: "No gate results.")
        if let traffic { out += trafficSection(traffic, namespace: ns, weights: weights) }
        return out
    }

    /// Which rollout the version served in, as what, when, with how much traffic.
    /// `weights`: the canary weight of each rollout over time (nil: no Prometheus).
    static func trafficSection(_ traffic: Result<ModelTraffic, TrafficUnavailable>, namespace: String,
                               weights: [ModelTraffic.WeightSeries]?) -> String {
        var out = "<h2>Traffic</h2>"
        switch traffic {
        case .failure(let error):
            return out + "<p class=\"error\" id=\"traffic-error\">\(Html.escape(error.message))</p>"
        case .success(let traffic):
            out += Layout.table(["Rollout", "Role", "From", "Until", "Traffic", "Outcome", "Note"], traffic.periods.map { p in
                [Layout.link("/rollouts/\(Html.component(namespace))/\(Html.component(p.rollout))", p.rollout), Layout.badge(p.role.rawValue),
                 Html.escape(p.start ?? "earlier history not kept"), Html.escape(p.end ?? (p.live ? "now" : "-")),
                 Html.escape(p.weight + (p.live ? " now" : "")), p.outcome.map(Layout.badge) ?? "-", Html.escape(p.note)]
            }, id: "traffic", empty: "Not in the history of any CanaryRollout of this namespace.")
            if !traffic.earlierHistoryNotKept.isEmpty {
                out += "<p class=\"note\" id=\"traffic-truncated\">Earlier history not kept: "
                    + traffic.earlierHistoryNotKept.map(Html.escape).joined(separator: ", ")
                    + " (a rollout keeps only its latest \(RolloutRecord.limit) rollouts in <code>status.history</code>).</p>"
            }
            let rollouts = Set(traffic.periods.map(\.rollout))
            guard !rollouts.isEmpty else { return out }
            guard let weights else {
                return out + "<p class=\"note\" id=\"traffic-needs-prometheus\">A chart of each rollout's canary weight over time "
                    + "(<code>\(ModelTraffic.weightGauge)</code>) needs <code>--prometheus-url</code>.</p>"
            }
            out += "<div class=\"charts\" id=\"traffic-charts\">"
            for w in weights where rollouts.contains(w.rollout) {
                out += "<div class=\"chart\" data-rollout=\"\(Html.escape(w.rollout))\"><h3>canary weight of \(Html.escape(w.rollout)) "
                    + "<small>% (the rest goes to the stable version)</small></h3>"
                if let error = w.error { out += "<p class=\"error\">\(Html.escape(error))</p>" }
                if w.points.isEmpty && w.error == nil {
                    out += "<p class=\"note empty\">Prometheus has no samples of <code>\(ModelTraffic.weightGauge)</code> for this rollout "
                        + "over its life (is the controller's /metrics scraped?).</p></div>"
                } else {
                    out += MetricChart.svg(metric: "canary weight", points: w.points, min: nil, max: nil, last: nil) + "</div>"
                }
            }
            return out + "</div>"
        }
    }
}

/// Why the rollouts behind the Traffic section could not be read (e.g. the API's 403).
public struct TrafficUnavailable: Error, Sendable, Hashable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
