import Foundation
import SextantAPI
import SextantKubeTypes

// The state machine's outcomes (promote, roll back, fail), its webhooks, how status reads, and its
// timers; the steps themselves are in CanaryMachine.swift.
extension Run {
    // MARK: Outcomes

    /// Counts one failed check (a step's or the background's): at `failureLimit` the candidate is
    /// rolled back and true returned; below it the status and a Warning say which check failed.
    mutating func countFailedCheck(_ detail: String, candidate: String) throws -> Bool {
        status.failedChecks = (status.failedChecks ?? 0) + 1
        let limit = spec.analysis?.effectiveFailureLimit ?? AnalysisSpec.defaultFailureLimit
        if (status.failedChecks ?? 0) >= limit {
            try rollBack(candidate, reason: RolloutReason.analysisFailed,
                         message: "\(detail); \(status.failedChecks ?? 0) failed checks reached failureLimit \(limit)")
            return true
        }
        status.message = "failed check \(status.failedChecks ?? 0)/\(limit): \(detail)"
        outcome.events.append(RolloutEvent(warning: true, reason: "AnalysisFailed", message: status.message ?? ""))
        return false
    }

    /// Ends the rollout `RolledBack` and calls the `Rollback` webhooks (informational).
    mutating func rollBack(_ candidate: String, reason: String, message: String) throws {
        end(candidate, phase: .rolledBack, reason: reason, message: message)
        outcome.transitions.append(.rolledBack(version: candidate, reason: reason, message: message))
        try callInformational(.rollback)
    }

    /// Ends the rollout `Failed` and calls the `Rollback` webhooks (informational).
    mutating func fail(_ candidate: String, reason: String, message: String) throws {
        end(candidate, phase: .failed, reason: reason, message: message)
        outcome.transitions.append(.failed(version: candidate, reason: reason, message: message))
        try callInformational(.rollback)
    }

    /// The RolledBack/RolloutFailed Event derives from the closed history record (at least once).
    mutating func end(_ candidate: String, phase: RolloutPhase, reason: String, message: String) {
        status.phase = phase
        status.pauseStartTime = nil
        status.message = "\(reason): \(message)"
        phaseReason = reason
        let delay = Double(spec.abortScaleDownDelaySeconds ?? 30)
        status.scaleDownTime = KubeTime.formatMicro(now.addingTimeInterval(delay))
        close(candidate, phase == .failed ? .failed : .rolledBack, reason: reason)
    }

    /// Closes the open history record of `candidate` with its outcome (one is added for a
    /// status written before the history existed).
    mutating func close(_ candidate: String, _ result: RolloutOutcome, reason: String?) {
        var history = status.history ?? []
        let index = history.lastIndex { $0.version == candidate && $0.outcome == nil }
        var record = index.map { history[$0] }
            ?? RolloutRecord(version: candidate, stableVersion: status.stableVersion, startTime: status.rolloutStartTime ?? nowText)
        record.outcome = result
        record.endTime = nowText
        record.reason = reason
        record.message = status.message
        if let index { history[index] = record } else { history.append(record) }
        status.history = Array(history.suffix(RolloutRecord.limit))
    }

    mutating func cancel(_ canary: String, because why: String) {
        status.phase = status.stableVersion == nil ? nil : .succeeded
        status.canaryVersion = nil
        status.currentStepIndex = nil
        status.pauseStartTime = nil
        status.message = "rollout of \(canary) cancelled: \(why)"
        phaseReason = "Cancelled"
        close(canary, .cancelled, reason: "Cancelled")
        let delay = Double(spec.abortScaleDownDelaySeconds ?? 30)
        status.scaleDownTime = KubeTime.formatMicro(now.addingTimeInterval(delay))
        outcome.events.append(RolloutEvent(reason: "RolloutCancelled", message: status.message ?? ""))
        outcome.transitions.append(.cancelled(version: canary))
    }

    mutating func finishPromotion() throws {
        guard let candidate = status.canaryVersion else {
            status.phase = .succeeded
            return
        }
        guard observed.routing == .verified else {
            if case .failed(let reason, let message) = observed.routing {
                status.message = "promoting \(candidate): waiting for routing: \(reason): \(message)"
                hold = Hold(reason: reason, message: status.message ?? "", warning: true)
            }
            return
        }
        if case .pending(let why) = observed.stableUpdate {
            // External serving: the stable Deployment is the user's (GitOps). Traffic stays on the
            // canary destination until it runs the candidate; never back to the old version.
            let deployment = spec.serving.external?.stableDeployment ?? "the stable Deployment"
            let timeout = Double(spec.serving.external?.promotionTimeoutSeconds ?? 600)
            let since = status.lastProgressTime.flatMap(KubeTime.parse) ?? now
            status.message = "promoting \(candidate): all traffic stays on the canary destination until Deployment "
                + "\(deployment) runs \(candidate): \(why)"
            if now >= since.addingTimeInterval(timeout) {
                hold = Hold(reason: RolloutReason.promotionTimeout,
                            message: "\(status.message ?? "") (not within promotionTimeoutSeconds \(Int(timeout)); update "
                                + "\(deployment) to \(candidate) in your GitOps repository)",
                            warning: true)
            } else {
                phaseReason = RolloutReason.awaitingStableUpdate
            }
            return
        }
        try callInformational(.postRollout)
        let previous = status.stableVersion
        status.stableVersion = candidate
        status.canaryVersion = nil
        status.phase = .succeeded
        status.currentStepIndex = nil
        status.pauseStartTime = nil
        status.iterations = nil
        status.lastProgressTime = nowText
        status.scaleDownTime = KubeTime.formatMicro(now.addingTimeInterval(Double(spec.scaleDownDelaySeconds ?? 30)))
        status.message = previous.map { "promoted \(candidate) (previous stable: \($0))" } ?? "promoted the first version \(candidate)"
        phaseReason = "Promoted"
        close(candidate, .promoted, reason: "Promoted")
        outcome.transitions.append(.promoted(version: candidate, previous: previous))
        openRollbackWindow(version: candidate, previous: previous)
    }

    // MARK: Webhooks

    func hooks(_ type: WebhookType) -> [RolloutWebhook] { (spec.webhooks ?? []).filter { $0.type == type } }

    /// Pre-rollout hooks must have succeeded since this rollout started; asks for them otherwise.
    mutating func webhooksPassed(_ type: WebhookType) throws -> Bool {
        let wanted = hooks(type)
        guard !wanted.isEmpty else { return true }
        let since = status.rolloutStartTime ?? ""
        let recorded = (status.webhooks ?? []).filter { $0.type == type && $0.time >= since }
        if wanted.allSatisfy({ hook in recorded.contains { $0.name == hook.name && $0.succeeded } }) { return true }
        guard let results = observed.webhooks[type] else { throw NeedSignal(need: .webhooks(type)) }
        remember(results)
        return results.allSatisfy(\.succeeded)
    }

    /// ConfirmPromotion hooks gate promotion; a failing one is asked again once per interval.
    mutating func confirmPromotion() throws -> Bool {
        let wanted = hooks(.confirmPromotion)
        guard !wanted.isEmpty else { return true }
        if let results = observed.webhooks[.confirmPromotion] {
            remember(results)
            return results.allSatisfy(\.succeeded)
        }
        let recorded = (status.webhooks ?? []).filter { $0.type == .confirmPromotion }
        if let last = recorded.compactMap({ KubeTime.parse($0.time) }).max(),
           now < last.addingTimeInterval(interval.seconds) {
            return wanted.allSatisfy { hook in recorded.contains { $0.name == hook.name && $0.succeeded } }
        }
        throw NeedSignal(need: .webhooks(.confirmPromotion))
    }

    /// PostRollout and Rollback hooks are informational: called once, their result only recorded.
    mutating func callInformational(_ type: WebhookType) throws {
        guard !hooks(type).isEmpty else { return }
        guard let results = observed.webhooks[type] else { throw NeedSignal(need: .webhooks(type)) }
        remember(results)
    }

    mutating func remember(_ results: [WebhookResult]) {
        var all = status.webhooks ?? []
        for r in results {
            all.removeAll { $0.name == r.name }
            all.append(r)
        }
        status.webhooks = all
    }

    func lastFailure(_ type: WebhookType) -> String {
        let failed = (observed.webhooks[type] ?? status.webhooks?.filter { $0.type == type } ?? []).filter { !$0.succeeded }
        return failed.map { "\($0.name): \($0.message ?? "status \($0.statusCode.map(String.init) ?? "none")")" }
            .joined(separator: "; ")
    }

    // MARK: Presentation

    /// Shows a hold as phase `Waiting` (the machine's phase kept in `heldPhase`) and sets the
    /// reason of every phase. Entering a wait, or a new reason for it, is an Event naming why.
    mutating func present() {
        if hold == nil, status.phase == .progressing || status.phase == .paused, (status.consecutiveErrors ?? 0) > 0 {
            // Analysis errors hold the steps until a run without errors (each run has its own Event).
            hold = Hold(reason: RolloutReason.analysisError, message: status.message ?? "", warning: false)
        }
        if let hold {
            status.heldPhase = status.phase
            status.phase = .waiting
            status.reason = hold.reason
            status.message = hold.message
            // (Analysis errors have their own Warning per run.)
            if original.phase != .waiting || original.reason != hold.reason, hold.reason != RolloutReason.analysisError {
                outcome.events.append(RolloutEvent(warning: hold.warning, reason: hold.reason, message: hold.message))
            }
            return
        }
        status.heldPhase = nil
        status.reason = phaseReason ?? defaultReason()
    }

    func defaultReason() -> String? {
        switch status.phase {
        case .initializing?: return status.stableVersion == nil ? "DeployingFirstVersion" : "DeployingCandidate"
        case .progressing?: return "StepInProgress"
        case .promoting?: return "Promoting"
        case .paused?:
            if spec.paused == true { return "SpecPaused" }
            let index = status.currentStepIndex ?? 0
            guard index < steps.count else { return "AwaitingConfirmPromotion" }
            if case .pause(nil) = steps[index] { return "AwaitingPromoteRequest" }
            return "PauseStep"
        case .succeeded?: return original.phase == .succeeded ? (original.reason ?? "Serving") : "Serving"
        case .rolledBack?, .failed?:
            // Kept from the pass that ended it (the machine holds these phases unchanged).
            return status.history?.last { $0.version == status.canaryVersion && $0.outcome != nil }?.reason
                ?? status.message.flatMap { $0.split(separator: ":").first.map(String.init) }
        case .waiting?, .invalid?, nil: return nil
        }
    }

    // MARK: Timers

    /// The earliest time something will be due: next analysis, end of a pause, the progress
    /// deadline, a scale-down.
    func nextWakeUp() -> Duration? {
        var times: [Date] = []
        let active = CanaryMachine.isActive(status)
        let working = CanaryMachine.resumed(status)
        if active, working.phase == .progressing || working.phase == .paused {
            let hasAnalysis = (spec.analysis?.hasChecks ?? false) || !hooks(.rollout).isEmpty
            if hasAnalysis, let base = (status.lastAnalysisTime ?? status.stepStartTime).flatMap(KubeTime.parse) {
                times.append(base.addingTimeInterval(interval.seconds))
            }
            if let index = status.currentStepIndex, index < steps.count, case .pause(let d?) = steps[index],
               let started = status.pauseStartTime.flatMap(KubeTime.parse) {
                times.append(started.addingTimeInterval(d.seconds))
            }
            if index(atEnd: status), !hooks(.confirmPromotion).isEmpty {
                times.append(now.addingTimeInterval(interval.seconds))
            }
        }
        if gateHeld { times.append(now.addingTimeInterval(interval.seconds)) }
        if active, working.phase == .progressing || working.phase == .paused { times += backgroundWakeUps() }
        times += rollbackWindowWakeUps()
        // A deadline already past needs no timer (every hold checks it), and would spin;
        // promotion has none.
        if active, working.phase != .promoting, let last = status.lastProgressTime.flatMap(KubeTime.parse),
           last.addingTimeInterval(Double(deadlineSeconds)) > now {
            times.append(last.addingTimeInterval(Double(deadlineSeconds)))
        }
        if let scaleDown = status.scaleDownTime.flatMap(KubeTime.parse), scaleDown > now {
            times.append(scaleDown)
        }
        let awaitingStable: Bool
        if case .pending = observed.stableUpdate, working.phase == .promoting {
            // Woken by the Deployment's watch; the timer only marks the promotion timeout.
            awaitingStable = true
            if let since = status.lastProgressTime.flatMap(KubeTime.parse) {
                let timeout = Double(spec.serving.external?.promotionTimeoutSeconds ?? 600)
                if now < since.addingTimeInterval(timeout) { times.append(since.addingTimeInterval(timeout)) }
            }
        } else {
            awaitingStable = false
        }
        let promotingNow = working.phase == .promoting && !awaitingStable && hold == nil
        if status != original || promotingNow || working.phase == .initializing && observed.serving == .ready && !gateHeld {
            // Something changed (or routing must catch up): look again right away.
            return .zero
        }
        // A time already past is blocked by something else (routing, serving), which has its
        // own wake-up (the 10 s routing retry, the Deployment watch): no timer, or it would spin.
        guard let next = times.filter({ $0 > now }).min() else { return nil }
        return .seconds(max(0, next.timeIntervalSince(now)))
    }

    func index(atEnd status: CanaryRolloutStatus) -> Bool { (status.currentStepIndex ?? 0) >= steps.count }

    func format(_ d: Duration) -> String {
        let s = d.seconds
        return s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}
