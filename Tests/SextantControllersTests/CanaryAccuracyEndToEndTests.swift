import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import SextantTransport
import Synchronization
import Testing

/// Issue #22: an accuracy check on a fresh canary. Two real `sextant-server` processes (stable and
/// candidate) serve an XGBoost model, a real Prometheus scrapes them, the controller runs the
/// `ModelAccuracy` template. Before any label arrives the candidate's server has no accuracy
/// sample, so the check is "no data" and goes through `noDataPolicy` (Ignore here) instead of
/// failing on a 0; once labels show the candidate wrong, it is rolled back.
@Suite(.serialized) struct CanaryAccuracyEndToEndTests {
    /// One tree: f0 < 0.5 → margin -0.4 (class 0), else 0.6 (class 1).
    static let model = tinyXGBoostJSON

    static var serverBinary: String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidate = exe.deletingLastPathComponent().appendingPathComponent("sextant-server").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    @Test func freshCanaryWaitsForLabelsThenRollsBackOnBadAccuracy() async throws {
        guard try Tooling.available("prometheus", PrometheusServer.isInstalled),
              try Tooling.available("sextant-server next to the test bundle (swift build --build-tests)", Self.serverBinary != nil),
              let binary = Self.serverBinary else { return }
        let namespace = CanaryEnvironment.namespace
        let dir = try TemporaryDirectory()
        try Data(Self.model.utf8).write(to: URL(fileURLWithPath: dir.file("model.json")))

        // The two model servers, as the rollout's Deployments would run them.
        var servers: [String: (process: TestProcess, address: String)] = [:]
        defer { for s in servers.values { s.process.stop() } }
        for version in ["fraud-v1", "fraud-v2"] {
            let process = try TestProcess(binary, ["--model-uri", dir.file("model.json"), "--model-name", "fraud",
                                                   "--model-version", version, "--listen", "127.0.0.1:0", "--log-level", "warning"])
            servers[version] = (process, try await process.waitForLine(prefix: "listening on "))
        }
        let prometheus = try await PrometheusServer.scrapingModelServers(servers.values.map(\.address), namespace: namespace)
        defer { prometheus.stop() }

        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        let client = KubeClient.forTests(server, namespace: namespace)
        try await TrainingEnvironment.installCRDs(client)
        for file in ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"] {
            let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.localCRDs + "/" + file))
            _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                      body: yaml, contentType: "application/yaml")
        }
        try await CanaryEnvironment.post(client, "/api/v1/namespaces",
                                         ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])
        let kubelet = CanaryEnvironment.kubelet(client)
        defer { kubelet.cancel() }
        try await CanaryEnvironment.createRouting(client, namespace: namespace)
        for (index, name) in ["fraud-v1", "fraud-v2"].enumerated() {
            var spec = ModelVersionSpec(modelName: "fraud", version: Int64(index + 1),
                                        artifact: ModelArtifact(uri: "s3://models/fraud/v\(index + 1)/model.json", format: .xgboostJSON))
            spec.approval = Approval(state: .approved, by: "test")
            _ = try await client.create(ModelVersion(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
        }

        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
        routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        var managed = ManagedServing()
        managed.replicas = 1
        // A canary step, then a pause until promoted: the rollout stays open while labels are awaited.
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: managed), routing: routing,
                                     strategy: RolloutStrategy(canary: CanaryStrategy(steps: [CanaryStep(setWeight: 25), CanaryStep(pause: PauseStep())])))
        spec.modelVersion = "fraud-v1"
        var analysis = AnalysisSpec()
        analysis.interval = "2s"
        analysis.failureLimit = 2
        analysis.consecutiveErrorLimit = 3
        var accuracy = AnalysisMetric(name: "accuracy", template: .modelAccuracy, thresholdRange: ThresholdRange(min: 0.8))
        accuracy.interval = "5s"
        accuracy.noDataPolicy = .ignore
        analysis.metrics = [accuracy]
        spec.analysis = analysis
        spec.progressDeadlineSeconds = 120
        spec.scaleDownDelaySeconds = 1
        spec.abortScaleDownDelaySeconds = 1
        _ = try await client.create(CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: namespace), spec: spec))

        var managerOptions = ManagerOptions()
        managerOptions.leaderElect = false
        managerOptions.metricsBindAddress = "0"
        managerOptions.healthProbeBindAddress = "0"
        let manager = Manager(client: client, options: managerOptions)
        addCanaryRolloutController(to: manager, settings: ControllerSettings(prometheusAddress: prometheus.address,
                                                                             prometheusTimeout: .seconds(2)))
        let controller = Task { try await manager.run() }
        defer { controller.cancel() }

        func rollout() async throws -> CanaryRolloutStatus? {
            try await client.get(CanaryRollout.self, name: "fraud", namespace: namespace).status
        }
        func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
            if try await poll(timeout: timeout, every: .milliseconds(50), condition) { return }
            let s = try? await rollout()
            throw TestSetupError("timed out waiting for \(what); rollout \(s?.phase?.rawValue ?? "-"): \(s?.message ?? "")")
        }
        try await waitFor("fraud-v1 stable") {
            let s = try await rollout()
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v1"
        }
        let _: CanaryRollout = try await client.patch(CanaryRollout.self, name: "fraud", namespace: namespace,
                                                      .merge(["spec": ["modelVersion": "fraud-v2"]]))

        // Predictions but no labels yet: several analysis runs, none a failure.
        let v2 = "http://" + (servers["fraud-v2"]?.address ?? "")
        let predicted = try await HTTPClient.shared.send(HTTPRequest(
            method: "POST", url: v2 + "/v1/models/fraud:predict", headers: [HTTPHeader("Content-Type", "application/json")],
            body: Data(#"{"instances":[[0.9,0],[0.8,0],[0.7,0],[0.6,0]]}"#.utf8)))
        #expect(predicted.status == 200)
        let predictionID = try #require(try JSONValue.decode(predicted.body)["id"]?.stringValue)
        var runs: Set<String> = []
        try await waitFor("three analysis runs without labels") {
            let s = try await rollout()
            #expect(s?.phase != .rolledBack && s?.phase != .failed, "\(s?.phase?.rawValue ?? "-"): \(s?.message ?? "")")
            #expect((s?.failedChecks ?? 0) == 0, "no failed check before labels: \(s?.measurements ?? [])")
            if let time = s?.lastAnalysisTime, let m = s?.measurements?.first(where: { $0.metric == "accuracy" }) {
                #expect(m.outcome == .noData, "accuracy without labels: \(m)")
                #expect(m.value == nil)
                runs.insert(time)
            }
            return runs.count >= 3
        }
        let waiting = try await rollout()
        #expect(waiting?.canaryVersion == "fraud-v2" && waiting?.phase == .paused, "\(waiting?.message ?? "")")

        // Labels arrive: all four predictions (class 1) were wrong, accuracy 0.
        let labelled = try await HTTPClient.shared.send(HTTPRequest(
            method: "POST", url: v2 + "/v1/models/fraud/feedback", headers: [HTTPHeader("Content-Type", "application/json")],
            body: Data(#"{"id":"\#(predictionID)","labels":[0,0,0,0]}"#.utf8)))
        let matched = try JSONValue.decode(labelled.body)["matched"]?.intValue
        #expect(labelled.status == 200 && matched == 4)
        try await waitFor("fraud-v2 rolled back on accuracy", timeout: .seconds(40)) { try await rollout()?.phase == .rolledBack }
        let status = try #require(try await rollout())
        #expect(status.stableVersion == "fraud-v1")
        #expect(status.failedChecks == 2)
        #expect(status.message?.contains("accuracy") == true, "\(status.message ?? "")")
        let last = status.measurements?.first { $0.metric == "accuracy" }
        #expect(last?.outcome == .fail && last?.value == 0, "\(String(describing: last))")
        controller.cancel()
        _ = await controller.result
        await server.stop()
    }
}
