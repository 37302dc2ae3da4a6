import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantTestSupport
import Testing

/// Issue 23's "after a breach the canary receives no request later than one interval + 1 s after the
/// breach became visible in Prometheus", measured from requests: the local node runs real
/// `sextant-server` Pods, its data plane (a real HAProxy) routes the VirtualService the real
/// CanaryRollout controller writes, a real Prometheus scrapes the servers, and every prediction goes
/// through the data plane's address with the answering version and time logged.
///
/// fraud-v1 (trained on the world as it is) is stable; fraud-v2, trained on the opposite labels, is
/// the candidate: as soon as its feedback labels arrive its real `sextant_model_accuracy` is far
/// below the analysis' minimum. The test polls Prometheus with the query the controller sends (the
/// same function renders both; the status' copy is compared) and records when the breach became
/// visible; the last answer from fraud-v2 must have arrived no later than one analysis interval + 1 s
/// after that.
@Suite("Data plane rollback end to end", .serialized)
struct DataPlaneRollbackEndToEndTests {
    static let interval = "2s"
    static let intervalDuration = Duration.seconds(2)
    static let minimumAccuracy = 0.7

    @Test func canaryGetsNoRequestLaterThanOneIntervalAfterTheBreachIsVisible() async throws {
        guard try LoopEnvironment.available(),
              try Tooling.available("haproxy (Debian package haproxy)", LocalNodeOptions.installedHAProxy != nil) else { return }
        let env = try await LoopEnvironment.start(throughDataPlane: true)
        do {
            try await scenario(env)
        } catch {
            await env.stop()
            throw error
        }
        await env.stop()
    }

    private func scenario(_ env: LoopEnvironment) async throws {
        let ns = LoopEnvironment.namespace
        guard let bin = LocalNodeRunner.binDirectory else { throw TestSetupError("sextant-trainer not built") }
        let good = try Self.train(env.scratch, name: "v1", original: true, trainer: bin + "/sextant-trainer")
        let bad = try Self.train(env.scratch, name: "v2", original: false, trainer: bin + "/sextant-trainer")
        try await env.createRouting()
        try await Self.createVersion(env, "fraud-v1", version: 1, artifact: good)
        try await Self.createVersion(env, "fraud-v2", version: 2, artifact: bad)
        let metric = Self.accuracyMetric()
        try await Self.createRollout(env, candidate: "fraud-v1", metric: metric)

        try await env.waitFor("fraud-v1 stable", timeout: .seconds(60)) {
            let s = try await env.rollout().status
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v1"
        }
        try await env.waitFor("fraud-v1 answering through the data plane", timeout: .seconds(30)) {
            env.traffic.routed.withLock { $0.contains { $0.version == "fraud-v1" } }
        }

        // The candidate. Its accuracy query, rendered as the controller renders it.
        let candidateSet = ContinuousClock.now
        let _: CanaryRollout = try await env.client.patch(CanaryRollout.self, name: "fraud", namespace: ns,
                                                          .merge(["spec": ["modelVersion": "fraud-v2"]]))
        let query = try AnalysisQueries.resolve(metric, AnalysisVariables(
            namespace: ns, name: "fraud", model: LoopEnvironment.model, stable: "fraud-v1", canary: "fraud-v2",
            interval: Self.interval))

        // Polled every 50 ms: the first moment Prometheus answers the query with a breaching value.
        var visible: ContinuousClock.Instant?
        var breachValue = 0.0
        var canaryWeightSeen: Int64 = 0
        let deadline = ContinuousClock.now + .seconds(90)
        while visible == nil, ContinuousClock.now < deadline {
            if let value = try? env.prometheus.query(query), value < Self.minimumAccuracy {
                visible = .now
                breachValue = value
                break
            }
            if let t = try? await env.traffic(), t.canary > canaryWeightSeen { canaryWeightSeen = t.canary }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let visible else {
            let status = (try? await env.rollout().status).map { "\($0.phase?.rawValue ?? "-"): \($0.message ?? "")" } ?? "-"
            throw TestSetupError("the breach never became visible in Prometheus (\(query)); rollout \(status)")
        }

        // The controller rolls back; traffic keeps going for 2 s beyond the bound, so that a canary
        // answer after it would be seen.
        let bound = visible + Self.intervalDuration + .seconds(1)
        var weightZero: ContinuousClock.Instant?
        try await env.waitFor("fraud-v2 rolled back", timeout: .seconds(30)) {
            if weightZero == nil, let t = try? await env.traffic(), t.canary <= 0 { weightZero = .now }
            return try await env.rollout().status?.phase == .rolledBack
        }
        let observeUntil = max(bound, .now) + .seconds(2)
        try await Task.sleep(until: observeUntil, clock: .continuous)

        let log = env.traffic.routed.withLock { $0 }
        let canary = log.filter { $0.version == "fraud-v2" }
        let lastCanary = try #require(canary.last?.answered, "fraud-v2 never answered through the data plane")
        let beforeBreach = canary.filter { $0.answered <= visible }.count
        let stableAfterBound = log.filter { $0.version == "fraud-v1" && $0.answered > bound }.count
        // From the candidate on (before it, the data plane may answer while fraud-v1 is not yet behind it).
        let failures = log.filter { $0.answered >= candidateSet }.compactMap(\.failure)
        print(String(format: "data plane rollback: breach visible (accuracy %.3f < %.1f), last fraud-v2 answer %+.3f s after it " +
                     "(bound %.1f s), VirtualService canary weight 0 seen %+.3f s after it; %d fraud-v2 answers before the breach, " +
                     "%d fraud-v1 answers after the bound, %d requests, %d failed",
                     breachValue, Self.minimumAccuracy, (lastCanary - visible).inSeconds, (bound - visible).inSeconds,
                     weightZero.map { ($0 - visible).inSeconds } ?? .nan, beforeBreach, stableAfterBound, log.count, failures.count))

        #expect(lastCanary <= bound, "the last fraud-v2 answer arrived \(lastCanary - visible) after the breach became visible")
        // Not vacuous: the canary had traffic before the breach, and traffic went on after the bound.
        #expect(beforeBreach > 0)
        #expect(canaryWeightSeen > 0, "the canary never had weight")
        #expect(stableAfterBound > 0, "no traffic after the bound")
        #expect(failures.isEmpty, "predictions through the data plane failed: \(failures.prefix(5))")

        // The controller judged the same query, and the rollback was the analysis' doing.
        let status = try #require(try await env.rollout().status)
        #expect(status.reason == "AnalysisFailed", "\(status.reason ?? "-"): \(status.message ?? "")")
        let measured = status.measurements?.first { $0.metric == metric.name }
        #expect(measured?.query == query)
        #expect(measured?.outcome == .fail, "\(String(describing: measured))")
        let t = try await env.traffic()
        #expect(t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v1", "\(t)")
    }

    /// Online accuracy of the candidate: no data until its labels arrive holds the step (a query
    /// error), so that only the breach decides.
    static func accuracyMetric() -> AnalysisMetric {
        var m = AnalysisMetric(name: "online-accuracy", template: .modelAccuracy, thresholdRange: ThresholdRange(min: minimumAccuracy))
        m.noDataPolicy = .error
        return m
    }

    /// A model of the fraud world (`original`) or of its opposite, trained by the real trainer.
    static func train(_ dir: TemporaryDirectory, name: String, original: Bool, trainer: String) throws -> String {
        let csv = dir.file("fraud-\(name).csv")
        try FraudWorld.writeCSV(to: csv, original: original, seed: 1)
        let config = """
            modelName: fraud
            data: {uri: "file://\(csv)", version: \(name)}
            target: \(FraudWorld.target)
            hyperparameters: {nEstimators: 15, maxDepth: 3, threads: 1}
            output: {uri: "/unused"}
            """
        try config.write(toFile: dir.file("train-\(name).yaml"), atomically: true, encoding: .utf8)
        let (code, output) = try runCommand(trainer, ["--config", dir.file("train-\(name).yaml"), "--output", dir.file("model-\(name)"),
                                                      "--result-file", dir.file("result-\(name).json"), "--quiet"])
        guard code == 0 else { throw TestSetupError("trainer failed (\(code)): \(output)") }
        return dir.file("model-\(name)/model.json")
    }

    static func createVersion(_ env: LoopEnvironment, _ name: String, version: Int64, artifact: String) async throws {
        var artifactSpec = ModelArtifact(uri: "file://" + artifact, format: .sextantJSON)
        artifactSpec.sha256 = try sha256Hex(artifact)
        var spec = ModelVersionSpec(modelName: LoopEnvironment.model, version: version, artifact: artifactSpec)
        spec.approval = Approval(state: .approved, by: "test")
        _ = try await env.client.create(ModelVersion(metadata: ObjectMeta(name: name, namespace: LoopEnvironment.namespace), spec: spec))
    }

    /// Managed serving (1 replica), subset-level routing, canary 50 % then promotion; analysis every
    /// 2 s, rolled back at the first failed run.
    static func createRollout(_ env: LoopEnvironment, candidate: String, metric: AnalysisMetric) async throws {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
        routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        var managed = ManagedServing()
        managed.replicas = 1
        managed.template = ["metadata": ["labels": ["app": "fraud"]]]
        var spec = CanaryRolloutSpec(modelName: LoopEnvironment.model, serving: ServingSpec(managed: managed), routing: routing,
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 50, maxWeight: 50)))
        spec.modelVersion = candidate
        var analysis = AnalysisSpec()
        analysis.interval = interval
        analysis.failureLimit = 1
        analysis.consecutiveErrorLimit = 30
        analysis.metrics = [metric]
        spec.analysis = analysis
        spec.progressDeadlineSeconds = 120
        spec.scaleDownDelaySeconds = 1
        spec.abortScaleDownDelaySeconds = 1
        _ = try await env.client.create(CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: LoopEnvironment.namespace),
                                                      spec: spec))
    }
}
