import Foundation
import SextantAPI
import SextantKubeTypes

// The step decisions of the state machine: where the rollout stands in its steps, from the status
// and the observation, with the time passed in (`StepDecisions.decide`, pure); the machine run
// applies it (phase, step timestamps, the ConfirmTrafficIncrease/ConfirmPromotion gates).

/// What the current step asks for.
public enum StepDecision: Sendable, Hashable {
    /// Past the last step: promote the candidate (after the ConfirmPromotion webhooks).
    case promote
    /// Traffic step `index`; `done` once its split is verified and its passing analysis runs are
    /// counted: then the rollout moves to the next step (after ConfirmTrafficIncrease).
    case traffic(index: Int, done: Bool)
    /// Pause step `index` (`duration` nil: until a promote request); `over` once it has run out.
    case pause(index: Int, duration: Duration?, over: Bool)
}

public enum StepDecisions {
    /// The decision at `status.currentStepIndex` of `steps`. A pause counts from
    /// `status.pauseStartTime`, or from `now` when it has none yet (its first pass).
    public static func decide(steps: [RolloutStep], status: CanaryRolloutStatus, routing: RoutingState,
                              now: Date) -> StepDecision {
        let index = status.currentStepIndex ?? 0
        guard index < steps.count else { return .promote }
        switch steps[index] {
        case .traffic(_, let passes):
            return .traffic(index: index, done: routing == .verified && (status.iterations ?? 0) >= passes)
        case .pause(let duration):
            let started = status.pauseStartTime.flatMap(KubeTime.parse) ?? now
            let over = duration.map { now >= started.addingTimeInterval($0.seconds) } ?? false
            return .pause(index: index, duration: duration, over: over)
        }
    }
}

extension Run {
    // MARK: Steps

    /// Applies the step decision: promotes past the last step, advances a finished step (through
    /// the gates), or holds in a traffic step or a pause.
    mutating func advanceSteps(_ candidate: String) throws {
        switch StepDecisions.decide(steps: steps, status: status, routing: observed.routing, now: now) {
        case .promote:
            if try !confirmPromotion() {
                status.phase = .paused
                status.message = "waiting for the ConfirmPromotion webhook: \(lastFailure(.confirmPromotion))"
                return
            }
            status.phase = .promoting
            status.lastProgressTime = nowText
            status.message = "promoting \(candidate)"
        case .traffic(let index, let done):
            status.phase = .progressing
            if done, try trafficIncreaseConfirmed(from: index, to: index + 1) {
                enterStep(index + 1)
            } else if gateHeld {
                status.phase = .paused
            }
        case .pause(let index, let duration, let over):
            status.phase = .paused
            if status.pauseStartTime == nil { status.pauseStartTime = nowText }
            if over {
                if try trafficIncreaseConfirmed(from: index, to: index + 1) { enterStep(index + 1) }
            } else if let duration {
                status.message = "paused at step \(index) for \(format(duration))"
            } else {
                status.message = "paused at step \(index) until a promote request"
            }
        }
    }

    mutating func enterStep(_ index: Int) {
        status.currentStepIndex = index
        status.stepStartTime = nowText
        status.iterations = 0
        status.lastProgressTime = nowText
        if index < steps.count, case .pause = steps[index] {
            status.phase = .paused
            status.pauseStartTime = nowText
        } else {
            status.phase = .progressing
            status.pauseStartTime = nil
        }
        if index > 0 {
            let split = RolloutSteps.split(at: index, of: steps)
            let what = index < steps.count ? "step \(index) (canary weight \(split.canaryWeight))" : "the end of the steps"
            status.message = "advanced to \(what)"
            outcome.events.append(RolloutEvent(reason: "StepAdvanced", message: status.message ?? ""))
        }
    }
}
