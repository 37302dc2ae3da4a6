import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import Synchronization
import Testing

/// Issue 25 (#20): external-serving promotion with GitOps arriving late, invalid specs in
/// `kubectl get cro`, a missing VirtualService, readiness by watch. The development API server
/// with Istio's CRDs and the controller in this process; no Prometheus (no analysis: steps
/// advance once routed). The test plays the user's GitOps and the kubelet of their Deployments.
@Suite(.serialized) struct CanaryEdgesEndToEndTests {
    static let namespace = RoutingCluster.namespace

    final class Env: @unchecked Sendable {
        let cluster: RoutingCluster
        var client: KubeClient { cluster.client }
        let task: Task<Void, any Error>

        init(cluster: RoutingCluster, task: Task<Void, any Error>) {
            self.cluster = cluster
            self.task = task
        }

        static func start(routing: Bool = true) async throws -> Env {
            let cluster = try await RoutingCluster.start()
            try await TrainingEnvironment.installCRDs(cluster.client)
            if routing { try await CanaryEnvironment.createRouting(cluster.client, namespace: namespace) }
            var options = ManagerOptions()
            options.leaderElect = false
            options.metricsBindAddress = "0"
            options.healthProbeBindAddress = "0"
            let manager = Manager(client: cluster.client, options: options)
            addCanaryRolloutController(to: manager, settings: ControllerSettings())
            return Env(cluster: cluster, task: Task { try await manager.run() })
        }

        func stop() async {
            task.cancel()
            _ = await task.result
            await cluster.stop()
        }

        // MARK: The user's side

        func createVersion(_ name: String, _ number: Int64) async throws {
            var spec = ModelVersionSpec(modelName: "fraud", version: number,
                                        artifact: ModelArtifact(uri: "s3://models/fraud/v\(number)/model.json", format: .sextantJSON))
            spec.approval = Approval(state: .approved, by: "test")
            _ = try await client.create(ModelVersion(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
        }

        /// A Deployment the user's GitOps owns, running `version` (its pod template's label).
        func createDeployment(_ name: String, version: String) async throws {
            let object: JSONValue = [
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": ["name": .string(name), "namespace": .string(namespace)],
                "spec": ["replicas": 2, "selector": ["matchLabels": ["app": .string(name)]],
                         "template": ["metadata": ["labels": ["app": .string(name), SextantLabel.modelVersion: .string(version)]],
                                      "spec": ["containers": [["name": "server", "image": "fraud-server:1"]]]]],
            ]
            _ = try await client.send(method: "POST", path: RolloutServing.deployments.path(namespace: namespace),
                                      body: Data(object.serialized()), contentType: "application/json")
        }

        /// GitOps changes the Deployment to run `version` (a new generation, not rolled out yet).
        func gitOpsUpdate(_ name: String, to version: String) async throws {
            let patch: JSONValue = ["spec": ["template": ["metadata": ["labels": [SextantLabel.modelVersion: .string(version)]]]]]
            _ = try await client.send(method: "PATCH", path: RolloutServing.deployments.path(namespace: namespace, name: name),
                                      body: Data(patch.serialized()), contentType: "application/merge-patch+json")
        }

        /// The Deployment controller finished rolling it out: every replica updated and available.
        func markRolledOut(_ name: String) async throws {
            let d = try JSONValue.decode(try await client.send(method: "GET", path: RolloutServing.deployments.path(namespace: namespace, name: name)))
            let replicas = d["spec"]?["replicas"]?.intValue ?? 1
            let patch: JSONValue = ["status": [
                "observedGeneration": .int(d["metadata"]?["generation"]?.intValue ?? 1), "replicas": .int(replicas),
                "updatedReplicas": .int(replicas), "readyReplicas": .int(replicas), "availableReplicas": .int(replicas)]]
            _ = try await client.send(method: "PATCH", path: RolloutServing.deployments.path(namespace: namespace, name: name, subresource: "status"),
                                      body: Data(patch.serialized()), contentType: "application/merge-patch+json")
        }

        func createRollout(_ strategy: RolloutStrategy, candidate: String) async throws {
            var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
            routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
            var spec = CanaryRolloutSpec(modelName: "fraud",
                                         serving: ServingSpec(external: ExternalServing(stableDeployment: "fraud-stable",
                                                                                        canaryDeployment: "fraud-canary")),
                                         routing: routing, strategy: strategy)
            spec.modelVersion = candidate
            spec.progressDeadlineSeconds = 120
            _ = try await client.create(CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: namespace), spec: spec))
        }

        func setCandidate(_ version: String) async throws {
            let _: CanaryRollout = try await client.patch(CanaryRollout.self, name: "fraud", namespace: namespace,
                                                          .merge(["spec": ["modelVersion": .string(version)]]))
        }

        func rollout(_ name: String = "fraud") async throws -> CanaryRolloutStatus? {
            try await client.get(CanaryRollout.self, name: name, namespace: namespace).status
        }

        func traffic() async throws -> IstioTraffic { try await IstioTraffic.read(client, namespace: namespace) }

        func events() async throws -> [Event] { try await client.list(Event.self, namespace: namespace).items }

        func waitFor(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
            if try await poll(timeout: timeout, every: .milliseconds(10), condition) { return }
            let s = try? await rollout()
            throw TestSetupError("timed out waiting for \(what); rollout: \(s?.phase?.rawValue ?? "-")/\(s?.reason ?? "-"): \(s?.message ?? "")")
        }
    }

    /// The first version `fraud-v1`, served by both of the user's Deployments and promoted.
    static func stableV1(_ strategy: RolloutStrategy) async throws -> Env {
        let env = try await Env.start()
        try await env.createVersion("fraud-v1", 1)
        try await env.createVersion("fraud-v2", 2)
        for name in ["fraud-stable", "fraud-canary"] {
            try await env.createDeployment(name, version: "fraud-v1")
            try await env.markRolledOut(name)
        }
        try await env.createRollout(strategy, candidate: "fraud-v1")
        try await env.waitFor("fraud-v1 stable") {
            let s = try await env.rollout()
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v1"
        }
        return env
    }

    /// The rule: during promotion all traffic stays on the canary destination while the stable
    /// Deployment does not run the candidate; 100/0 goes back to stable only once it does.
    func gitOpsArrivesLate(_ strategy: RolloutStrategy, weights expected: [Int64]) async throws {
        let env = try await Self.stableV1(strategy)
        defer { Task { await env.stop() } }

        // GitOps rolls the canary Deployment to v2 first; it is not ready yet when v2 is set.
        try await env.gitOpsUpdate("fraud-canary", to: "fraud-v2")
        try await env.setCandidate("fraud-v2")
        try await env.waitFor("v2 waiting for its Deployment") {
            let s = try await env.rollout()
            return s?.canaryVersion == "fraud-v2" && s?.phase == .initializing
        }
        // Readiness comes from the Deployment watch: the rollout starts within a second.
        try await Task.sleep(for: .milliseconds(300))
        try await env.markRolledOut("fraud-canary")
        let ready = ContinuousClock.now
        try await env.waitFor("v2 started after its Deployment became ready", timeout: .seconds(5)) {
            let phase = try await env.rollout()?.phase
            return phase != .initializing
        }
        let started = ContinuousClock.now - ready
        print("external serving: canary Deployment ready -> rollout started in \(started) (watch, not polling)")
        #expect(started < .seconds(1), "readiness of the external Deployment starts the rollout within 1 s: \(started)")

        var weights: [Int64] = []
        try await env.waitFor("promotion waiting for GitOps") {
            let t = try await env.traffic()
            if weights.last != t.canary { weights.append(t.canary) }
            let s = try await env.rollout()
            return s?.phase == .promoting && s?.reason == RolloutReason.awaitingStableUpdate && t.canary == 100
        }
        #expect(weights.last == 100, "weights seen: \(weights)")  // (sampling starts once the rollout started)
        #expect(weights.allSatisfy { expected.contains($0) || $0 == 100 }, "only the steps' weights, then 100: \(weights)")
        #expect(weights == weights.sorted(), "\(weights)")

        // GitOps is late: for as long as the stable Deployment runs v1, nothing goes back to it.
        func neverBackToV1(for duration: Duration) async throws {
            let end = ContinuousClock.now + duration
            while ContinuousClock.now < end {
                let t = try await env.traffic()
                #expect(t.canary == 100 && t.stable == 0, "all traffic on the candidate while stable runs v1: \(t.stable)/\(t.canary)")
                let s = try await env.rollout()
                #expect(s?.stableVersion == "fraud-v1" && s?.phase == .promoting, "\(s?.phase?.rawValue ?? "")")
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await neverBackToV1(for: .milliseconds(1500))
        let waiting = try #require(try await env.rollout())
        #expect(waiting.message?.contains("fraud-stable") == true, "names the Deployment to update: \(waiting.message ?? "")")
        // The new template is written but not rolled out: still not.
        try await env.gitOpsUpdate("fraud-stable", to: "fraud-v2")
        try await neverBackToV1(for: .milliseconds(700))

        try await env.markRolledOut("fraud-stable")
        let caughtUp = ContinuousClock.now
        try await env.waitFor("100/0 on the stable destination, now running v2", timeout: .seconds(5)) {
            let t = try await env.traffic()
            let s = try await env.rollout()
            return t.stable == 100 && t.canary == 0 && s?.phase == .succeeded && s?.stableVersion == "fraud-v2"
        }
        let flipped = ContinuousClock.now - caughtUp
        print("external serving: stable Deployment rolled out with the candidate -> 100/0 in \(flipped)")
        #expect(flipped < .seconds(1))
        try await env.waitFor("the Promoted event") {
            try await env.events().contains { $0.reason == "Promoted" && ($0.note ?? "").contains("fraud-v2") }
        }
        #expect(try await env.events().filter { $0.reason == "Promoted" && ($0.note ?? "").contains("fraud-v2") }.count == 1)
    }

    @Test func externalCanaryStepsWithGitOpsArrivingLate() async throws {
        try await gitOpsArrivesLate(RolloutStrategy(canary: CanaryStrategy(steps: [CanaryStep(setWeight: 30),
                                                                                   CanaryStep(setWeight: 60)])),
                                    weights: [0, 30, 60])
    }

    @Test func externalBlueGreenWithGitOpsArrivingLate() async throws {
        var blueGreen = BlueGreenStrategy()
        blueGreen.iterations = 1
        try await gitOpsArrivesLate(RolloutStrategy(blueGreen: blueGreen), weights: [0])
    }

    @Test func missingVirtualServiceIsAWaitWithAWarningEvent() async throws {
        let env = try await Env.start(routing: false)
        defer { Task { await env.stop() } }
        // The DestinationRule exists; the VirtualService does not (yet).
        try await CanaryEnvironment.createRouting(env.client, namespace: Self.namespace)
        let vsPath = TrafficRouter.virtualServices().path(namespace: Self.namespace, name: "fraud")
        var virtualService = try JSONValue.decode(try await env.client.send(method: "GET", path: vsPath))
        virtualService["metadata"] = ["name": "fraud", "namespace": .string(Self.namespace)]
        _ = try await env.client.send(method: "DELETE", path: vsPath)
        try await env.createVersion("fraud-v1", 1)
        for name in ["fraud-stable", "fraud-canary"] {
            try await env.createDeployment(name, version: "fraud-v1")
            try await env.markRolledOut(name)
        }
        try await env.createRollout(RolloutStrategy(canary: CanaryStrategy(stepWeight: 50)), candidate: "fraud-v1")
        try await env.waitFor("a waiting phase naming the missing object") {
            let s = try await env.rollout()
            return s?.phase == .waiting && s?.reason == "VirtualServiceNotFound"
        }
        let status = try #require(try await env.rollout())
        #expect(status.heldPhase == .promoting)
        #expect(status.message?.contains("VirtualService \(Self.namespace)/fraud") == true, "\(status.message ?? "")")
        #expect(status.conditions?.contains { $0.type == "Progressing" && $0.status == "False" && $0.reason == "VirtualServiceNotFound" } == true)
        try await env.waitFor("a Warning Event naming the VirtualService") {
            try await env.events().contains {
                $0.type == "Warning" && $0.reason == "VirtualServiceNotFound"
                    && ($0.note ?? "").contains("VirtualService \(Self.namespace)/fraud")
            }
        }
        // The VirtualService appears: promotion completes (Istio objects are read again every 10 s).
        _ = try await env.client.send(method: "POST", path: TrafficRouter.virtualServices().path(namespace: Self.namespace),
                                      body: Data(virtualService.serialized()), contentType: "application/json")
        try await env.waitFor("fraud-v1 promoted once the VirtualService exists", timeout: .seconds(20)) {
            let s = try await env.rollout()
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v1" && s?.reason != "VirtualServiceNotFound"
        }
        #expect(try await env.events().filter { $0.reason == "VirtualServiceNotFound" }.count == 1, "one Event per wait")
    }

    /// Item 1 of issue 21 (#16): a transition Event written under its derived name once, by a
    /// process that then died, is found (409) by the next process, not duplicated; a missing one
    /// is written.
    @Test func transitionEventsAreWrittenOnceAcrossRestarts() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        var status = CanaryRolloutStatus()
        var ended = RolloutRecord(version: "fraud-v3", stableVersion: "fraud-v1", startTime: KubeTime.formatMicro(Date()))
        ended.outcome = .rolledBack
        ended.endTime = KubeTime.formatMicro(Date())
        ended.reason = RolloutReason.analysisFailed
        ended.message = "AnalysisFailed: metric success-rate = 0.6"
        status.history = [ended, RolloutRecord(version: "fraud-v4", stableVersion: "fraud-v1", startTime: KubeTime.formatMicro(Date()))]
        let events = RolloutHistory.transitionEvents(status: status, rollout: "fraud", uid: "uid-1")
        #expect(events.map(\.reason) == ["RolloutStarted", "RolledBack", "RolloutStarted"])
        let regarding = ObjectReference(apiVersion: CanaryRollout.apiVersion, kind: CanaryRollout.kind, name: "fraud",
                                        namespace: Self.namespace, uid: "uid-1")
        func write(_ recorder: EventRecorder, _ subset: [TransitionEvent]) async -> [Bool] {
            var written: [Bool] = []
            for e in subset {
                written.append(await recorder.recordOnce(regarding: regarding, name: e.name, type: e.warning ? .warning : .normal,
                                                         reason: e.reason, action: "Rollout", note: e.message, eventTime: e.time))
            }
            return written
        }
        // The first process wrote only the first Event, then died.
        let first = EventRecorder(client: cluster.client, controllerName: "test", instance: "a")
        #expect(await write(first, Array(events.prefix(1))) == [true])
        // The restarted one writes all three: the first is found, the two missing ones are added.
        let second = EventRecorder(client: cluster.client, controllerName: "test", instance: "b")
        #expect(await write(second, events) == [true, true, true])
        #expect(await write(second, events) == [true, true, true], "known names cost no request and add nothing")
        let stored = try await cluster.client.list(Event.self, namespace: Self.namespace).items
        #expect(stored.count == 3, "\(stored.map { $0.metadata.name ?? "" })")
        #expect(Set(stored.compactMap(\.metadata.name)) == Set(events.map(\.name)))
        #expect(stored.first { $0.reason == "RolloutStarted" && ($0.note ?? "").contains("fraud-v3") }?.reportingInstance == "a",
                "the Event the dead process wrote was kept, not replaced")
        #expect(stored.contains { $0.reason == "RolledBack" && $0.type == "Warning" && ($0.note ?? "").contains("fraud-v3: AnalysisFailed") })
    }

    /// Each invalid spec shows phase `Invalid` in the real `kubectl get cro` (server-side printer
    /// columns), and leaves it once fixed.
    @Test func invalidSpecsShowPhaseInvalidInKubectl() async throws {
        guard try Tooling.available("kubectl", Tooling.find("kubectl") != nil), let kubectl = Tooling.find("kubectl") else { return }
        let env = try await Env.start()
        defer { Task { await env.stop() } }
        let kubeconfig = try TemporaryDirectory()
        try env.cluster.server.writeKubeconfig(to: kubeconfig.file("config"))

        func rollout(_ name: String, strategy: JSONValue, metrics: JSONValue = []) -> JSONValue {
            ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
             "metadata": ["name": .string(name), "namespace": .string(Self.namespace)],
             "spec": ["modelName": "fraud",
                      "serving": ["external": ["stableDeployment": "fraud-stable", "canaryDeployment": "fraud-canary"]],
                      "routing": ["virtualService": ["name": "fraud"], "destinationRule": ["name": "fraud", "host": "fraud"]],
                      "strategy": strategy,
                      "analysis": ["metrics": metrics]]]
        }
        let invalid: [String: JSONValue] = [
            "unknown-strategy": rollout("unknown-strategy", strategy: ["rainbow": ["colours": 7]]),
            "two-strategies": rollout("two-strategies", strategy: ["canary": ["stepWeight": 10], "blueGreen": ["iterations": 2]]),
            "min-above-max": rollout("min-above-max", strategy: ["canary": ["stepWeight": 10]],
                                     metrics: [["name": "success", "template": "SuccessRate", "thresholdRange": ["min": 0.99, "max": 0.5]]]),
        ]
        for (_, object) in invalid {
            _ = try await env.client.send(method: "POST", path: RolloutServing.canaryRollouts.path(namespace: Self.namespace),
                                          body: Data(object.serialized()), contentType: "application/json")
        }
        try await env.waitFor("every invalid rollout in phase Invalid") {
            for name in invalid.keys where try await env.rollout(name)?.phase != .invalid { return false }
            return true
        }
        let result = try runCommand(kubectl, ["--kubeconfig", kubeconfig.file("config"), "get", "cro", "-n", Self.namespace])
        print(result.output)
        #expect(result.code == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("PHASE") == true && lines.first?.contains("REASON") == true, "\(lines.first ?? "")")
        for name in invalid.keys {
            let line = lines.first { $0.hasPrefix(name + " ") } ?? ""
            #expect(line.contains("Invalid") && line.contains("InvalidSpec"), "kubectl get cro shows \(name) as: \(line)")
            let status = try await env.rollout(name)
            #expect(status?.conditions?.contains { $0.type == "Ready" && $0.reason == "InvalidSpec" } == true)
        }
        #expect(try await env.events().filter { $0.reason == "InvalidSpec" && $0.type == "Warning" }.count >= 3)

        // Fixed: the phase says what it does now (no candidate yet: waiting for one).
        let _: CanaryRollout = try await env.client.patch(
            CanaryRollout.self, name: "min-above-max", namespace: Self.namespace,
            .merge(["spec": ["analysis": ["metrics": [["name": "success", "template": "SuccessRate", "thresholdRange": ["min": 0.99]]]]]]))
        try await env.waitFor("the fixed rollout leaves Invalid") {
            let s = try await env.rollout("min-above-max")
            return s?.phase == .waiting && s?.reason == "NoModelVersion" && s?.heldPhase == nil
        }
    }
}
