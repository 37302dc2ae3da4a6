import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import Testing

@Suite("ModelVersion controller", .serialized)
struct ModelVersionControllerTests {
    func version(_ name: String, model: String = "fraud", version: Int64, approval: Approval? = nil,
                 gatesPassed: Bool? = nil, aliases: [String]? = nil) -> ModelVersion {
        var spec = ModelVersionSpec(modelName: model, version: version,
                                    artifact: ModelArtifact(uri: "s3://models/\(model)/v\(version)/model.json", format: .sextantJSON))
        spec.approval = approval
        spec.aliases = aliases
        if let gatesPassed { spec.gates = GateSummary(passed: gatesPassed, results: [GateResult(gate: .performance, passed: gatesPassed)]) }
        return ModelVersion(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
    }

    func request(_ env: TrainingEnvironment, _ name: String, _ verb: String, at: String, by: String = "ana") async throws {
        let patch = JSONValue.object(["status": .object(["requests": .object([verb: ["requestedAt": .string(at), "requestedBy": .string(by), "reason": "reviewed"]])])])
        let _: ModelVersion = try await env.client.patch(ModelVersion.self, name: name, namespace: env.namespace, .merge(patch), subresource: "status")
    }

    @Test func manualApprovalThroughARequestThenRejectionIsFinal() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(version("fraud-v1", version: 1, gatesPassed: true))
        try await env.eventually("pending") { try await env.modelVersion("fraud-v1").status?.phase == .pendingApproval }
        var status = try await env.modelVersion("fraud-v1").status
        #expect(Conditions.find(status?.conditions, type: ConditionType.approved)?.reason == "Pending")
        #expect(Conditions.isTrue(status?.conditions, type: ConditionType.ready))

        try await request(env, "fraud-v1", "approve", at: "2026-03-01T10:00:00.000Z")
        try await env.eventually("approved") { try await env.modelVersion("fraud-v1").status?.phase == .approved }
        status = try await env.modelVersion("fraud-v1").status
        #expect(status?.approval?.state == .approved && status?.approval?.by == "ana" && status?.approval?.reason == "reviewed")
        #expect(status?.requests == nil)

        try await request(env, "fraud-v1", "reject", at: "2026-03-01T11:00:00.000Z", by: "bo")
        try await env.eventually("rejected") { try await env.modelVersion("fraud-v1").status?.phase == .rejected }
        try await request(env, "fraud-v1", "approve", at: "2026-03-01T12:00:00.000Z")
        try await env.eventually("refused") { try await !env.events(reason: "ApprovalRefused").isEmpty }
        status = try await env.modelVersion("fraud-v1").status
        #expect(status?.approval?.state == .rejected && status?.approval?.by == "bo" && status?.requests == nil)
    }

    @Test func failedGatesAndRegistryConflicts() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(version("fraud-v1", version: 1, approval: Approval(state: .approved, by: "x"), gatesPassed: false))
        try await env.eventually("gate failure rejects") { try await env.modelVersion("fraud-v1").status?.phase == .rejected }
        #expect(try await env.modelVersion("fraud-v1").status?.approval?.reason?.contains("Performance") == true)

        _ = try await env.client.create(version("fraud-v2", version: 2, aliases: ["champion"]))
        try await env.eventually("v2 pending") { try await env.modelVersion("fraud-v2").status?.phase == .pendingApproval }
        _ = try await env.client.create(version("fraud-second", version: 2))
        try await env.eventually("duplicate invalid") { try await env.modelVersion("fraud-second").status?.phase == .invalid }
        let ready = try #require(Conditions.find(try await env.modelVersion("fraud-second").status?.conditions, type: ConditionType.ready))
        #expect(ready.reason == "RegistryConflict" && ready.message.contains("fraud-v2"))
        // Alias held by a newer version: the older one is told.
        _ = try await env.client.create(version("fraud-v3", version: 3, aliases: ["champion"]))
        try await env.eventually("alias conflict on v2") {
            Conditions.find(try await env.modelVersion("fraud-v2").status?.conditions, type: ConditionType.ready)?.reason == "RegistryConflict"
        }
        #expect(try await env.modelVersion("fraud-v3").status?.phase == .pendingApproval)
    }

    /// AUC shows 4 decimal places where kubectl users look (`kubectl get mv -o wide`, printer
    /// columns rendered by the API server), while spec.metrics keeps every digit.
    @Test func printerColumnsShowMetricsRoundedAndNoStageNextToPhase() async throws {
        let kubectl = try #require(["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "kubectl is required: install it with hack/install-deps.sh")
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        var mv = version("fraud-v1", version: 1, approval: Approval(state: .approved, by: "jane"), gatesPassed: true)
        mv.spec.metrics = ["aucRoc": 0.9824132643281579, "logLoss": 0.123456789]
        _ = try await env.client.create(mv)
        try await env.eventually("rounded") { try await env.modelVersion("fraud-v1").status?.displayMetrics != nil }
        let stored = try await env.modelVersion("fraud-v1")
        #expect(stored.status?.displayMetrics == ["aucRoc": 0.9824, "logLoss": 0.1235])
        #expect(stored.spec.metrics?["aucRoc"] == 0.9824132643281579)
        // Served to production by a rollout: PHASE says so, and no STAGE column says None beside it.
        let _: ModelVersion = try await env.client.patch(ModelVersion.self, name: "fraud-v1", namespace: env.namespace,
                                                         .merge(["status": ["phase": "Production", "servedBy": "fraud"]]), subresource: "status")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mv-columns-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appendingPathComponent("kubeconfig").path
        try env.server.writeKubeconfig(to: kubeconfig)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kubectl)
        process.arguments = ["--kubeconfig", kubeconfig, "--cache-dir", directory.appendingPathComponent("cache").path,
                             "get", "mv", "fraud-v1", "-o", "wide"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let (exited, exit) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in exit.yield(); exit.finish() }
        try process.run()
        for await _ in exited { break }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")
        let lines = output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let header = try #require(lines.first)
        let row = try #require(lines.dropFirst().first)
        #expect(!header.contains("STAGE"), "\(output)")
        let auc = try #require(header.firstIndex(of: "AUC"), "\(output)")
        #expect(row.count == header.count && row[auc] == "0.9824", "\(output)")
        let phase = try #require(header.firstIndex(of: "PHASE"))
        #expect(row[phase] == "Production", "\(output)")
    }

    @Test func rolloutPhasesAreLeftAlone() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        _ = try await env.client.create(version("fraud-v1", version: 1, approval: Approval(state: .approved, by: "jane")))
        try await env.eventually("approved") { try await env.modelVersion("fraud-v1").status?.phase == .approved }
        // The CanaryRollout controller moves it to Production.
        let _: ModelVersion = try await env.client.patch(ModelVersion.self, name: "fraud-v1", namespace: env.namespace,
                                                         .merge(["status": ["phase": "Production", "servedBy": "fraud"]]), subresource: "status")
        try await request(env, "fraud-v1", "reject", at: "2026-03-01T11:00:00.000Z")
        try await env.eventually("rejection recorded") { try await env.modelVersion("fraud-v1").status?.approval?.state == .rejected }
        let status = try await env.modelVersion("fraud-v1").status
        #expect(status?.phase == .production && status?.servedBy == "fraud")
    }

    @Test func approvedVersionIsHandedToTheCanaryRolloutNeverBackwards() async throws {
        let env = try await TrainingEnvironment.start()
        defer { Task { await env.stop() } }
        var rollout = try JSONValue.parseYAML(String(contentsOf: trainingRepoRoot.appendingPathComponent("manifests/examples/canaryrollout-steps.yaml"), encoding: .utf8))
        rollout.set(path: ["metadata", "namespace"], to: "default")
        rollout.set(path: ["metadata", "name"], to: "churn")
        rollout.set(path: ["spec", "modelName"], to: "churn")
        rollout.set(path: ["spec", "modelVersion"], to: nil)
        let cro = ResourceDescriptor(CanaryRollout.self)
        let _: DynamicObject = try await env.client.create(cro, DynamicObject(rollout), namespace: "default")

        // Manual approval: nothing is handed over until someone approves.
        _ = try await env.client.create(sampleTrainingJob("churn-train", approval: .manual, canaryRollout: "churn"))
        try await env.waitForRun("churn-train", "churn-train-1")
        try await env.finishJob("churn-train-1", exitCode: 0, message: trainerSummary())
        try await env.eventually("v1 pending") { try await env.modelVersion("churn-v1").status?.phase == .pendingApproval }
        try await Task.sleep(for: .milliseconds(200))
        let untouched: DynamicObject = try await env.client.get(cro, name: "churn", namespace: "default")
        #expect(untouched.raw[path: ["spec", "modelVersion"]] == nil)

        try await request(env, "churn-v1", "approve", at: "2026-03-01T10:00:00.000Z")
        try await env.eventually("rollout names churn-v1") {
            let r: DynamicObject = try await env.client.get(cro, name: "churn", namespace: "default")
            return r.raw[path: ["spec", "modelVersion"]]?.stringValue == "churn-v1"
        }
        try await env.eventually("HandedOff Event and run message") {
            let run = try await env.trainingJob("churn-train").status?.runs?.first
            return try await !env.events(reason: "HandedOff").isEmpty && run?.message?.contains("CanaryRollout churn") == true
        }
        // Someone points the rollout at a newer hand-registered version: never moved backwards.
        var v9 = version("churn-v9", model: "churn", version: 9, approval: Approval(state: .approved, by: "jane"))
        v9.metadata.labels = [SextantLabel.model: "churn"]
        _ = try await env.client.create(v9)
        let _: DynamicObject = try await env.client.patch(cro, name: "churn", .merge(["spec": ["modelVersion": "churn-v9"]]), namespace: "default")
        try await env.poke("churn-train")
        try await Task.sleep(for: .milliseconds(300))
        let after: DynamicObject = try await env.client.get(cro, name: "churn", namespace: "default")
        #expect(after.raw[path: ["spec", "modelVersion"]]?.stringValue == "churn-v9")
    }
}
