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
import Synchronization
import Testing

/// The repository root (Tests/SextantControllersTests/TrainingSupport.swift → ../..).
let trainingRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A wall clock tests move by hand (`ControllerSettings.now`).
final class TrainingClock: Sendable {
    private let current: Mutex<Date>
    /// A live clock follows real time from `start` on, a frozen one moves only by hand.
    private let live: Bool
    private let origin = Date()
    init(_ start: Date = Date(), live: Bool = false) {
        current = Mutex(start)
        self.live = live
    }
    var now: Date { current.withLock { live ? $0.addingTimeInterval(Date().timeIntervalSince(origin)) : $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    func set(_ date: Date) { current.withLock { $0 = date } }
}

/// Values a fake retrain query returns, by rendered query text.
final class TrainingQueryValues: Sendable {
    private let values = Mutex<[String: RetrainObservation]>([:])
    let seen = Mutex<[String]>([])
    func set(_ query: String, _ value: RetrainObservation) { values.withLock { $0[query] = value } }
    var query: RetrainQuery {
        { [self] _, promql in
            seen.withLock { $0.append(promql) }
            return values.withLock { $0[promql] } ?? .noData
        }
    }
}

/// The development API server with Sextant's CRDs, a Manager running the training controllers
/// (leader election off, ports 0) and a client.
struct TrainingEnvironment {
    let server: DevServer
    let client: KubeClient
    let manager: Manager
    let clock: TrainingClock
    let task: Task<Void, any Error>
    let namespace = "default"

    /// A development API server with Sextant's CRDs, and a fast-retrying client for it.
    static func startServer() async throws -> (DevServer, KubeClient) {
        let server = try await DevServer.start(DevServerConfiguration())
        let client = KubeClient.forTests(server, namespace: "default")
        try await installCRDs(client)
        return (server, client)
    }

    static func start(clock: TrainingClock = TrainingClock(), prometheus: String? = nil,
                      query: RetrainQuery? = nil, mpiJobs: Bool = false) async throws -> TrainingEnvironment {
        let (server, client) = try await startServer()
        if mpiJobs {
            do { try await installMPIJobCRD(client) } catch {
                await server.stop()
                throw error
            }
        }
        var managerOptions = ManagerOptions()
        managerOptions.leaderElect = false
        managerOptions.metricsBindAddress = "0"
        managerOptions.healthProbeBindAddress = "0"
        let manager = Manager(client: client, options: managerOptions)
        var settings = ControllerSettings(prometheusAddress: prometheus, trainerImage: "sextant-trainer:test",
                                          prometheusTimeout: .seconds(5), now: { clock.now })
        settings.trainingProgressInterval = 1
        settings.mpiJobs = mpiJobs
        if let query {
            addTrainingControllers(to: manager, settings: settings, query: query)
        } else {
            addTrainingControllers(to: manager, settings: settings)
        }
        let task = Task { try await manager.run() }
        return TrainingEnvironment(server: server, client: client, manager: manager, clock: clock, task: task)
    }

    static func installCRDs(_ client: KubeClient) async throws {
        let crds = ResourceDescriptor(group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
                                      kind: "CustomResourceDefinition", namespaced: false)
        for plural in ["trainingjobs", "modelversions", "canaryrollouts"] {
            let text = try String(contentsOf: trainingRepoRoot.appendingPathComponent("crds/\(plural).yaml"), encoding: .utf8)
            let _: DynamicObject = try await client.create(crds, DynamicObject(try JSONValue.parseYAML(text)))
        }
    }

    /// The MPI Operator's own MPIJob CRD (v0.8.0, `../shared/fixtures/mpi-operator`), so every
    /// MPIJob the controller writes is checked by the real schema.
    static let mpiJobCRD = Repo.upstreamFixtures + "/mpi-operator/mpijobs.kubeflow.org.yaml"
    static let mpiJobResource = ResourceDescriptor(group: "kubeflow.org", version: "v2beta1", plural: "mpijobs",
                                                   kind: "MPIJob", namespaced: true)

    static func installMPIJobCRD(_ client: KubeClient) async throws {
        guard let text = try? String(contentsOfFile: mpiJobCRD, encoding: .utf8) else {
            throw TestSetupError("the MPI Operator's MPIJob CRD is required for the MPIJob tests and is not at \(mpiJobCRD)")
        }
        let crds = ResourceDescriptor(group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
                                      kind: "CustomResourceDefinition", namespaced: false)
        let _: DynamicObject = try await client.create(crds, DynamicObject(try JSONValue.parseYAML(text)))
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        await server.stop()
    }

    // MARK: Objects

    func trainingJob(_ name: String) async throws -> TrainingJob { try await client.get(TrainingJob.self, name: name, namespace: namespace) }
    func modelVersion(_ name: String) async throws -> ModelVersion { try await client.get(ModelVersion.self, name: name, namespace: namespace) }

    func modelVersions() async throws -> [ModelVersion] {
        try await client.list(ModelVersion.self, namespace: namespace).items
    }

    func jobs(of trainingJob: String) async throws -> [DynamicObject] {
        try await client.list(ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true),
                              namespace: namespace, options: ListOptions(labelSelector: "\(SextantLabel.trainingJob)=\(trainingJob)"),
                              as: DynamicObject.self).items
    }

    func job(_ name: String) async throws -> DynamicObject {
        try await client.get(Self.jobResource, name: name, namespace: namespace, as: DynamicObject.self)
    }

    func events(reason: String) async throws -> [Event] {
        try await client.list(Event.self, namespace: namespace).items.filter { $0.reason == reason }
    }

    static let jobResource = ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true)
    static let podResource = ResourceDescriptor(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)

    /// A nudge that makes the controller reconcile now (tests move the clock, not real time).
    func poke(_ trainingJob: String) async throws {
        let _: TrainingJob = try await client.patch(TrainingJob.self, name: trainingJob, namespace: namespace,
                                                    .merge(["metadata": ["annotations": ["test/poke": .string(UUID().uuidString)]]]))
    }

    /// Waits until `condition` holds (polling), failing the test with `what` if it does not.
    func eventually(_ what: String, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
        if try await poll(timeout: timeout, every: .milliseconds(25), condition) { return }
        Issue.record("timed out waiting for: \(what)")
        throw CancellationError()
    }

    /// The run's Job once it exists.
    func waitForJob(_ name: String) async throws -> DynamicObject {
        var found: DynamicObject?
        try await eventually("Job \(name)") {
            found = try? await job(name)
            return found != nil
        }
        guard let found else { throw CancellationError() }
        return found
    }

    /// Waits until the run's Job exists and the run is recorded in the TrainingJob's status (the
    /// controller creates the Job first, then writes status).
    func waitForRun(_ trainingJob: String, _ run: String) async throws {
        _ = try await waitForJob(run)
        try await eventually("run \(run) in status") {
            try await self.trainingJob(trainingJob).status?.runs?.contains { $0.name == run } == true
        }
    }

    // MARK: Playing the kubelet and the Job controller

    /// Creates the Job's Pod with the trainer container terminated as given, then marks the Job
    /// Complete or Failed, as the Job controller and kubelet would.
    func finishJob(_ name: String, exitCode: Int, message: String?, reason: String? = nil,
                   jobFailureReason: String = "BackoffLimitExceeded") async throws {
        let job = try await self.job(name)
        let labels = job.raw[path: ["spec", "template", "metadata", "labels"]] ?? [:]
        var terminated: [String: JSONValue] = ["exitCode": .int(Int64(exitCode)),
                                               "reason": .string(reason ?? (exitCode == 0 ? "Completed" : "Error")),
                                               "startedAt": .string(KubeTime.format(Date())),
                                               "finishedAt": .string(KubeTime.format(Date()))]
        if let message { terminated["message"] = .string(message) }
        var podLabels = labels.objectValue ?? [:]
        podLabels["job-name"] = .string(name)
        let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod",
                              "metadata": ["name": .string("\(name)-pod"), "namespace": .string(namespace), "labels": .object(podLabels)],
                              "spec": job.raw[path: ["spec", "template", "spec"]] ?? [:]]
        let created: DynamicObject = try await client.create(Self.podResource, DynamicObject(pod), namespace: namespace)
        var withStatus = created
        withStatus.raw["status"] = ["phase": .string(exitCode == 0 ? "Succeeded" : "Failed"),
                                    "containerStatuses": [["name": "trainer", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
                                                           "state": ["terminated": .object(terminated)]]]]
        let _: DynamicObject = try await client.update(Self.podResource, name: "\(name)-pod", withStatus, namespace: namespace, subresource: "status")
        try await setJobCondition(name, complete: exitCode == 0, reason: exitCode == 0 ? nil : jobFailureReason)
    }

    func setJobCondition(_ name: String, complete: Bool, reason: String?, message: String? = nil) async throws {
        var job = try await self.job(name)
        let now = KubeTime.format(Date())
        var condition: [String: JSONValue] = ["type": .string(complete ? "Complete" : "Failed"), "status": "True",
                                              "lastProbeTime": .string(now), "lastTransitionTime": .string(now)]
        condition["reason"] = reason.map(JSONValue.string)
        condition["message"] = message.map(JSONValue.string)
        var status: [String: JSONValue] = ["conditions": [.object(condition)], "startTime": .string(now)]
        if complete {
            status["succeeded"] = 1
            status["completionTime"] = .string(now)
        } else {
            status["failed"] = 1
        }
        job.raw["status"] = .object(status)
        let _: DynamicObject = try await client.update(Self.jobResource, name: name, job, namespace: namespace, subresource: "status")
    }

    /// The trainer config the controller put in the run's ConfigMap.
    func trainerConfig(run: String) async throws -> JSONValue {
        let cm = try await client.get(ConfigMap.self, name: run, namespace: namespace)
        return try JSONValue.parse(string: cm.data?["config.yaml"] ?? "")
    }
}

/// A TrainingJob on a local CSV with a performance gate.
func sampleTrainingJob(_ name: String, model: String = "churn", approval: ApprovalPolicy = .automatic,
                       canaryRollout: String? = nil, dataURI: String = "file:///data/churn.csv",
                       outputURI: String = "file:///models/") -> TrainingJob {
    var spec = TrainingJobSpec(modelName: model, data: DataSpec(source: DataSource(uri: dataURI, version: "2026-03"), target: "churned"),
                               output: OutputSpec(uri: outputURI))
    var gates = EvaluationGates()
    gates.performance = PerformanceGate(thresholds: [MetricThreshold(metric: .aucRoc, min: 0.7)])
    spec.gates = gates
    var hp = Hyperparameters()
    hp.nEstimators = 20
    hp.maxDepth = 3
    spec.hyperparameters = hp
    var release = ReleasePolicy()
    release.approval = approval
    release.canaryRollout = canaryRollout
    spec.release = release
    return TrainingJob(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
}

/// A trainer result summary as `sextant-trainer` writes it.
func trainerSummary(status: String = "Succeeded", model: String = "churn", output: String = "file:///models/churn/v1/",
                    auc: Double = 0.91, gatePassed: Bool = true) -> String {
    var o: [String: JSONValue] = [
        "status": .string(status), "modelName": .string(model), "trainerVersion": "0.1.0",
        "artifact": ["uri": .string(output + "model.json"), "sha256": .string(String(repeating: "ab", count: 32)), "size": 12345],
        "metricsUri": .string(output + "metrics.json"),
        "data": ["uri": "file:///data/churn.csv", "version": "2026-03", "sha256": .string(String(repeating: "cd", count: 32)), "rows": 5000],
        "algorithm": "gradientBoosting", "hyperparameters": ["nEstimators": 20, "maxDepth": 3],
        "metrics": ["aucRoc": .double(auc), "f1": 0.8, "logLoss": 0.3],
        "gates": [["name": "performance.aucRoc", "passed": .bool(gatePassed), "value": .double(auc), "threshold": 0.7,
                   "message": .string(String(format: "aucRoc=%.4f %@ 0.7", auc, gatePassed ? ">=" : "<"))]],
        "durationSeconds": 1.2,
    ]
    if status != "Succeeded" {
        o["reason"] = .string(status == "GateFailed" ? "GateFailed" : "BadInput")
        o["message"] = .string(status == "GateFailed" ? "gate performance.aucRoc failed" : "data: line 3: column 'x1': non-numeric value 'zz'")
    }
    return String(decoding: (try? JSONValue.object(o).encoded()) ?? Data(), as: UTF8.self)
}

/// A churn-like data set: three numeric features, the label depends on two of them plus noise.
func writeChurnCSV(to path: String, rows: Int = 3000, seed: UInt64 = 7) throws {
    var state = seed
    func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
    var text = "tenure,monthly_charges,support_calls,churned\n"
    for _ in 0..<rows {
        let tenure = next() * 72
        let charges = 20 + next() * 100
        let calls = Double(Int(next() * 6))
        let score = -0.05 * tenure + 0.02 * charges + 0.6 * calls - 1.5 + (next() - 0.5) * 2
        text += String(format: "%.2f,%.2f,%.0f,%d\n", tenure, charges, calls, score > 0 ? 1 : 0)
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// `sha256sum` of a file (hex).
func sha256Hex(_ path: String) throws -> String {
    let out = try runCommand("sha256sum", [path])
    return String(out.output.prefix(64))
}
