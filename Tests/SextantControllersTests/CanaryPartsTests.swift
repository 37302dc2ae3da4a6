import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantOperator
import SextantKubeTypes
import SextantTestSupport
import Testing

private func rollout(template: JSONValue? = nil) -> CanaryRollout {
    var managed = ManagedServing()
    managed.replicas = 3
    managed.port = 9000
    managed.template = template
    var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: managed),
                                 routing: RoutingSpec(virtualService: VirtualServiceRef(name: "fraud")),
                                 strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10)))
    spec.webhooks = []
    var meta = ObjectMeta(name: "fraud", namespace: "ml")
    meta.uid = "u-1"
    return CanaryRollout(metadata: meta, spec: spec)
}

private func version(_ name: String) -> ModelVersion {
    ModelVersion(metadata: ObjectMeta(name: name, namespace: "ml"),
                 spec: ModelVersionSpec(modelName: "fraud", version: 2,
                                        artifact: ModelArtifact(uri: "s3://m/fraud/v2/model.json", format: .sextantJSON, sha256: "ab12")))
}

@Suite struct RolloutServingTests {
    @Test func deploymentKeepsTheUsersTemplateUnderSextantsContainer() throws {
        let template: JSONValue = [
            "metadata": ["labels": ["team": "risk", SextantLabel.modelVersion: "spoofed"], "annotations": ["sidecar.istio.io/inject": "true"]],
            "spec": ["serviceAccountName": "model-server",
                     "containers": [["name": "sextant-server", "image": "evil:1", "env": [["name": "X", "value": "1"]]],
                                    ["name": "log-shipper", "image": "fluentbit:3"]]],
        ]
        let d = try RolloutServing.deployment(for: rollout(template: template), version: version("fraud-v2"), image: "sextant-server:1")
        #expect(d["metadata"]?["name"]?.stringValue == "fraud-fraud-v2")
        #expect(d["metadata"]?["ownerReferences"]?[0]?["uid"]?.stringValue == "u-1")
        #expect(d["spec"]?["replicas"]?.intValue == 3)
        let pod = d["spec"]?["template"]
        #expect(pod?["metadata"]?["labels"]?["team"]?.stringValue == "risk")
        #expect(pod?["metadata"]?["labels"]?[SextantLabel.modelVersion]?.stringValue == "fraud-v2", "Sextant's labels win")
        #expect(pod?["metadata"]?["annotations"]?["sidecar.istio.io/inject"]?.stringValue == "true")
        #expect(pod?["spec"]?["serviceAccountName"]?.stringValue == "model-server")
        let containers = pod?["spec"]?["containers"]?.arrayValue ?? []
        #expect(containers.count == 2)
        let server = try #require(containers.first { $0["name"]?.stringValue == "sextant-server" })
        #expect(server["image"]?.stringValue == "sextant-server:1")
        #expect(server["env"]?[0]?["name"]?.stringValue == "X", "the user's other container fields stay")
        let args = server["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(args == ["--model-uri", "s3://m/fraud/v2/model.json", "--model-name", "fraud", "--model-version", "fraud-v2",
                         "--listen", "0.0.0.0:9000", "--model-sha256", "ab12"])
        // The server's gRPC service on its default port, named for Services and meshes.
        let ports = server["ports"]?.arrayValue ?? []
        #expect(ports.map { $0["name"]?.stringValue } == ["http", "grpc"])
        #expect(ports.map { $0["containerPort"]?.intValue } == [9000, 8081])
        #expect(containers.contains { $0["name"]?.stringValue == "log-shipper" })
        let selector = d["spec"]?["selector"]?["matchLabels"]
        #expect(selector?[SextantLabel.modelVersion]?.stringValue == "fraud-v2")
    }

    @Test func anHTTPPortOf8081MovesGRPCTo8082() throws {
        var r = rollout()
        r.spec.serving.managed?.port = 8081
        let d = try RolloutServing.deployment(for: r, version: version("fraud-v2"), image: "sextant-server:1")
        let server = try #require(d["spec"]?["template"]?["spec"]?["containers"]?[0])
        let args = server["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(args.suffix(2) == ["--grpc-port", "8082"])
        #expect(server["ports"]?.arrayValue?.map { $0["containerPort"]?.intValue } == [8081, 8082])
    }

    @Test func readinessFollowsTheDeploymentStatus() {
        func deployment(replicas: Int64, generation: Int64, observed: Int64, updated: Int64, available: Int64) -> JSONValue {
            ["metadata": ["generation": .int(generation)], "spec": ["replicas": .int(replicas)],
             "status": ["observedGeneration": .int(observed), "updatedReplicas": .int(updated), "availableReplicas": .int(available)]]
        }
        #expect(RolloutServing.readiness(of: deployment(replicas: 2, generation: 3, observed: 3, updated: 2, available: 2), name: "d") == .ready)
        #expect(RolloutServing.readiness(of: deployment(replicas: 2, generation: 3, observed: 3, updated: 2, available: 1), name: "d")
                == .notReady("Deployment d: 1/2 replicas available, 2 updated"))
        #expect(RolloutServing.readiness(of: deployment(replicas: 2, generation: 4, observed: 3, updated: 2, available: 2), name: "d")
                == .notReady("Deployment d: generation 4 not observed yet"))
        #expect(RolloutServing.readiness(of: nil, name: "d") == .notReady("Deployment d does not exist yet"))
        #expect(RolloutServing.readiness(of: ["spec": ["replicas": 0]], name: "d") == .notReady("Deployment d is scaled to 0"))
    }
}

/// Rollout webhooks against a real HTTP receiver (`hack/testservers/webhook_receiver.py`).
@Suite(.serialized) struct RolloutWebhooksTests {
    struct Receiver {
        let process: TestProcess
        let port: Int
        var base: String { "http://127.0.0.1:\(port)" }

        static func start() async throws -> Receiver {
            let process = try TestProcess("python3", [Repo.root + "/hack/testservers/webhook_receiver.py", "--port", "0"])
            let line = try await process.waitForLine(prefix: "listening on 127.0.0.1:")
            guard let port = Int(line) else { throw TestSetupError("no port: \(process.text)") }
            return Receiver(process: process, port: port)
        }

        func calls() throws -> [JSONValue] {
            try JSONValue.decode(LocalHTTP.request("GET", port: port, path: "/calls").body).arrayValue ?? []
        }
    }

    func hook(_ name: String, _ url: String, retries: Int = 0, timeout: String = "2s") -> RolloutWebhook {
        var h = RolloutWebhook(name: name, type: .confirmPromotion, url: url)
        h.retries = retries
        h.timeout = timeout
        h.metadata = ["ticket": "CHG-1"]
        return h
    }

    @Test func successFailureRetriesAndTimeouts() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil) else { return }
        let receiver = try await Receiver.start()
        defer { receiver.process.stop() }
        let hooks = [hook("ok", receiver.base + "/status/204"),
                     hook("denied", receiver.base + "/status/403", retries: 1),
                     hook("flaky", receiver.base + "/flaky/2", retries: 2),
                     hook("slow", receiver.base + "/sleep/30", timeout: "1s"),
                     hook("nowhere", "http://127.0.0.1:1/x")]
        let started = ContinuousClock.now
        let results = await RolloutWebhooks().call(hooks, rollout: rollout(), stable: "fraud-v1", canary: "fraud-v2", now: Date())
        let elapsed = ContinuousClock.now - started
        #expect(results.map(\.name) == ["ok", "denied", "flaky", "slow", "nowhere"])
        #expect(results.map(\.succeeded) == [true, false, true, false, false])
        #expect(results[0].statusCode == 204)
        #expect(results[1].statusCode == 403 && results[1].message?.contains("after 2 attempts") == true, "\(results[1].message ?? "")")
        #expect(results[3].message?.contains("/sleep/30") == true)
        // The slow hook answers after 30 s: far under that means its 1 s timeout cut it, with room
        // for a loaded machine (it took 5-12 s at load 15-23 against 2-4 s when quiet).
        #expect(elapsed < .seconds(20), "hooks run concurrently and the timeout cuts the slow one: \(elapsed)")

        let calls = try receiver.calls()
        #expect(calls.filter { $0["path"]?.stringValue == "/status/403" }.count == 2, "one retry")
        #expect(calls.filter { $0["path"]?.stringValue == "/flaky/2" }.count == 3, "retried until it answered 200")
        let body = try #require(calls.first { $0["path"]?.stringValue == "/status/204" }?["body"])
        #expect(body["name"]?.stringValue == "fraud")
        #expect(body["namespace"]?.stringValue == "ml")
        #expect(body["type"]?.stringValue == "ConfirmPromotion")
        #expect(body["canaryVersion"]?.stringValue == "fraud-v2")
        #expect(body["stableVersion"]?.stringValue == "fraud-v1")
        #expect(body["metadata"]?["ticket"]?.stringValue == "CHG-1")
    }

    @Test func rolloutWebhooksCountAsChecksInAnalysis() async throws {
        guard try Tooling.available("python3", Tooling.find("python3") != nil) else { return }
        let receiver = try await Receiver.start()
        defer { receiver.process.stop() }
        var r = rollout()
        var check = RolloutWebhook(name: "load-test", type: .rollout, url: receiver.base + "/status/500")
        check.retries = 0
        r.spec.webhooks = [check]
        var analysis = AnalysisSpec()
        analysis.metrics = [AnalysisMetric(name: "bad-template", query: "up{x=\"{{ nope }}\"}", thresholdRange: ThresholdRange(min: 1))]
        r.spec.analysis = analysis
        let measurements = await RolloutAnalysis(settings: ControllerSettings(prometheusAddress: "http://127.0.0.1:1"))
            .run(r, stable: "fraud-v1", canary: "fraud-v2", now: Date())
        #expect(measurements.count == 2)
        #expect(measurements[0].outcome == .error)
        #expect(measurements[0].message?.contains("nope") == true, "names the unknown variable: \(measurements[0].message ?? "")")
        #expect(measurements[1].metric == "webhook/load-test")
        #expect(measurements[1].outcome == .fail)
    }
}

/// Issue 18 bad input: a comparison whose query has no series for the stable version (while the
/// candidate has one) is a query error naming the field, so the rollout holds (`Waiting`,
/// `AnalysisError` Warning with that message) instead of deciding on nothing.
@Suite struct CanaryRolloutPartsComparisonTests {
    @Test func aComparisonWithoutAStableSeriesIsAnErrorNamingTheField() async throws {
        var r = rollout()
        var analysis = AnalysisSpec()
        var comparison = ComparisonMetric(name: "ok", template: .successRate)
        comparison.minSamples = 10
        var custom = ComparisonMetric(name: "canary-only")
        custom.successQuery = #"sum(candidate_only_good{version="{{ version }}"})"#
        custom.totalQuery = #"sum(candidate_only_total{version="{{ version }}"})"#
        analysis.comparisons = [comparison, custom]
        r.spec.analysis = analysis
        // Prometheus as a function: the candidate-only metric has no series for fraud-v1.
        let analysisRun = RolloutAnalysis(settings: ControllerSettings(prometheusAddress: "http://prometheus.test"), query: { _, promql in
            if promql.contains("candidate_only") { return promql.contains("fraud-v1") ? .noData : .value(500) }
            return promql.contains("5..") ? .value(990) : .value(1000)
        })
        let measurements = await analysisRun.run(r, stable: "fraud-v1", canary: "fraud-v2", now: Date())
        #expect(measurements.map(\.outcome) == [.pass, .error], "\(measurements)")
        let message = measurements.last?.message ?? ""
        #expect(message.hasPrefix("spec.analysis.comparisons[1]: the stable version has no series"), "\(message)")
    }
}

/// The controller against the development API server, without Prometheus: bad input and
/// candidates that may not go out.
@Suite(.serialized) struct CanaryRolloutValidationTests {
    @Test func invalidSpecsAndIneligibleCandidatesGetClearStatus() async throws {
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        defer { Task { await server.stop() } }
        let client = KubeClient(config: ClusterConfig(server: server.baseURL, namespace: "default"))
        try await TrainingEnvironment.installCRDs(client)
        var options = ManagerOptions()
        options.leaderElect = false
        options.metricsBindAddress = "0"
        options.healthProbeBindAddress = "0"
        let manager = Manager(client: client, options: options)
        addCanaryRolloutController(to: manager, settings: ControllerSettings())
        let task = Task { try await manager.run() }
        defer { task.cancel() }

        // Both split kinds at once: the CRD's CEL rule forbids it, the dev server does not run CEL,
        // so the controller's own validation must catch it.
        var bad = rollout()
        bad.metadata = ObjectMeta(name: "both", namespace: "default")
        bad.spec.routing.services = ServicePair(stable: "a", canary: "b")
        bad.spec.routing.destinationRule = DestinationRuleRef(name: "dr", host: "h")
        _ = try await client.create(bad)

        var pending = rollout()
        pending.metadata = ObjectMeta(name: "pending", namespace: "default")
        pending.spec.routing.destinationRule = DestinationRuleRef(name: "dr", host: "h")
        pending.spec.modelVersion = "fraud-v9"
        _ = try await client.create(ModelVersion(metadata: ObjectMeta(name: "fraud-v9", namespace: "default"),
                                                 spec: ModelVersionSpec(modelName: "fraud", version: 9,
                                                                        artifact: ModelArtifact(uri: "s3://m/v9/model.json"))))
        _ = try await client.create(pending)

        let deadline = ContinuousClock.now + .seconds(20)
        var badStatus: CanaryRolloutStatus?
        var pendingStatus: CanaryRolloutStatus?
        while ContinuousClock.now < deadline {
            badStatus = try await client.get(CanaryRollout.self, name: "both", namespace: "default").status
            pendingStatus = try await client.get(CanaryRollout.self, name: "pending", namespace: "default").status
            if badStatus?.conditions != nil, pendingStatus?.message != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let ready = try #require(badStatus?.conditions?.first { $0.type == "Ready" })
        #expect(ready.status == "False" && ready.reason == "InvalidSpec")
        #expect(badStatus?.phase == .invalid && badStatus?.reason == "InvalidSpec")
        #expect(ready.message.contains("spec.routing"), "names the field: \(ready.message)")
        #expect(pendingStatus?.phase == .waiting && pendingStatus?.reason == "NotApproved", "a hold, not progress")
        #expect(pendingStatus?.message?.contains("fraud-v9 is not approved") == true, "\(pendingStatus?.message ?? "")")
        #expect(pendingStatus?.canaryVersion == nil, "nothing goes out before approval")
    }
}
