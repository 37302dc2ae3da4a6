import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantTestSupport
import Testing

/// The routers the canary end-to-end tests run against, each on real CRDs: Istio's
/// VirtualService/DestinationRule (hack/local-crds, cross-checked against Istio's own by
/// LocalCRDCrossCheckTests) and the Gateway API's own HTTPRoute (v1.6.1 standard channel in
/// ../shared/fixtures/gateway-api).
enum TestRouter: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case istio, httpRoute

    var testDescription: String { rawValue }

    /// Where the Gateway API CRDs come from (nil: Istio needs none).
    var gatewayCRDs: String? {
        switch self {
        case .istio: return nil
        case .httpRoute: return GatewayRolloutEndToEndTests.crdDirectory
        }
    }

    /// `spec.routing` of the rollout (nil: the Istio default of `createRollout`).
    var routing: RoutingSpec? {
        switch self {
        case .istio: return nil
        case .httpRoute: return CanaryEnvironment.gatewayRouting
        }
    }

    /// Creates the user's routing objects for this router.
    func createObjects(_ env: CanaryEnvironment) async throws {
        switch self {
        case .istio: try await env.createRouting()
        case .httpRoute: try await env.createGatewayRouting()
        }
    }

    /// The weights of the owned route and the versions the stable/canary destinations select.
    func traffic(_ env: CanaryEnvironment) async throws -> IstioTraffic {
        switch self {
        case .istio: return try await env.traffic()
        case .httpRoute: return try await env.gatewayTraffic()
        }
    }

    /// Session affinity as stored: the canary's Set-Cookie value and whether Sextant's cookie
    /// route (`sextant-ab-fraud`, a `cookie` regex match to the canary) is there.
    func affinity(_ env: CanaryEnvironment) async throws -> (setCookie: String?, cookieRoute: Bool) {
        switch self {
        case .istio:
            let vs = try JSONValue.decode(try await env.client.send(
                method: "GET", path: TrafficRouter.virtualServices().path(namespace: CanaryEnvironment.namespace, name: "fraud")))
            let http = vs[path: ["spec", "http"]]?.arrayValue ?? []
            let primary = http.first { $0["name"]?.stringValue == "primary" }
            let canary = primary?["route"]?.arrayValue?.first { $0[path: ["destination", "subset"]]?.stringValue == "canary" }
            let route = http.first { $0["name"]?.stringValue == "sextant-ab-fraud" }
            let matchesCookie = route?["match"]?.arrayValue?.first?[path: ["headers", "cookie", "regex"]]?.stringValue != nil
            return (canary?[path: ["headers", "response", "add", "Set-Cookie"]]?.stringValue, matchesCookie)
        case .httpRoute:
            return try await env.gatewayAffinity()
        }
    }

    /// The user's route object without the weights Sextant owns (after the server's
    /// defaulting): everything else must stay as the user wrote it.
    func userSpec(_ env: CanaryEnvironment) async throws -> JSONValue {
        switch self {
        case .istio: return try await env.virtualServiceSpecWithoutWeights()
        case .httpRoute: return try await env.routeSpecWithoutWeights()
        }
    }
}

extension CanaryEnvironment {
    /// Session affinity as stored on the `fraud` HTTPRoute or GRPCRoute (the builder is shared):
    /// the `Set-Cookie` value of the `ResponseHeaderModifier` filter on the `primary` rule's canary
    /// backendRef, and whether rule `sextant-ab-fraud` matches the `cookie` header by regex.
    func gatewayAffinity(kind: ResourceDescriptor = GatewayAPIRouter.httpRoutes) async throws
        -> (setCookie: String?, cookieRoute: Bool)
    {
        let rules = try await httpRoute(kind: kind)[path: ["spec", "rules"]]?.arrayValue ?? []
        let primary = rules.first { $0["name"]?.stringValue == "primary" }
        let canary = primary?["backendRefs"]?.arrayValue?.first { $0["name"]?.stringValue == "fraud-canary" }
        let filter = canary?["filters"]?.arrayValue?.first { $0["type"]?.stringValue == "ResponseHeaderModifier" }
        let rule = rules.first { $0["name"]?.stringValue == "sextant-ab-fraud" }
        let header = rule?["matches"]?.arrayValue?.first?["headers"]?.arrayValue?.first
        let matchesCookie = header?["name"]?.stringValue == "cookie" && header?["type"]?.stringValue == "RegularExpression"
        return (filter?[path: ["responseHeaderModifier", "add"]]?.arrayValue?.first?["value"]?.stringValue, matchesCookie)
    }

    /// The `fraud` VirtualService's spec without the `http[].route[].weight` fields.
    func virtualServiceSpecWithoutWeights() async throws -> JSONValue {
        let vs = try JSONValue.decode(try await client.send(
            method: "GET", path: TrafficRouter.virtualServices().path(namespace: Self.namespace, name: "fraud")))
        var ops: [JSONValue] = []
        for (i, route) in (vs[path: ["spec", "http"]]?.arrayValue ?? []).enumerated() {
            for (j, destination) in (route["route"]?.arrayValue ?? []).enumerated() where destination["weight"] != nil {
                ops.append(["op": "remove", "path": .string("/spec/http/\(i)/route/\(j)/weight")])
            }
        }
        return try vs.applyingJSONPatch(.array(ops))["spec"] ?? .null
    }
}
