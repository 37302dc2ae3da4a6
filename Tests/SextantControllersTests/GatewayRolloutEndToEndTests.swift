import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 18's Gateway API router end to end: the development API server with the HTTPRoute and
/// GRPCRoute CRDs applied (the Gateway API's own v1.6.1 standard channel where `../shared/fixtures`
/// is present, else hack/local-crds), a real Prometheus scraping `sextant-server`-style exporters,
/// and the controller. The rollout names an existing route; the test reads the weights back from
/// it and the versions from the two Services' selectors. The HTTPRoute runs the canary
/// end-to-end tests of CanaryRolloutEndToEndTests once each (`TestRouter`); the GRPCRoute here.
@Suite(.serialized) struct GatewayRolloutEndToEndTests {
    static func toolsPresent() throws -> Bool {
        try Tooling.available("prometheus", PrometheusServer.isInstalled)
            && Tooling.available("python3", MetricsExporter.isAvailable)
    }

    /// The Gateway API's own CRDs where they are beside the repository (CI), else hack/local-crds
    /// (GatewayRouterTests checks every router write against hack/local-crds, and
    /// LocalCRDCrossCheckTests keeps those equal to upstream): one run, to keep CI time down.
    static var crdDirectory: String {
        let upstream = Repo.upstreamFixtures + "/gateway-api"
        let present = ["httproutes", "grpcroutes"].allSatisfy {
            FileManager.default.fileExists(atPath: "\(upstream)/\($0).gateway.networking.k8s.io.yaml")
        }
        return present ? upstream : Repo.localCRDs
    }

    /// A GRPCRoute rollout end to end, with the sequential comparison on the real Prometheus
    /// series (its queries cover the time since the rollout started): promoted through 25 and 50,
    /// the weights read back from the GRPCRoute. Session affinity rides along (the builder is
    /// shared with HTTPRoute; a gRPC header match on `cookie` holds the cookie match, and GRPCRoute
    /// backendRefs take a `ResponseHeaderModifier`): every write of it is accepted by the real
    /// GRPCRoute CRD, it is on the route while the candidate has weight, and gone after promotion.
    @Test func grpcRouteRolloutPromotesWithASequentialComparison() async throws {
        guard try Self.toolsPresent() else { return }
        let versions = ["fraud-v1": CanaryRolloutEndToEndTests.healthy, "fraud-v2": CanaryRolloutEndToEndTests.healthy]
        let env = try await CanaryEnvironment.start(versions: versions, gatewayCRDs: Self.crdDirectory)
        defer { env.stopProcesses(); Task { await env.stop() } }
        try await env.createGatewayRouting(grpc: true)
        for (index, name) in versions.keys.sorted().enumerated() {
            try await env.createVersion(name, version: Int64(index + 1))
        }
        var comparison = ComparisonMetric(name: "success-vs-stable", template: .successRate)
        comparison.test = .sequential
        comparison.minSamples = 100
        try await env.createRollout(candidate: "fraud-v1", routing: CanaryEnvironment.grpcRouting, comparisons: [comparison]) { spec in
            spec.analysis?.sessionAffinity = SessionAffinity(cookieName: "fraud-canary", maxAge: 600)
        }
        env.startController()
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v1")
        let userSpec = try await env.routeSpecWithoutWeights(kind: GatewayAPIRouter.grpcRoutes)
        try await env.setCandidate("fraud-v2")
        var weights: [Int64] = []
        var cookies: Set<String> = []
        var cookieMatches: [JSONValue] = []
        try await env.waitFor("fraud-v2 promoted on the GRPCRoute", timeout: .seconds(60)) {
            let t = try await env.gatewayTraffic(kind: GatewayAPIRouter.grpcRoutes)
            if weights.last != t.canary { weights.append(t.canary) }
            if t.canary > 0, t.canary < 100 {
                let route = try await env.httpRoute(kind: GatewayAPIRouter.grpcRoutes)
                let affinity = GatewayRolloutEndToEndTests.affinity(on: route)
                if let cookie = affinity.setCookie { cookies.insert(cookie) }
                if let match = affinity.cookieMatch, !cookieMatches.contains(match) { cookieMatches.append(match) }
            }
            let s = try await env.rollout().status
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v2"
        }
        #expect(weights.filter { $0 != 0 } == [25, 50], "canary weights read from the GRPCRoute: \(weights)")
        #expect(cookies == ["fraud-canary=sextant_fraud_fraud-v2; Max-Age=600"], "the canary backendRef's Set-Cookie: \(cookies)")
        // The cookie rule keeps the owned rule's method match and adds the gRPC header match on `cookie`.
        let expectedMatch: JSONValue = [
            "method": ["type": "Exact", "service": "inference.GRPCInferenceService"],
            "headers": [["type": "RegularExpression", "name": "cookie",
                         "value": .string(#"^(.*?;\s*)?(fraud-canary=sextant_fraud_fraud-v2)(;.*)?$"#)]],
        ]
        #expect(cookieMatches == [expectedMatch], "the cookie rule's match on the GRPCRoute: \(cookieMatches)")
        let t = try await env.gatewayTraffic(kind: GatewayAPIRouter.grpcRoutes)
        #expect(t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v2", "\(t)")
        let after = GatewayRolloutEndToEndTests.affinity(on: try await env.httpRoute(kind: GatewayAPIRouter.grpcRoutes))
        #expect(after.setCookie == nil && after.cookieMatch == nil && !after.ruleExists, "affinity removed on promotion: \(after)")
        #expect(try await env.routeSpecWithoutWeights(kind: GatewayAPIRouter.grpcRoutes) == userSpec, "only the weights changed")
        let passed = try await env.rollout().status?.measurements?.first { $0.metric == "success-vs-stable" }
        #expect(passed?.outcome == .pass, "\(String(describing: passed))")
        #expect(passed?.message?.contains("since the rollout started") == true, "\(passed?.message ?? "")")
        #expect(passed?.query?.range(of: #"\[[0-9]+s\]"#, options: .regularExpression) != nil,
                "the window is the time since the start in seconds: \(passed?.query ?? "")")
    }

    /// Session affinity as stored on the `fraud` GRPCRoute: the `Set-Cookie` the `primary` rule's
    /// canary backendRef adds, and the match of rule `sextant-ab-fraud` when it matches `cookie`.
    static func affinity(on route: JSONValue) -> (setCookie: String?, cookieMatch: JSONValue?, ruleExists: Bool) {
        let rules = route[path: ["spec", "rules"]]?.arrayValue ?? []
        let primary = rules.first { $0["name"]?.stringValue == "primary" }
        let canary = primary?["backendRefs"]?.arrayValue?.first { $0["name"]?.stringValue == "fraud-canary" }
        let filter = canary?["filters"]?.arrayValue?.first { $0["type"]?.stringValue == "ResponseHeaderModifier" }
        let setCookie = filter?[path: ["responseHeaderModifier", "add"]]?.arrayValue?.first {
            $0["name"]?.stringValue == "Set-Cookie"
        }?["value"]?.stringValue
        let rule = rules.first { $0["name"]?.stringValue == "sextant-ab-fraud" }
        let match = rule?["matches"]?.arrayValue?.first
        let cookie = match?["headers"]?.arrayValue?.contains { $0["name"]?.stringValue == "cookie" } == true ? match : nil
        return (setCookie, cookie, rule != nil)
    }
}

extension CanaryEnvironment {
    static let gatewayRouting = RoutingSpec(httpRoute: GatewayRouteRef(name: "fraud", rules: ["primary"]),
                                            services: ServicePair(stable: "fraud-stable", canary: "fraud-canary"))
    static let grpcRouting = RoutingSpec(grpcRoute: GatewayRouteRef(name: "fraud", rules: ["primary"]),
                                         services: ServicePair(stable: "fraud-stable", canary: "fraud-canary"))

    /// The user's Gateway API objects: two Services and an HTTPRoute with an unowned `health`
    /// rule and the owned `primary` rule naming both Services.
    func createGatewayRouting(grpc: Bool = false) async throws {
        for name in ["fraud-stable", "fraud-canary"] {
            try await Self.post(client, TrafficRouter.services.path(namespace: Self.namespace), [
                "apiVersion": "v1", "kind": "Service", "metadata": ["name": .string(name), "namespace": .string(Self.namespace)],
                "spec": ["selector": ["app": "fraud"], "ports": [["name": "http", "port": 8080, "targetPort": 8080]]],
            ])
        }
        if grpc {
            try await Self.post(client, GatewayAPIRouter.grpcRoutes.path(namespace: Self.namespace), [
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
                "metadata": ["name": "fraud", "namespace": .string(Self.namespace)],
                "spec": ["parentRefs": [["name": "edge"]], "rules": [
                    ["name": "primary", "matches": [["method": ["service": "inference.GRPCInferenceService"]]], "backendRefs": [
                        ["name": "fraud-stable", "port": 8080, "weight": 100],
                        ["name": "fraud-canary", "port": 8080, "weight": 0],
                    ]],
                ]],
            ])
            return
        }
        try await Self.post(client, GatewayAPIRouter.httpRoutes.path(namespace: Self.namespace), [
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": ["name": "fraud", "namespace": .string(Self.namespace)],
            "spec": ["parentRefs": [["name": "edge"]], "rules": [
                ["name": "health", "matches": [["path": ["type": "PathPrefix", "value": "/healthz"]]],
                 "backendRefs": [["name": "fraud-health", "port": 8080]]],
                ["name": "primary", "timeouts": ["request": "5s"], "backendRefs": [
                    ["name": "fraud-stable", "port": 8080, "weight": 100],
                    ["name": "fraud-canary", "port": 8080, "weight": 0],
                ]],
            ]],
        ])
    }

    func httpRoute(kind: ResourceDescriptor = GatewayAPIRouter.httpRoutes) async throws -> JSONValue {
        try JSONValue.decode(try await client.send(method: "GET", path: kind.path(namespace: Self.namespace, name: "fraud")))
    }

    /// The HTTPRoute's spec without the backendRefs weights: what the user wrote (after the
    /// server's defaulting), which Sextant must leave as it is.
    func routeSpecWithoutWeights(kind: ResourceDescriptor = GatewayAPIRouter.httpRoutes) async throws -> JSONValue {
        var ops: [JSONValue] = []
        let route = try await httpRoute(kind: kind)
        let rules = route[path: ["spec", "rules"]]?.arrayValue ?? []
        for (i, rule) in rules.enumerated() {
            for (j, backend) in (rule["backendRefs"]?.arrayValue ?? []).enumerated() where backend["weight"] != nil {
                ops.append(["op": "remove", "path": .string("/spec/rules/\(i)/backendRefs/\(j)/weight")])
            }
        }
        return try route.applyingJSONPatch(.array(ops))["spec"] ?? .null
    }

    /// Weights of the `primary` rule's backendRefs and the version each Service selects.
    func gatewayTraffic(kind: ResourceDescriptor = GatewayAPIRouter.httpRoutes) async throws -> IstioTraffic {
        let route = try await httpRoute(kind: kind)
        let rule = route[path: ["spec", "rules"]]?.arrayValue?.first { $0["name"]?.stringValue == "primary" }
        var stable: Int64 = -1, canary: Int64 = -1
        for backend in rule?["backendRefs"]?.arrayValue ?? [] {
            let weight = backend["weight"]?.intValue ?? 1
            if backend["name"]?.stringValue == "fraud-stable" { stable = weight } else { canary = weight }
        }
        func selected(_ service: String) async throws -> String? {
            let object = try JSONValue.decode(try await client.send(
                method: "GET", path: TrafficRouter.services.path(namespace: Self.namespace, name: service)))
            return object[path: ["spec", "selector", SextantLabel.modelVersion]]?.stringValue
        }
        return IstioTraffic(stable: stable, canary: canary, stableVersion: try await selected("fraud-stable"),
                            canaryVersion: try await selected("fraud-canary"))
    }
}
