import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

/// The step and analysis decisions on their own (CanaryMachineSteps.swift,
/// CanaryMachineAnalysis.swift): status and observations in, decision out, time passed in.
/// The machine as a whole is CanaryMachineTests'.
@Suite struct CanaryMachineDecisionsTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func measurement(_ metric: String, _ outcome: MeasurementOutcome) -> SextantAPI.Measurement {
        SextantAPI.Measurement(metric: metric, outcome: outcome, time: KubeTime.formatMicro(start))
    }

    @Test func trafficStepIsDoneOnceVerifiedWithItsPasses() {
        let steps: [RolloutStep] = [.traffic(TrafficSplit(canaryWeight: 20), passes: 2), .pause(.seconds(60))]
        var status = CanaryRolloutStatus()
        status.currentStepIndex = 0
        status.iterations = 1
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start)
                == .traffic(index: 0, done: false))
        status.iterations = 2
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start)
                == .traffic(index: 0, done: true))
        // Unverified routing never finishes a step, whatever was counted.
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .failed(reason: "R", message: "m"), now: Self.start)
                == .traffic(index: 0, done: false))
        status.currentStepIndex = 2
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start) == .promote)
    }

    @Test func pauseRunsOutAfterItsDurationFromItsStart() {
        let steps: [RolloutStep] = [.pause(.seconds(60)), .pause(nil)]
        var status = CanaryRolloutStatus()
        status.currentStepIndex = 0
        // The first pass of a pause (no start recorded yet) counts from now.
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start)
                == .pause(index: 0, duration: .seconds(60), over: false))
        status.pauseStartTime = KubeTime.formatMicro(Self.start)
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start.addingTimeInterval(59.9))
                == .pause(index: 0, duration: .seconds(60), over: false))
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start.addingTimeInterval(60))
                == .pause(index: 0, duration: .seconds(60), over: true))
        // An indefinite pause never runs out: it waits for a promote request.
        status.currentStepIndex = 1
        #expect(StepDecisions.decide(steps: steps, status: status, routing: .verified, now: Self.start.addingTimeInterval(86_400))
                == .pause(index: 1, duration: nil, over: false))
    }

    @Test func analysisIsDueAnIntervalAfterTheLastRunOnVerifiedRouting() {
        var spec = canarySpec(steps: [CanaryStep(setWeight: 20)])  // interval 10s
        var status = CanaryRolloutStatus()
        #expect(AnalysisDecisions.isDue(spec: spec, status: status, routing: .verified, now: Self.start), "never run: due")
        status.stepStartTime = KubeTime.formatMicro(Self.start)
        #expect(!AnalysisDecisions.isDue(spec: spec, status: status, routing: .verified, now: Self.start.addingTimeInterval(9)))
        #expect(AnalysisDecisions.isDue(spec: spec, status: status, routing: .verified, now: Self.start.addingTimeInterval(10)))
        status.lastAnalysisTime = KubeTime.formatMicro(Self.start.addingTimeInterval(10))
        #expect(!AnalysisDecisions.isDue(spec: spec, status: status, routing: .verified, now: Self.start.addingTimeInterval(15)))
        #expect(!AnalysisDecisions.isDue(spec: spec, status: status, routing: .notApplicable, now: Self.start.addingTimeInterval(60)))
        spec.analysis?.metrics = []
        #expect(!AnalysisDecisions.isDue(spec: spec, status: status, routing: .verified, now: Self.start.addingTimeInterval(60)),
                "nothing to measure")
    }

    @Test func judgeAppliesNoDataPoliciesAndHoldsUndecidedSequentialChecks() {
        var strict = AnalysisMetric(name: "strict", template: .successRate, thresholdRange: ThresholdRange(min: 0.99))
        strict.noDataPolicy = .fail
        var lenient = AnalysisMetric(name: "lenient", template: .successRate, thresholdRange: ThresholdRange(min: 0.99))
        lenient.noDataPolicy = .pass
        var sequential = ComparisonMetric(name: "seq", template: .successRate)
        sequential.test = .sequential
        var analysis = AnalysisSpec()
        analysis.metrics = [strict, lenient]
        analysis.comparisons = [ComparisonMetric(name: "fixed", template: .successRate), sequential]
        let verdict = AnalysisDecisions.judge([
            Self.measurement("strict", .noData), Self.measurement("lenient", .noData), Self.measurement("fixed", .noData),
            Self.measurement("seq", .noData), Self.measurement("latency", .error), Self.measurement("ok", .pass),
        ], analysis: analysis)
        #expect(verdict.failures.map(\.metric) == ["strict"])
        #expect(verdict.errors.map(\.metric) == ["latency"])
        #expect(verdict.undecided.map(\.metric) == ["seq"], "a fixed comparison without data is ignored, a sequential one holds")
    }
}
