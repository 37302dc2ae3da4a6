import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

/// Issue 18 item 4: the ConfirmTrafficIncrease gate and the rollback window after promotion, as
/// decisions of the machine (driven like the reconciler drives it, `Driver` in CanaryMachineTests).
@Suite struct RolloutGatesTests {
    static func gated(_ steps: [CanaryStep]? = nil) -> CanaryRolloutSpec {
        var spec = steps.map { canarySpec(steps: $0) } ?? canarySpec(stepWeight: 25, maxWeight: 50)
        spec.webhooks = [RolloutWebhook(name: "capacity", type: .confirmTrafficIncrease, url: "http://x")]
        return spec
    }

    func gateCalls(_ d: Driver) -> Int { d.needs.filter { $0 == .webhooks(.confirmTrafficIncrease) }.count }

    @Test func confirmTrafficIncreaseIsAskedBeforeEachIncrease() {
        var d = promotedV1(Self.gated())
        d.tick()  // started
        d.tick()  // the first increase, 0 → 25, is confirmed before any traffic moves
        #expect(gateCalls(d) == 1)
        #expect(d.weight == 25 && d.status.phase == .progressing)

        d.webhookOK[.confirmTrafficIncrease] = false
        d.tick(advance: 10)  // analysis passes at 25; 25 → 50 is refused
        #expect(gateCalls(d) == 2, "asked again for the next increase, not reusing the first answer")
        #expect(d.weight == 25, "the weight holds")
        #expect(d.status.phase == .paused && d.status.reason == RolloutGateReason.awaitingConfirmTrafficIncrease)
        #expect(d.status.message?.contains("ConfirmTrafficIncrease") == true, "\(d.status.message ?? "")")
        #expect(d.requeue == .seconds(10) || d.requeue == .zero, "asked again after an interval: \(String(describing: d.requeue))")
        d.tick(advance: 2)
        #expect(gateCalls(d) == 2, "not asked again within the interval")
        #expect(d.requeue != nil && d.requeue != .zero, "no spin while held: \(String(describing: d.requeue))")
        d.tick(advance: 9)
        #expect(gateCalls(d) == 3, "asked again once the interval passed")
        #expect(d.status.phase == .paused && d.weight == 25)

        d.webhookOK[.confirmTrafficIncrease] = true
        d.tick(advance: 10)
        #expect(gateCalls(d) == 4)
        #expect(d.weight == 50 && d.status.phase == .progressing && d.status.reason == "StepInProgress")
        // From the last step to promotion is not a weight increase: ConfirmPromotion's business.
        for _ in 0..<4 { d.tick(advance: 10) }
        #expect(d.status.phase == .succeeded && d.status.stableVersion == "v2")
        #expect(gateCalls(d) == 4)
    }

    @Test func theFirstIncreaseWaitsInInitializingWithNoTrafficAndNoSpin() {
        var d = promotedV1(Self.gated())
        d.webhookOK[.confirmTrafficIncrease] = false
        d.tick()
        d.tick()
        d.tick()
        #expect(d.status.phase == .initializing && d.status.reason == RolloutGateReason.awaitingConfirmTrafficIncrease)
        #expect(d.weight == 0 && d.routedStable == "v1")
        #expect(d.requeue == .seconds(10), "\(String(describing: d.requeue))")
        #expect(gateCalls(d) == 1)
    }

    @Test func decreasesAndPausesAreNotGated() {
        var d = promotedV1(Self.gated([CanaryStep(setWeight: 40), CanaryStep(pause: PauseStep(duration: "5s")),
                                       CanaryStep(setWeight: 20)]))
        d.tick()
        d.tick()
        #expect(gateCalls(d) == 1 && d.weight == 40)
        d.webhookOK[.confirmTrafficIncrease] = false  // would hold any increase from here
        for _ in 0..<6 { d.tick(advance: 10) }
        #expect(d.status.phase == .succeeded && d.status.stableVersion == "v2", "\(d.status.message ?? "")")
        #expect(gateCalls(d) == 1, "40 → pause → 20 never increases the weight")
    }

    // MARK: Rollback window

    static func onProbation(intervals: Int = 3) -> CanaryRolloutSpec {
        var spec = canarySpec(stepWeight: 50, maxWeight: 50)
        spec.analysis?.rollbackWindow = RollbackWindowSpec(intervals: intervals)
        spec.scaleDownDelaySeconds = 0
        return spec
    }

    /// Drives `v2` through its step to promotion.
    func promote(_ d: inout Driver) {
        d.tick()
        d.tick()
        for _ in 0..<6 where !(d.status.phase == .succeeded && d.status.stableVersion == "v2") {
            d.tick(advance: 10)
        }
        #expect(d.status.phase == .succeeded && d.status.stableVersion == "v2", "\(d.status.message ?? "")")
    }

    @Test func aFailureWithinTheWindowRollsBackToThePreviousStable() throws {
        var d = promotedV1(Self.onProbation())
        promote(&d)
        d.tick()  // the pass right after a change
        let window = try #require(d.status.rollbackWindow)
        #expect(window.version == "v2" && window.previousStable == "v1")
        #expect(CanaryMachine.versionsToServe(status: d.status) == ["v1", "v2"], "v1 stays ready to take traffic back")
        #expect(d.routedStable == "v2" && d.weight == 0)
        #expect(d.requeue.map { $0 > .zero && $0 <= .seconds(10) } == true, "next window run: \(String(describing: d.requeue))")
        #expect(d.status.message?.contains("rollback window open") == true)

        let analyses = d.needs.filter { $0 == .analysis }.count
        d.answers["success"] = .value(0.5)
        d.tick(advance: 10)
        #expect(d.needs.filter { $0 == .analysis }.count == analyses + 1, "metrics keep being checked after promotion")
        #expect(d.status.phase == .succeeded && d.status.rollbackWindow?.failedChecks == 1, "1 of failureLimit 2")
        #expect(d.events.contains { $0.reason == "AnalysisFailed" && $0.warning })
        d.tick(advance: 10)
        #expect(d.status.phase == .rolledBack && d.status.reason == RolloutGateReason.postPromotionAnalysisFailed)
        #expect(d.status.stableVersion == "v1" && d.status.canaryVersion == "v2" && d.status.rollbackWindow == nil)
        #expect(d.routedStable == "v1" && d.weight == 0, "all traffic back on v1")
        #expect(CanaryMachine.versionsToServe(status: d.status) == ["v1"])
        let record = try #require(d.status.history?.last)
        #expect(record.version == "v2" && record.outcome == .rolledBack && record.reason == RolloutGateReason.postPromotionAnalysisFailed)
        #expect(d.transitions.contains { if case .rolledBack(version: "v2", _, _) = $0 { return true }; return false })
        #expect(d.status.message?.contains("back to v1") == true, "\(d.status.message ?? "")")
        // It holds there: v2 goes out again only by a retry (or a new candidate).
        d.tick(advance: 10)
        #expect(d.status.phase == .rolledBack && d.routedStable == "v1")
    }

    @Test func aHealthyVersionPassesItsWindowAndThePreviousOneIsReleased() {
        var d = promotedV1(Self.onProbation(intervals: 2))
        promote(&d)
        d.tick(advance: 10)
        #expect(d.status.rollbackWindow != nil)
        d.tick(advance: 10)  // the window's end
        #expect(d.status.rollbackWindow == nil && d.status.phase == .succeeded && d.status.stableVersion == "v2")
        #expect(d.events.contains { $0.reason == RolloutGateReason.rollbackWindowClosed })
        #expect(CanaryMachine.versionsToServe(status: d.status) == ["v2"])
        let analyses = d.needs.filter { $0 == .analysis }.count
        d.answers["success"] = .value(0.5)
        d.tick(advance: 10)
        #expect(d.needs.filter { $0 == .analysis }.count == analyses, "no analysis once the window closed")
        #expect(d.status.phase == .succeeded)
    }

    @Test func aNewCandidateClosesTheWindow() {
        var d = promotedV1(Self.onProbation())
        promote(&d)
        d.candidate = .eligible("v3")
        d.tick()
        #expect(d.status.canaryVersion == "v3" && d.status.rollbackWindow == nil)
    }

    @Test func theWindowMeasuresOnlyThresholdMetrics() {
        var spec = Self.onProbation()
        spec.analysis?.comparisons = [ComparisonMetric(name: "vs-stable", template: .successRate)]
        spec.analysis?.predictionShift = PredictionShiftCheck(maxPSI: 0.2)
        let measured = RollbackWindow.analysedSpec(spec)
        #expect(measured.analysis?.comparisons == nil && measured.analysis?.predictionShift == nil)
        #expect(measured.analysis?.metrics == spec.analysis?.metrics)
    }

    @Test func validationNamesTheField() {
        var external = Self.onProbation()
        external.serving = ServingSpec(external: ExternalServing(stableDeployment: "a", canaryDeployment: "b"))
        let rollout = { (spec: CanaryRolloutSpec) in CanaryRollout(metadata: ObjectMeta(name: "r", namespace: "n"), spec: spec) }
        #expect(rollout(external).validate().contains { $0.path == "spec.analysis.rollbackWindow" })
        var zero = Self.onProbation()
        zero.analysis?.rollbackWindow = RollbackWindowSpec(intervals: 0)
        #expect(rollout(zero).validate().contains { $0.path == "spec.analysis.rollbackWindow.intervals" })
        var nothing = Self.onProbation()
        nothing.analysis?.metrics = nil
        nothing.analysis?.comparisons = [ComparisonMetric(name: "vs-stable", template: .successRate)]
        #expect(rollout(nothing).validate().contains { $0.path == "spec.analysis.rollbackWindow" })
        var valid = Self.onProbation()
        valid.routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        #expect(rollout(valid).validate().isEmpty, "\(rollout(valid).validate())")
    }

    // MARK: Background analysis

    static func withBackground() -> CanaryRolloutSpec {
        var spec = canarySpec(steps: [CanaryStep(setWeight: 25), CanaryStep(pause: PauseStep())])
        var background = BackgroundAnalysis(metrics: [AnalysisMetric(name: "latency", template: .latencyP99,
                                                                     thresholdRange: ThresholdRange(max: 0.5))])
        background.interval = "5s"
        spec.analysis?.background = background
        return spec
    }

    @Test func backgroundAnalysisRunsAcrossStepsAndNeverAdvancesOne() {
        var d = promotedV1(Self.withBackground())
        d.answers["latency"] = .value(0.1)
        d.tick()
        d.tick()
        #expect(d.weight == 25 && d.status.backgroundAnalysisTime != nil)
        d.tick(advance: 5)
        #expect(d.needs.filter { $0 == .backgroundAnalysis }.count == 1, "every 5 s, its own interval")
        #expect(d.needs.filter { $0 == .analysis }.isEmpty, "the step's analysis is due at 10 s")
        #expect(d.status.iterations == 0 && d.status.currentStepIndex == 0, "a background run does not advance the step")
        #expect(d.status.measurements?.contains { $0.metric == "latency" } == true)
        d.tick(advance: 5)
        #expect(d.status.currentStepIndex == 1 && d.status.phase == .paused, "the step's own run advanced it")
        #expect(d.status.measurements.map { Set($0.map(\.metric)) } == ["success", "latency"], "both kept")
        #expect(d.requeue.map { $0 > .zero && $0 <= .seconds(5) } == true || d.requeue == .zero)

        // During the (indefinite) pause it keeps running, and its failures roll back.
        d.answers["latency"] = .value(2)
        d.tick(advance: 5)
        #expect(d.status.phase == .paused && d.status.failedChecks == 1)
        #expect(d.events.contains { $0.reason == "AnalysisFailed" && $0.warning && $0.message.contains("background metric latency") })
        d.tick(advance: 5)
        #expect(d.status.phase == .rolledBack && d.status.reason == RolloutReason.analysisFailed)
        #expect(d.status.message?.contains("background metric latency") == true && d.weight == 0)
        #expect(d.needs.filter { $0 == .backgroundAnalysis }.count == 4)
    }

    @Test func backgroundRunsMeasureOnlyTheirMetrics() {
        var spec = Self.withBackground()
        spec.webhooks = [RolloutWebhook(name: "load", type: .rollout, url: "http://x"),
                         RolloutWebhook(name: "gate", type: .confirmTrafficIncrease, url: "http://x")]
        spec.analysis?.comparisons = [ComparisonMetric(name: "vs-stable", template: .successRate)]
        let measured = BackgroundAnalysisRuns.analysedSpec(spec)
        #expect(measured.analysis?.metrics?.map(\.name) == ["latency"] && measured.analysis?.interval == "5s")
        #expect(measured.analysis?.comparisons == nil && measured.webhooks?.map(\.name) == ["gate"])
        var clash = spec
        clash.analysis?.background?.metrics[0].name = "success"
        let errors = CanaryRollout(metadata: ObjectMeta(name: "r", namespace: "n"), spec: clash).validate()
        #expect(errors.contains { $0.path == "spec.analysis.background.metrics" }, "\(errors)")
        var badInterval = spec
        badInterval.analysis?.background?.metrics[0].thresholdRange = ThresholdRange()
        let more = CanaryRollout(metadata: ObjectMeta(name: "r", namespace: "n"), spec: badInterval).validate()
        #expect(more.contains { $0.path == "spec.analysis.background.metrics[0].thresholdRange" }, "\(more)")
    }
}
