import Foundation
import SextantAPI
import SextantDomain
import SextantKubeTypes
import Testing

/// Drives the machine like the reconciler does: answers every need, returns the outcome.
struct Driver {
    var spec: CanaryRolloutSpec
    var status = CanaryRolloutStatus()
    var now = Date(timeIntervalSince1970: 1_800_000_000)
    var candidate: CandidateState = .unset
    var serving: ServingState = .ready
    var routing: RoutingState = .verified
    /// The answer of each analysis run: metric name → answer.
    var answers: [String: MetricAnswer] = [:]
    /// The answers of each comparison: name → (stable successes, total, canary successes, total).
    var comparisonCounts: [String: (Double, Double, Double, Double)] = [:]
    var webhookOK: [WebhookType: Bool] = [:]
    /// External serving: the stable Deployment does not run the candidate yet (GitOps is late).
    var stableUpdateLate = false
    var needs: [CanaryNeed] = []
    var events: [RolloutEvent] = []
    var transitions: [RolloutTransition] = []
    var requeue: Duration?

    init(_ spec: CanaryRolloutSpec) { self.spec = spec }

    @discardableResult
    mutating func tick(advance seconds: Double = 0) -> CanaryOutcome? {
        now = now.addingTimeInterval(seconds)
        var observation = RolloutObservation(now: now, candidate: candidate, serving: serving, routing: routing)
        if spec.serving.external != nil, CanaryMachine.resumed(status).phase == .promoting {
            observation.stableUpdate = stableUpdateLate ? .pending("its pod template has mlops.sextant.dev/model-version=v1") : .done
        }
        for _ in 0..<8 {
            switch CanaryMachine.decide(spec: spec, status: status, generation: 1, observed: observation) {
            case .need(let need):
                needs.append(need)
                switch need {
                case .analysis:
                    observation.analysis = (spec.analysis?.metrics ?? []).map { metric in
                        AnalysisEvaluation.measure(metric, query: "q", answer: answers[metric.name] ?? .value(1),
                                                   time: KubeTime.formatMicro(now))
                    }
                    for comparison in spec.analysis?.comparisons ?? [] {
                        let c = comparisonCounts[comparison.name] ?? (0, 0, 0, 0)
                        observation.analysis?.append(AnalysisEvaluation.measure(
                            comparison, query: "q", stable: (.value(c.0), .value(c.1)), canary: (.value(c.2), .value(c.3)),
                            time: KubeTime.formatMicro(now)))
                    }
                case .backgroundAnalysis:
                    observation.backgroundAnalysis = (spec.analysis?.background?.metrics ?? []).map { metric in
                        AnalysisEvaluation.measure(metric, query: "q", answer: answers[metric.name] ?? .value(1),
                                                   time: KubeTime.formatMicro(now))
                    }
                case .webhooks(let type):
                    let ok = webhookOK[type] ?? true
                    observation.webhooks[type] = (spec.webhooks ?? []).filter { $0.type == type }.map {
                        var r = WebhookResult(name: $0.name, type: type, time: KubeTime.formatMicro(now), succeeded: ok)
                        r.statusCode = ok ? 200 : 500
                        return r
                    }
                }
            case .decided(let outcome):
                status = outcome.status
                events += outcome.events
                transitions += outcome.transitions
                requeue = outcome.requeueAfter
                return outcome
            }
        }
        Issue.record("the machine kept asking for measurements")
        return nil
    }

    var weight: Int? { CanaryMachine.desiredRouting(spec: spec, status: status)?.split.canaryWeight }
    var routedStable: String? { CanaryMachine.desiredRouting(spec: spec, status: status)?.stableVersion }
}

func canarySpec(steps: [CanaryStep]? = nil, stepWeight: Int? = nil, maxWeight: Int? = nil,
                        metrics: [AnalysisMetric] = [AnalysisMetric(name: "success", template: .successRate,
                                                                    thresholdRange: ThresholdRange(min: 0.99))],
                        failureLimit: Int = 2, errorLimit: Int = 3) -> CanaryRolloutSpec {
    var spec = CanaryRolloutSpec(
        modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
        routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
        strategy: RolloutStrategy(canary: CanaryStrategy(steps: steps, stepWeight: stepWeight, maxWeight: maxWeight)))
    var analysis = AnalysisSpec()
    analysis.interval = "10s"
    analysis.failureLimit = failureLimit
    analysis.consecutiveErrorLimit = errorLimit
    analysis.metrics = metrics
    spec.analysis = analysis
    spec.progressDeadlineSeconds = 60
    return spec
}

/// A driver whose stable version `v1` already serves and whose candidate `v2` was just set.
func promotedV1(_ spec: CanaryRolloutSpec) -> Driver {
    var d = Driver(spec)
    d.status.stableVersion = "v1"
    d.status.phase = .succeeded
    d.candidate = .eligible("v2")
    return d
}

@Suite struct CanaryMachineTests {
    @Test func stepsOfEveryStrategy() {
        let weights = RolloutSteps.of(canarySpec(stepWeight: 20, maxWeight: 50)).map { step -> Int in
            if case .traffic(let split, let passes) = step, passes == 1 { return split.canaryWeight }
            return -1
        }
        #expect(weights == [20, 40, 50])
        let explicit = RolloutSteps.of(canarySpec(steps: [CanaryStep(setWeight: 10), CanaryStep(pause: PauseStep(duration: "30s")),
                                                          CanaryStep(setWeight: 40), CanaryStep(pause: PauseStep())]))
        #expect(explicit.count == 4)
        #expect(explicit[1] == .pause(.seconds(30)))
        #expect(explicit[3] == .pause(nil))
        #expect(RolloutSteps.split(at: 1, of: explicit).canaryWeight == 10, "a pause keeps the previous weight")
        #expect(RolloutSteps.split(at: 3, of: explicit).canaryWeight == 40)

        var blueGreen = canarySpec()
        var bg = BlueGreenStrategy()
        bg.iterations = 3
        bg.autoPromote = false
        blueGreen.strategy = RolloutStrategy(blueGreen: bg)
        #expect(RolloutSteps.of(blueGreen) == [.traffic(TrafficSplit(canaryWeight: 0), passes: 3), .pause(nil)])

        var shadow = canarySpec()
        var sh = ShadowStrategy()
        sh.mirrorPercent = 30
        sh.autoPromote = true
        shadow.strategy = RolloutStrategy(shadow: sh)
        #expect(RolloutSteps.of(shadow) == [.traffic(TrafficSplit(canaryWeight: 0, mirrorPercent: 30), passes: 10)])

        var noAnalysis = canarySpec(stepWeight: 50, maxWeight: 100)
        noAnalysis.analysis = nil
        #expect(RolloutSteps.of(noAnalysis) == [.traffic(TrafficSplit(canaryWeight: 50), passes: 0),
                                                .traffic(TrafficSplit(canaryWeight: 100), passes: 0)])
    }

    @Test func firstVersionIsPromotedOnceServing() {
        var d = Driver(canarySpec(stepWeight: 20))
        d.candidate = .eligible("v1")
        d.serving = .notReady("0/2 replicas ready")
        d.routing = .notApplicable
        d.tick()
        #expect(d.status.phase == .initializing)
        #expect(d.status.canaryVersion == "v1")
        #expect(d.transitions == [.started(candidate: "v1")])
        d.tick(advance: 5)
        #expect(d.status.phase == .initializing)
        #expect(d.status.message?.contains("0/2 replicas ready") == true)
        d.serving = .ready
        d.tick(advance: 1)
        #expect(d.status.phase == .promoting)
        #expect(d.routedStable == "v1")
        #expect(d.weight == 0)
        d.routing = .verified
        d.tick()
        #expect(d.status.phase == .succeeded)
        #expect(d.status.stableVersion == "v1")
        #expect(d.status.canaryVersion == nil)
        #expect(d.transitions.last == .promoted(version: "v1", previous: nil))
        #expect(d.needs.isEmpty, "no analysis for the first version")
    }

    @Test func healthyCandidateWalksEveryStepAndIsPromoted() {
        var d = promotedV1(canarySpec(stepWeight: 20, maxWeight: 50))
        d.tick()
        #expect(d.status.phase == .initializing)
        d.tick()
        #expect(d.status.phase == .progressing)
        #expect(d.weight == 20)
        var seen: [Int] = []
        for _ in 0..<40 where d.status.phase != .succeeded {
            if let w = d.weight, d.status.phase == .progressing, seen.last != w { seen.append(w) }
            // As the controller does: again at once after a change, else when the requeue says.
            d.tick(advance: d.requeue == .zero ? 0 : 10)
        }
        #expect(seen == [20, 40, 50])
        #expect(d.status.phase == .succeeded)
        #expect(d.status.stableVersion == "v2")
        #expect(d.weight == 0)
        #expect(d.routedStable == "v2")
        #expect(d.status.failedChecks == 0)
        #expect(d.transitions.last == .promoted(version: "v2", previous: "v1"))
        #expect(d.needs.filter { $0 == .analysis }.count == 3, "one passing analysis per step")
        #expect(d.status.scaleDownTime != nil, "the old stable is scaled down after the delay")
    }

    @Test func analysisIsDueOnlyEveryInterval() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.tick()
        d.tick()
        d.tick(advance: 3)
        #expect(d.needs.isEmpty)
        #expect(d.requeue.map { $0 <= .seconds(7) && $0 > .seconds(6) } == true, "wakes up when the next analysis is due")
        d.tick(advance: 7)
        #expect(d.needs == [.analysis])
        // Running the same pass again at the same instant (a restart) neither measures nor advances again.
        let before = d.status
        d.tick()
        #expect(d.needs == [.analysis])
        #expect(d.status.currentStepIndex == before.currentStepIndex)
    }

    @Test func failingCandidateRollsBackAtTheFailureLimit() {
        var d = promotedV1(canarySpec(stepWeight: 20, failureLimit: 2))
        d.answers["success"] = .value(0.62)
        d.tick()
        d.tick()
        d.tick(advance: 10)
        #expect(d.status.failedChecks == 1)
        #expect(d.status.phase == .progressing)
        #expect(d.status.currentStepIndex == 0, "a failed check does not advance")
        #expect(d.events.contains { $0.warning && $0.reason == "AnalysisFailed" })
        d.tick(advance: 10)
        #expect(d.status.phase == .rolledBack)
        #expect(d.weight == 0)
        #expect(d.routedStable == "v1")
        let message = d.status.message ?? ""
        #expect(message.contains("success") && message.contains("0.62") && message.contains("0.99"), "\(message)")
        guard case .rolledBack(let version, let reason, _)? = d.transitions.last else {
            Issue.record("no rollback transition: \(d.transitions)")
            return
        }
        #expect(version == "v2")
        #expect(reason == RolloutReason.analysisFailed)
        #expect(d.status.scaleDownTime != nil)
        // It holds there: no more analysis, no new start.
        d.needs = []
        d.tick(advance: 60)
        #expect(d.status.phase == .rolledBack)
        #expect(d.needs.isEmpty)
    }

    @Test func queryErrorsHoldThenFail() {
        var d = promotedV1(canarySpec(stepWeight: 20, errorLimit: 3))
        d.answers["success"] = .error("connection refused")
        d.tick()
        d.tick()
        d.tick(advance: 10)
        d.tick(advance: 10)
        #expect(d.status.consecutiveErrors == 2)
        #expect(d.status.currentStepIndex == 0, "errors hold the rollout")
        #expect(d.status.failedChecks == 0, "errors are not failed checks")
        d.answers["success"] = .value(0.999)
        d.tick(advance: 10)
        #expect(d.status.consecutiveErrors == 0, "a clean run resets the error count")
        #expect(d.status.currentStepIndex == 1)
        d.answers["success"] = .error("connection refused")
        for _ in 0..<3 { d.tick(advance: 10) }
        #expect(d.status.phase == .failed)
        #expect(d.weight == 0)
        #expect(d.status.message?.contains("consecutiveErrorLimit 3") == true)
        #expect(!d.transitions.contains { if case .promoted(let v, _) = $0 { return v == "v2" } else { return false } })
    }

    @Test func noDataFollowsEachPolicy() {
        func run(_ policy: NoDataPolicy) -> Driver {
            var metric = AnalysisMetric(name: "acc", query: "x", thresholdRange: ThresholdRange(min: 0.5))
            metric.noDataPolicy = policy
            var d = promotedV1(canarySpec(stepWeight: 50, metrics: [metric], failureLimit: 5, errorLimit: 5))
            d.answers["acc"] = .noData
            d.tick()
            d.tick()
            d.tick(advance: 10)
            return d
        }
        let fail = run(.fail), pass = run(.pass), error = run(.error), ignore = run(.ignore)
        #expect(fail.status.failedChecks == 1 && fail.status.currentStepIndex == 0)
        #expect(pass.status.failedChecks == 0 && pass.status.currentStepIndex == 1)
        #expect(error.status.consecutiveErrors == 1 && error.status.currentStepIndex == 0)
        #expect(ignore.status.failedChecks == 0 && ignore.status.consecutiveErrors == 0 && ignore.status.currentStepIndex == 1)
        #expect(fail.status.measurements?.first?.outcome == .noData)

        let nan = AnalysisEvaluation.measure(AnalysisMetric(name: "m", query: "q", thresholdRange: ThresholdRange(max: 1)),
                                             query: "q", answer: .value(.nan), time: "t")
        #expect(nan.outcome == .noData && nan.value == nil)
        let high = AnalysisEvaluation.measure(AnalysisMetric(name: "m", query: "q", thresholdRange: ThresholdRange(max: 0.5)),
                                              query: "q", answer: .value(0.8), time: "t")
        #expect(high.outcome == .fail && high.message == "0.8 is above the maximum 0.5")
    }

    /// A sequential comparison holds the step while it has not decided (no pass, no failed
    /// check), advances once non-inferiority is established, and fails once degradation is.
    @Test func sequentialComparisonHoldsUntilItDecides() {
        var comparison = ComparisonMetric(name: "vs-stable", template: .successRate)
        comparison.test = .sequential
        var spec = canarySpec(stepWeight: 25, maxWeight: 50, metrics: [], failureLimit: 1)
        spec.analysis?.comparisons = [comparison]
        var d = promotedV1(spec)
        d.comparisonCounts["vs-stable"] = (294, 300, 294, 300)
        d.tick()
        d.tick()
        for _ in 0..<3 { d.tick(advance: 10) }
        #expect(d.status.phase == .progressing && d.status.currentStepIndex == 0, "undecided holds: \(d.status)")
        #expect(d.status.failedChecks == 0 && d.status.iterations == 0)
        #expect(d.status.message?.contains("holding: metric vs-stable") == true, "\(d.status.message ?? "")")
        #expect(d.status.measurements?.first?.outcome == .noData)
        d.comparisonCounts["vs-stable"] = (9_800, 10_000, 9_800, 10_000)
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 1, "non-inferiority established advances the step")
        d.comparisonCounts["vs-stable"] = (9_800, 10_000, 9_500, 10_000)
        d.tick(advance: 10)
        #expect(d.status.phase == .rolledBack && d.weight == 0)
        #expect(d.status.message?.contains("worse than stable by more than 0.01") == true, "\(d.status.message ?? "")")
    }

    @Test func pausesEndByTimeOrByPromoteRequest() {
        var d = promotedV1(canarySpec(steps: [CanaryStep(setWeight: 10), CanaryStep(pause: PauseStep(duration: "30s")),
                                              CanaryStep(setWeight: 50), CanaryStep(pause: PauseStep())]))
        d.tick()
        d.tick()
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 1)
        #expect(d.status.phase == .paused)
        #expect(d.weight == 10)
        d.tick(advance: 20)
        #expect(d.status.currentStepIndex == 1)
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 2)
        #expect(d.weight == 50)
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 3)
        d.tick(advance: 3600)
        #expect(d.status.phase == .paused, "an indefinite pause waits")
        var requests = RolloutRequests()
        requests.promote = ManualRequest(requestedAt: "2027-01-01T00:00:00Z", requestedBy: "alice", reason: "looks good")
        d.status.requests = requests
        d.tick(advance: 1)
        #expect(d.status.requests == nil, "requests are acknowledged by clearing them")
        #expect(d.status.lastHandledRequest == "2027-01-01T00:00:00Z")
        #expect(d.status.phase == .promoting)
        #expect(d.events.contains { $0.reason == "PromotionRequested" && $0.message.contains("alice") })
        d.tick()
        #expect(d.status.phase == .succeeded)
        #expect(d.status.stableVersion == "v2")
    }

    @Test func theSameRequestIsActedOnOnce() {
        var d = promotedV1(canarySpec(stepWeight: 10))
        d.tick()
        d.tick()
        var requests = RolloutRequests()
        requests.abort = ManualRequest(requestedAt: "2027-01-01T00:00:00Z")
        d.status.requests = requests
        d.tick(advance: 1)
        #expect(d.status.phase == .rolledBack)
        #expect(d.status.message?.hasPrefix(RolloutReason.aborted) == true)
        // A retry brings it back; replaying the same abort (stale write) changes nothing.
        requests = RolloutRequests()
        requests.retry = ManualRequest(requestedAt: "2027-01-01T00:01:00Z")
        d.status.requests = requests
        d.tick(advance: 1)
        #expect(d.status.phase == .progressing, "restarted from the first step (its Deployment still serves)")
        #expect(d.status.currentStepIndex == 0)
        #expect(d.status.failedChecks == 0)
        #expect(d.transitions.filter { $0 == .started(candidate: "v2") }.count == 2)
        requests = RolloutRequests()
        requests.abort = ManualRequest(requestedAt: "2027-01-01T00:01:00Z")
        d.status.requests = requests
        d.tick(advance: 1)
        #expect(d.status.phase == .progressing, "a request with an already handled time is ignored")
    }

    @Test func aNewCandidateRestartsFromStable() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.tick()
        d.tick()
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 1)
        d.candidate = .eligible("v3")
        d.tick(advance: 1)
        #expect(d.status.canaryVersion == "v3")
        #expect(d.status.phase == .initializing)
        #expect(d.status.currentStepIndex == 0)
        #expect(d.transitions.contains(.cancelled(version: "v2")))
        #expect(d.transitions.last == .started(candidate: "v3"))
        #expect(CanaryMachine.versionsToServe(status: d.status) == ["v1", "v3"])
    }

    @Test func candidateNotServingFailsAfterTheProgressDeadline() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.serving = .notReady("0/2 replicas available")
        d.tick()
        d.tick(advance: 30)
        #expect(d.status.phase == .initializing)
        d.tick(advance: 31)
        #expect(d.status.phase == .failed)
        #expect(d.status.message?.contains(RolloutReason.progressDeadlineExceeded) == true)
        #expect(d.weight == 0)
    }

    @Test func specPausedHoldsStepsButNotAnalysis() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.spec.paused = true
        d.tick()
        d.tick()
        d.tick(advance: 10)
        d.tick(advance: 10)
        #expect(d.status.phase == .paused)
        #expect(d.status.currentStepIndex == 0)
        #expect(d.needs.count == 2, "analysis continues while paused")
        d.spec.paused = false
        d.tick()
        #expect(d.status.currentStepIndex == 1)
    }

    @Test func webhooksGateAndInform() {
        var spec = canarySpec(stepWeight: 50, maxWeight: 50)
        spec.webhooks = [RolloutWebhook(name: "load", type: .preRollout, url: "http://x"),
                         RolloutWebhook(name: "confirm", type: .confirmPromotion, url: "http://x"),
                         RolloutWebhook(name: "notify", type: .rollback, url: "http://x")]
        var d = promotedV1(spec)
        d.webhookOK[.confirmPromotion] = false
        d.tick()
        d.tick()
        #expect(d.needs == [.webhooks(.preRollout)])
        #expect(d.status.phase == .progressing)
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 1)
        d.tick()
        #expect(d.needs.last == .webhooks(.confirmPromotion))
        #expect(d.status.phase == .paused, "a failing ConfirmPromotion holds")
        let calls = d.needs.count
        d.tick(advance: 2)
        #expect(d.needs.count == calls, "not asked again before an interval passed")
        d.webhookOK[.confirmPromotion] = true
        d.tick(advance: 10)
        #expect(d.status.phase == .promoting)

        // A failing pre-rollout hook rolls back before any traffic moves, and calls the rollback hook.
        var e = promotedV1(spec)
        e.webhookOK[.preRollout] = false
        e.tick()
        e.tick()
        #expect(e.status.phase == .rolledBack)
        #expect(e.needs == [.webhooks(.preRollout), .webhooks(.rollback)])
        #expect(e.status.webhooks?.contains { $0.name == "notify" } == true)
    }

    @Test func rolledBackVersionNeedsARetry() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.candidate = .rolledBackBefore("v2", message: "rolled back at 2027-01-01T00:00:00Z: AnalysisFailed")
        d.tick()
        #expect(d.status.canaryVersion == nil)
        #expect(d.status.message?.contains("rolled back") == true)
        var requests = RolloutRequests()
        requests.retry = ManualRequest(requestedAt: "2027-01-02T00:00:00Z")
        d.status.requests = requests
        d.tick()
        #expect(d.status.canaryVersion == "v2")
        d.tick()
        #expect(d.status.phase == .progressing, "the retried rollout goes on although the version was rolled back once")
    }

    @Test func rejectedCandidateIsWithdrawnMidRollout() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.tick()
        d.tick()
        d.candidate = .ineligible("v2", reason: "Rejected", message: "rejected by bob")
        d.tick(advance: 1)
        #expect(d.status.phase == .rolledBack)
        #expect(d.weight == 0)
    }

    @Test func shadowMirrorsThenPromotes() {
        var spec = canarySpec()
        var shadow = ShadowStrategy()
        shadow.mirrorPercent = 25
        shadow.iterations = 2
        shadow.autoPromote = true
        spec.strategy = RolloutStrategy(shadow: shadow)
        var d = promotedV1(spec)
        d.tick()
        d.tick()
        let routing = CanaryMachine.desiredRouting(spec: spec, status: d.status)
        #expect(routing?.split == TrafficSplit(canaryWeight: 0, mirrorPercent: 25))
        d.tick(advance: 10)
        #expect(d.status.phase == .progressing)
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 1, "two passing runs end the mirroring step")
        #expect(d.requeue == .zero)
        d.tick()
        #expect(d.status.phase == .promoting)
        #expect(CanaryMachine.desiredRouting(spec: spec, status: d.status)?.split.mirrorPercent == nil)
    }

    @Test func clearingTheCandidateCancelsTheRollout() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.tick()
        d.tick()
        d.candidate = .eligible("v1")
        d.tick(advance: 1)
        #expect(d.status.phase == .succeeded)
        #expect(d.status.canaryVersion == nil)
        #expect(d.routedStable == "v1")
        #expect(d.transitions.last == .cancelled(version: "v2"))
    }
}

private func externalSpec(_ strategy: RolloutStrategy, timeout: Int = 120) -> CanaryRolloutSpec {
    var spec = canarySpec()
    spec.analysis = nil
    var external = ExternalServing(stableDeployment: "fraud-stable", canaryDeployment: "fraud-canary")
    external.promotionTimeoutSeconds = timeout
    spec.serving = ServingSpec(external: external)
    spec.strategy = strategy
    return spec
}

/// Issue 25 (#20) and item 1 of issue 21 (#16): phases that say what happens, external-serving
/// promotion, and the history that records and Events derive from.
@Suite struct CanaryEdgeTests {
    /// Runs `d` until it promotes or waits in promotion, with GitOps not caught up.
    private func runToPromotion(_ d: inout Driver) {
        for _ in 0..<20 where CanaryMachine.resumed(d.status).phase != .promoting {
            d.tick(advance: 1)
        }
    }

    private func externalPromotionWaitsForGitOps(_ strategy: RolloutStrategy, steps: [Int]) {
        var d = promotedV1(externalSpec(strategy))
        d.stableUpdateLate = true
        var weights: [Int] = []
        for _ in 0..<20 where CanaryMachine.resumed(d.status).phase != .promoting {
            d.tick(advance: 1)
            if let w = d.weight, weights.last != w { weights.append(w) }
        }
        #expect(weights == steps + [100], "steps, then all traffic on the canary destination: \(weights)")
        #expect(d.requeue == .zero, "entered Promoting: look again at once")
        d.tick()  // the next pass sees the stable Deployment
        #expect(d.status.phase == .promoting)
        #expect(d.status.reason == RolloutReason.awaitingStableUpdate)
        #expect(d.routedStable == "v1" && d.weight == 100, "never 100/0 to a stable Deployment still running v1")
        d.tick()  // nothing changed since the last pass: a timer (the promotion timeout), not a loop
        #expect(d.status.phase == .promoting && d.weight == 100)
        #expect(d.requeue.map { $0 > .seconds(100) } == true && d.status.message != nil, "\(d.status.message ?? "") waiting for GitOps is not a busy loop: \(String(describing: d.requeue))")
        d.tick(advance: 60)
        #expect(d.status.phase == .promoting && d.weight == 100)
        #expect(!d.events.contains { $0.reason == RolloutReason.promotionTimeout })

        // GitOps is later than promotionTimeoutSeconds: a Waiting phase and a Warning Event, traffic unchanged.
        d.tick(advance: 61)
        #expect(d.status.phase == .waiting)
        #expect(d.status.reason == RolloutReason.promotionTimeout)
        #expect(d.status.heldPhase == .promoting)
        #expect(d.weight == 100 && d.routedStable == "v1")
        #expect(d.events.filter { $0.reason == RolloutReason.promotionTimeout && $0.warning }.count == 1)
        #expect(d.status.message?.contains("fraud-stable") == true, "\(d.status.message ?? "")")
        d.tick(advance: 30)
        #expect(d.events.filter { $0.reason == RolloutReason.promotionTimeout }.count == 1, "one Event per wait, not per pass")

        // The stable Deployment runs v2 at last: promotion completes, 100/0 back on the stable destination.
        d.stableUpdateLate = false
        d.tick(advance: 1)
        #expect(d.status.phase == .succeeded)
        #expect(d.status.stableVersion == "v2")
        #expect(d.weight == 0 && d.routedStable == "v2")
        #expect(d.status.history?.last?.outcome == .promoted)
    }

    @Test func externalCanaryStepsPromoteOnlyOnceTheStableDeploymentRunsTheCandidate() {
        externalPromotionWaitsForGitOps(RolloutStrategy(canary: CanaryStrategy(steps: [CanaryStep(setWeight: 30),
                                                                                        CanaryStep(setWeight: 60)])),
                                        steps: [0, 30, 60])
    }

    @Test func externalBlueGreenKeepsTheCandidateUntilTheStableDeploymentRunsIt() {
        var blueGreen = BlueGreenStrategy()
        blueGreen.iterations = 1
        externalPromotionWaitsForGitOps(RolloutStrategy(blueGreen: blueGreen), steps: [0])
    }

    @Test func managedPromotionIsUnchanged() {
        var d = promotedV1(canarySpec(stepWeight: 50, maxWeight: 50))
        d.stableUpdateLate = true  // ignored: managed serving points the stable subset itself
        runToPromotion(&d)
        d.tick()
        #expect(d.status.phase == .succeeded && d.weight == 0 && d.routedStable == "v2")
    }

    @Test func missingRoutingObjectIsAWaitWithAWarningNamingIt() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.tick()
        d.tick()
        #expect(d.status.phase == .progressing)
        let weight = d.weight
        d.routing = .failed(reason: "VirtualServiceNotFound", message: "VirtualService ml/fraud not found (networking.istio.io/v1beta1)")
        d.tick(advance: 1)
        #expect(d.status.phase == .waiting)
        #expect(d.status.reason == "VirtualServiceNotFound")
        #expect(d.status.heldPhase == .progressing)
        #expect(d.weight == weight, "a wait moves no traffic")
        let warnings = d.events.filter { $0.warning && $0.reason == "VirtualServiceNotFound" }
        #expect(warnings.count == 1 && warnings.first?.message.contains("VirtualService ml/fraud") == true)
        d.tick(advance: 1)
        d.tick(advance: 1)
        #expect(d.events.filter { $0.reason == "VirtualServiceNotFound" }.count == 1, "not one Event per pass")
        d.routing = .verified
        d.tick(advance: 1)
        #expect(d.status.phase == .progressing && d.status.heldPhase == nil && d.status.reason == "StepInProgress")

        // Promoting with the VirtualService gone: Waiting too, never "Promoting".
        var e = promotedV1(canarySpec(stepWeight: 50, maxWeight: 50))
        runToPromotion(&e)
        #expect(e.status.phase == .promoting)
        e.routing = .failed(reason: "VirtualServiceNotFound", message: "VirtualService ml/fraud not found")
        e.tick()
        #expect(e.status.phase == .waiting && e.status.heldPhase == .promoting)
        #expect(CanaryMachine.desiredRouting(spec: e.spec, status: e.status)?.stableVersion == "v2", "still promoting underneath")
    }

    @Test func everyHoldHasAWaitingPhaseAndReason() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.candidate = .ineligible("v2", reason: "NotApproved", message: "ModelVersion v2 is not approved yet")
        d.tick()
        #expect(d.status.phase == .waiting && d.status.reason == "NotApproved")
        #expect(d.status.heldPhase == .succeeded && d.routedStable == "v1")

        var e = promotedV1(canarySpec(stepWeight: 20))
        e.tick()
        e.tick()
        e.serving = .notReady("Deployment fraud-v2: 0/2 replicas available")
        e.tick(advance: 1)
        #expect(e.status.phase == .waiting && e.status.reason == RolloutReason.servingNotReady)
        #expect(e.events.contains { $0.warning && $0.reason == RolloutReason.servingNotReady })

        var f = promotedV1(canarySpec(stepWeight: 20))
        f.answers["success"] = .error("connection refused")
        f.tick()
        f.tick()
        f.tick(advance: 10)
        #expect(f.status.phase == .waiting && f.status.reason == RolloutReason.analysisError)
        #expect(f.status.consecutiveErrors == 1)
        #expect(f.events.filter { $0.reason == RolloutReason.analysisError }.count == 1, "one Event for one failed run: \(f.events)")
        #expect(f.events.first { $0.reason == RolloutReason.analysisError }?.warning == true)
        f.answers["success"] = .value(1)
        f.tick(advance: 10)
        #expect(f.status.phase == .progressing, "a run without errors resumes")

        var g = Driver(canarySpec(stepWeight: 20))
        g.tick()
        #expect(g.status.phase == .waiting && g.status.reason == "NoModelVersion")

        // Steady state with the VirtualService gone: not "Succeeded" but a wait naming it.
        var h = promotedV1(canarySpec(stepWeight: 20))
        h.candidate = .eligible("v1")
        h.routing = .failed(reason: "VirtualServiceNotFound", message: "VirtualService ml/fraud not found")
        h.tick()
        #expect(h.status.phase == .waiting && h.status.reason == "VirtualServiceNotFound" && h.status.heldPhase == .succeeded)
        #expect(h.events.contains { $0.warning && $0.message.contains("VirtualService ml/fraud") })
        h.routing = .verified
        h.tick()
        #expect(h.status.phase == .succeeded && h.status.reason == "Serving")
    }

    @Test func anInvalidSpecHoldsThePhaseAndResumesIt() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.tick()
        d.tick()
        d.tick(advance: 10)
        #expect(d.status.currentStepIndex == 1)
        let routing = CanaryMachine.desiredRouting(spec: d.spec, status: d.status)
        d.status = CanaryMachine.invalid(d.status, message: "spec.strategy: set exactly one strategy")
        #expect(d.status.phase == .invalid && d.status.heldPhase == .progressing && d.status.reason == "InvalidSpec")
        #expect(CanaryMachine.desiredRouting(spec: d.spec, status: d.status) == routing, "an invalid spec moves no traffic")
        #expect(CanaryMachine.isActive(d.status))
        let again = CanaryMachine.invalid(d.status, message: "still invalid")
        #expect(again.heldPhase == .progressing, "re-validating keeps the held phase")
        d.tick(advance: 1)
        #expect(d.status.phase == .progressing && d.status.currentStepIndex == 1, "fixed: resumes where it was")
    }

    @Test func historyRecordsEachRolloutAndNamesItsEvents() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        d.answers["success"] = .value(0.5)
        for _ in 0..<6 where d.status.phase != .rolledBack { d.tick(advance: 10) }
        #expect(d.status.phase == .rolledBack && d.status.reason == RolloutReason.analysisFailed)
        d.candidate = .eligible("v3")
        d.answers["success"] = .value(1)
        d.tick(advance: 1)
        let history = d.status.history ?? []
        #expect(history.map(\.version) == ["v2", "v3"])
        #expect(history[0].outcome == .rolledBack && history[0].reason == RolloutReason.analysisFailed)
        #expect(history[0].message?.contains("failureLimit") == true)
        #expect(history[1].outcome == nil && history[1].stableVersion == "v1")
        #expect(RolloutHistory.lastOutcome(of: "v2", in: d.status)?.outcome == .rolledBack)
        #expect(!d.events.contains { ["RolloutStarted", "RolledBack", "Promoted", "RolloutFailed"].contains($0.reason) },
                "these derive from the history, at least once")

        let events = RolloutHistory.transitionEvents(status: d.status, rollout: "fraud", uid: "u-1")
        #expect(events.map(\.reason) == ["RolloutStarted", "RolledBack", "RolloutStarted"])
        #expect(events[1].warning && events[1].message.hasPrefix("v2: AnalysisFailed"))
        #expect(events[0].message == "rolling out v2 (stable: v1)")
        let again = RolloutHistory.transitionEvents(status: d.status, rollout: "fraud", uid: "u-1")
        #expect(events.map(\.name) == again.map(\.name), "the same transition always has the same name")
        #expect(Set(events.map(\.name)).count == 3)
        #expect(events.allSatisfy { $0.name.hasPrefix("fraud.") && $0.name == $0.name.lowercased() && $0.name.count < 253 })
        let other = RolloutHistory.transitionEvents(status: d.status, rollout: "fraud", uid: "u-2")
        #expect(Set(other.map(\.name)).isDisjoint(with: events.map(\.name)), "another rollout object, other names")

        // A retry is a new rollout of the same version: new names.
        var e = promotedV1(canarySpec(stepWeight: 20))
        e.tick()
        var requests = RolloutRequests()
        requests.abort = ManualRequest(requestedAt: "2027-01-01T00:00:00Z")
        e.status.requests = requests
        e.tick(advance: 1)
        requests = RolloutRequests()
        requests.retry = ManualRequest(requestedAt: "2027-01-01T00:01:00Z")
        e.status.requests = requests
        e.tick(advance: 1)
        let retried = RolloutHistory.transitionEvents(status: e.status, rollout: "fraud", uid: "u-1")
        #expect(retried.map(\.reason) == ["RolloutStarted", "RolledBack", "RolloutStarted"])
        #expect(Set(retried.map(\.name)).count == 3)
        #expect(e.status.history?.last?.trigger == "RolloutRetried")
        #expect(e.events.contains { $0.reason == "RolloutRetried" })
    }

    @Test func historyIsBounded() {
        var d = promotedV1(canarySpec(stepWeight: 20))
        for i in 0..<(RolloutRecord.limit + 3) {
            d.candidate = .eligible("v\(i + 10)")
            d.tick(advance: 1)
        }
        #expect(d.status.history?.count == RolloutRecord.limit)
        #expect(d.status.history?.last?.version == "v\(RolloutRecord.limit + 12)")
        #expect(d.status.history?.dropLast().allSatisfy { $0.outcome == .cancelled } == true)
    }
}
