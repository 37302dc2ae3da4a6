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

/// The Gateway API router against the development API server with the HTTPRoute and GRPCRoute
/// CRDs of hack/local-crds: every write below is validated against their schema.
@Suite(.serialized) struct GatewayRouterTests {
    static let httpRoute: JSONValue = [
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": ["name": "churn", "namespace": "ml-production"],
        "spec": ["parentRefs": [["name": "edge"]], "rules": [
            ["name": "primary", "matches": [["path": ["type": "PathPrefix", "value": "/v2"]]],
             "backendRefs": [["name": "churn-stable", "port": 80, "weight": 100], ["name": "churn-canary", "port": 80, "weight": 0]]],
        ]],
    ]

    static func rollout(_ routing: RoutingSpec, abTest: Bool = false) -> CanaryRollout {
        CanaryRollout(metadata: ObjectMeta(name: "churn", namespace: "ml-production"),
                      spec: CanaryRolloutSpec(modelName: "churn", serving: ServingSpec(managed: ManagedServing()), routing: routing,
                                              strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10))))
    }

    static let httpRouting = RoutingSpec(httpRoute: GatewayRouteRef(name: "churn", rules: ["primary"]),
                                         services: ServicePair(stable: "churn-stable", canary: "churn-canary"))

    static func start() async throws -> RoutingCluster {
        let cluster = try await RoutingCluster.start()
        for file in ["httproutes.gateway.networking.k8s.io.yaml", "grpcroutes.gateway.networking.k8s.io.yaml"] {
            let yaml = try Data(contentsOf: URL(fileURLWithPath: Repo.localCRDs + "/" + file))
            _ = try await cluster.client.send(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                              body: yaml, contentType: "application/yaml")
        }
        for name in ["churn-stable", "churn-canary"] { try await cluster.create(TrafficRouter.services, RoutingFixtures.service(name)) }
        return cluster
    }

    private func weights(_ route: JSONValue, rule: Int = 0) -> [JSONValue?] {
        (route[path: ["spec", "rules"]]?[rule]?["backendRefs"]?.arrayValue ?? []).map { $0["weight"] }
    }

    @Test func stepsReadBackRestoreAndPromoteOnAnHTTPRoute() async throws {
        let cluster = try await Self.start()
        defer { Task { await cluster.stop() } }
        try await cluster.create(GatewayAPIRouter.httpRoutes, Self.httpRoute)
        let router = TrafficRouter(client: cluster.client)
        let rollout = Self.rollout(Self.httpRouting)
        #expect(router.router(for: rollout) is GatewayAPIRouter)

        var result = try await router.route(rollout, stableVersion: "churn-v1", canaryVersion: "churn-v2",
                                            split: TrafficSplit(canaryWeight: 0), manageSelectors: true)
        #expect(!result.changed && result.selectorsChanged)
        let stable = try await cluster.get(TrafficRouter.services, "churn-stable")
        #expect(stable[path: ["spec", "selector"]] == ["app": "churn", SextantLabel.modelVersion: "churn-v1"])
        let log = cluster.server.handler.requestLog
        log.recordsReads = true
        for weight in [10, 50] {
            // As a pass does (issue 21): the check's reads go to the write, which reads nothing again.
            let check = try await router.check(rollout, stableVersion: "churn-v1", canaryVersion: "churn-v2",
                                               split: TrafficSplit(canaryWeight: weight))
            #expect(!check.routes && check.reads.paths.count == 3, "the HTTPRoute and both Services")
            let mark = log.mark
            result = try await router.route(rollout, stableVersion: "churn-v1", canaryVersion: "churn-v2",
                                            split: TrafficSplit(canaryWeight: weight), manageSelectors: true, reads: check.reads)
            #expect(log.entries(after: mark).filter { $0.method == "GET" }.isEmpty, "\(log.entries(after: mark))")
            #expect(result.changed && result.observed.canaryWeight == weight)
            #expect(weights(try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")) == [.int(Int64(100 - weight)), .int(Int64(weight))])
        }
        // Edited out of band: the same split is written back, and the result says what it read.
        try await cluster.edit(GatewayAPIRouter.httpRoutes, "churn", [
            ["op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 10],
            ["op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 90]])
        result = try await router.route(rollout, stableVersion: "churn-v1", canaryVersion: "churn-v2",
                                        split: TrafficSplit(canaryWeight: 50), manageSelectors: true)
        #expect(result.changed && result.previous.description == "10/90" && result.observed.description == "50/50")
        #expect(try await router.getRoutes(rollout).canaryWeight == 50)
        // Promotion: stable Service to v2 first, then 100/0.
        result = try await router.route(rollout, stableVersion: "churn-v2", canaryVersion: nil,
                                        split: TrafficSplit(canaryWeight: 0), manageSelectors: true)
        #expect(result.changed && result.selectorsChanged)
        let stored = try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")
        #expect(weights(stored) == [100, 0])
        #expect(stored[path: ["spec", "parentRefs"]]?[0]?["name"] == "edge")
        #expect(stored[path: ["spec", "rules"]]?[0]?["matches"] == Self.httpRoute[path: ["spec", "rules"]]?[0]?["matches"])
    }

    @Test func shadowAndABWritesAreAcceptedByTheSchemaAndRemoved() async throws {
        let cluster = try await Self.start()
        defer { Task { await cluster.stop() } }
        let original = try await cluster.create(GatewayAPIRouter.httpRoutes, Self.httpRoute)
        let router = TrafficRouter(client: cluster.client)
        let rollout = Self.rollout(Self.httpRouting)
        var result = try await router.setRoutes(rollout, split: TrafficSplit(canaryWeight: 0, mirrorPercent: 30))
        #expect(result.observed.routes.first?.mirrorPercent == 30)
        let mirrored = try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")
        #expect(mirrored[path: ["spec", "rules"]]?[0]?["filters"]?[0]?["requestMirror"]?["backendRef"]?["name"] == "churn-canary")
        let matches = [ABMatch(header: HeaderMatch(name: "x-group", prefix: "beta")), ABMatch(cookie: CookieMatch(name: "exp", value: "on"))]
        result = try await router.setRoutes(rollout, split: TrafficSplit(canaryWeight: 0, abMatch: matches))
        #expect(result.observed.abTestRouteIndex == 0)
        let ab = try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")
        #expect(ab[path: ["spec", "rules"]]?[0]?["name"] == "sextant-ab-churn")
        #expect(ab[path: ["spec", "rules"]]?[1]?["filters"] == nil, "the mirror went with the shadow stage")
        try await router.finalize(rollout)
        let end = try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")
        #expect(end["spec"] == original["spec"])
    }

    @Test func badReferencesNameTheFieldAndLeaveTrafficAlone() async throws {
        let cluster = try await Self.start()
        defer { Task { await cluster.stop() } }
        try await cluster.create(GatewayAPIRouter.httpRoutes, Self.httpRoute)
        let router = TrafficRouter(client: cluster.client)
        var missingRule = Self.httpRouting
        missingRule.httpRoute?.rules = ["nope"]
        let rule = await expectRoutingError {
            _ = try await router.setRoutes(Self.rollout(missingRule), split: TrafficSplit(canaryWeight: 10))
        }
        #expect(rule?.reason == .routeNotFound)
        #expect(rule?.message.contains("spec.routing.httpRoute.rules") == true && rule?.message.contains("\"primary\"") == true)
        var missingRoute = Self.httpRouting
        missingRoute.httpRoute?.name = "gone"
        let route = await expectRoutingError {
            _ = try await router.setRoutes(Self.rollout(missingRoute), split: TrafficSplit(canaryWeight: 10))
        }
        #expect(route?.reason == .gatewayRouteNotFound)
        #expect(route?.message.contains("HTTPRoute ml-production/gone") == true)
        // The schema is active for HTTPRoute writes: a string weight is refused, named.
        let schema = await expectRoutingError {
            _ = try await router.patch(GatewayAPIRouter.httpRoutes, name: "churn", namespace: RoutingCluster.namespace,
                                       ops: [["op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": "ten"]],
                                       notFound: .gatewayRouteNotFound, invalid: .invalidGatewayRoute)
        }
        #expect(schema?.reason == .invalidGatewayRoute)
        #expect(weights(try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")) == [100, 0])
    }

    /// A split the route cannot hold: an A/B stage needs one more rule, and an HTTPRoute holds at
    /// most 16. The schema refuses the write; the error names the route and the server's reason,
    /// and nothing is written (weights and rules as before).
    @Test func aSplitTheRouteCannotHoldIsRefusedAndNothingIsWritten() async throws {
        let cluster = try await Self.start()
        defer { Task { await cluster.stop() } }
        let others: [JSONValue] = (1..<16).map { i in
            ["name": .string("other-\(i)"), "matches": [["path": ["type": "PathPrefix", "value": .string("/other-\(i)")]]],
             "backendRefs": [["name": "elsewhere", "port": 80]]]
        }
        let full: JSONValue = [
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": ["name": "churn", "namespace": "ml-production"],
            "spec": ["parentRefs": [["name": "edge"]],
                     "rules": .array((Self.httpRoute[path: ["spec", "rules"]]?.arrayValue ?? []) + others)],
        ]
        try await cluster.create(GatewayAPIRouter.httpRoutes, full)
        let before = try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")
        #expect(before[path: ["spec", "rules"]]?.arrayValue?.count == 16)
        let router = TrafficRouter(client: cluster.client)
        let error = await expectRoutingError {
            _ = try await router.setRoutes(Self.rollout(Self.httpRouting),
                                           split: TrafficSplit(canaryWeight: 0, abMatch: [ABMatch(header: HeaderMatch(name: "x-group", exact: "beta"))]))
        }
        #expect(error?.reason == .invalidGatewayRoute, "\(String(describing: error))")
        #expect(error?.message.contains("churn") == true && error?.message.contains("rules") == true, "\(error?.message ?? "")")
        let after = try await cluster.get(GatewayAPIRouter.httpRoutes, "churn")
        #expect(after["spec"] == before["spec"], "nothing written")
        // A weight split on the same route still works: only the A/B rule did not fit.
        let write = try await router.setRoutes(Self.rollout(Self.httpRouting), split: TrafficSplit(canaryWeight: 30))
        #expect(write.observed.canaryWeight == 30)
    }

    @Test func grpcRouteRolloutPromotes() async throws {
        let cluster = try await Self.start()
        defer { Task { await cluster.stop() } }
        try await cluster.create(GatewayAPIRouter.grpcRoutes, [
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": ["name": "churn", "namespace": "ml-production"],
            "spec": ["rules": [["matches": [["method": ["service": "inference.GRPCInferenceService"]]],
                                "backendRefs": [["name": "churn-stable", "port": 9000], ["name": "churn-canary", "port": 9000, "weight": 0]]]]],
        ])
        let router = TrafficRouter(client: cluster.client)
        let rollout = Self.rollout(RoutingSpec(grpcRoute: GatewayRouteRef(name: "churn"),
                                               services: ServicePair(stable: "churn-stable", canary: "churn-canary")))
        // The stable backendRef's absent weight was defaulted to 1 by the schema: 1/0 is no split of 100.
        #expect(try await router.getRoutes(rollout).canaryWeight == nil)
        for (stable, canary, weight) in [("churn-v1", "churn-v2", 20), ("churn-v1", "churn-v2", 100), ("churn-v2", nil, 0)] as [(String, String?, Int)] {
            let result = try await router.route(rollout, stableVersion: stable, canaryVersion: canary,
                                                split: TrafficSplit(canaryWeight: weight), manageSelectors: true)
            #expect(result.observed.canaryWeight == weight)
        }
        let stored = try await cluster.get(GatewayAPIRouter.grpcRoutes, "churn")
        #expect(weights(stored) == [100, 0])
        let canary = try await cluster.get(TrafficRouter.services, "churn-canary")
        #expect(canary[path: ["spec", "selector", SextantLabel.modelVersion]] == "churn-v2")
    }
}
