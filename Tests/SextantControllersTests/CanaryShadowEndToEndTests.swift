import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTestSupport
import SextantTransport
import Synchronization
import Testing

/// Issue 18, item 3: the shadow stage compares predictions. Three real `sextant-server`
/// processes serve one-tree XGBoost models: the stable one, a candidate that agrees with it
/// (slightly different leaf values, the same score bins) and one that diverges (the leaves
/// flipped and sharpened). The test sends every request to all three servers — standing in for
/// the mesh's mirror, which the local node's HAProxy data plane cannot do (docs/local-node.md) —
/// a real Prometheus scrapes their `sextant_prediction_score` histograms, and the controller runs
/// the shadow strategy with `analysis.predictionShift` and an accuracy comparison on the feedback
/// labels the test sends to every server. The diverging candidate is rolled back without ever
/// taking live traffic (and loses on accuracy); the agreeing one is promoted.
@Suite(.serialized) struct CanaryShadowEndToEndTests {
    /// `tinyXGBoostJSON` (f0 < 0.5 → left leaf, else right) with other leaf margins.
    static func model(left: Double, right: Double) -> String {
        tinyXGBoostJSON
            .replacingOccurrences(of: "\"base_weights\":[0,-0.4,0.6]", with: "\"base_weights\":[0,\(left),\(right)]")
            .replacingOccurrences(of: "\"split_conditions\":[0.5,-0.4,0.6]", with: "\"split_conditions\":[0.5,\(left),\(right)]")
    }

    @Test func divergingCandidateRolledBackAgreeingOnePromoted() async throws {
        guard try Tooling.available("prometheus", PrometheusServer.isInstalled),
              try Tooling.available("sextant-server next to the test bundle (swift build --build-tests)",
                                    CanaryAccuracyEndToEndTests.serverBinary != nil),
              let binary = CanaryAccuracyEndToEndTests.serverBinary else { return }
        let namespace = CanaryEnvironment.namespace
        let dir = try TemporaryDirectory()
        // Scores: stable 0.401 / 0.646, agreeing 0.406 / 0.641 (same bins), diverging 0.818 / 0.182.
        let models = ["fraud-v1": Self.model(left: -0.4, right: 0.6), "fraud-v2": Self.model(left: 1.5, right: -1.5),
                      "fraud-v3": Self.model(left: -0.38, right: 0.58)]
        var servers: [String: (process: TestProcess, address: String)] = [:]
        defer { for s in servers.values { s.process.stop() } }
        for (version, json) in models.sorted(by: { $0.key < $1.key }) {
            let file = dir.file("\(version).json")
            try Data(json.utf8).write(to: URL(fileURLWithPath: file))
            let process = try TestProcess(binary, ["--model-uri", file, "--model-name", "fraud", "--model-version", version,
                                                   "--listen", "127.0.0.1:0", "--log-level", "warning"])
            servers[version] = (process, try await process.waitForLine(prefix: "listening on "))
        }
        let prometheus = try await PrometheusServer.scrapingModelServers(servers.values.map(\.address), namespace: namespace)
        defer { prometheus.stop() }

        // The same requests to every server (the mirror's job), 20 rows every 100 ms, then each
        // server's feedback labels for its prediction id: the truth is f0 ≥ 0.5 (what stable predicts).
        let addresses = servers.values.map(\.address)
        let answered = StatusCounts()
        let traffic = Task {
            var generator = SystemRandomNumberGenerator()
            let json = [HTTPHeader("Content-Type", "application/json")]
            while !Task.isCancelled {
                let f0 = (0..<20).map { _ in Double.random(in: 0..<1, using: &generator) }
                let body = Data(#"{"instances":[\#(f0.map { "[\($0),0]" }.joined(separator: ","))]}"#.utf8)
                let labels = f0.map { $0 >= 0.5 ? "1" : "0" }.joined(separator: ",")
                for address in addresses {
                    let answer = try? await HTTPClient.shared.send(HTTPRequest(
                        method: "POST", url: "http://\(address)/v1/models/fraud:predict", headers: json, body: body))
                    answered.counts.withLock { $0[answer?.status ?? 0, default: 0] += 1 }
                    guard let answer, let id = (try? JSONValue.decode(answer.body))?["id"]?.stringValue else { continue }
                    _ = try? await HTTPClient.shared.send(HTTPRequest(
                        method: "POST", url: "http://\(address)/v1/models/fraud/feedback", headers: json,
                        body: Data(#"{"id":"\#(id)","labels":[\#(labels)]}"#.utf8)))
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { traffic.cancel() }

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
        for (index, name) in models.keys.sorted().enumerated() {
            var spec = ModelVersionSpec(modelName: "fraud", version: Int64(index + 1),
                                        artifact: ModelArtifact(uri: "s3://models/fraud/v\(index + 1)/model.json", format: .xgboostJSON))
            spec.approval = Approval(state: .approved, by: "test")
            _ = try await client.create(ModelVersion(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
        }

        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
        routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        var managed = ManagedServing()
        managed.replicas = 1
        var shadow = ShadowStrategy()
        shadow.mirrorPercent = 100
        shadow.iterations = 2
        shadow.autoPromote = true
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: managed), routing: routing,
                                     strategy: RolloutStrategy(shadow: shadow))
        spec.modelVersion = "fraud-v1"
        var analysis = AnalysisSpec()
        analysis.interval = "2s"
        analysis.failureLimit = 1
        analysis.consecutiveErrorLimit = 5
        var check = PredictionShiftCheck(maxPSI: 0.1)
        check.minSamples = 200
        check.interval = "10s"
        analysis.predictionShift = check
        // The candidate's accuracy on the same feedback labels, against stable's (fixed test).
        var accuracy = ComparisonMetric(name: "accuracy-vs-stable", template: .modelAccuracy)
        accuracy.minSamples = 100
        analysis.comparisons = [accuracy]
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
            throw TestSetupError("timed out waiting for \(what); rollout \(s?.phase?.rawValue ?? "-"): \(s?.message ?? "") \(s?.measurements ?? [])")
        }
        func mirrored() async throws -> Bool {
            let vs = try JSONValue.decode(try await client.send(
                method: "GET", path: TrafficRouter.virtualServices().path(namespace: namespace, name: "fraud")))
            let route = vs["spec"]?["http"]?.arrayValue?.first { $0["name"]?.stringValue == "primary" }
            return route?["mirror"]?["subset"]?.stringValue == "canary"
        }
        try await waitFor("fraud-v1 stable") {
            let s = try await rollout()
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v1"
        }

        // The diverging candidate: mirrored, compared, rolled back; never a live weight.
        let _: CanaryRollout = try await client.patch(CanaryRollout.self, name: "fraud", namespace: namespace,
                                                      .merge(["spec": ["modelVersion": "fraud-v2"]]))
        var sawMirror = false
        try await waitFor("fraud-v2 rolled back on the prediction shift", timeout: .seconds(60)) {
            let t = try await IstioTraffic.read(client, namespace: namespace)
            #expect(t.canary == 0, "the shadow candidate took live traffic: \(t)")
            if try await mirrored() { sawMirror = true }
            return try await rollout()?.phase == .rolledBack
        }
        #expect(sawMirror, "the VirtualService mirrored to the candidate during the shadow stage")
        var status = try #require(try await rollout())
        #expect(status.stableVersion == "fraud-v1" && status.reason == RolloutReason.analysisFailed, "\(status.message ?? "")")
        let diverged = status.measurements?.first { $0.metric == "predictionShift" }
        #expect(diverged?.outcome == .fail && (diverged?.value ?? 0) > 1, "\(String(describing: diverged))")
        #expect(diverged?.query?.contains(#"version="fraud-v2""#) == true)
        let lessAccurate = status.measurements?.first { $0.metric == "accuracy-vs-stable" }
        #expect(lessAccurate?.outcome == .fail, "the flipped model loses on accuracy from feedback labels: \(String(describing: lessAccurate))")
        try await waitFor("the mirror removed at the rollback", timeout: .seconds(30)) { try await !mirrored() }

        // The agreeing candidate: same bins as stable, PSI near 0, promoted after two runs.
        let _: CanaryRollout = try await client.patch(CanaryRollout.self, name: "fraud", namespace: namespace,
                                                      .merge(["spec": ["modelVersion": "fraud-v3"]]))
        try await waitFor("fraud-v3 promoted", timeout: .seconds(60)) {
            let s = try await rollout()
            if s?.phase != .succeeded && s?.phase != .promoting {
                let t = try await IstioTraffic.read(client, namespace: namespace)
                #expect(t.canary == 0, "the shadow candidate took live traffic before promotion: \(t)")
            }
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v3"
        }
        status = try #require(try await rollout())
        let agreed = status.measurements?.first { $0.metric == "predictionShift" }
        #expect(agreed?.outcome == .pass && (agreed?.value ?? 1) < 0.1, "\(String(describing: agreed))")
        let asAccurate = status.measurements?.first { $0.metric == "accuracy-vs-stable" }
        #expect(asAccurate?.outcome == .pass, "\(String(describing: asAccurate))")
        #expect(status.failedChecks == 0)
        let statuses = answered.counts.withLock { $0 }
        #expect((statuses[200] ?? 0) > 100 && statuses.keys.allSatisfy { $0 == 200 }, "every prediction answered 200: \(statuses)")
        print("prediction shift: diverging candidate PSI \(diverged?.value ?? .nan) (rolled back), agreeing \(agreed?.value ?? .nan) (promoted)")
        traffic.cancel()
        controller.cancel()
        _ = await controller.result
        await server.stop()
    }
}

/// HTTP status → answers, shared with the traffic task.
private final class StatusCounts: Sendable {
    let counts = Mutex([Int: Int]())
}
