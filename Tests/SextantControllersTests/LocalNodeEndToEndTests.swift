import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantOperator
import SextantTestSupport
import Testing

/// Issue #9's "done when", end to end on the development API server with the local node
/// (`SextantLocalNode`): the controllers create real `batch/v1` Jobs and `apps/v1` Deployments,
/// and the node runs their Pods as real `sextant-trainer` and `sextant-server` processes. Nothing
/// in these tests writes a Pod, Job or Deployment status.
@Suite("Local node end to end", .serialized)
struct LocalNodeEndToEndTests {
    /// A TrainingJob runs the real trainer on a CSV; the ModelVersion has its real metrics and
    /// hashes. The same data with an impossible gate gives GateFailed and no version.
    @Test func realTrainerRegistersRealMetricsAndHashesAndAFailingGateRegistersNothing() async throws {
        try await withTrainingOnLocalNode { env, dir in
            let csv = dir.file("churn.csv")
            try writeChurnCSV(to: csv, rows: 1000)
            let models = dir.file("models")
            _ = try await env.client.create(localTrainingJob("churn-real", model: "churn", csv: csv, models: models))
            try await env.eventually("ModelVersion churn-v1 from the real trainer", timeout: .seconds(60)) {
                (try? await env.modelVersion("churn-v1")) != nil
            }
            let mv = try await env.modelVersion("churn-v1")
            let artifact = models + "/churn/v1/model.json"
            #expect(mv.spec.artifact.uri == "file://" + artifact)
            #expect(mv.spec.artifact.sha256 == (try sha256Hex(artifact)))
            #expect(mv.spec.data?.sha256 == (try sha256Hex(csv)))
            #expect(mv.spec.data?.rows == 1000)
            let metricsFile = try JSONValue.parse(string: String(contentsOfFile: models + "/churn/v1/metrics.json", encoding: .utf8))
            let auc = try #require(metricsFile[path: ["test", "aucRoc"]]?.doubleValue)
            #expect(mv.spec.metrics?["aucRoc"] == auc)
            #expect(auc > 0.7)
            #expect(mv.spec.gates?.passed == true)
            #expect(mv.spec.lineage?.trainerImage == "sextant-trainer:test")
            try await env.eventually("approved") { try await env.modelVersion("churn-v1").status?.phase == .approved }

            // The run keeps the trainer's metrics and its validation loss per round (the same
            // numbers as metrics.json's full history, at most ValidationCurve.maxPoints rounds).
            try await env.eventually("run recorded") { try await env.trainingJob("churn-real").status?.runs?.first?.result == .succeeded }
            let finished = try #require(try await env.trainingJob("churn-real").status?.runs?.first)
            #expect(finished.metrics?["aucRoc"] == auc)
            let losses = (metricsFile["validationLoss"]?.arrayValue ?? []).compactMap { $0.doubleValue }
            #expect(!losses.isEmpty, "metrics.json has validationLoss")
            let curve = try #require(finished.validationCurve, "the run records the trainer's validation curve")
            #expect(curve.rounds.count == min(losses.count, ValidationCurve.maxPoints) && curve.rounds.last == losses.count)
            for (round, value) in zip(curve.rounds, curve.values) {
                #expect(abs(value - losses[round - 1]) <= 1e-5 * abs(losses[round - 1]), "round \(round)")
            }

            // The Job was run by the node: Complete, and its Pod was a real process on it.
            let job = try await env.job("churn-real-1")
            #expect(job.raw[path: ["status", "conditions"]]?.arrayValue?.contains {
                $0["type"]?.stringValue == "Complete" && $0["status"]?.stringValue == "True"
            } == true, "\(job.raw[path: ["status"]] ?? .null)")
            let pods = try await env.client.list(TrainingEnvironment.podResource, namespace: env.namespace,
                                                 options: ListOptions(labelSelector: "job-name=churn-real-1"), as: DynamicObject.self).items
            let pod = try #require(pods.first?.raw)
            #expect(pod[path: ["spec", "nodeName"]]?.stringValue == "sextant-local")
            let terminated = pod[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "terminated"]]
            #expect(terminated?["exitCode"]?.intValue == 0)
            #expect(terminated?["message"]?.stringValue?.contains(mv.spec.artifact.sha256 ?? "-") == true)

            // The same data with an impossible gate: GateFailed (exit 3 on the node), no version.
            _ = try await env.client.create(localTrainingJob("churn-strict", model: "churn-strict", csv: csv, models: models,
                                                             minAUC: 0.9999))
            try await env.eventually("GateFailed", timeout: .seconds(60)) {
                try await env.trainingJob("churn-strict").status?.runs?.first?.result == .gateFailed
            }
            let status = try #require(try await env.trainingJob("churn-strict").status)
            let run = try #require(status.runs?.first)
            let message = run.message ?? ""
            #expect(run.reason == "GateFailed")
            #expect(message.contains("performance.aucRoc: value") && message.contains("threshold 0.9999"), "\(message)")
            #expect(run.modelVersion == nil)
            #expect(run.metrics?["aucRoc"] != nil && run.validationCurve != nil, "a gate failure keeps its numbers in the run")
            #expect(status.conditions?.contains { $0.type == "Degraded" && $0.status == "True" } == true)
            #expect(try await env.modelVersions().allSatisfy { $0.spec.modelName != "churn-strict" })
            #expect(try await env.modelVersions().allSatisfy { $0.status?.phase != .approved || $0.spec.modelName == "churn" })
            try await env.eventually("GateFailed Event") { try await !env.events(reason: "GateFailed").isEmpty }
        }
    }

    /// A cron schedule starts a run (the controller's clock is moved past the next schedule
    /// time); the node runs the trainer and the version is registered.
    @Test func cronScheduleStartsARealRun() async throws {
        let clock = TrainingClock(Date())
        try await withTrainingOnLocalNode(clock: clock) { env, dir in
            let csv = dir.file("churn.csv")
            try writeChurnCSV(to: csv, rows: 500)
            var tj = localTrainingJob("nightly", model: "churn", csv: csv, models: dir.file("models"))
            tj.spec.schedule = TrainingSchedule(cron: "*/10 * * * *")
            _ = try await env.client.create(tj)
            try await env.eventually("next schedule time") { try await env.trainingJob("nightly").status?.nextScheduleTime != nil }
            let next = try #require(try await env.trainingJob("nightly").status?.nextScheduleTime.flatMap(KubeTime.parse))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await env.jobs(of: "nightly").isEmpty, "nothing runs before the schedule time")

            clock.set(next.addingTimeInterval(2))
            try await env.poke("nightly")
            try await env.eventually("scheduled run registers churn-v1", timeout: .seconds(60)) {
                try await env.trainingJob("nightly").status?.latestModelVersion == "churn-v1"
            }
            let status = try #require(try await env.trainingJob("nightly").status)
            let run = try #require(status.runs?.first)
            #expect(run.trigger.type == .schedule)
            #expect(run.trigger.scheduledTime == KubeTime.format(next))
            #expect(run.result == .succeeded)
            #expect(run.dataSha256 == (try sha256Hex(csv)))
            #expect(status.lastScheduleTime == KubeTime.format(next))
            #expect(try await env.modelVersion("churn-v1").spec.artifact.sha256
                == (try sha256Hex(dir.file("models") + "/churn/v1/model.json")))
        }
    }

    /// A real Prometheus scrapes an exporter of `sextant_model_accuracy`; dropping it below the
    /// condition starts a run on the node, whose automatically approved version is handed to the
    /// CanaryRollout; the cooldown holds off a second run.
    @Test func driftInRealPrometheusStartsARealRunHandedToTheCanaryRollout() async throws {
        guard try Tooling.available("prometheus", PrometheusServer.isInstalled),
              try Tooling.available("python3", MetricsExporter.isAvailable) else { return }
        let exporter = try await MetricsExporter.start(model: "churn", accuracy: 0.95)
        defer { exporter.stop() }
        let prometheus = try await PrometheusServer.start(scrapeTargets: [exporter.target], scrapeInterval: "1s")
        defer { prometheus.stop() }
        try await prometheus.waitForTargetsUp()

        try await withTrainingOnLocalNode(clock: TrainingClock(live: true), prometheus: prometheus.address) { env, dir in
            let csv = dir.file("churn.csv")
            try writeChurnCSV(to: csv, rows: 500)
            var rollout = try JSONValue.parseYAML(String(contentsOf: trainingRepoRoot.appendingPathComponent(
                "manifests/examples/canaryrollout-steps.yaml"), encoding: .utf8))
            rollout.set(path: ["metadata", "namespace"], to: "default")
            rollout.set(path: ["metadata", "name"], to: "churn")
            rollout.set(path: ["spec", "modelName"], to: "churn")
            rollout.set(path: ["spec", "modelVersion"], to: nil)
            let _: DynamicObject = try await env.client.create(ResourceDescriptor(CanaryRollout.self), DynamicObject(rollout),
                                                               namespace: "default")

            var tj = localTrainingJob("churn-drift", model: "churn", csv: csv, models: dir.file("models"), canaryRollout: "churn")
            var retrain = RetrainPolicy(conditions: [RetrainCondition(name: "accuracy-drop",
                                                                      query: #"sextant_model_accuracy{model="{{ model }}"}"#, below: 0.8)])
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
            let trained = ContinuousClock.now - dropped
            print("drift → run started in \(reaction), handed to the rollout after \(trained) (scrape 1s, check interval 1s, local node)")
            #expect(try await env.modelVersion("churn-v1").spec.artifact.sha256
                == (try sha256Hex(dir.file("models") + "/churn/v1/model.json")))
            // Cooldown: still drifted, no second run.
            try await Task.sleep(for: .seconds(2))
            #expect(try await env.jobs(of: "churn-drift").count == 1)
            #expect(try await env.trainingJob("churn-drift").status?.retrainChecks?.first?.outcome == .coolingDown)
        }
    }

    /// THE WHOLE LOOP: train → register → approve → hand off → serve → monitor → drift → retrain →
    /// canary with analysis → promote, with nothing stubbed.
    ///
    /// The development API server has Sextant's and Istio's CRDs and serves HTTPS with
    /// `--authorization-mode RBAC`; the local node runs every Pod as a real process and routes the
    /// VirtualService `fraud` with its data plane (a real HAProxy); a real Prometheus scrapes the
    /// real `sextant-server` Pods (found through their endpoint annotations, labelled with
    /// `namespace` like Kubernetes service discovery); the real `sextant-controller` runs with the
    /// chart's args, a token of the chart's ServiceAccount and exactly the chart's RBAC (rendered by
    /// Helm's engine): any request the chart does not allow fails the test, named, and the rules the
    /// loop never used are printed (docs/install.md says why each is kept). A traffic generator
    /// sends real inference requests through the data plane's address, so each version gets the
    /// share the rollout's weights give it, and sends the feedback labels to the version that
    /// answered. The analysis (success rate, p99 latency, online accuracy) reads the real servers'
    /// metrics — no MetricsExporter stand-ins.
    ///
    /// 1. `sextant retrain`'s annotation trains fraud-v1 → approved → handed to CanaryRollout
    ///    `fraud` → its real server Pod becomes ready → first version promoted (Production).
    /// 2. The world changes (labels flip): v1's real online accuracy drops in Prometheus; the
    ///    TrainingJob's retrain condition fires and trains fraud-v2 on the new data → approved →
    ///    handed over → v2's server Pod ready → canary 50 % with analysis → promoted; v1 Archived
    ///    and scaled to 0.
    /// 3. A bad candidate: a manual retrain on the old world's data gives fraud-v3, which passes its
    ///    offline gate but fails the online accuracy in the canary → rolled back; v2 stays stable.
    @Test func theWholeLoop() async throws {
        guard try LoopEnvironment.available(),
              try Tooling.available("haproxy (Debian package haproxy)", LocalNodeOptions.installedHAProxy != nil) else { return }
        let started = ContinuousClock.now
        // hack/whole-loop-chart-modes.sh runs the loop again with other chart values (namespaced mode).
        let values = try ProcessInfo.processInfo.environment["SEXTANT_LOOP_CHART_VALUES"].map { try JSONValue.parse(string: $0) } ?? [:]
        let env = try await LoopEnvironment.start(chartValues: values, throughDataPlane: true)
        do {
            try await wholeLoop(env, store: LoopStore(scratch: env.scratch, s3: nil), started: started)
        } catch {
            await env.stop()
            throw error
        }
        await env.stop()
    }

    /// The same loop as the chart deploys it: every Pod a podman container of Sextant's images
    /// (hack/images/build.sh), data and models in an S3 store (moto) that the trainer and server
    /// containers reach, traffic through the data plane. Skipped with a message only where podman
    /// cannot run containers; a missing podman, image or moto fails.
    @Test func theWholeLoopInContainers() async throws {
        let nodeName = "sextant-podman-loop"
        guard try LoopEnvironment.available(),
              try Tooling.available("haproxy (Debian package haproxy)", LocalNodeOptions.installedHAProxy != nil),
              try Tooling.available("moto_server (pip: moto[server])", MotoS3.executable != nil),
              let images = try PodmanImages.ready(suite: "theWholeLoopInContainers", nodeName: nodeName) else { return }
        let started = ContinuousClock.now
        let s3 = try await MotoS3.start(buckets: [LoopStore.dataBucket, LoopStore.modelBucket])
        let env: LoopEnvironment
        do {
            env = try await LoopEnvironment.start(throughDataPlane: true) {
                $0.nodeName = nodeName
                $0.runtime = .podman(executable: PodmanImages.podman ?? "/usr/bin/podman", environment: PodmanImages.environment)
            }
        } catch {
            s3.stop()
            throw error
        }
        do {
            #expect(await env.node.node.runtimeName == "podman")
            try await wholeLoop(env, store: LoopStore(scratch: env.scratch, s3: s3), started: started)
            // The chart's image defaults are what hack/images/build.sh tags (hack/images/test.sh checks
            // it): the stable server runs that image, and the trainers ran theirs in podman containers.
            let pods = try await env.client.list(TrainingEnvironment.podResource, namespace: LoopEnvironment.namespace,
                                                 as: DynamicObject.self).items.map(\.raw)
            func image(_ pod: JSONValue) -> String? { pod[path: ["spec", "containers"]]?[0]?["image"]?.stringValue }
            let names = pods.map { "\($0[path: ["metadata", "name"]]?.stringValue ?? "?"): \(image($0) ?? "?")" }
            #expect(pods.contains { image($0) == images.server && $0[path: ["status", "phase"]] == "Running" },
                    "a Running Pod of \(images.server): \(names)")
            #expect(pods.contains { pod in
                image(pod) == images.trainer && pod[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "terminated", "containerID"]]?
                    .stringValue?.hasPrefix("podman://") == true
            }, "a trainer Pod of \(images.trainer) that ran in a podman container: \(names)")
        } catch {
            await env.stop()
            s3.stop()
            throw error
        }
        await env.stop()
        s3.stop()
    }

    private func wholeLoop(_ env: LoopEnvironment, store: LoopStore, started: ContinuousClock.Instant) async throws {
        let ns = LoopEnvironment.namespace
        let csv = store.csv
        try FraudWorld.writeCSV(to: csv, original: true, seed: 1)
        try store.publishData()
        try await store.createSecret(env.client)
        try await env.createRouting()
        try await env.createRollout(serverEnv: store.serverEnv)

        var tj = store.trainingJob()
        tj.spec.hyperparameters?.nEstimators = 15
        var retrain = RetrainPolicy(conditions: [RetrainCondition(
            name: "online-accuracy", query: #"min(sextant_model_accuracy{namespace="{{ namespace }}", model="{{ model }}"})"#,
            below: 0.6)])
        retrain.interval = "1s"
        retrain.cooldown = "1h"
        tj.spec.retrainOn = retrain
        tj.metadata.annotations = ["mlops.sextant.dev/retrain-requested-at": "first-model"]
        _ = try await env.client.create(tj)

        // 1. The first model, served by a real sextant-server Pod.
        try await env.waitFor("fraud-v1 stable", timeout: .seconds(60)) {
            let s = try await env.rollout().status
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v1"
        }
        let firstServed = ContinuousClock.now - started
        let v1 = try await env.modelVersion("fraud-v1")
        #expect(v1.spec.artifact.uri == store.modelURI(1))
        #expect(v1.spec.artifact.sha256 == (try store.modelSHA256(1)))
        #expect(v1.spec.data?.sha256 == (try sha256Hex(csv)))
        #expect(try await env.trainingJob("fraud").status?.runs?.first?.trigger.type == .manual)
        try await env.waitFor("fraud-v1 Production") { try await env.modelVersion("fraud-v1").status?.phase == .production }
        try await env.waitFor("fraud-v1 routed: 100/0 with the stable subset on it", timeout: .seconds(30)) {
            let t = try await env.traffic()
            return t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v1"
        }

        // v1 answers and Prometheus has its real accuracy; the retrain condition says OK.
        try await env.waitFor("the retrain condition sees v1's real online accuracy", timeout: .seconds(30)) {
            let check = try await env.trainingJob("fraud").status?.retrainChecks?.first
            return check?.outcome == .ok && (check?.value ?? 0) >= 0.6
        }
        let healthyAccuracy = try await env.trainingJob("fraud").status?.retrainChecks?.first?.value ?? 0

        // 2. Concept drift: the labels flip; new data is collected for the next training.
        let drift = ContinuousClock.now
        try FraudWorld.writeCSV(to: csv, original: false, seed: 2)
        try store.publishData()
        env.traffic.driftTheWorld()
        try await env.waitFor("the accuracy drop starts run 2", timeout: .seconds(30)) {
            try await env.trainingJob("fraud").status?.runs?.count == 2
        }
        let retrainStarted = ContinuousClock.now - drift
        let run2 = try #require(try await env.trainingJob("fraud").status?.runs?.first)
        #expect(run2.trigger.type == .retrainCondition && run2.trigger.condition == "online-accuracy", "\(run2.trigger)")
        #expect((run2.trigger.value ?? 1) < 0.6)

        var weights: [Int64] = []
        try await env.waitFor("fraud-v2 promoted", timeout: .seconds(60)) {
            let t = try await env.traffic()
            if weights.last != t.canary { weights.append(t.canary) }
            let s = try await env.rollout().status
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v2"
        }
        let promoted = ContinuousClock.now - drift

        // Registry: v2 trained on the new data with real hashes; phases Production/Archived.
        let v2 = try await env.modelVersion("fraud-v2")
        #expect(v2.spec.artifact.uri == store.modelURI(2))
        #expect(v2.spec.artifact.sha256 == (try store.modelSHA256(2)))
        #expect(v2.spec.data?.sha256 == (try sha256Hex(csv)))
        #expect(v2.spec.data?.sha256 != v1.spec.data?.sha256)
        #expect(v2.spec.lineage?.parentVersion == "fraud-v1")
        try await env.waitFor("ModelVersion phases") {
            let p2 = try await env.modelVersion("fraud-v2").status?.phase
            let p1 = try await env.modelVersion("fraud-v1").status?.phase
            return p2 == .production && p1 == .archived
        }

        // Routing: 100/0 with the stable subset on v2; the canary saw 50 % on the way.
        // Status is committed before the routing follows it (as for the rollback below).
        try await env.waitFor("the promotion routed: 100/0 with the stable subset on fraud-v2", timeout: .seconds(30)) {
            let t = try await env.traffic()
            return t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v2"
        }
        #expect(weights.filter { $0 != 0 } == [50], "canary weights seen: \(weights)")

        // The analysis measured the real v2 server.
        let status = try #require(try await env.rollout().status)
        #expect(status.failedChecks == 0)
        for name in ["success-rate", "latency-p99", "online-accuracy"] {
            let m = status.measurements?.first { $0.metric == name }
            #expect(m?.outcome == .pass, "\(name): \(String(describing: m))")
            #expect(m?.query?.contains(#"version="fraud-v2""#) == true && m?.query?.contains(#"namespace="ml-production""#) == true,
                    "\(m?.query ?? "")")
        }
        let measured = status.measurements ?? []
        #expect((measured.first { $0.metric == "online-accuracy" }?.value ?? 0) >= 0.7)

        // Both Deployments' Pods were real processes answering GET /v1/models/fraud with 200.
        let answered = env.traffic.modelStatus.withLock { $0 }
        for version in ["fraud-v1", "fraud-v2"] {
            #expect(answered.values.contains { $0.version == version && $0.status == 200 }, "\(version): \(answered)")
        }
        let served = env.traffic.answers.withLock { $0 }
        #expect(served.values.allSatisfy { $0.failed == 0 }, "every inference request answered 200: \(served)")
        // Through the data plane: no request failed, and each version answered its share.
        // (From the first answer on: before it, the address may exist while no Pod is behind it yet.)
        let routed = env.traffic.routed.withLock { $0 }
        let failed = routed.drop { $0.version == nil }.compactMap(\.failure)
        #expect(failed.isEmpty, "failed through the data plane: \(failed.prefix(5))")
        for version in ["fraud-v1", "fraud-v2"] {
            #expect(routed.contains { $0.version == version }, "\(version) never answered through the data plane")
        }
        for version in ["fraud-v1", "fraud-v2"] {
            let pods = answered.filter { $0.value.version == version }.keys
            #expect(pods.contains { (served[$0]?.ok ?? 0) > 10 }, "\(version) served predictions: \(served)")
        }

        // The old stable Deployment is scaled to 0 and its Pod is gone.
        try await env.waitFor("fraud-v1 scaled to 0", timeout: .seconds(20)) {
            try await env.deployment("fraud-fraud-v1")["spec"]?["replicas"]?.intValue == 0
        }
        try await env.waitFor("fraud-v1's Pod stopped", timeout: .seconds(20)) {
            let pods = try await env.client.list(TrainingEnvironment.podResource, namespace: ns,
                                                 options: ListOptions(labelSelector: "\(SextantLabel.modelVersion)=fraud-v1"),
                                                 as: DynamicObject.self).items
            return pods.isEmpty
        }
        let v2Deployment = try await env.deployment("fraud-fraud-v2")
        #expect(v2Deployment["status"]?["availableReplicas"]?.intValue == 1)

        // 3. A bad candidate: trained on the old world's data, it fails the online accuracy → rolled back.
        let bad = ContinuousClock.now
        try FraudWorld.writeCSV(to: csv, original: true, seed: 3)
        try store.publishData()
        let request: JSONValue = .object(["metadata": .object(["annotations": .object([TrainingRuns.retrainAnnotation: "bad-candidate"])])])
        _ = try await env.client.send(method: "PATCH", path: "/apis/mlops.sextant.dev/v1alpha1/namespaces/\(ns)/trainingjobs/fraud",
                                      body: Data(request.serialized()), contentType: "application/merge-patch+json")
        weights = []
        try await env.waitFor("fraud-v3 rolled back", timeout: .seconds(90)) {
            let t = try await env.traffic()
            if weights.last != t.canary { weights.append(t.canary) }
            let s = try await env.rollout().status
            return s?.phase == .rolledBack && s?.stableVersion == "fraud-v2"
        }
        let rolledBack = ContinuousClock.now - bad
        #expect(try await env.trainingJob("fraud").status?.runs?.first?.trigger.type == .manual)
        try await env.waitFor("ModelVersion phases after the rollback") {
            let p3 = try await env.modelVersion("fraud-v3").status?.phase
            let p2 = try await env.modelVersion("fraud-v2").status?.phase
            return p3 == .rolledBack && p2 == .production
        }
        let afterRollback = try #require(try await env.rollout().status)
        #expect(afterRollback.measurements?.first { $0.metric == "online-accuracy" }?.outcome == .fail,
                "\(String(describing: afterRollback.measurements))")
        #expect(weights.contains(50), "the bad candidate got canary traffic before the rollback: \(weights)")
        // The controller commits the rollback to status first and routes right after (a crash in
        // between is resumed from status): wait for the routing, not only the phase.
        try await env.waitFor("the rollback routed: 100/0 with the stable subset on fraud-v2", timeout: .seconds(30)) {
            let t = try await env.traffic()
            return t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v2"
        }

        // The controller held exactly the chart's RBAC: nothing it asked for was refused.
        #expect(env.denials.isEmpty, "requests the chart's RBAC refused sextant-controller: \(env.denials)")
        let used = ChartController.used(env.server, env.chart)
        let unused = ChartController.unusedRules(env.server, env.chart)
        print("whole loop as \(env.chart.user), requests allowed by the chart's RBAC:\n  " + used.joined(separator: "\n  "))
        print("chart rules the whole loop never used (least privilege; docs/install.md says why each is kept):\n  "
              + unused.joined(separator: "\n  "))
        #expect(!used.isEmpty)

        print(String(format: "whole loop (\(await env.node.node.runtimeName), \(routed.count) predictions through the data plane): fraud-v1 trained and served %.1f s after start; v1 online accuracy %.3f; " +
                     "drift → retrain started %.1f s; drift → fraud-v2 promoted %.1f s; bad fraud-v3 → rolled back %.1f s; " +
                     "total %.1f s",
                     firstServed.inSeconds, healthyAccuracy, retrainStarted.inSeconds, promoted.inSeconds, rolledBack.inSeconds,
                     (ContinuousClock.now - started).inSeconds))
    }
}

extension Duration {
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
