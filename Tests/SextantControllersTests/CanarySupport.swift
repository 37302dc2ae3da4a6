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

/// Everything a CanaryRollout end-to-end test needs: the development API server with Sextant's
/// and the Istio CRDs of hack/local-crds, a real Prometheus scraping `sextant-server`-style exporters (labelled
/// with the namespace, as a cluster's Prometheus would), and the controller — in this process
/// or as the real `sextant-controller` binary.
final class CanaryEnvironment: @unchecked Sendable {
    static let namespace = "ml-production"
    static let model = "fraud"

    let server: DevServer
    let client: KubeClient
    let prometheus: PrometheusServer
    let exporters: [String: MetricsExporter]
    let kubelet: Task<Void, Never>
    let kubeconfig: TemporaryDirectory
    private let controllerTask = Mutex<Task<Void, any Error>?>(nil)

    /// `versions`: ModelVersion name → (success rate, latency in seconds) of its exporter.
    /// `gatewayCRDs`: a directory whose HTTPRoute and GRPCRoute CRDs are applied too
    /// (hack/local-crds, or the Gateway API's own in ../shared/fixtures/gateway-api).
    static func start(versions: [String: (success: Double, latency: Double)], gatewayCRDs: String? = nil) async throws -> CanaryEnvironment {
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        let client = KubeClient.forTests(server, namespace: namespace)
        try await TrainingEnvironment.installCRDs(client)
        var files = ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"].map { Repo.localCRDs + "/" + $0 }
        if let gatewayCRDs {
            files += ["httproutes.gateway.networking.k8s.io.yaml", "grpcroutes.gateway.networking.k8s.io.yaml"].map { gatewayCRDs + "/" + $0 }
        }
        for file in files {
            let yaml = try Data(contentsOf: URL(fileURLWithPath: file))
            _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                      body: yaml, contentType: "application/yaml")
        }
        try await post(client, "/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])

        var exporters: [String: MetricsExporter] = [:]
        for (version, behaviour) in versions {
            exporters[version] = try await MetricsExporter.start(model: model, version: version, successRate: behaviour.success,
                                                                 latencySeconds: behaviour.latency, rps: 100)
        }
        let prometheus = try await PrometheusServer.scrapingModelServers(exporters.values.map(\.target), namespace: namespace)
        let kubeconfig = try TemporaryDirectory()
        try server.writeKubeconfig(to: kubeconfig.file("config"))
        return CanaryEnvironment(server: server, client: client, prometheus: prometheus, exporters: exporters,
                                 kubelet: Self.kubelet(client), kubeconfig: kubeconfig)
    }

    private init(server: DevServer, client: KubeClient, prometheus: PrometheusServer, exporters: [String: MetricsExporter],
                 kubelet: Task<Void, Never>, kubeconfig: TemporaryDirectory) {
        self.server = server
        self.client = client
        self.prometheus = prometheus
        self.exporters = exporters
        self.kubelet = kubelet
        self.kubeconfig = kubeconfig
    }

    /// The development server has no kubelet: this marks Sextant's Deployments available with
    /// their replicas, as the Deployment controller would once the pods are ready. (The
    /// local-node tests run real `sextant-server` pods; here only the rollout logic is under test.)
    static func kubelet(_ client: KubeClient) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                if let list = try? JSONValue.decode(try await client.send(
                    method: "GET", path: RolloutServing.deployments.path(namespace: namespace),
                    query: [URLQueryItem(name: "labelSelector", value: SextantLabel.canaryRollout)])) {
                    for item in list["items"]?.arrayValue ?? [] {
                        let replicas = item["spec"]?["replicas"]?.intValue ?? 1
                        let generation = item["metadata"]?["generation"]?.intValue ?? 1
                        let status = item["status"]
                        if status?["observedGeneration"]?.intValue == generation, status?["availableReplicas"]?.intValue ?? 0 == replicas {
                            continue
                        }
                        guard let name = item["metadata"]?["name"]?.stringValue else { continue }
                        let patch: JSONValue = ["status": [
                            "observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                            "readyReplicas": .int(replicas), "availableReplicas": .int(replicas)]]
                        _ = try? await client.send(method: "PATCH",
                                                   path: RolloutServing.deployments.path(namespace: namespace, name: name, subresource: "status"),
                                                   body: Data(patch.serialized()), contentType: "application/merge-patch+json")
                    }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    // MARK: Controller

    /// The controller in this process (a Manager with the CanaryRollout controller only).
    func startController() {
        var managerOptions = ManagerOptions()
        managerOptions.leaderElect = false
        managerOptions.metricsBindAddress = "0"
        managerOptions.healthProbeBindAddress = "0"
        let manager = Manager(client: client, options: managerOptions)
        let settings = ControllerSettings(prometheusAddress: prometheus.address, prometheusTimeout: .seconds(2))
        addCanaryRolloutController(to: manager, settings: settings)
        controllerTask.withLock { $0 = Task { try await manager.run() } }
    }

    func stopController() async {
        let task = controllerTask.withLock { t -> Task<Void, any Error>? in defer { t = nil }; return t }
        task?.cancel()
        _ = await task?.result
    }

    /// The real `sextant-controller` binary, built next to the test bundle.
    static var controllerBinary: String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidate = exe.deletingLastPathComponent().appendingPathComponent("sextant-controller").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    func controllerProcess(_ binary: String) throws -> TestProcess {
        try TestProcess(binary, ["--kubeconfig", kubeconfig.file("config"), "--leader-elect=false",
                                 "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
                                 "--prometheus-url", prometheus.address, "--prometheus-timeout-seconds", "2"])
    }

    /// Stops the processes at once (a `defer` cannot await, and a test process that exits
    /// before a detached stop runs would leave Prometheus behind), then the rest.
    func stop() async {
        stopProcesses()
        await stopController()
        await server.stop()
    }

    func stopProcesses() {
        kubelet.cancel()
        prometheus.stop()
        for exporter in exporters.values { exporter.stop() }
    }

    // MARK: Objects

    static func post(_ client: KubeClient, _ path: String, _ object: JSONValue) async throws {
        _ = try await client.send(method: "POST", path: path, body: Data(object.serialized()), contentType: "application/json")
    }

    /// The user's Istio objects: one owned route `primary` with both subsets, a DestinationRule
    /// with `stable` and `canary` subsets, and an unowned `health` route.
    func createRouting() async throws { try await Self.createRouting(client, namespace: Self.namespace) }

    static func createRouting(_ client: KubeClient, namespace: String) async throws {
        try await post(client, TrafficRouter.destinationRules().path(namespace: namespace), [
            "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
            "metadata": ["name": "fraud", "namespace": .string(namespace)],
            "spec": ["host": "fraud", "subsets": [
                ["name": "stable", "labels": ["app": "fraud"]],
                ["name": "canary", "labels": ["app": "fraud"]],
            ]],
        ])
        try await post(client, TrafficRouter.virtualServices().path(namespace: namespace), [
            "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": ["name": "fraud", "namespace": .string(namespace)],
            "spec": ["hosts": ["fraud"], "http": [
                ["name": "health", "match": [["uri": ["prefix": "/healthz"]]], "route": [["destination": ["host": "fraud-health"]]]],
                ["name": "primary", "timeout": "5s", "route": [
                    ["destination": ["host": "fraud", "subset": "stable"], "weight": 100],
                    ["destination": ["host": "fraud", "subset": "canary"], "weight": 0],
                ]],
            ]],
        ])
    }

    func createVersion(_ name: String, version: Int64) async throws {
        var spec = ModelVersionSpec(modelName: Self.model, version: version,
                                    artifact: ModelArtifact(uri: "s3://models/fraud/v\(version)/model.json", format: .sextantJSON))
        spec.approval = Approval(state: .approved, by: "test")
        _ = try await client.create(ModelVersion(metadata: ObjectMeta(name: name, namespace: Self.namespace), spec: spec))
    }

    func createRollout(_ name: String = "fraud", candidate: String, failureLimit: Int = 2, errorLimit: Int = 3,
                       routing gatewayRouting: RoutingSpec? = nil, comparisons: [ComparisonMetric]? = nil,
                       configure: (inout CanaryRolloutSpec) -> Void = { _ in }) async throws {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
        routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        if let gatewayRouting { routing = gatewayRouting }
        var managed = ManagedServing()
        managed.replicas = 1
        var spec = CanaryRolloutSpec(modelName: Self.model, serving: ServingSpec(managed: managed), routing: routing,
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 25, maxWeight: 50)))
        spec.modelVersion = candidate
        var analysis = AnalysisSpec()
        analysis.interval = "2s"
        analysis.failureLimit = failureLimit
        analysis.consecutiveErrorLimit = errorLimit
        var success = AnalysisMetric(name: "success-rate", template: .successRate, thresholdRange: ThresholdRange(min: 0.95))
        success.interval = "5s"
        var latency = AnalysisMetric(name: "latency-p99", template: .latencyP99, thresholdRange: ThresholdRange(max: 0.5))
        latency.interval = "5s"
        analysis.metrics = [success, latency]
        analysis.comparisons = comparisons
        spec.analysis = analysis
        spec.progressDeadlineSeconds = 60
        spec.scaleDownDelaySeconds = 1
        spec.abortScaleDownDelaySeconds = 1
        configure(&spec)
        _ = try await client.create(CanaryRollout(metadata: ObjectMeta(name: name, namespace: Self.namespace), spec: spec))
    }

    func setCandidate(_ version: String, rollout: String = "fraud") async throws {
        let _: CanaryRollout = try await client.patch(CanaryRollout.self, name: rollout, namespace: Self.namespace,
                                                      .merge(["spec": ["modelVersion": .string(version)]]))
    }

    func rollout(_ name: String = "fraud") async throws -> CanaryRollout {
        try await client.get(CanaryRollout.self, name: name, namespace: Self.namespace)
    }

    func modelVersion(_ name: String) async throws -> ModelVersion {
        try await client.get(ModelVersion.self, name: name, namespace: Self.namespace)
    }

    /// (stable weight, canary weight) of the `primary` route and the subsets' version labels.
    func traffic() async throws -> IstioTraffic { try await IstioTraffic.read(client, namespace: Self.namespace) }

    /// Polls until `condition` holds; fails the test with `what` and the rollout's status otherwise.
    func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        if try await poll(timeout: timeout, every: .milliseconds(20), condition) { return }
        let status = (try? await rollout().status).map { "\($0.phase?.rawValue ?? "-"): \($0.message ?? "")" } ?? "unreadable"
        throw TestSetupError("timed out waiting for \(what); rollout status \(status)")
    }
}

/// What the `fraud` VirtualService and DestinationRule of the end-to-end tests route now.
struct IstioTraffic {
    var stable: Int64
    var canary: Int64
    var stableVersion: String?
    var canaryVersion: String?

    /// Weights of the `primary` route (-1 when a destination is missing) and the subsets' version labels.
    static func read(_ client: KubeClient, namespace: String) async throws -> IstioTraffic {
        let vs = try JSONValue.decode(try await client.send(
            method: "GET", path: TrafficRouter.virtualServices().path(namespace: namespace, name: "fraud")))
        let route = vs["spec"]?["http"]?.arrayValue?.first { $0["name"]?.stringValue == "primary" }
        var stable: Int64 = -1, canary: Int64 = -1
        for destination in route?["route"]?.arrayValue ?? [] {
            let weight = destination["weight"]?.intValue ?? 0
            if destination["destination"]?["subset"]?.stringValue == "stable" { stable = weight } else { canary = weight }
        }
        let dr = try JSONValue.decode(try await client.send(
            method: "GET", path: TrafficRouter.destinationRules().path(namespace: namespace, name: "fraud")))
        let subsets = dr["spec"]?["subsets"]?.arrayValue ?? []
        func label(_ subset: String) -> String? {
            subsets.first { $0["name"]?.stringValue == subset }?["labels"]?[SextantLabel.modelVersion]?.stringValue
        }
        return IstioTraffic(stable: stable, canary: canary, stableVersion: label("stable"), canaryVersion: label("canary"))
    }
}
