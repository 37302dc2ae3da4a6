import Foundation
import SextantAPI

/// The Drift pages' bodies (pure): the live versions of each CanaryRollout and, from Prometheus,
/// the per-feature drift `sextant-server` exports for them (docs/model-server.md: the gauges
/// `sextant_feature_psi` and `sextant_feature_ks{model, version, feature}`), one chart per feature
/// and statistic with the threshold the rollout's analysis or the model's retrain condition sets.
public enum DriftPages {
    /// A drift statistic and the gauge that carries it.
    public enum Statistic: String, CaseIterable, Sendable {
        case psi = "sextant_feature_psi", ks = "sextant_feature_ks"
        public var label: String { self == .psi ? "PSI" : "KS" }
    }

    /// The versions a rollout serves now: its stable and, while one rolls out, its canary (not
    /// after a rollback or failure, when the canary is scaled down).
    public struct LiveVersion: Sendable, Hashable {
        public var name: String
        public var role: String
    }

    public static func liveVersions(_ rollout: CanaryRollout) -> [LiveVersion] {
        var live: [LiveVersion] = []
        let phase = rollout.status?.heldPhase ?? rollout.status?.phase
        if let stable = rollout.status?.stableVersion { live.append(LiveVersion(name: stable, role: "stable")) }
        if let canary = rollout.status?.canaryVersion, canary != rollout.status?.stableVersion, phase != .rolledBack, phase != .failed {
            live.append(LiveVersion(name: canary, role: "canary"))
        }
        return live
    }

    /// A declared drift limit: values above it fail an analysis or start a retrain.
    public struct Threshold: Sendable, Hashable {
        public var min: Double?
        public var max: Double?
        /// Who declares it: `CanaryRollout fraud, metric feature-psi`.
        public var source: String
    }

    /// The thresholds on a statistic: analysis metrics of the rollout whose query reads its gauge
    /// (their range), and retrain conditions of the model's TrainingJobs that do (`above`).
    public static func thresholds(for statistic: Statistic, rollout: CanaryRollout, jobs: [TrainingJob]) -> [Threshold] {
        var found: [Threshold] = []
        for m in rollout.spec.analysis?.metrics ?? [] where m.query?.contains(statistic.rawValue) == true {
            guard m.thresholdRange.min != nil || m.thresholdRange.max != nil else { continue }
            found.append(Threshold(min: m.thresholdRange.min, max: m.thresholdRange.max,
                                   source: "CanaryRollout \(rollout.metadata.name ?? ""), metric \(m.name)"))
        }
        for job in jobs where job.spec.modelName == rollout.spec.modelName {
            for c in job.spec.retrainOn?.conditions ?? [] where c.query.contains(statistic.rawValue) {
                guard c.above != nil || c.below != nil else { continue }
                found.append(Threshold(min: c.below, max: c.above, source: "TrainingJob \(job.metadata.name ?? ""), retrain condition \(c.name)"))
            }
        }
        return found
    }

    /// One feature's statistic over time for one version.
    public struct Series: Sendable, Hashable {
        public var statistic: Statistic
        public var feature: String
        public var version: String
        public var points: [MetricChart.Point]
        public init(statistic: Statistic, feature: String, version: String, points: [MetricChart.Point]) {
            self.statistic = statistic
            self.feature = feature
            self.version = version
            self.points = points
        }
    }

    /// What the page says when the dashboard has no Prometheus.
    public static let needsPrometheus = "Drift comes from Prometheus: start the dashboard with --prometheus-url http://PROMETHEUS:9090, "
        + "a Prometheus that scrapes the sextant-server Pods' /metrics (they export sextant_feature_psi and sextant_feature_ks "
        + "per model, version and feature when the model artifact has a reference profile)."

    public static func list(_ rollouts: [CanaryRollout], namespace: String?, selector: String?, next: String?, prometheus: Bool) -> String {
        var out = "<h1>Drift</h1>" + Layout.filter(path: "/drift", namespace: namespace, selector: selector)
        if !prometheus { out += "<p class=\"error\" id=\"needs-prometheus\">\(Html.escape(needsPrometheus))</p>" }
        out += Layout.table(["Namespace", "Rollout", "Model", "Live versions"], rollouts.map { r in
            let ns = r.metadata.namespace ?? "", name = r.metadata.name ?? ""
            return [Html.escape(ns), Layout.link("/drift/\(Html.component(ns))/\(Html.component(name))", name), Html.escape(r.spec.modelName),
                    liveVersions(r).map { "\(Html.escape($0.name)) (\($0.role))" }.joined(separator: ", ").nonEmpty ?? "-"]
        }, id: "drift-rollouts", empty: "No CanaryRollouts found.")
        return out + RolloutPages.more(path: "/drift", namespace: namespace, selector: selector, next: next)
    }

    /// One rollout's live versions: a chart per feature and statistic, the stable version solid and
    /// the canary dashed; `series` nil: no Prometheus.
    public static func detail(_ rollout: CanaryRollout, jobs: [TrainingJob], series: [Series]?, errors: [String], window: String) -> String {
        let ns = rollout.metadata.namespace ?? "", name = rollout.metadata.name ?? ""
        let live = liveVersions(rollout)
        var out = "<h1>Drift of <span id=\"drift-rollout\">\(Html.escape(ns))/\(Html.escape(name))</span></h1><dl class=\"facts\">"
        out += "<dt>Model</dt><dd>\(Html.escape(rollout.spec.modelName))</dd>"
        out += "<dt>Rollout</dt><dd>\(Layout.link("/rollouts/\(Html.component(ns))/\(Html.component(name))", name))</dd>"
        out += "<dt>Live versions</dt><dd id=\"live-versions\">" + (live.map { v in
            Layout.link("/models/\(Html.component(ns))/\(Html.component(v.name))", v.name) + " (\(v.role)\(v.role == "canary" ? ", dashed" : ""))"
        }.joined(separator: ", ").nonEmpty ?? "none") + "</dd></dl>"
        guard let series else {
            return out + "<p class=\"error\" id=\"needs-prometheus\">\(Html.escape(needsPrometheus))</p>"
        }
        for error in errors { out += "<p class=\"error\">\(Html.escape(error))</p>" }
        let features = Set(series.map(\.feature)).sorted()
        if features.isEmpty {
            return out + "<p class=\"empty\" id=\"no-drift\">Prometheus has no sextant_feature_psi or sextant_feature_ks for "
                + "model \(Html.escape(rollout.spec.modelName)) and these versions over the last \(Html.escape(window)).</p>"
        }
        out += "<p class=\"note\">The last \(Html.escape(window)); dashed lines are the declared thresholds.</p><div class=\"charts\" id=\"drift-charts\">"
        for feature in features {
            for statistic in Statistic.allCases {
                let mine = series.filter { $0.feature == feature && $0.statistic == statistic }
                guard !mine.isEmpty else { continue }
                let primary = live.first.flatMap { v in mine.first { $0.version == v.name } }?.points ?? []
                let second = live.dropFirst().first.flatMap { v in mine.first { $0.version == v.name } }?.points ?? []
                let threshold = thresholds(for: statistic, rollout: rollout, jobs: jobs).first
                let label = "\(feature) \(statistic.label)"
                out += "<div class=\"chart\" data-feature=\"\(Html.escape(feature))\" data-statistic=\"\(statistic.label)\"><h3>\(Html.escape(label))</h3>"
                    + MetricChart.svg(metric: label, points: primary, min: threshold?.min, max: threshold?.max, last: primary.last ?? second.last,
                                      second: second)
                    + "<p class=\"note\">" + (threshold.map { "threshold from \(Html.escape($0.source))" } ?? "no threshold declared") + "</p></div>"
            }
        }
        return out + "</div>"
    }
}
