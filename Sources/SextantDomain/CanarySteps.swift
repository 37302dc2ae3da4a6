import Foundation
import SextantAPI

/// One step of a rollout, whatever strategy produced it. Every strategy is reduced to this list so
/// that one state machine runs them all and `status.currentStepIndex` means the same everywhere.
public enum RolloutStep: Sendable, Hashable {
    /// Send traffic per `split`; the step is done after `passes` passing analysis runs at it
    /// (0 when the rollout has no analysis: done as soon as the split is verified).
    case traffic(TrafficSplit, passes: Int)
    /// Hold the last split. `duration == nil` waits for a `promote` request.
    case pause(Duration?)
}

public enum RolloutSteps {
    /// The effective steps of a (defaulted, validated) spec.
    ///
    /// - canary `steps`: each `setWeight` needs one passing analysis at its weight (when there is
    ///   analysis), so every step is checked before traffic grows (Flagger's rule, with Argo's step list).
    /// - canary `stepWeight`: `stepWeight, 2·stepWeight, …` up to `maxWeight` (the last one capped).
    /// - blue-green: the preview (0 %) for `iterations` runs, then a switch to 100 % at promotion.
    /// - shadow: mirroring for `iterations` runs; A/B: the match route for `iterations` runs.
    /// - `autoPromote: false` ends with an indefinite pause (waits for `promote`).
    public static func of(_ spec: CanaryRolloutSpec) -> [RolloutStep] {
        let analysed = (spec.analysis?.hasChecks ?? false)
            || (spec.webhooks ?? []).contains { $0.type == .rollout }
        let perStep = analysed ? 1 : 0
        let strategy = spec.strategy
        if let canary = strategy.canary {
            if let steps = canary.steps {
                return steps.compactMap { step in
                    if let weight = step.setWeight {
                        return .traffic(TrafficSplit(canaryWeight: clamp(weight)), passes: perStep)
                    }
                    if let pause = step.pause {
                        return .pause(pause.duration.flatMap { try? GoDuration.parse($0) })
                    }
                    return nil
                }
            }
            let weights = CanaryRollout.derivedWeights(stepWeight: max(1, canary.stepWeight ?? 10),
                                                       maxWeight: clamp(canary.maxWeight ?? 50))
            return weights.map { .traffic(TrafficSplit(canaryWeight: $0), passes: perStep) }
        }
        let iterations: Int
        let autoPromote: Bool
        let split: TrafficSplit
        if let blueGreen = strategy.blueGreen {
            iterations = blueGreen.iterations ?? 10
            autoPromote = blueGreen.autoPromote ?? true
            split = TrafficSplit(canaryWeight: 0)
        } else if let shadow = strategy.shadow {
            iterations = shadow.iterations ?? 10
            autoPromote = shadow.autoPromote ?? false
            split = TrafficSplit(canaryWeight: 0, mirrorPercent: clamp(shadow.mirrorPercent ?? 100))
        } else if let ab = strategy.abTest {
            iterations = ab.iterations ?? 10
            autoPromote = ab.autoPromote ?? true
            split = TrafficSplit(canaryWeight: 0, abMatch: ab.match)
        } else {
            return []
        }
        var steps: [RolloutStep] = [.traffic(split, passes: analysed ? max(1, iterations) : 0)]
        if !autoPromote { steps.append(.pause(nil)) }
        return steps
    }

    /// The split in force at step `index`: a pause keeps the split of the traffic step before it;
    /// before any traffic step, nothing goes to the candidate.
    public static func split(at index: Int, of steps: [RolloutStep]) -> TrafficSplit {
        var current = TrafficSplit(canaryWeight: 0)
        for step in steps.prefix(max(0, min(index + 1, steps.count))) {
            if case .traffic(let split, _) = step { current = split }
        }
        return current
    }

    private static func clamp(_ weight: Int) -> Int { min(100, max(0, weight)) }
}
