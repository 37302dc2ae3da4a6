import Foundation
import SextantAPI
import SextantKubeTypes

// Gates of a rollout beyond the steps' own analysis (issue 18, item 4), as decisions of the same
// machine run (status and observations in, next status out, no I/O):
// - ConfirmTrafficIncrease webhooks, asked before each increase of the canary weight;
// - the rollback window: after promotion, `metrics` keep running for N intervals and failing
//   checks within it route back to the previous stable version;
// - background analysis: metrics on their own interval across all steps, never advancing one.

/// Reasons of the gates, for `status.reason`, Events and history records.
public enum RolloutGateReason {
    public static let awaitingConfirmTrafficIncrease = "AwaitingConfirmTrafficIncrease"
    public static let postPromotionAnalysisFailed = "PostPromotionAnalysisFailed"
    public static let rollbackWindowClosed = "RollbackWindowClosed"
}

public enum RollbackWindow {
    /// What the analysis measures during the window: the threshold metrics and `Rollout` webhooks
    /// only. Comparisons and the prediction shift need the previous version to take traffic,
    /// which it no longer does.
    public static func analysedSpec(_ spec: CanaryRolloutSpec) -> CanaryRolloutSpec {
        var spec = spec
        spec.analysis?.comparisons = nil
        spec.analysis?.predictionShift = nil
        return spec
    }

    /// The window a promotion opens, or nil (no `rollbackWindow`, external serving, or nothing
    /// was stable before).
    static func open(spec: CanaryRolloutSpec, version: String, previous: String?, now: Date,
                     interval: Duration) -> RollbackWindowStatus? {
        guard let intervals = spec.analysis?.rollbackWindow?.intervals, intervals > 0, spec.serving.managed != nil,
              let previous, previous != version else { return nil }
        let end = now.addingTimeInterval(Double(intervals) * interval.seconds)
        return RollbackWindowStatus(version: version, previousStable: previous, startTime: KubeTime.formatMicro(now),
                                    endTime: KubeTime.formatMicro(end))
    }
}

public enum BackgroundAnalysisRuns {
    /// What a background run measures: `analysis.background`'s metrics on its interval, nothing
    /// else (no comparisons, prediction shift or `Rollout` webhooks: those belong to the steps).
    public static func analysedSpec(_ spec: CanaryRolloutSpec) -> CanaryRolloutSpec {
        var spec = spec
        guard let background = spec.analysis?.background else { return spec }
        spec.analysis?.metrics = background.metrics
        let interval = background.interval ?? spec.analysis?.interval
        spec.analysis?.interval = interval
        spec.analysis?.comparisons = nil
        spec.analysis?.predictionShift = nil
        spec.webhooks = spec.webhooks?.filter { $0.type != .rollout }
        return spec
    }
}

extension Run {
    // MARK: Background analysis

    var backgroundInterval: Duration {
        spec.analysis?.background?.interval.flatMap { try? GoDuration.parse($0) } ?? interval
    }

    var backgroundDue: Bool {
        guard let metrics = spec.analysis?.background?.metrics, !metrics.isEmpty, observed.routing == .verified else { return false }
        guard let base = status.backgroundAnalysisTime.flatMap(KubeTime.parse) else { return true }
        return now >= base.addingTimeInterval(backgroundInterval.seconds)
    }

    /// A background run when one is due: its failures count toward `failureLimit` like a step's;
    /// it never advances a step, and its query errors are a Warning Event each (the steps' own
    /// analysis holds on errors). Returns true when it ended the rollout.
    mutating func runBackground(_ candidate: String) throws -> Bool {
        guard backgroundDue else { return false }
        guard let measurements = observed.backgroundAnalysis else { throw NeedSignal(need: .backgroundAnalysis) }
        status.backgroundAnalysisTime = nowText
        let names = Set(measurements.map(\.metric))
        status.measurements = (status.measurements ?? []).filter { !names.contains($0.metric) } + measurements
        let metrics = spec.analysis?.background?.metrics ?? []
        let policies = Dictionary(metrics.map { ($0.name, $0.noDataPolicy) }, uniquingKeysWith: { a, _ in a })
        let effects = measurements.map { ($0, AnalysisEvaluation.effect(of: $0, policy: policies[$0.metric] ?? nil)) }
        if let first = effects.first(where: { $0.1 == .fail })?.0 {
            if try countFailedCheck("background \(describe(first))", candidate: candidate) { return true }
        } else if let error = effects.first(where: { $0.1 == .error })?.0 {
            outcome.events.append(RolloutEvent(warning: true, reason: "AnalysisError", message: "background \(describe(error))"))
        }
        return false
    }

    func backgroundWakeUps() -> [Date] {
        guard spec.analysis?.background != nil, let base = status.backgroundAnalysisTime.flatMap(KubeTime.parse) else { return [] }
        return [base.addingTimeInterval(backgroundInterval.seconds)]
    }

    // MARK: ConfirmTrafficIncrease

    /// Whether the rollout may go from step `current` to step `next`: when the canary weight
    /// grows, every ConfirmTrafficIncrease webhook must have succeeded since the current step
    /// started. A failing one is asked again once per interval; meanwhile the weight holds (phase
    /// `Paused`, reason `AwaitingConfirmTrafficIncrease`).
    mutating func trafficIncreaseConfirmed(from current: Int?, to next: Int) throws -> Bool {
        let wanted = hooks(.confirmTrafficIncrease)
        guard !wanted.isEmpty, next < steps.count else { return true }
        let before = current.map { RolloutSteps.split(at: $0, of: steps).canaryWeight } ?? 0
        guard RolloutSteps.split(at: next, of: steps).canaryWeight > before else { return true }
        let confirmed: Bool
        if let results = observed.webhooks[.confirmTrafficIncrease] {
            remember(results)
            confirmed = results.allSatisfy(\.succeeded)
        } else {
            // Only answers given during this step count: each increase is confirmed anew. (An
            // answer from the pass that entered the step, at its start time, was for that step.)
            let since = status.stepStartTime ?? ""
            let recorded = (status.webhooks ?? []).filter {
                $0.type == .confirmTrafficIncrease && (current == nil ? $0.time >= since : $0.time > since)
            }
            guard let last = recorded.compactMap({ KubeTime.parse($0.time) }).max(),
                  now < last.addingTimeInterval(interval.seconds) else {
                throw NeedSignal(need: .webhooks(.confirmTrafficIncrease))
            }
            confirmed = wanted.allSatisfy { hook in recorded.contains { $0.name == hook.name && $0.succeeded } }
        }
        if !confirmed {
            let weight = RolloutSteps.split(at: next, of: steps).canaryWeight
            status.message = "holding canary weight \(before) before \(weight): waiting for the ConfirmTrafficIncrease webhook: "
                + lastFailure(.confirmTrafficIncrease)
            gateHeld = true
            phaseReason = RolloutGateReason.awaitingConfirmTrafficIncrease
        }
        return confirmed
    }

    // MARK: Rollback window

    /// Promotion under `analysis.rollbackWindow`: opens the window.
    mutating func openRollbackWindow(version: String, previous: String?) {
        status.rollbackWindow = RollbackWindow.open(spec: spec, version: version, previous: previous, now: now, interval: interval)
        if let window = status.rollbackWindow {
            status.message = (status.message ?? "") + "; rollback window open until \(window.endTime)"
        }
    }

    /// Steady state with an open window: runs the analysis every interval until the window ends;
    /// failed checks reaching `failureLimit` roll back to the previous stable version.
    mutating func probation() throws {
        guard var window = status.rollbackWindow else { return }
        guard window.version == status.stableVersion, status.phase == .succeeded else {
            status.rollbackWindow = nil  // a new rollout, or a rollback, replaced the promoted version
            return
        }
        if let end = KubeTime.parse(window.endTime), now >= end {
            status.rollbackWindow = nil
            status.message = "\(window.version) passed its rollback window (\(window.failedChecks ?? 0) failed checks); "
                + "\(window.previousStable) may be scaled down"
            outcome.events.append(RolloutEvent(reason: RolloutGateReason.rollbackWindowClosed, message: status.message ?? ""))
            return
        }
        guard observed.routing == .verified, windowAnalysisDue(window) else { return }
        guard let measurements = observed.analysis else { throw NeedSignal(need: .analysis) }
        status.lastAnalysisTime = nowText
        status.measurements = measurements
        let policies = Dictionary((spec.analysis?.metrics ?? []).map { ($0.name, $0.noDataPolicy) }, uniquingKeysWith: { a, _ in a })
        let failures = measurements.filter { AnalysisEvaluation.effect(of: $0, policy: policies[$0.metric] ?? nil) == .fail }
        let errors = measurements.filter { AnalysisEvaluation.effect(of: $0, policy: policies[$0.metric] ?? nil) == .error }
        guard let first = failures.first else {
            if let error = errors.first {
                // No evidence either way; the window still ends on time.
                outcome.events.append(RolloutEvent(warning: true, reason: "AnalysisError",
                                                   message: "rollback window of \(window.version): \(describe(error))"))
            }
            return
        }
        window.failedChecks = (window.failedChecks ?? 0) + 1
        let limit = spec.analysis?.effectiveFailureLimit ?? AnalysisSpec.defaultFailureLimit
        let count = window.failedChecks ?? 0
        guard count >= limit else {
            status.rollbackWindow = window
            status.message = "rollback window of \(window.version): failed check \(count)/\(limit): \(describe(first))"
            outcome.events.append(RolloutEvent(warning: true, reason: "AnalysisFailed", message: status.message ?? ""))
            return
        }
        try rollBackPromotion(window, message: "\(describe(first)); \(count) failed checks within the rollback window "
                                  + "reached failureLimit \(limit); back to \(window.previousStable)")
    }

    func windowAnalysisDue(_ window: RollbackWindowStatus) -> Bool {
        guard let base = windowAnalysisBase(window) else { return true }
        return now >= base.addingTimeInterval(interval.seconds)
    }

    /// The last analysis within the window, else its start.
    func windowAnalysisBase(_ window: RollbackWindowStatus) -> Date? {
        let last = status.lastAnalysisTime.flatMap { $0 >= window.startTime ? $0 : nil }
        return KubeTime.parse(last ?? window.startTime)
    }

    /// The promoted version goes back to being a rolled-back candidate: the previous stable
    /// version serves again (its Deployment never stopped), and the promotion's history record
    /// now ends `RolledBack`, so the ModelVersion records and the RolledBack Event follow.
    mutating func rollBackPromotion(_ window: RollbackWindowStatus, message: String) throws {
        let reason = RolloutGateReason.postPromotionAnalysisFailed
        status.stableVersion = window.previousStable
        status.canaryVersion = window.version
        status.rollbackWindow = nil
        status.phase = .rolledBack
        status.message = "\(reason): \(message)"
        phaseReason = reason
        status.scaleDownTime = KubeTime.formatMicro(now.addingTimeInterval(Double(spec.abortScaleDownDelaySeconds ?? 30)))
        var history = status.history ?? []
        if let index = history.lastIndex(where: { $0.version == window.version && $0.outcome == .promoted }) {
            history[index].outcome = .rolledBack
            history[index].endTime = nowText
            history[index].reason = reason
            history[index].message = status.message
            status.history = history
        } else {
            close(window.version, .rolledBack, reason: reason)
        }
        outcome.transitions.append(.rolledBack(version: window.version, reason: reason, message: message))
        try callInformational(.rollback)
    }

    /// Timers of an open window: the next analysis and its end.
    func rollbackWindowWakeUps() -> [Date] {
        guard let window = status.rollbackWindow, status.phase == .succeeded else { return [] }
        var times: [Date] = []
        if let end = KubeTime.parse(window.endTime) { times.append(end) }
        if let base = windowAnalysisBase(window) { times.append(base.addingTimeInterval(interval.seconds)) }
        return times
    }
}
