import Foundation
import SextantAPI
import SextantKubeTypes

/// The rollout pages' bodies: pure, objects in, HTML out (the server adds the frame).
public enum RolloutPages {
    public static func list(_ rollouts: [CanaryRollout], namespace: String?, selector: String?, next: String?) -> String {
        let rows = rollouts.map { r -> [String] in
            let view = RolloutView(r)
            let step = view.currentStep.map { "\(min($0 + 1, view.steps.count))/\(view.steps.count)" } ?? "-"
            return [Html.escape(view.namespace),
                    Layout.link("/rollouts/\(Html.component(view.namespace))/\(Html.component(view.name))", view.name),
                    Html.escape(view.model), Layout.badge(view.phase), Html.escape(view.reason ?? ""), step,
                    "\(view.weight)%", Html.escape(view.stable ?? "-"), Html.escape(view.canary ?? "-")]
        }
        return "<h1>Rollouts</h1>" + Layout.filter(path: "/rollouts", namespace: namespace, selector: selector)
            + Layout.table(["Namespace", "Name", "Model", "Phase", "Reason", "Step", "Weight", "Stable", "Canary"], rows,
                           id: "rollouts", empty: "No CanaryRollouts found.")
            + more(path: "/rollouts", namespace: namespace, selector: selector, next: next)
    }

    /// A link to the next page of a long list (the API's `continue` token).
    static func more(path: String, namespace: String?, selector: String?, next: String?) -> String {
        guard let next, !next.isEmpty else { return "" }
        var query = ["continue=\(Html.component(next))"]
        if let namespace { query.append("namespace=\(Html.component(namespace))") }
        if let selector { query.append("selector=\(Html.component(selector))") }
        return "<p><a id=\"next-page\" href=\"\(path)?\(query.joined(separator: "&amp;"))\">Next page →</a></p>"
    }

    /// Prometheus series per metric over the rollout (absent without `--prometheus-url`).
    public struct Series: Sendable {
        public var points: [String: [MetricChart.Point]]
        public var errors: [String: String]
        public init(points: [String: [MetricChart.Point]] = [:], errors: [String: String] = [:]) {
            self.points = points
            self.errors = errors
        }
    }

    public static func detail(_ rollout: CanaryRollout, deployments: [ServingDeployment], events: [RolloutEvent],
                              series: Series?, csrf: String, access: ActionAccess = .allowed, now: Date) -> String {
        let view = RolloutView(rollout)
        var out = "<h1>CanaryRollout <span id=\"rollout-name\">\(Html.escape(view.namespace))/\(Html.escape(view.name))</span></h1>"
        out += "<dl class=\"facts\">"
        func fact(_ name: String, _ value: String, id: String? = nil) {
            out += "<dt>\(name)</dt><dd\(id.map { " id=\"\($0)\"" } ?? "")>\(value)</dd>"
        }
        fact("Phase", Layout.badge(view.phase) + (view.reason.map { " " + Html.escape($0) } ?? ""), id: "phase")
        if let message = view.message { fact("Message", Html.escape(message), id: "message") }
        fact("Model", Html.escape(view.model))
        fact("Strategy", Html.escape(view.strategy))
        fact("Stable", versionLink(view.stable, namespace: view.namespace), id: "stable")
        fact("Canary", versionLink(view.canary, namespace: view.namespace), id: "canary")
        fact("Weight", "canary <b id=\"weight\">\(view.weight)%</b> verified · step wants \(view.desiredWeight)%")
        if !view.metrics.isEmpty {
            fact("Analysis", "failed runs \(view.failedChecks)/\(view.failureLimit.map(String.init) ?? "-") · consecutive errors "
                 + "\(view.consecutiveErrors)/\(view.consecutiveErrorLimit.map(String.init) ?? "-")")
        }
        out += "</dl>"
        out += Layout.actions([.promote, .abort, .retry], namespace: view.namespace, name: view.name, csrf: csrf, access: access)

        out += "<h2>Steps</h2><ol class=\"steps\" id=\"steps\">"
        for step in view.steps {
            out += "<li class=\"\(step.state.rawValue)\" data-state=\"\(step.state.rawValue)\"><div class=\"n\">step \(step.number) · \(step.state.rawValue)</div>"
                + "\(Html.escape(step.label))<div class=\"weightbar\" title=\"canary \(step.weight)%\"><span style=\"width:\(step.weight)%\"></span></div></li>"
        }
        out += "</ol>"
        if view.steps.isEmpty { out += "<p class=\"empty\">No steps.</p>" }

        out += "<h2>Serving</h2>" + Layout.table(["Deployment", "Role", "Version", "Ready", "Status"], deployments.map { d in
            [Html.escape(d.name), Html.escape(d.role(in: view)), Html.escape(d.version ?? "-"), "\(d.ready)/\(d.replicas)",
             Layout.badge(d.isAvailable ? "Available" : d.replicas == 0 ? "ScaledDown" : "Progressing")]
        }, id: "deployments", empty: "No Deployments.")

        if !view.metrics.isEmpty {
            out += "<h2>Analysis</h2>" + Layout.table(["Metric", "Value", "Threshold", "Outcome", "Measured", "Query"], view.metrics.map { m in
                [Html.escape(m.name), m.value.map(RolloutView.number) ?? "-", Html.escape(m.threshold),
                 Layout.badge(m.outcome?.rawValue ?? "NotMeasured") + (m.outcome == .pass ? "" : m.message.map { " " + Html.escape($0) } ?? ""),
                 Html.escape(m.time.map { shortAge(since: KubeTime.parse($0), now: now) + " ago" } ?? "-"),
                 "<code>\(Html.escape(m.query ?? ""))</code>"]
            }, id: "analysis")
            out += charts(view, series: series)
        }

        out += "<h2>History</h2>" + Layout.table(["Version", "Stable then", "Started", "Outcome", "Ended", "Reason"], view.history.reversed().map { h in
            [Html.escape(h.version), Html.escape(h.stableVersion ?? "-"), Html.escape(h.startTime),
             Layout.badge(h.outcome?.rawValue ?? "Running"), Html.escape(h.endTime ?? "-"), Html.escape(h.reason ?? "")]
        }, id: "history", empty: "No rollouts yet.")

        out += "<h2>Events</h2>" + Layout.table(["Age", "Type", "Reason", "Message"], events.reversed().map { e in
            [shortAge(since: e.time, now: now), Layout.badge(e.type == "Warning" ? "Warning" : "Normal"),
             Html.escape(e.reason) + (e.count > 1 ? " ×\(e.count)" : ""), Html.escape(e.note)]
        }, id: "events", empty: "No Events.")
        return out
    }

    static func versionLink(_ version: String?, namespace: String) -> String {
        guard let version else { return "-" }
        return Layout.link("/models/\(Html.component(namespace))/\(Html.component(version))", version)
    }

    static func charts(_ view: RolloutView, series: Series?) -> String {
        guard let series else {
            return "<p class=\"note\">Charts of the metrics over time need <code>--prometheus-url</code>.</p>"
        }
        var out = "<div class=\"charts\">"
        for m in view.metrics {
            let last = m.value.flatMap { v in m.time.flatMap(KubeTime.parse).map { MetricChart.Point(time: $0.timeIntervalSince1970, value: v) } }
            out += "<div class=\"chart\"><h3>\(Html.escape(m.name)) <small>\(Html.escape(m.threshold))</small></h3>"
            if let error = series.errors[m.name] { out += "<p class=\"error\">\(Html.escape(error))</p>" }
            out += MetricChart.svg(metric: m.name, points: series.points[m.name] ?? [], min: m.min, max: m.max, last: last) + "</div>"
        }
        return out + "</div>"
    }
}
