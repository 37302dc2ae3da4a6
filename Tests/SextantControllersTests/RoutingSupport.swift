import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// A development API server with the project's VirtualService and DestinationRule CRDs applied
/// (hack/local-crds, cross-checked against Istio's own), so every write is validated against them.
struct RoutingCluster {
    static let namespace = "ml-production"

    let server: DevServer
    let client: KubeClient

    static func start() async throws -> RoutingCluster {
        let server = try await DevServer.start(DevServerConfiguration(port: 0))
        let client = KubeClient.forTests(server, namespace: namespace)
        for file in ["virtualservices.networking.istio.io.yaml", "destinationrules.networking.istio.io.yaml"] {
            // The CRD files sent as YAML (the server decodes them as kubectl apply would).
            let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.localCRDs + "/" + file))
            _ = try await client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                      body: yaml, contentType: "application/yaml")
        }
        _ = try await client.send(method: "POST", path: "/api/v1/namespaces",
                                  body: try (["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]] as JSONValue).encoded(),
                                  contentType: "application/json")
        return RoutingCluster(server: server, client: client)
    }

    func stop() async { await server.stop() }

    /// Host-level routing: VirtualService `churn` over the Services `churn-stable` and `churn-canary`.
    func createHostLevel() async throws {
        try await create(virtualServices, RoutingFixtures.hostVirtualService)
        for name in ["churn-stable", "churn-canary"] {
            try await create(TrafficRouter.services, RoutingFixtures.service(name))
        }
    }

    var virtualServices: ResourceDescriptor { TrafficRouter.virtualServices() }
    var destinationRules: ResourceDescriptor { TrafficRouter.destinationRules() }

    @discardableResult
    func create(_ resource: ResourceDescriptor, _ object: JSONValue) async throws -> JSONValue {
        let data = try await client.send(method: "POST", path: resource.path(namespace: Self.namespace),
                                         body: try object.encoded(), contentType: "application/json")
        return try JSONValue.decode(data)
    }

    func get(_ resource: ResourceDescriptor, _ name: String) async throws -> JSONValue {
        try JSONValue.decode(try await client.send(method: "GET", path: resource.path(namespace: Self.namespace, name: name)))
    }

    /// A user's edit, made with a plain JSON patch (no guards).
    @discardableResult
    func edit(_ resource: ResourceDescriptor, _ name: String, _ ops: [JSONValue]) async throws -> JSONValue {
        let data = try await client.send(method: "PATCH", path: resource.path(namespace: Self.namespace, name: name),
                                         body: try JSONValue.array(ops).encoded(), contentType: "application/json-patch+json")
        return try JSONValue.decode(data)
    }
}

// MARK: Fixtures

enum RoutingFixtures {
    /// Subset-level: an unowned route before the owned `primary` and a third, unowned route
    /// after it; user fields on the owned route (retries, timeout, header manipulation).
    static let subsetVirtualService: JSONValue = [
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": ["name": "fraud-detector", "namespace": "ml-production", "labels": ["team": "risk"]],
        "spec": [
            "hosts": ["fraud-detector"],
            "gateways": ["mesh"],
            "http": [
                ["name": "health", "match": [["uri": ["prefix": "/healthz"]]], "timeout": "1s",
                 "route": [["destination": ["host": "fraud-detector-health"]]]],
                ["name": "primary",
                 "match": [["uri": ["prefix": "/v2"]]],
                 "retries": ["attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"],
                 "timeout": "10s",
                 "headers": ["request": ["set": ["x-team": "risk"]], "response": ["remove": ["x-internal"]]],
                 "route": [
                    ["destination": ["host": "fraud-detector.ml-production.svc.cluster.local", "subset": "stable",
                                     "port": ["number": 8080]],
                     "weight": 100, "headers": ["response": ["add": ["x-served-by": "stable"]]]],
                    ["destination": ["host": "fraud-detector", "subset": "canary", "port": ["number": 8080]], "weight": 0],
                 ]],
                ["name": "fallback", "route": [["destination": ["host": "legacy-scorer"], "weight": 100]]],
            ],
        ],
    ]

    static let destinationRule: JSONValue = [
        "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
        "metadata": ["name": "fraud-detector", "namespace": "ml-production"],
        "spec": [
            "host": "fraud-detector",
            "trafficPolicy": ["connectionPool": ["http": ["http2MaxRequests": 100]]],
            "subsets": [
                ["name": "stable", "labels": ["app": "fraud-detector"]],
                ["name": "canary", "labels": ["app": "fraud-detector"]],
            ],
        ],
    ]

    /// Host-level: one unnamed route between two Services.
    static let hostVirtualService: JSONValue = [
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": ["name": "churn", "namespace": "ml-production"],
        "spec": [
            "hosts": ["churn"],
            "http": [
                ["timeout": "30s",
                 "route": [["destination": ["host": "churn-stable"], "weight": 100],
                           ["destination": ["host": "churn-canary.ml-production.svc.cluster.local"], "weight": 0]]],
            ],
        ],
    ]

    static func service(_ name: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "Service",
         "metadata": ["name": .string(name), "namespace": "ml-production"],
         "spec": ["selector": ["app": "churn"], "ports": [["name": "http", "port": 80, "targetPort": 8080]]]]
    }

    static func subsetRollout(routes: [String]? = ["primary"]) -> CanaryRollout {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud-detector", routes: routes))
        routing.destinationRule = DestinationRuleRef(name: "fraud-detector", host: "fraud-detector.ml-production.svc.cluster.local")
        return CanaryRollout(metadata: ObjectMeta(name: "fraud-detector", namespace: "ml-production"),
                             spec: CanaryRolloutSpec(modelName: "fraud-detector", serving: ServingSpec(managed: ManagedServing()),
                                                     routing: routing, strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10))))
    }

    static func hostRollout() -> CanaryRollout {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "churn"))
        routing.services = ServicePair(stable: "churn-stable", canary: "churn-canary")
        return CanaryRollout(metadata: ObjectMeta(name: "churn", namespace: "ml-production"),
                             spec: CanaryRolloutSpec(modelName: "churn", serving: ServingSpec(managed: ManagedServing()),
                                                     routing: routing, strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10))))
    }
}

/// Runs `body` and returns the RoutingError it threw (nil, with a recorded issue, otherwise).
func expectRoutingError(_ body: () async throws -> Void) async -> RoutingError? {
    do {
        try await body()
        Issue.record("expected a RoutingError")
        return nil
    } catch let error as RoutingError {
        return error
    } catch {
        Issue.record("expected a RoutingError, got \(error)")
        return nil
    }
}
