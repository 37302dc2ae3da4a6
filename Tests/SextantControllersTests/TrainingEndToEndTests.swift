import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import Testing

/// End to end: the controllers, the real `sextant-trainer` on a CSV (run by `TrainerKubelet`),
/// and for the drift trigger a real Prometheus scraping a metrics exporter.
@Suite("Training end to end", .serialized)
struct TrainingEndToEndTests {
    @Test func realTrainerRegistersRealMetricsAndHashesAndAFailingGateRegistersNothing() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: TrainerKubelet.trainerBinary), "sextant-trainer is not built next to the tests")
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        let kubelet = try TrainerKubelet(env: env)
        kubelet.start()
        defer { kubelet.stop() }
        let csv = kubelet.directory.file("churn.csv")
        try writeChurnCSV(to: csv)
        let models = kubelet.directory.file("models")

        _ = try await env.client.create(sampleTrainingJob("churn-real", dataURI: "file://" + csv, outputURI: "file://" + models + "/"))
        try await env.eventually("ModelVersion churn-v1 from the real trainer", timeout: .seconds(60)) {
            (try? await env.modelVersion("churn-v1")) != nil
        }
        let mv = try await env.modelVersion("churn-v1")
        let artifact = models + "/churn/v1/model.json"
        #expect(mv.spec.artifact.uri == "file://" + artifact)
        #expect(mv.spec.artifact.sha256 == (try sha256Hex(artifact)))
        #expect(mv.spec.data?.sha256 == (try sha256Hex(csv)))
        #expect(mv.spec.data?.rows == 3000)
        let metricsFile = try JSONValue.parse(string: String(contentsOfFile: models + "/churn/v1/metrics.json", encoding: .utf8))
        let auc = try #require(metricsFile[path: ["test", "aucRoc"]]?.doubleValue)
        #expect(mv.spec.metrics?["aucRoc"] == auc)
        #expect(auc > 0.7)
        #expect(mv.spec.gates?.passed == true)
        try await env.eventually("approved") { try await env.modelVersion("churn-v1").status?.phase == .approved }

        // The same data with an impossible gate: GateFailed, no version.
        var strict = sampleTrainingJob("churn-strict", model: "churn-strict", dataURI: "file://" + csv, outputURI: "file://" + models + "/")
        strict.spec.gates?.performance = PerformanceGate(thresholds: [MetricThreshold(metric: .aucRoc, min: 0.9999)])
        _ = try await env.client.create(strict)
        try await env.eventually("GateFailed", timeout: .seconds(60)) {
            try await env.trainingJob("churn-strict").status?.runs?.first?.result == .gateFailed
        }
        let run = try #require(try await env.trainingJob("churn-strict").status?.runs?.first)
        #expect(run.message?.contains("performance.aucRoc: value") == true && run.message?.contains("threshold 0.9999") == true, "\(run.message ?? "")")
        #expect(try await env.modelVersions().allSatisfy { $0.spec.modelName != "churn-strict" })
    }

    @Test func driftInRealPrometheusStartsARunWhoseApprovedVersionGoesToTheCanaryRollout() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: TrainerKubelet.trainerBinary), "sextant-trainer is not built next to the tests")
        guard PrometheusServer.isInstalled, MetricsExporter.isAvailable else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("prometheus or python3 missing") }
            return
        }
        let exporter = try await MetricsExporter.start(model: "churn", accuracy: 0.95)
        defer { exporter.stop() }
        let prometheus = try await PrometheusServer.start(scrapeTargets: [exporter.target], scrapeInterval: "1s")
        defer { prometheus.stop() }
        try await prometheus.waitForTargetsUp()

        let env = try await TrainingEnvironment.start(clock: TrainingClock(live: true), prometheus: prometheus.address)
        defer { Task { await env.stop() } }
        let kubelet = try TrainerKubelet(env: env)
        kubelet.start()
        defer { kubelet.stop() }
        let csv = kubelet.directory.file("churn.csv")
        try writeChurnCSV(to: csv)

        var rollout = try JSONValue.parseYAML(String(contentsOf: trainingRepoRoot.appendingPathComponent("manifests/examples/canaryrollout-steps.yaml"), encoding: .utf8))
        rollout.set(path: ["metadata", "namespace"], to: "default")
        rollout.set(path: ["metadata", "name"], to: "churn")
        rollout.set(path: ["spec", "modelName"], to: "churn")
        rollout.set(path: ["spec", "modelVersion"], to: nil)
        let _: DynamicObject = try await env.client.create(ResourceDescriptor(CanaryRollout.self), DynamicObject(rollout), namespace: "default")

        var tj = sampleTrainingJob("churn-drift", canaryRollout: "churn", dataURI: "file://" + csv,
                                   outputURI: "file://" + kubelet.directory.file("models") + "/")
        var retrain = RetrainPolicy(conditions: [RetrainCondition(name: "accuracy-drop", query: #"sextant_model_accuracy{model="{{ model }}"}"#, below: 0.8)])
        retrain.interval = "1s"
        retrain.cooldown = "1h"
        tj.spec.retrainOn = retrain
        _ = try await env.client.create(tj)
        try await env.eventually("accuracy 0.95 is OK", timeout: .seconds(20)) {
            let check = try await env.trainingJob("churn-drift").status?.retrainChecks?.first
            return check?.outcome == .ok && check?.value == 0.95
        }
        #expect(try await env.jobs(of: "churn-drift").isEmpty)

        let dropped = ContinuousClock.now
        try await exporter.configure(accuracy: 0.6)
        try await env.eventually("the drop starts a run", timeout: .seconds(20)) { try await !env.jobs(of: "churn-drift").isEmpty }
        let reaction = ContinuousClock.now - dropped
        try await env.eventually("run recorded") { try await env.trainingJob("churn-drift").status?.runs?.first != nil }
        let trigger = try #require(try await env.trainingJob("churn-drift").status?.runs?.first?.trigger)
        #expect(trigger.type == .retrainCondition && trigger.condition == "accuracy-drop" && trigger.value == 0.6)
        try await env.eventually("rollout gets churn-v1", timeout: .seconds(60)) {
            let r: DynamicObject = try await env.client.get(ResourceDescriptor(CanaryRollout.self), name: "churn", namespace: "default")
            return r.raw[path: ["spec", "modelVersion"]]?.stringValue == "churn-v1"
        }
        print("drift → run started in \(reaction) (scrape 1s, check interval 1s)")
        // Cooldown: still drifted, no second run.
        try await Task.sleep(for: .seconds(2))
        #expect(try await env.jobs(of: "churn-drift").count == 1)
        #expect(try await env.trainingJob("churn-drift").status?.retrainChecks?.first?.outcome == .coolingDown)
    }
}
