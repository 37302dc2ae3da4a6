import Foundation
import SextantAPI
import SextantCLI
import SextantDashboard
import SextantKubeTypes
import SextantTestSupport
import Testing

/// The pure tree renderer of `sextant get cro NAME --tree`: status and objects in, lines out.
@Suite("rollout tree rendering")
struct RolloutTreeTests {
    static let now = KubeTime.parse("2026-12-06T05:00:00Z") ?? Date()

    static func rollout(steps: [CanaryStep]? = nil, status: CanaryRolloutStatus?) -> CanaryRollout {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud"))
        routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()), routing: routing,
                                     strategy: RolloutStrategy(canary: CanaryStrategy(steps: steps ?? [
                                         CanaryStep(setWeight: 25), CanaryStep(pause: PauseStep(duration: "30s")),
                                         CanaryStep(setWeight: 50), CanaryStep(pause: PauseStep()),
                                     ])))
        var analysis = AnalysisSpec()
        analysis.failureLimit = 2
        analysis.consecutiveErrorLimit = 3
        analysis.metrics = [AnalysisMetric(name: "success-rate", template: .successRate, thresholdRange: ThresholdRange(min: 0.95)),
                            AnalysisMetric(name: "latency-p99", template: .latencyP99, thresholdRange: ThresholdRange(max: 0.5))]
        spec.analysis = analysis
        return CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec, status: status)
    }

    static func measurement(_ metric: String, _ value: Double, _ outcome: MeasurementOutcome, message: String? = nil) -> SextantAPI.Measurement {
        var m = SextantAPI.Measurement(metric: metric, outcome: outcome, time: "2026-12-06T04:59:57Z")
        m.value = value
        m.message = message
        return m
    }

    @Test func progressingRolloutShowsStepsServingAnalysisAndEvents() {
        var status = CanaryRolloutStatus()
        status.phase = .progressing
        status.reason = "StepInProgress"
        status.message = "step 3/4: canary at 50%"
        status.stableVersion = "fraud-v1"
        status.canaryVersion = "fraud-v2"
        status.currentStepIndex = 2
        status.canaryWeight = 50
        status.failedChecks = 1
        status.lastAnalysisTime = "2026-12-06T04:59:57Z"
        status.measurements = [Self.measurement("success-rate", 0.9987, .pass),
                               Self.measurement("latency-p99", 0.72, .fail, message: "0.72 above the maximum 0.5")]
        let deployments = [ServingDeployment(name: "fraud-fraud-v1", version: "fraud-v1", replicas: 2, ready: 2, available: 2, updated: 2),
                           ServingDeployment(name: "fraud-fraud-v2", version: "fraud-v2", replicas: 2, ready: 1, available: 1, updated: 2)]
        let events = [RolloutEvent(time: Self.now.addingTimeInterval(-40), type: "Normal", reason: "RolloutStarted", note: "rolling out fraud-v2"),
                      RolloutEvent(time: Self.now.addingTimeInterval(-3), type: "Warning", reason: "AnalysisFailed", note: "latency-p99", count: 2)]
        let lines = RolloutTree.render(Self.rollout(status: status), deployments: deployments, events: events, now: Self.now)
        let text = lines.joined(separator: "\n")

        #expect(lines.contains("Phase:           ◌ Progressing (StepInProgress)"), "\(text)")
        #expect(lines.contains("Step:            3/4"))
        #expect(lines.contains("Weight:          canary 50% (verified), step wants 50%"))
        #expect(lines.contains("Analysis:        failed runs 1/2, consecutive errors 0/3"))
        #expect(lines.contains("├──✔ 1. setWeight 25 · analysis"))
        #expect(lines.contains("├──✔ 2. pause 30s  (weight 25)"))
        #expect(lines.contains("├──► 3. setWeight 50 · analysis"))
        #expect(lines.contains("└──○ 4. pause (until promote)  (weight 50)"))
        #expect(lines.contains { $0.hasPrefix("├──Deployment fraud-fraud-v1") && $0.contains("stable") && $0.contains("2/2 ready  ✔ Available") })
        #expect(lines.contains { $0.hasPrefix("└──Deployment fraud-fraud-v2") && $0.contains("canary") && $0.contains("1/2 ready  ◌ Progressing") })
        #expect(lines.contains("ANALYSIS (last run 3s ago)"))
        #expect(lines.contains { $0.hasPrefix("├──✔ success-rate") && $0.contains("0.9987") && $0.contains("≥ 0.95") && $0.hasSuffix("Pass") })
        #expect(lines.contains { $0.hasPrefix("└──✖ latency-p99") && $0.contains("0.72") && $0.contains("≤ 0.5")
                && $0.hasSuffix("Fail  0.72 above the maximum 0.5") })
        #expect(lines.contains("  40s   Normal   RolloutStarted: rolling out fraud-v2"))
        #expect(lines.contains("  3s    Warning  AnalysisFailed (x2): latency-p99"))
        #expect(!text.contains("\u{1B}["), "no colour codes unless asked")
    }

    @Test func rolledBackMarksTheFailedStepAndPromotedMarksAllDone() {
        var status = CanaryRolloutStatus()
        status.phase = .rolledBack
        status.reason = "AnalysisFailed"
        status.stableVersion = "fraud-v1"
        status.canaryVersion = "fraud-v2"
        status.currentStepIndex = 0
        let rolledBack = RolloutTree.render(Self.rollout(status: status), deployments: [], events: [], now: Self.now)
        #expect(rolledBack.contains("Phase:           ✖ RolledBack (AnalysisFailed)"))
        #expect(rolledBack.contains("├──✖ 1. setWeight 25 · analysis"))
        #expect(rolledBack.contains("├──○ 2. pause 30s  (weight 25)"))
        #expect(rolledBack.contains("  (no Deployments)"))
        #expect(rolledBack.contains { $0.hasPrefix("├──○ success-rate") && $0.hasSuffix("NotMeasured") }, "not measured yet")

        var promoted = CanaryRolloutStatus()
        promoted.phase = .succeeded
        promoted.reason = "Promoted"
        promoted.stableVersion = "fraud-v2"
        var record = RolloutRecord(version: "fraud-v2", stableVersion: "fraud-v1", startTime: "2026-12-06T04:50:00Z")
        record.outcome = .promoted
        promoted.history = [record]
        let done = RolloutTree.render(Self.rollout(status: promoted), deployments: [], events: [], now: Self.now)
        #expect(done.contains("Phase:           ✔ Succeeded (Promoted)"))
        #expect(done.filter { $0.contains("──✔ ") }.count == 4, "\(done)")
        #expect(done.contains("Canary:          -"))
    }

    @Test func derivedStepsAndColours() {
        let derived = Self.rollout(steps: nil, status: nil)
        var flagger = derived
        flagger.spec.strategy = RolloutStrategy(canary: CanaryStrategy(stepWeight: 20, maxWeight: 50))
        let lines = RolloutTree.render(flagger, deployments: [], events: [], now: Self.now)
        #expect(lines.filter { $0.contains("setWeight") } == ["├──○ 1. setWeight 20 · analysis", "├──○ 2. setWeight 40 · analysis",
                                                             "└──○ 3. setWeight 50 · analysis"])
        #expect(lines.contains("Phase:           ◌ Pending"))

        var blueGreen = derived
        var bg = BlueGreenStrategy()
        bg.iterations = 3
        bg.autoPromote = false
        blueGreen.spec.strategy = RolloutStrategy(blueGreen: bg)
        let bgLines = RolloutTree.render(blueGreen, deployments: [], events: [], now: Self.now, color: true)
        #expect(bgLines.contains("├──○ 1. setWeight 0 · 3 passing runs"))
        #expect(bgLines.contains("└──○ 2. pause (until promote)  (weight 0)"))
        #expect(bgLines.contains("Phase:           \u{1B}[33m◌ Pending\u{1B}[0m"))
    }

    @Test func thresholdsAndNumbers() {
        #expect(RolloutView.threshold(ThresholdRange(min: 0.9, max: 1)) == "[0.9, 1]")
        #expect(RolloutView.threshold(ThresholdRange()) == "any")
        #expect(RolloutView.number(0.123456) == "0.1235")
        #expect(RolloutView.number(1500) == "1500")
        #expect(RolloutView.number(.nan) == "NaN")
        #expect(RolloutView.number(2.5e-7) == "2.5e-07")
    }
}

/// `--tree` argument errors through the real binary and the development API server.
@Suite("sextant get --tree errors", .serialized)
struct RolloutTreeCommandTests {
    @Test func missingRolloutAndWrongTypeAreErrors() async throws {
        let (server, _, kubeconfig, directory) = try await startServerWithSextantCRDs(token: "tree-token")
        defer { withExtendedLifetime(directory) {} }
        defer { Task { await server.stop() } }
        let missing = try await runCommandAsync(GetCommandTests.binary, ["get", "cro", "nope", "--tree", "--kubeconfig", kubeconfig])
        #expect(missing.code == 1)
        #expect(missing.output.contains(#"Error from server (NotFound): canaryrollouts.mlops.sextant.dev "nope" not found"#), "\(missing.output)")
        let wrongType = try await runCommandAsync(GetCommandTests.binary, ["get", "mv", "x", "--tree", "--kubeconfig", kubeconfig])
        #expect(wrongType.code == 1 && wrongType.output.contains("--tree shows one CanaryRollout"), "\(wrongType.output)")
    }
}
