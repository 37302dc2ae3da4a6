import Foundation
import SextantAPI
import SextantKubeTypes

// The analysis decisions of the state machine, pure (spec, status and observation in, time passed
// in): whether a step's analysis run is due, and what one run's measurements say
// (`AnalysisDecisions`). The machine run counts the verdict against `failureLimit` and
// `consecutiveErrorLimit` and records it in status.

/// One analysis run judged: the measurements that fail the check, the query errors, and the
/// measurements that have not decided yet (a sequential comparison or the prediction shift
/// without enough data on both sides), which hold the step without passing or failing it.
public struct AnalysisVerdict: Sendable, Hashable {
    public var failures: [SextantAPI.Measurement] = []
    public var errors: [SextantAPI.Measurement] = []
    public var undecided: [SextantAPI.Measurement] = []

    public init() {}
}

public enum AnalysisDecisions {
    /// `spec.analysis.interval`, or the default.
    public static func interval(_ spec: CanaryRolloutSpec) -> Duration {
        spec.analysis?.interval.flatMap { try? GoDuration.parse($0) } ?? CanaryMachine.defaultInterval
    }

    /// Whether a step's analysis run is due: the rollout has checks (metrics, comparisons or
    /// `Rollout` webhooks), its routing is verified, and an interval has passed since the last run
    /// (or since the step started).
    public static func isDue(spec: CanaryRolloutSpec, status: CanaryRolloutStatus, routing: RoutingState,
                             now: Date) -> Bool {
        let hasAnalysis = (spec.analysis?.hasChecks ?? false) || (spec.webhooks ?? []).contains { $0.type == .rollout }
        guard hasAnalysis, routing == .verified else { return false }
        guard let base = (status.lastAnalysisTime ?? status.stepStartTime).flatMap(KubeTime.parse) else { return true }
        return now >= base.addingTimeInterval(interval(spec).seconds)
    }

    /// Judges one run's measurements by each metric's `noDataPolicy`; comparisons that lack
    /// events are ignored, undecided sequential checks hold.
    public static func judge(_ measurements: [SextantAPI.Measurement], analysis: AnalysisSpec?) -> AnalysisVerdict {
        var policies = Dictionary((analysis?.metrics ?? []).map { ($0.name, $0.noDataPolicy) }, uniquingKeysWith: { a, _ in a })
        // A comparison without enough events on both sides has not decided: never a failure.
        for comparison in analysis?.comparisons ?? [] where policies[comparison.name] == nil {
            policies[comparison.name] = .ignore
        }
        // A sequential comparison that has not decided holds the step: no pass, no failure.
        // So does the prediction shift without enough predictions on both sides.
        var sequential = Set((analysis?.comparisons ?? []).filter { $0.test == .sequential }.map(\.name))
        if analysis?.predictionShift != nil { sequential.insert(PredictionShiftCheck.metricName) }
        var verdict = AnalysisVerdict()
        for m in measurements {
            if m.outcome == .noData, sequential.contains(m.metric) {
                verdict.undecided.append(m)
                continue
            }
            switch AnalysisEvaluation.effect(of: m, policy: policies[m.metric] ?? nil) {
            case .fail: verdict.failures.append(m)
            case .error: verdict.errors.append(m)
            case .pass, .ignore: break
            }
        }
        return verdict
    }
}

extension Run {
    // MARK: Analysis

    var analysisDue: Bool { AnalysisDecisions.isDue(spec: spec, status: status, routing: observed.routing, now: now) }

    /// Counts one analysis run. Returns true when it ended the rollout.
    mutating func record(_ measurements: [SextantAPI.Measurement], candidate: String) throws -> Bool {
        status.lastAnalysisTime = nowText
        // The background metrics' latest values stay beside the step's.
        let background = Set((spec.analysis?.background?.metrics ?? []).map(\.name))
        status.measurements = measurements + (status.measurements ?? []).filter { background.contains($0.metric) }
        let verdict = AnalysisDecisions.judge(measurements, analysis: spec.analysis)
        let failures = verdict.failures, errors = verdict.errors
        if let first = failures.first, try countFailedCheck(describe(first), candidate: candidate) { return true }
        if let first = errors.first {
            status.consecutiveErrors = (status.consecutiveErrors ?? 0) + 1
            let limit = spec.analysis?.effectiveConsecutiveErrorLimit ?? AnalysisSpec.defaultConsecutiveErrorLimit
            if (status.consecutiveErrors ?? 0) >= limit {
                try fail(candidate, reason: RolloutReason.analysisErrors,
                         message: "\(status.consecutiveErrors ?? 0) consecutive analysis errors reached consecutiveErrorLimit \(limit); last: \(describe(first))")
                return true
            }
            if failures.isEmpty {
                status.message = "holding: analysis error \(status.consecutiveErrors ?? 0)/\(limit): \(describe(first))"
                outcome.events.append(RolloutEvent(warning: true, reason: "AnalysisError", message: status.message ?? ""))
            }
        } else {
            status.consecutiveErrors = 0
        }
        if failures.isEmpty && errors.isEmpty {
            if let first = verdict.undecided.first {
                status.message = "holding: \(describe(first))"
            } else {
                status.iterations = (status.iterations ?? 0) + 1
                status.lastProgressTime = nowText
            }
        }
        return false
    }

    func describe(_ m: SextantAPI.Measurement) -> String {
        var text = "metric \(m.metric)"
        if let v = m.value { text += " = \(AnalysisEvaluation.format(v))" }
        if let message = m.message { text += ": \(message)" }
        return text
    }
}
