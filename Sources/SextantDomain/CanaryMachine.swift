import Foundation
import SextantAPI
import SextantKubeTypes

// The CanaryRollout state machine: observed state in, next status out, no I/O. All progress lives
// in `status` with timestamps, so a controller killed at any moment resumes where it was. This
// file is the pass (requests, start, the phases, holds); the step decisions are in
// CanaryMachineSteps.swift, the analysis decisions in CanaryMachineAnalysis.swift, the outcomes
// (promote, roll back, fail, webhooks, timers) in CanaryMachineOutcomes.swift.

/// Whether `spec.modelVersion` may be rolled out.
public enum CandidateState: Sendable, Hashable {
    case unset
    case eligible(String)
    /// Approved, but a rollout of it was rolled back before: it goes out again only on a `retry` request.
    case rolledBackBefore(String, message: String)
    /// Exists but may not go out (not approved, rejected, other model, rolled back, missing).
    case ineligible(String, reason: String, message: String)
}

/// Serving of the version being rolled out (Deployment available with its replicas).
public enum ServingState: Sendable, Hashable {
    case ready
    case notReady(String)
}

/// External serving: whether the user's stable Deployment runs the candidate yet (GitOps caught
/// up). Promotion routes traffic back to the stable destination only once it does.
public enum StableUpdateState: Sendable, Hashable {
    /// Managed serving: Sextant points the stable subset/Service at the candidate itself.
    case notApplicable
    case done
    case pending(String)
}

/// Whether the VirtualService routes what `CanaryMachine.desiredRouting` asks, as read back.
public enum RoutingState: Sendable, Hashable {
    case verified
    /// Nothing to route yet (no version serving).
    case notApplicable
    case failed(reason: String, message: String)
}

public struct RolloutObservation: Sendable {
    public var now: Date
    public var candidate: CandidateState
    public var serving: ServingState
    public var routing: RoutingState
    /// External serving during promotion: whether the stable Deployment runs the candidate.
    public var stableUpdate: StableUpdateState
    /// This pass's analysis, present once the machine asked for it with `.need(.analysis)`.
    public var analysis: [SextantAPI.Measurement]?
    /// Results of the webhooks the machine asked for with `.need(.webhooks(type))`.
    public var webhooks: [WebhookType: [WebhookResult]]
    /// This pass's background analysis, present once the machine asked for it.
    public var backgroundAnalysis: [SextantAPI.Measurement]?

    public init(now: Date, candidate: CandidateState, serving: ServingState, routing: RoutingState,
                stableUpdate: StableUpdateState = .notApplicable,
                analysis: [SextantAPI.Measurement]? = nil, webhooks: [WebhookType: [WebhookResult]] = [:]) {
        self.now = now
        self.candidate = candidate
        self.serving = serving
        self.routing = routing
        self.stableUpdate = stableUpdate
        self.analysis = analysis
        self.webhooks = webhooks
    }
}

/// What the traffic should look like now, derived from status alone.
public struct DesiredRouting: Sendable, Hashable {
    /// The version the stable destination serves.
    public var stableVersion: String
    /// The version the canary destination serves (`nil`: the router points it at the stable version).
    public var canaryVersion: String?
    public var split: TrafficSplit
}

public struct RolloutEvent: Sendable, Hashable {
    public var warning: Bool
    public var reason: String
    public var message: String
    public init(warning: Bool = false, reason: String, message: String) {
        self.warning = warning
        self.reason = reason
        self.message = message
    }
}

/// A change of the rollout's outcome, for the ModelVersion records, metrics and Events.
public enum RolloutTransition: Sendable, Hashable {
    case started(candidate: String)
    case promoted(version: String, previous: String?)
    case rolledBack(version: String, reason: String, message: String)
    case failed(version: String, reason: String, message: String)
    case cancelled(version: String)
}

public enum CanaryNeed: Sendable, Hashable {
    /// Run every metric (and Rollout webhook) and call `decide` again with `observation.analysis`.
    case analysis
    /// Call the webhooks of this type and call `decide` again with their results.
    case webhooks(WebhookType)
    /// Run `analysis.background`'s metrics (`BackgroundAnalysisRuns.analysedSpec`) and call
    /// `decide` again with `observation.backgroundAnalysis`.
    case backgroundAnalysis
}

public struct CanaryOutcome: Sendable {
    public var status: CanaryRolloutStatus
    public var events: [RolloutEvent] = []
    public var transitions: [RolloutTransition] = []
    /// When to look again at the latest (`nil`: only when something changes).
    public var requeueAfter: Duration?

    public init(status: CanaryRolloutStatus, requeueAfter: Duration? = nil) {
        self.status = status
        self.requeueAfter = requeueAfter
    }
}

public enum CanaryDecision: Sendable {
    case need(CanaryNeed)
    case decided(CanaryOutcome)
}

/// Reasons written into `status.message`, Events and rollback records.
public enum RolloutReason {
    public static let analysisFailed = "AnalysisFailed"
    public static let analysisErrors = "AnalysisErrors"
    public static let aborted = "Aborted"
    public static let progressDeadlineExceeded = "ProgressDeadlineExceeded"
    public static let preRolloutWebhookFailed = "PreRolloutWebhookFailed"
    public static let candidateWithdrawn = "CandidateWithdrawn"
    public static let invalidSpec = "InvalidSpec"
    public static let servingNotReady = "CandidateNotServing"
    public static let analysisError = "AnalysisError"
    public static let awaitingStableUpdate = "AwaitingStableUpdate"
    public static let promotionTimeout = "PromotionTimeout"
    public static let rolledBackBefore = "RolledBackBefore"
}

public enum CanaryMachine {
    static let defaultInterval: Duration = .seconds(60)

    /// The next status of a rollout, or what must be measured first.
    public static func decide(spec: CanaryRolloutSpec, status: CanaryRolloutStatus?, generation: Int64?,
                              observed: RolloutObservation) -> CanaryDecision {
        var run = Run(spec: spec, observed: observed, status: status ?? CanaryRolloutStatus())
        run.status.observedGeneration = generation ?? run.status.observedGeneration
        do {
            try run.step()
        } catch let need as NeedSignal {
            return .need(need.need)
        } catch {
            // `step` throws only NeedSignal; anything else is a programming error surfaced as a hold.
            run.status.message = "internal error: \(error)"
        }
        run.present()
        run.outcome.status = run.status
        run.outcome.requeueAfter = run.nextWakeUp()
        return .decided(run.outcome)
    }

    /// The status the machine works on: under `Waiting` or `Invalid`, the held phase. Traffic,
    /// serving and records follow it, so a wait never moves traffic.
    public static func resumed(_ status: CanaryRolloutStatus) -> CanaryRolloutStatus {
        guard status.phase == .waiting || status.phase == .invalid else { return status }
        var s = status
        s.phase = status.heldPhase
        s.heldPhase = nil
        return s
    }

    /// The status of a rollout whose spec is invalid: phase `Invalid`, the phase it was in held.
    public static func invalid(_ status: CanaryRolloutStatus?, message: String) -> CanaryRolloutStatus {
        var s = resumed(status ?? CanaryRolloutStatus())
        s.heldPhase = s.phase
        s.phase = .invalid
        s.reason = RolloutReason.invalidSpec
        s.message = "invalid spec: \(message)"
        return s
    }

    /// The traffic the status calls for; `nil` before any version serves.
    ///
    /// External serving: while promoting, all traffic stays on the canary destination (whose
    /// Deployment runs the candidate); the machine ends the promotion, and 100/0 goes back to
    /// the stable destination, only once the stable Deployment runs the candidate.
    public static func desiredRouting(spec: CanaryRolloutSpec, status: CanaryRolloutStatus?) -> DesiredRouting? {
        guard let raw = status else { return nil }
        let status = resumed(raw)
        let steps = RolloutSteps.of(spec)
        switch status.phase {
        case .promoting?:
            guard let canary = status.canaryVersion else { return nil }
            if spec.serving.external != nil {
                return DesiredRouting(stableVersion: status.stableVersion ?? canary, canaryVersion: canary,
                                      split: TrafficSplit(canaryWeight: 100))
            }
            return DesiredRouting(stableVersion: canary, canaryVersion: canary, split: TrafficSplit(canaryWeight: 0))
        case .progressing?, .paused?:
            guard let stable = status.stableVersion, let canary = status.canaryVersion else { break }
            return DesiredRouting(stableVersion: stable, canaryVersion: canary,
                                  split: RolloutSteps.split(at: status.currentStepIndex ?? 0, of: steps))
        default:
            break
        }
        guard let stable = status.stableVersion else { return nil }
        return DesiredRouting(stableVersion: stable, canaryVersion: nil, split: TrafficSplit(canaryWeight: 0))
    }

    /// Versions that must keep serving now. Every other served version is scaled down once
    /// `status.scaleDownTime` has passed.
    public static func versionsToServe(status: CanaryRolloutStatus?) -> Set<String> {
        guard let status = status.map(resumed) else { return [] }
        var versions = Set<String>()
        if let stable = status.stableVersion { versions.insert(stable) }
        // On probation after a promotion, the previous stable version stays ready to take traffic back.
        if let window = status.rollbackWindow, status.phase == .succeeded { versions.insert(window.previousStable) }
        switch status.phase {
        case .initializing?, .progressing?, .paused?, .promoting?:
            if let canary = status.canaryVersion { versions.insert(canary) }
        default:
            break
        }
        return versions
    }

    /// Whether a rollout of a candidate is under way (traffic may be on it).
    public static func isActive(_ status: CanaryRolloutStatus?) -> Bool {
        guard let status = status.map(resumed), status.canaryVersion != nil else { return false }
        switch status.phase {
        case .initializing?, .progressing?, .paused?, .promoting?: return true
        default: return false
        }
    }
}

struct NeedSignal: Error { var need: CanaryNeed }

/// Why a rollout holds instead of progressing: shown as phase `Waiting` with this reason.
struct Hold {
    var reason: String
    var message: String
    /// Whether entering the wait is a Warning Event (else Normal).
    var warning: Bool
}

/// One evaluation of the machine. Mutates `status`; throws `NeedSignal` to ask for measurements.
struct Run {
    let spec: CanaryRolloutSpec
    let observed: RolloutObservation
    var status: CanaryRolloutStatus
    var outcome: CanaryOutcome
    let steps: [RolloutStep]
    let now: Date
    let nowText: String
    /// The status as committed (phase `Waiting` included), for change detection.
    let original: CanaryRolloutStatus
    /// Set by a path that holds: the status is presented as `Waiting` with its reason.
    var hold: Hold?
    /// The reason of the phase when it is not the default one for the phase.
    var phaseReason: String?
    /// A gate (ConfirmTrafficIncrease) holds the next step: asked again after an interval.
    var gateHeld = false

    init(spec: CanaryRolloutSpec, observed: RolloutObservation, status: CanaryRolloutStatus) {
        self.spec = spec
        self.observed = observed
        self.status = CanaryMachine.resumed(status)
        self.outcome = CanaryOutcome(status: status)
        self.original = status
        self.steps = RolloutSteps.of(spec)
        self.now = observed.now
        self.nowText = KubeTime.formatMicro(observed.now)
    }

    var interval: Duration { AnalysisDecisions.interval(spec) }

    mutating func step() throws {
        try handleRequests()
        let candidate: String?
        switch observed.candidate {
        case .unset: candidate = nil
        case .eligible(let name), .rolledBackBefore(let name, _), .ineligible(let name, _, _): candidate = name
        }

        // No candidate, or the candidate is what already serves: steady state (cancelling any rollout).
        guard let candidate, candidate != status.stableVersion else {
            if CanaryMachine.isActive(status), let canary = status.canaryVersion {
                cancel(canary, because: candidate == nil ? "spec.modelVersion was cleared"
                                                          : "spec.modelVersion was set back to the stable version")
            } else if let stable = status.stableVersion {
                if status.phase != .succeeded || status.canaryVersion != nil {
                    status.message = "serving \(stable)"
                }
                status.phase = .succeeded
                status.canaryVersion = nil
                if case .failed(let reason, let message) = observed.routing {
                    // The stable version serves, but the routing to it is gone or broken.
                    status.message = "serving \(stable); waiting for routing: \(reason): \(message)"
                    hold = Hold(reason: reason, message: status.message ?? "", warning: true)
                }
                try probation()
            } else {
                status.phase = nil
                status.message = "spec.modelVersion is not set; nothing to serve"
                hold = Hold(reason: "NoModelVersion", message: status.message ?? "", warning: false)
            }
            return
        }

        if candidate != status.canaryVersion {
            try startOrWait(candidate)
            return
        }

        switch status.phase {
        case .rolledBack?, .failed?:
            return  // holds until a new candidate or a retry request
        case .promoting?:
            try finishPromotion()
        case .initializing?:
            try initialize(candidate)
        case .progressing?, .paused?:
            try progress(candidate)
        case .succeeded?, nil, .waiting?, .invalid?:  // (resumed: never waiting or invalid here)
            try startOrWait(candidate)
        }
    }

    // MARK: Requests

    mutating func handleRequests() throws {
        guard let requests = status.requests else { return }
        let handled = status.lastHandledRequest
        func pending(_ r: ManualRequest?) -> ManualRequest? {
            guard let r, r.requestedAt != handled else { return nil }
            return r
        }
        let abort = pending(requests.abort), retry = pending(requests.retry), promote = pending(requests.promote)
        // Acknowledged in the same write that acts on them.
        status.requests = nil
        let acted = [abort, retry, promote].compactMap { $0?.requestedAt }.max()
        if let acted { status.lastHandledRequest = acted }

        func who(_ r: ManualRequest) -> String {
            var text = "requested by \(r.requestedBy ?? "unknown")"
            if let reason = r.reason, !reason.isEmpty { text += ": \(reason)" }
            return text
        }
        if let abort {
            if CanaryMachine.isActive(status), status.phase != .promoting, let canary = status.canaryVersion {
                try rollBack(canary, reason: RolloutReason.aborted, message: "rollout of \(canary) aborted, \(who(abort))")
            } else {
                outcome.events.append(RolloutEvent(reason: "AbortIgnored", message: "abort ignored: no rollout in progress (\(who(abort)))"))
            }
        }
        if let retry {
            let ended = status.phase == .rolledBack || status.phase == .failed
            switch observed.candidate {
            case .eligible(let name) where ended && name == status.canaryVersion,
                 .rolledBackBefore(let name, _) where !CanaryMachine.isActive(status):
                start(name, event: "RolloutRetried", message: "retrying the rollout of \(name), \(who(retry))")
            default:
                outcome.events.append(RolloutEvent(reason: "RetryIgnored",
                                                   message: "retry ignored: no failed rollout of the candidate (\(who(retry)))"))
            }
        }
        if let promote {
            if CanaryMachine.isActive(status), status.phase == .progressing || status.phase == .paused {
                status.currentStepIndex = steps.count
                status.pauseStartTime = nil
                status.iterations = 0
                status.stepStartTime = nowText
                status.message = "promotion requested, \(who(promote))"
                outcome.events.append(RolloutEvent(reason: "PromotionRequested", message: status.message ?? ""))
            } else {
                outcome.events.append(RolloutEvent(reason: "PromoteIgnored",
                                                   message: "promote ignored: no rollout step to skip (\(who(promote)))"))
            }
        }
    }

    // MARK: Start

    mutating func startOrWait(_ candidate: String) throws {
        if let old = status.canaryVersion, CanaryMachine.isActive(status), old != candidate {
            cancel(old, because: "a new candidate \(candidate) replaced it; restarting from the stable version")
        }
        switch observed.candidate {
        case .ineligible(_, let reason, let message):
            status.phase = status.stableVersion == nil ? .initializing : .succeeded
            status.canaryVersion = nil
            status.message = "waiting for \(candidate): \(message)"
            hold = Hold(reason: reason, message: status.message ?? "", warning: false)
        case .rolledBackBefore(_, let message):
            status.phase = status.stableVersion == nil ? .initializing : .succeeded
            status.canaryVersion = nil
            status.message = "waiting for \(candidate): \(message)"
            hold = Hold(reason: RolloutReason.rolledBackBefore, message: status.message ?? "", warning: false)
        case .eligible, .unset:
            start(candidate, event: "RolloutStarted",
                  message: status.stableVersion.map { "rolling out \(candidate) (stable: \($0))" }
                      ?? "deploying the first version \(candidate)")
        }
    }

    mutating func start(_ candidate: String, event: String, message: String) {
        status.canaryVersion = candidate
        status.phase = .initializing
        status.currentStepIndex = 0
        status.iterations = 0
        status.failedChecks = 0
        status.consecutiveErrors = 0
        status.measurements = nil
        status.lastAnalysisTime = nil
        status.rolloutStartTime = nowText
        status.stepStartTime = nowText
        status.pauseStartTime = nil
        status.lastProgressTime = nowText
        status.webhooks = nil
        status.rollbackWindow = nil
        status.backgroundAnalysisTime = nil
        status.message = message
        var record = RolloutRecord(version: candidate, stableVersion: status.stableVersion, startTime: nowText)
        if event != "RolloutStarted" {
            // RolloutStarted itself derives from the history (at least once); a retry also says who asked.
            record.trigger = event
            outcome.events.append(RolloutEvent(reason: event, message: message))
        }
        var history = status.history ?? []
        history.append(record)
        status.history = Array(history.suffix(RolloutRecord.limit))
        outcome.transitions.append(.started(candidate: candidate))
    }

    // MARK: Initializing: candidate serving, pre-rollout hooks

    mutating func initialize(_ candidate: String) throws {
        if case .ineligible(_, let reason, let message) = observed.candidate {
            return try withdraw(candidate, reason: reason, message: message)
        }
        guard case .ready = observed.serving else {
            return try holdForServing(candidate)
        }
        if status.stableVersion == nil {
            // The first version: nothing to compare it with, so it is promoted at once.
            status.phase = .promoting
            status.lastProgressTime = nowText
            status.message = "first version \(candidate) is serving; routing all traffic to it"
            return
        }
        if try !webhooksPassed(.preRollout) {
            try rollBack(candidate, reason: RolloutReason.preRolloutWebhookFailed,
                         message: "pre-rollout webhook failed: \(lastFailure(.preRollout))")
            return
        }
        guard try trafficIncreaseConfirmed(from: nil, to: 0) else { return }
        if spec.analysis?.background != nil { status.backgroundAnalysisTime = nowText }  // runs from the first step
        enterStep(0)
        status.message = "rolling out \(candidate)"
    }

    // MARK: Progressing

    mutating func progress(_ candidate: String) throws {
        if case .ineligible(_, let reason, let message) = observed.candidate {
            return try withdraw(candidate, reason: reason, message: message)
        }
        guard case .ready = observed.serving else {
            return try holdForServing(candidate)
        }
        if case .failed(let reason, let message) = observed.routing {
            return try holdForRouting(candidate, reason: reason, message: message)
        }

        if try runBackground(candidate) { return }
        if analysisDue {
            guard let measurements = observed.analysis else { throw NeedSignal(need: .analysis) }
            if try record(measurements, candidate: candidate) { return }
        }

        if spec.paused == true {
            status.phase = .paused
            status.message = "paused by spec.paused at step \(status.currentStepIndex ?? 0)"
            return
        }

        try advanceSteps(candidate)
    }

    // MARK: Holds

    mutating func holdForServing(_ candidate: String) throws {
        let why: String
        if case .notReady(let message) = observed.serving { why = message } else { why = "not ready" }
        if deadlinePassed {
            try fail(candidate, reason: RolloutReason.progressDeadlineExceeded,
                     message: "\(candidate) not ready within progressDeadlineSeconds \(deadlineSeconds): \(why)")
            return
        }
        status.message = "waiting for \(candidate) to serve: \(why)"
        // Initializing means exactly this wait; later it is a hold (the candidate stopped serving).
        if status.phase != .initializing {
            hold = Hold(reason: RolloutReason.servingNotReady, message: status.message ?? "", warning: true)
        }
    }

    mutating func holdForRouting(_ candidate: String, reason: String, message: String) throws {
        if deadlinePassed {
            try fail(candidate, reason: RolloutReason.progressDeadlineExceeded,
                     message: "routing not ready within progressDeadlineSeconds \(deadlineSeconds): \(reason): \(message)")
            return
        }
        status.message = "waiting for routing: \(reason): \(message)"
        hold = Hold(reason: reason, message: status.message ?? "", warning: true)
    }

    var deadlineSeconds: Int { spec.progressDeadlineSeconds ?? 600 }

    var deadlinePassed: Bool {
        guard let last = status.lastProgressTime.flatMap(KubeTime.parse) else { return false }
        return now >= last.addingTimeInterval(Double(deadlineSeconds))
    }

    /// The candidate may no longer go out (rejected, deleted, another model).
    mutating func withdraw(_ candidate: String, reason: String, message: String) throws {
        try rollBack(candidate, reason: RolloutReason.candidateWithdrawn, message: "\(candidate) can no longer be rolled out (\(reason)): \(message)")
    }
}

extension Duration {
    /// Whole and fractional seconds as a Double (for date arithmetic).
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
