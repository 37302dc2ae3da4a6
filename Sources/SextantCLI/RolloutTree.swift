import Foundation
import SextantAPI
import SextantDashboard
import SextantKubeTypes

/// The terminal tree of one CanaryRollout (`sextant get cro NAME --tree`), modeled on
/// `kubectl argo rollouts get rollout`: pure, status and objects in, lines out.
public enum RolloutTree {
    public static func render(_ rollout: CanaryRollout, deployments: [ServingDeployment], events: [RolloutEvent],
                              now: Date, color: Bool = false) -> [String] {
        let view = RolloutView(rollout)
        let paint = Paint(enabled: color)
        var lines: [String] = []
        func field(_ name: String, _ value: String) {
            lines.append((name + ":").padding(toLength: 17, withPad: " ", startingAt: 0) + value)
        }
        field("Name", view.name)
        field("Namespace", view.namespace)
        field("Model", view.model)
        field("Phase", paint.phase(view.phase) + (view.reason.map { " (\($0))" } ?? ""))
        if let message = view.message, !message.isEmpty { field("Message", message) }
        field("Strategy", view.strategy)
        field("Stable", view.stable ?? "-")
        field("Canary", view.canary ?? "-")
        if let current = view.currentStep {
            field("Step", "\(min(current + 1, view.steps.count))/\(view.steps.count)")
        }
        field("Weight", "canary \(view.weight)% (verified), step wants \(view.desiredWeight)%")
        if !view.metrics.isEmpty {
            field("Analysis", "failed runs \(view.failedChecks)/\(view.failureLimit.map(String.init) ?? "-"), "
                + "consecutive errors \(view.consecutiveErrors)/\(view.consecutiveErrorLimit.map(String.init) ?? "-")")
        }

        lines.append("")
        lines.append("STEPS")
        if view.steps.isEmpty { lines.append("  (none)") }
        for (i, step) in view.steps.enumerated() {
            let branch = i == view.steps.count - 1 ? "└──" : "├──"
            lines.append("\(branch)\(paint.step(step.state)) \(step.number). \(step.label)"
                         + (step.label.hasPrefix("setWeight") ? "" : "  (weight \(step.weight))"))
        }

        lines.append("")
        lines.append("SERVING")
        if deployments.isEmpty { lines.append("  (no Deployments)") }
        let nameWidth = deployments.map(\.name.count).max() ?? 0
        for (i, d) in deployments.enumerated() {
            let branch = i == deployments.count - 1 ? "└──" : "├──"
            let status = d.isAvailable ? paint.good("✔ Available") : d.replicas == 0 ? "• ScaledDown" : paint.warn("◌ Progressing")
            lines.append("\(branch)Deployment \(d.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  "
                         + "\(d.role(in: view).padding(toLength: 11, withPad: " ", startingAt: 0)) "
                         + "\((d.version ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0)) "
                         + "\(d.ready)/\(d.replicas) ready  \(status)")
        }

        if !view.metrics.isEmpty {
            lines.append("")
            let ago = view.lastAnalysisTime.flatMap(KubeTime.parse).map { " (last run \(shortAge(since: $0, now: now)) ago)" } ?? ""
            lines.append("ANALYSIS" + ago)
            let width = view.metrics.map(\.name.count).max() ?? 0
            for (i, m) in view.metrics.enumerated() {
                let branch = i == view.metrics.count - 1 ? "└──" : "├──"
                let value = m.value.map(RolloutView.number) ?? "-"
                let outcome = m.outcome?.rawValue ?? "NotMeasured"
                lines.append("\(branch)\(paint.outcome(m.outcome)) \(m.name.padding(toLength: width, withPad: " ", startingAt: 0))  "
                             + "\(value.padding(toLength: 9, withPad: " ", startingAt: 0)) \(m.threshold.padding(toLength: 13, withPad: " ", startingAt: 0)) \(outcome)"
                             + (m.outcome == .pass || m.message == nil ? "" : "  \(m.message ?? "")"))
            }
        }

        lines.append("")
        lines.append("EVENTS")
        if events.isEmpty { lines.append("  (none)") }
        for e in events {
            let count = e.count > 1 ? " (x\(e.count))" : ""
            lines.append("  \(shortAge(since: e.time, now: now).padding(toLength: 5, withPad: " ", startingAt: 0)) "
                         + (e.type == "Warning" ? paint.bad : { $0 })(e.type.padding(toLength: 8, withPad: " ", startingAt: 0))
                         + " \(e.reason)\(count): \(e.note)")
        }
        return lines
    }

    /// ANSI colours for a terminal; nothing when the output is not one.
    struct Paint {
        var enabled: Bool
        func wrap(_ code: String, _ text: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        func good(_ text: String) -> String { wrap("32", text) }
        func warn(_ text: String) -> String { wrap("33", text) }
        func bad(_ text: String) -> String { wrap("31", text) }

        func step(_ state: RolloutView.StepState) -> String {
            switch state {
            case .done: return good("✔")
            case .current: return warn("►")
            case .failed: return bad("✖")
            case .pending: return "○"
            }
        }

        func outcome(_ outcome: MeasurementOutcome?) -> String {
            switch outcome {
            case .pass?: return good("✔")
            case .fail?: return bad("✖")
            case .error?: return bad("!")
            case .noData?: return warn("?")
            case nil: return "○"
            }
        }

        func phase(_ phase: String) -> String {
            switch phase {
            case RolloutPhase.succeeded.rawValue: return good("✔ " + phase)
            case RolloutPhase.rolledBack.rawValue, RolloutPhase.failed.rawValue, RolloutPhase.invalid.rawValue: return bad("✖ " + phase)
            case RolloutPhase.paused.rawValue: return warn("॥ " + phase)
            default: return warn("◌ " + phase)
            }
        }
    }
}
