import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantOperator
import SextantTestSupport
import Synchronization
import Testing

// Helpers of the end-to-end tests on the local node (LocalNodeEndToEndTests.swift): the node in
// this process, the whole-loop environment (both controllers, Istio's CRDs, a real Prometheus that
// discovers the real sextant-server Pods), and a traffic generator that talks to those Pods.

/// The local node (`SextantLocalNode`) in this process against a test's API server, running the
/// real `sextant-trainer` and `sextant-server` built next to the test bundle.
final class LocalNodeRunner: Sendable {
    let work: TemporaryDirectory
    let node: LocalNode
    private let task: Task<Void, any Error>

    /// The directory with `sextant-trainer` and `sextant-server` (next to the test bundle after
    /// `swift build --build-tests`); nil when either is missing.
    static var binDirectory: String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let dir = exe.deletingLastPathComponent().path
        return ["sextant-trainer", "sextant-server"].allSatisfy { FileManager.default.isExecutableFile(atPath: "\(dir)/\($0)") }
            ? dir : nil
    }

    /// True when the test may run; throws, naming them, when the binaries are missing.
    static func available() throws -> Bool {
        try Tooling.available("sextant-trainer and sextant-server next to the test bundle (swift build --build-tests)",
                              binDirectory != nil)
    }

    /// `configure` adjusts the options (the podman runtime, no data plane, ...).
    init(client: KubeClient, configure: (inout LocalNodeOptions) -> Void = { _ in }) throws {
        guard let bin = Self.binDirectory else { throw TestSetupError("sextant-trainer/sextant-server not built") }
        work = try TemporaryDirectory()
        var options = LocalNodeOptions(workDirectory: work.file("node"), binDirectory: bin,
                                       probePeriod: .milliseconds(200), resyncInterval: .milliseconds(250),
                                       initialBackoff: .milliseconds(200), maximumBackoff: .seconds(1),
                                       shutdownGracePeriod: .seconds(2))
        configure(&options)
        let node = LocalNode(client: client, options: options)
        self.node = node
        task = Task { try await node.run() }
    }

    /// Stops the node; returns once every process it started has exited.
    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// The training controllers (TrainingEnvironment) with the local node instead of a stand-in
/// kubelet. `body` gets the environment and a scratch directory for data and models; everything
/// is stopped afterwards, also when `body` throws.
func withTrainingOnLocalNode(clock: TrainingClock = TrainingClock(), prometheus: String? = nil, mpiJobs: Bool = false,
                             _ body: (TrainingEnvironment, TemporaryDirectory) async throws -> Void) async throws {
    guard try LocalNodeRunner.available() else { return }
    let env = try await TrainingEnvironment.start(clock: clock, prometheus: prometheus, mpiJobs: mpiJobs)
    let node: LocalNodeRunner
    do { node = try LocalNodeRunner(client: env.client) } catch {
        await env.stop()
        throw error
    }
    // pods/log from the node's files, as `sextant dev apiserver --local-node` serves it.
    env.server.handler.setPodLogSource(LocalNodeLogs(node: node.node))
    let scratch = try TemporaryDirectory()
    do {
        try await body(env, scratch)
    } catch {
        await node.stop()
        await env.stop()
        throw error
    }
    await node.stop()
    await env.stop()
}

struct LocalNodeLogs: PodLogSource {
    let node: LocalNode
    func logs(namespace: String, pod: String, uid: String, container: String, previous: Bool) async -> [UInt8]? {
        await node.logs(namespace: namespace, pod: pod, uid: uid, container: container, previous: previous)
    }
}

/// A TrainingJob over local files for the local node: data and output are absolute `file://`
/// paths (the node leaves paths outside volume mounts alone, so the trainer reads and writes
/// them directly); one trainer thread, quiet.
func localTrainingJob(_ name: String, model: String, csv: String, models: String, target: String = "churned",
                      approval: ApprovalPolicy = .automatic, canaryRollout: String? = nil, minAUC: Double = 0.7,
                      namespace: String = "default") -> TrainingJob {
    var tj = sampleTrainingJob(name, model: model, approval: approval, canaryRollout: canaryRollout,
                               dataURI: "file://" + csv, outputURI: "file://" + models + "/")
    tj.metadata.namespace = namespace
    tj.spec.data.target = target
    tj.spec.gates?.performance = PerformanceGate(thresholds: [MetricThreshold(metric: .aucRoc, min: minAUC)])
    tj.spec.hyperparameters?.nEstimators = 10
    var trainer = TrainerSpec()
    trainer.args = ["--threads", "1", "--quiet"]
    tj.spec.trainer = trainer
    return tj
}

// MARK: Fraud data ("the world")

/// The synthetic fraud world of the loop test. In the `original` world a transaction is fraud when
/// it is large, at night and at a risky merchant; after the concept drift (`original == false`)
/// the labels are the opposite. `distance_km` carries no signal.
struct FraudWorld: Sendable {
    static let features = ["amount", "hour", "merchant_risk", "distance_km"]
    static let target = "is_fraud"

    struct Row: Sendable {
        var amount, hour, merchantRisk, distance: Double
        func label(original: Bool) -> Int {
            let night = (hour < 6 || hour >= 22) ? 1.0 : 0.0
            let fraud = 0.004 * amount + 1.5 * night + 2.5 * merchantRisk - 3.2 > 0
            return (fraud == original) ? 1 : 0
        }
        var instance: [String: Double] {
            ["amount": amount, "hour": hour, "merchant_risk": merchantRisk, "distance_km": distance]
        }
    }

    /// A small deterministic generator (LCG).
    struct Generator: Sendable {
        var state: UInt64
        mutating func unit() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        mutating func row() -> Row {
            Row(amount: (unit() * 1000).rounded(), hour: Double(Int(unit() * 24)), merchantRisk: (unit() * 100).rounded() / 100,
                distance: (unit() * 500).rounded())
        }
    }

    static func writeCSV(to path: String, rows: Int = 400, original: Bool, seed: UInt64) throws {
        var generator = Generator(state: seed)
        var text = (features + [target]).joined(separator: ",") + "\n"
        for _ in 0..<rows {
            let r = generator.row()
            text += "\(Int(r.amount)),\(Int(r.hour)),\(r.merchantRisk),\(Int(r.distance)),\(r.label(original: original))\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

// MARK: The whole loop

/// The development API server over TLS with `--authorization-mode RBAC`, Sextant's and Istio's
/// CRDs, the local node, a real Prometheus and the real `sextant-controller` binary (training and
/// canary controllers) run as `charts/sextant` runs it: the chart's args, its ServiceAccount's
/// token and exactly the chart's RBAC (`ChartController`). The test itself, the local node (the
/// kubelet) and service discovery use the admin's credentials. Prometheus finds the real
/// `sextant-server` Pods through a file-based service discovery that this environment keeps up to
/// date from the Pods' endpoint annotations, labelled with `namespace` and `pod` as Kubernetes
/// service discovery would.
final class LoopEnvironment: Sendable {
    static let namespace = "ml-production"
    static let model = "fraud"

    let server: DevServer
    let client: KubeClient
    let node: LocalNodeRunner
    let prometheus: PrometheusServer
    let scratch: TemporaryDirectory
    let traffic: TrafficGenerator
    let chart: ChartController.Rendered
    let controller: TestProcess
    private let tls: TemporaryDirectory
    private let discovery: Task<Void, Never>

    static func available() throws -> Bool {
        try LocalNodeRunner.available()
            && Tooling.available("prometheus", PrometheusServer.isInstalled)
            && ChartController.available()
    }

    /// `chartValues` are merged into the chart's values (the Prometheus URL is added).
    /// `throughDataPlane`: predictions go through the local data plane's address of VirtualService
    /// `fraud` (HAProxy, split by the rollout's weights) instead of to every Pod (TrafficGenerator).
    /// `configureNode` adjusts the local node's options (the podman runtime).
    static func start(chartValues: JSONValue = [:], throughDataPlane: Bool = false,
                      configureNode: (inout LocalNodeOptions) -> Void = { _ in }) async throws -> LoopEnvironment {
        let tls = try TemporaryDirectory()
        let server = try await DevServer.start(DevServerConfiguration(port: 0, bookmarkInterval: .seconds(1),
                                                                      tlsDirectory: tls.path, authorization: .rbac))
        let client: KubeClient
        let scratch: TemporaryDirectory
        let prometheus: PrometheusServer
        let node: LocalNodeRunner
        let chart: ChartController.Rendered
        let controller: TestProcess
        do {
            try server.writeKubeconfig(to: tls.file("admin.kubeconfig"))
            var admin = try ClusterConfig.load(kubeconfigPath: tls.file("admin.kubeconfig"))
            admin.namespace = namespace
            client = KubeClient.forTests(admin)
            try await TrainingEnvironment.installCRDs(client)
            for file in ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"] {
                let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.localCRDs + "/" + file))
                _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                          body: yaml, contentType: "application/yaml")
            }
            try await CanaryEnvironment.post(client, "/api/v1/namespaces",
                                             ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])
            scratch = try TemporaryDirectory()
            try "[]".write(toFile: scratch.file("targets.json"), atomically: true, encoding: .utf8)
            prometheus = try await PrometheusServer.start(scrapeTargets: [], scrapeInterval: "1s", extraScrapeConfigs: """
                  - job_name: model-servers
                    file_sd_configs:
                      - files: ['\(scratch.file("targets.json"))']
                        refresh_interval: 1s
                """)
            node = try LocalNodeRunner(client: client, configure: configureNode)
        } catch {
            await server.stop()
            throw error
        }
        do {
            var values = chartValues
            values.set(path: ["prometheus", "url"], to: .string(prometheus.address))
            values.set(path: ["prometheus", "timeoutSeconds"], to: 2)
            chart = try await ChartController.render(values: values)
            try await ChartController.apply(chart, admin: client)
            let token = try await ChartController.token(chart, admin: client)
            let kubeconfig = tls.file("controller.kubeconfig")
            try ChartController.kubeconfig(server: server, token: token, namespace: chart.namespace)
                .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
            guard let binary = CanaryEnvironment.controllerBinary else { throw TestSetupError("sextant-controller not built") }
            controller = try TestProcess(binary, ChartController.processArguments(chart, kubeconfig: kubeconfig))
        } catch {
            await node.stop()
            prometheus.stop()
            await server.stop()
            throw error
        }

        let traffic = TrafficGenerator(throughDataPlane: throughDataPlane)
        let targetsFile = scratch.file("targets.json")
        let localNode = node.node
        let discovery = Task { await Self.discover(client: client, node: localNode, traffic: traffic, targetsFile: targetsFile) }
        return LoopEnvironment(server: server, client: client, node: node, prometheus: prometheus, scratch: scratch,
                               traffic: traffic, chart: chart, controller: controller, tls: tls, discovery: discovery)
    }

    private init(server: DevServer, client: KubeClient, node: LocalNodeRunner, prometheus: PrometheusServer,
                 scratch: TemporaryDirectory, traffic: TrafficGenerator, chart: ChartController.Rendered,
                 controller: TestProcess, tls: TemporaryDirectory, discovery: Task<Void, Never>) {
        self.server = server
        self.client = client
        self.node = node
        self.prometheus = prometheus
        self.scratch = scratch
        self.traffic = traffic
        self.chart = chart
        self.controller = controller
        self.tls = tls
        self.discovery = discovery
    }

    /// Stops everything this environment started: traffic, discovery, the controller, the node
    /// (and with it every sextant-server and sextant-trainer process), Prometheus, the API server.
    func stop() async {
        traffic.stop()
        discovery.cancel()
        _ = await discovery.value
        controller.stop()
        await node.stop()
        prometheus.stop()
        await server.stop()
    }

    /// The requests the chart's RBAC refused the controller, as the 403s name them.
    var denials: [String] { ChartController.denials(server, chart) }

    /// Service discovery: every 200 ms, the Pods of Sextant's managed Deployments that have a
    /// local endpoint become Prometheus targets (file_sd, labels namespace/pod) and traffic targets,
    /// and the data plane's address of VirtualService `fraud` (once it has one) the traffic's entry.
    private static func discover(client: KubeClient, node: LocalNode, traffic: TrafficGenerator, targetsFile: String) async {
        var written = ""
        while !Task.isCancelled {
            traffic.setDataPlaneAddress(await node.meshAddress(namespace: namespace, virtualService: "fraud"))
            if let pods = try? await client.list(TrainingEnvironment.podResource, namespace: namespace,
                                                  options: ListOptions(labelSelector: SextantLabel.canaryRollout),
                                                  as: DynamicObject.self).items {
                var servers: [TrafficGenerator.Server] = []
                for pod in pods.map(\.raw) {
                    guard let name = pod[path: ["metadata", "name"]]?.stringValue,
                          pod[path: ["metadata", "deletionTimestamp"]] == nil,
                          pod[path: ["status", "phase"]]?.stringValue == "Running",
                          let endpoint = pod[path: ["metadata", "annotations", LocalNode.endpointAnnotation]]?.stringValue,
                          let version = pod[path: ["metadata", "labels", SextantLabel.modelVersion]]?.stringValue else { continue }
                    servers.append(.init(pod: name, version: version, endpoint: endpoint))
                }
                servers.sort { $0.pod < $1.pod }
                traffic.setServers(servers)
                let groups: [JSONValue] = servers.map {
                    ["targets": [.string($0.endpoint)], "labels": ["namespace": .string(namespace), "pod": .string($0.pod)]]
                }
                let text = String(decoding: JSONValue.array(groups).serialized(), as: UTF8.self)
                if text != written {
                    let temporary = targetsFile + ".tmp"
                    if (try? text.write(toFile: temporary, atomically: false, encoding: .utf8)) != nil,
                       rename(temporary, targetsFile) == 0 {
                        written = text
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    // MARK: Objects

    /// The user's Istio objects: VirtualService `fraud` with the owned route `primary` (stable and
    /// canary subsets) and an unowned `health` route, DestinationRule `fraud` with both subsets.
    /// Plus the Service `fraud-health` of the unowned route, so that the local data plane can route
    /// it (a host without a Service or subset is refused, docs/local-node.md "Data plane").
    func createRouting() async throws {
        try await CanaryEnvironment.post(client, "/api/v1/namespaces/\(Self.namespace)/services", [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "fraud-health", "namespace": .string(Self.namespace)],
            "spec": ["selector": ["app": "fraud-health"], "ports": [["port": 8080]]]])
        try await CanaryEnvironment.createRouting(client, namespace: Self.namespace)
    }

    /// CanaryRollout `fraud`: managed serving (1 replica, pods labelled `app: fraud`), subset-level
    /// routing, canary 50 % then promotion, analysis every 2 s on the real servers' metrics. No data
    /// yet (a Pod scraped fewer than twice) counts as a query error, which holds the step.
    /// `serverEnv`: environment of the `sextant-server` container (through the Pod template).
    func createRollout(serverEnv: [JSONValue] = []) async throws {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
        routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        var managed = ManagedServing()
        managed.replicas = 1
        managed.template = ["metadata": ["labels": ["app": "fraud"]]]
        if !serverEnv.isEmpty {
            managed.template?.set(path: ["spec", "containers"], to: [["name": "sextant-server", "env": .array(serverEnv)]])
        }
        var spec = CanaryRolloutSpec(modelName: Self.model, serving: ServingSpec(managed: managed), routing: routing,
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 50, maxWeight: 50)))
        var analysis = AnalysisSpec()
        analysis.interval = "2s"
        analysis.failureLimit = 2
        analysis.consecutiveErrorLimit = 15
        func metric(_ name: String, _ template: MetricTemplate, _ range: ThresholdRange) -> AnalysisMetric {
            var m = AnalysisMetric(name: name, template: template, thresholdRange: range)
            m.interval = "10s"
            m.noDataPolicy = .error
            return m
        }
        analysis.metrics = [metric("success-rate", .successRate, ThresholdRange(min: 0.95)),
                            metric("latency-p99", .latencyP99, ThresholdRange(max: 0.5)),
                            metric("online-accuracy", .modelAccuracy, ThresholdRange(min: 0.7))]
        spec.analysis = analysis
        spec.progressDeadlineSeconds = 120
        spec.scaleDownDelaySeconds = 1
        spec.abortScaleDownDelaySeconds = 1
        _ = try await client.create(CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: Self.namespace), spec: spec))
    }

    func rollout() async throws -> CanaryRollout {
        try await client.get(CanaryRollout.self, name: "fraud", namespace: Self.namespace)
    }

    func modelVersion(_ name: String) async throws -> ModelVersion {
        try await client.get(ModelVersion.self, name: name, namespace: Self.namespace)
    }

    func trainingJob(_ name: String) async throws -> TrainingJob {
        try await client.get(TrainingJob.self, name: name, namespace: Self.namespace)
    }

    func deployment(_ name: String) async throws -> JSONValue {
        try JSONValue.decode(try await client.send(method: "GET", path: RolloutServing.deployments.path(namespace: Self.namespace,
                                                                                                        name: name)))
    }

    /// (stable weight, canary weight) of the `primary` route and the subsets' version labels.
    func traffic() async throws -> IstioTraffic { try await IstioTraffic.read(client, namespace: Self.namespace) }

    /// Polls every 50 ms until `condition` holds; throws naming `what` and the current state otherwise.
    func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        if try await poll(timeout: timeout, every: .milliseconds(50), condition) { return }
        let rollout = (try? await rollout().status).map { "\($0.phase?.rawValue ?? "-"): \($0.message ?? "")" } ?? "unreadable"
        let tj = (try? await trainingJob("fraud").status).map { "\($0.phase?.rawValue ?? "-"): \($0.message ?? "")" } ?? "unreadable"
        let running = controller.process.isRunning ? "running" : "EXITED: \(controller.text.suffix(4000))"
        throw TestSetupError("timed out after \(timeout) waiting for \(what); rollout: \(rollout); trainingjob: \(tj); "
                             + "requests the chart's RBAC refused the controller: \(denials); controller \(running)")
    }
}

/// Real traffic for the real `sextant-server` Pods, on its own thread (blocking sockets stay off
/// Swift's cooperative pool): every 100 ms each known Pod gets one `POST /v1/models/fraud:predict`
/// of 10 rows drawn from the current world, then `POST /v1/models/fraud/feedback` with the rows'
/// true labels in that world, so `sextant_requests_total`, the latency histogram and
/// `sextant_model_accuracy` are the servers' own. Each new Pod is first asked
/// `GET /v1/models/fraud`; the answer is recorded.
///
/// `throughDataPlane`: the same number of predictions (one per known Pod every 100 ms) go to the
/// data plane's address instead (`POST /v2/models/fraud/infer`, a new connection each, so HAProxy
/// balances every request by the weights); the answer's `model_version` says which version served
/// it, and the labels go to that version's Pod directly (its prediction ids are its own; one Pod
/// per version). Every request is logged with the version and the time its answer arrived.
final class TrafficGenerator: Sendable {
    struct Server: Sendable, Hashable {
        var pod: String
        var version: String
        var endpoint: String
    }

    private let servers = Mutex<[Server]>([])
    /// Pod → status of `GET /v1/models/fraud` once it answered (200 when the model is loaded).
    let modelStatus = Mutex<[String: (version: String, status: Int)]>([:])
    /// Pod → (predictions answered 200, answered with another status). Connection errors are not
    /// counted: a Pod being stopped (scaled down) stops listening before discovery drops it.
    let answers = Mutex<[String: (ok: Int, failed: Int)]>([:])
    /// A prediction sent through the data plane: the version that answered (nil: no 2xx answer,
    /// `failure` says what came instead) and when the answer arrived.
    struct Routed: Sendable {
        var version: String?
        var failure: String?
        var answered: ContinuousClock.Instant
    }

    let throughDataPlane: Bool
    private let dataPlanePort = Mutex<Int?>(nil)
    /// Every prediction sent through the data plane, in order.
    let routed = Mutex<[Routed]>([])
    private let originalWorld = Mutex(true)
    private let stopped = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)

    init(throughDataPlane: Bool = false) {
        self.throughDataPlane = throughDataPlane
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.start()
    }

    func setServers(_ list: [Server]) { servers.withLock { $0 = list } }

    /// The data plane's `127.0.0.1:PORT` for the routed traffic (nil: none yet).
    func setDataPlaneAddress(_ address: String?) {
        let port = address?.split(separator: ":").last.flatMap { Int($0) }
        dataPlanePort.withLock { $0 = port }
    }

    /// From now on the labels are the opposite of the original world's (concept drift).
    func driftTheWorld() { originalWorld.withLock { $0 = false } }

    func stop() {
        let already = stopped.withLock { s -> Bool in defer { s = true }; return s }
        if !already { finished.wait() }
    }

    private func run() {
        var generator = FraudWorld.Generator(state: 99)
        while !stopped.withLock({ $0 }) {
            let started = Date()
            let known = servers.withLock { $0 }
            for server in known {
                guard let port = server.endpoint.split(separator: ":").last.flatMap({ Int($0) }) else { continue }
                if modelStatus.withLock({ $0[server.pod]?.status }) != 200 {
                    if let answer = try? LocalHTTP.request("GET", port: port, path: "/v1/models/fraud", timeoutSeconds: 2) {
                        modelStatus.withLock { $0[server.pod] = (server.version, answer.status) }
                    }
                    if modelStatus.withLock({ $0[server.pod]?.status }) != 200 { continue }
                }
                if throughDataPlane { continue }
                let rows = (0..<10).map { _ in generator.row() }
                let original = originalWorld.withLock { $0 }
                guard let ok = predictAndLabel(port: port, rows: rows, original: original) else { continue }
                answers.withLock {
                    var counts = $0[server.pod] ?? (0, 0)
                    if ok { counts.ok += 1 } else { counts.failed += 1 }
                    $0[server.pod] = counts
                }
            }
            if throughDataPlane, let port = dataPlanePort.withLock({ $0 }) {
                for _ in 0..<max(1, known.count) {
                    let rows = (0..<10).map { _ in generator.row() }
                    routePrediction(port: port, rows: rows, original: originalWorld.withLock { $0 }, servers: known)
                }
            }
            let spent = Date().timeIntervalSince(started)
            if spent < 0.1 { Thread.sleep(forTimeInterval: 0.1 - spent) }
        }
    }

    /// One V2 inference request through the data plane, logged; the labels go to the answering
    /// version's Pod. Counted in `answers` under that Pod.
    private func routePrediction(port: Int, rows: [FraudWorld.Row], original: Bool, servers: [Server]) {
        let inputs: [[String: Any]] = FraudWorld.features.map { feature in
            ["name": feature, "shape": [rows.count], "datatype": "FP64", "data": rows.map { $0.instance[feature] ?? 0 }]
        }
        let body = try? JSONSerialization.data(withJSONObject: ["inputs": inputs])
        var record = Routed(version: nil, failure: nil, answered: .now)
        do {
            let answer = try LocalHTTP.request("POST", port: port, path: "/v2/models/fraud/infer", body: body, timeoutSeconds: 5)
            record.answered = .now
            let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]
            if (200..<300).contains(answer.status), let version = object?["model_version"] as? String {
                record.version = version
                if let id = object?["id"] as? String, let pod = servers.first(where: { $0.version == version }),
                   let podPort = pod.endpoint.split(separator: ":").last.flatMap({ Int($0) }) {
                    let feedback = ["feedback": [["id": id, "labels": rows.map { $0.label(original: original) }]]]
                    _ = try? LocalHTTP.request("POST", port: podPort, path: "/v1/models/fraud/feedback",
                                               body: try? JSONSerialization.data(withJSONObject: feedback), timeoutSeconds: 2)
                    answers.withLock { $0[pod.pod, default: (0, 0)].ok += 1 }
                }
            } else {
                record.failure = "\(answer.status): \(answer.text.prefix(200))"
            }
        } catch {
            record.answered = .now
            record.failure = "\(error)"
        }
        routed.withLock { $0.append(record) }
    }

    /// True when the prediction was answered with 200 (and the labels were sent), false for
    /// another answer, nil when nothing answered.
    private func predictAndLabel(port: Int, rows: [FraudWorld.Row], original: Bool) -> Bool? {
        let body = try? JSONSerialization.data(withJSONObject: ["instances": rows.map(\.instance)])
        guard let answer = try? LocalHTTP.request("POST", port: port, path: "/v1/models/fraud:predict", body: body,
                                                  timeoutSeconds: 2) else { return nil }
        guard answer.status == 200,
              let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
              let id = object["id"] as? String else { return false }
        let feedback = ["feedback": [["id": id, "labels": rows.map { $0.label(original: original) }]]]
        let labels = try? JSONSerialization.data(withJSONObject: feedback)
        _ = try? LocalHTTP.request("POST", port: port, path: "/v1/models/fraud/feedback", body: labels, timeoutSeconds: 2)
        return true
    }
}

/// Where the whole loop keeps its training data and models: local files that the node's processes
/// read and write directly, or an S3 store (moto) for Pods in containers, which see no host path.
/// The CSV is always written locally first (`csv`) and then published.
struct LoopStore: Sendable {
    static let dataBucket = "fraud-data"
    static let modelBucket = "models"
    static let secretName = "s3-credentials"

    let scratch: TemporaryDirectory
    let s3: MotoS3?

    var csv: String { scratch.file("fraud.csv") }
    var dataURI: String { s3 == nil ? "file://" + csv : "s3://\(Self.dataBucket)/fraud.csv" }
    var modelsURI: String { s3 == nil ? "file://" + scratch.file("models") + "/" : "s3://\(Self.modelBucket)/" }

    /// Where the trainer writes version `n` of model `fraud`.
    func modelURI(_ n: Int) -> String { modelsURI + "fraud/v\(n)/model.json" }

    /// The local CSV to where the trainer reads it.
    func publishData() throws {
        guard let s3 else { return }
        try s3.put(try Data(contentsOf: URL(fileURLWithPath: csv)), to: dataURI)
    }

    /// `sha256sum` of model version `n` as stored.
    func modelSHA256(_ n: Int) throws -> String {
        guard let s3 else { return try sha256Hex(scratch.file("models") + "/fraud/v\(n)/model.json") }
        let copy = scratch.file("downloaded-v\(n).json")
        try s3.get(modelURI(n)).write(to: URL(fileURLWithPath: copy))
        return try sha256Hex(copy)
    }

    /// TrainingJob `fraud` over the store (credentials and endpoint for S3).
    func trainingJob() -> TrainingJob {
        var tj = localTrainingJob("fraud", model: "fraud", csv: csv, models: scratch.file("models"), target: FraudWorld.target,
                                  canaryRollout: "fraud", namespace: LoopEnvironment.namespace)
        if let s3 {
            tj.spec.data.source.uri = dataURI
            tj.spec.data.source.endpoint = s3.endpoint
            tj.spec.data.source.secretRef = SecretReference(name: Self.secretName)
            tj.spec.output.uri = modelsURI
            tj.spec.output.endpoint = s3.endpoint
            tj.spec.output.secretRef = SecretReference(name: Self.secretName)
        }
        return tj
    }

    /// The S3 credentials (moto accepts any) as a Secret, as a cluster would hold them.
    func createSecret(_ client: KubeClient) async throws {
        guard s3 != nil else { return }
        let c = MotoS3.credentials
        let data = ["AWS_ACCESS_KEY_ID": c.accessKey, "AWS_SECRET_ACCESS_KEY": c.secretKey, "AWS_REGION": c.region]
        _ = try await client.create(Secret(metadata: ObjectMeta(name: Self.secretName, namespace: LoopEnvironment.namespace),
                                           data: data.mapValues { Data($0.utf8).base64EncodedString() }))
    }

    /// The server's S3 access (the model URI is `s3://` too): endpoint and the Secret's keys.
    var serverEnv: [JSONValue] {
        guard let s3 else { return [] }
        return [["name": "AWS_ENDPOINT_URL_S3", "value": .string(s3.endpoint)]]
            + ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"].map {
                ["name": .string($0), "valueFrom": ["secretKeyRef": ["name": .string(Self.secretName), "key": .string($0)]]]
            }
    }
}
