import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import Testing

/// An HTTPRoute with an unowned health rule, the owned `primary` rule (user filters, timeouts,
/// a port on each backendRef) and an unnamed rule to another backend.
private let httpRouteText = """
{
  "apiVersion": "gateway.networking.k8s.io/v1",
  "kind": "HTTPRoute",
  "metadata": {"name": "fraud-detector", "namespace": "ml-production", "resourceVersion": "42"},
  "spec": {
    "parentRefs": [{"name": "edge"}],
    "hostnames": ["fraud.example.com"],
    "rules": [
      {"name": "health", "matches": [{"path": {"type": "PathPrefix", "value": "/healthz"}}],
       "backendRefs": [{"name": "fraud-health", "port": 8080}]},
      {"name": "primary",
       "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}, {"path": {"type": "Exact", "value": "/predict"}}],
       "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-team", "value": "risk"}]}}],
       "timeouts": {"request": "10s"},
       "backendRefs": [
         {"name": "fraud-stable", "port": 8080, "weight": 100},
         {"name": "fraud-canary", "port": 8080, "weight": 0}
       ]},
      {"backendRefs": [{"name": "legacy-scorer", "port": 80}]}
    ]
  }
}
"""

private func json(_ text: String) throws -> JSONValue { try JSONValue.parse(string: text) }

private func routing(rules: [String]? = ["primary"]) -> RoutingSpec {
    RoutingSpec(httpRoute: GatewayRouteRef(name: "fraud-detector", rules: rules),
                services: ServicePair(stable: "fraud-stable", canary: "fraud-canary"))
}

private func patched(_ route: JSONValue, _ split: TrafficSplit, routing spec: RoutingSpec = routing(),
                     api: RoutingAPI = .httpRoute) throws -> JSONValue {
    let ops = try GatewayRouteRouting.patch(for: route, api: api, routing: spec, rollout: "fraud", split: split)
    return try route.applyingJSONPatch(.array(ops))
}

private func errorReason(_ body: () throws -> Void) -> RoutingError.Reason? {
    do { try body() } catch let error as RoutingError { return error.reason } catch { return nil }
    return nil
}

@Suite struct GatewayRoutingTests {
    @Test func weightsChangeAndNothingElse() throws {
        let route = try json(httpRouteText)
        let ops = try GatewayRouteRouting.patch(for: route, api: .httpRoute, routing: routing(), rollout: "fraud",
                                                split: TrafficSplit(canaryWeight: 30))
        // Guards first: resourceVersion, the rule's name, both backendRefs' names.
        #expect(ops.prefix(4).allSatisfy { $0["op"] == "test" })
        #expect(ops.first?["path"] == "/metadata/resourceVersion")
        #expect(ops.contains { $0["path"] == "/spec/rules/1/name" && $0["value"] == "primary" })
        let after = try route.applyingJSONPatch(.array(ops))
        var expected = route
        expected = try expected.applyingJSONPatch([
            ["op": "replace", "path": "/spec/rules/1/backendRefs/0/weight", "value": 70],
            ["op": "replace", "path": "/spec/rules/1/backendRefs/1/weight", "value": 30],
        ])
        #expect(after == expected)
        let observed = try GatewayRouteRouting.observe(after, api: .httpRoute, routing: routing(), rollout: "fraud")
        #expect(observed.canaryWeight == 30)
        #expect(observed.description == "70/30")
        #expect(try GatewayRouteRouting.isRouting(after, api: .httpRoute, routing: routing(), rollout: "fraud",
                                                  split: TrafficSplit(canaryWeight: 30)))
        // Idempotent: the same split again is no patch.
        #expect(try GatewayRouteRouting.patch(for: after, api: .httpRoute, routing: routing(), rollout: "fraud",
                                              split: TrafficSplit(canaryWeight: 30)).isEmpty)
    }

    @Test func absentWeightIsGatewayDefaultOneAndWrittenExplicitly() throws {
        var route = try json(httpRouteText)
        route = try route.applyingJSONPatch([["op": "remove", "path": "/spec/rules/1/backendRefs/1/weight"]])
        let observed = try GatewayRouteRouting.observe(route, api: .httpRoute, routing: routing(), rollout: "fraud")
        #expect(observed.routes.first?.canaryWeight == 1)
        #expect(observed.canaryWeight == nil)  // 100/1 is no split of 100
        let after = try patched(route, TrafficSplit(canaryWeight: 0))
        #expect(after[path: ["spec", "rules"]]?[1]?["backendRefs"]?[1]?["weight"] == 0)
    }

    @Test func everyRuleOwnedWhenNoneNamedRefusesAThirdBackend() throws {
        let route = try json(httpRouteText)
        #expect(errorReason { _ = try patched(route, TrafficSplit(canaryWeight: 10), routing: routing(rules: nil)) }
                == .destinationNotFound)
        #expect(errorReason { _ = try patched(route, TrafficSplit(canaryWeight: 10), routing: routing(rules: ["nope"])) }
                == .routeNotFound)
        let third = try route.applyingJSONPatch([["op": "add", "path": "/spec/rules/1/backendRefs/-",
                                                  "value": ["name": "audit", "port": 80]]])
        #expect(errorReason { _ = try patched(third, TrafficSplit(canaryWeight: 10)) } == .unexpectedDestination)
        // A backendRef to a Service of the same name in another namespace is not the canary.
        let elsewhere = try route.applyingJSONPatch([["op": "add", "path": "/spec/rules/1/backendRefs/1/namespace",
                                                      "value": "other"]])
        #expect(errorReason { _ = try patched(elsewhere, TrafficSplit(canaryWeight: 10)) } == .destinationNotFound)
        #expect(errorReason { _ = try patched(route, TrafficSplit(canaryWeight: 101)) } == .invalidSplit)
        let wrongType = try route.applyingJSONPatch([["op": "replace", "path": "/spec/rules/1/backendRefs/1/weight", "value": "ten"]])
        #expect(errorReason { _ = try patched(wrongType, TrafficSplit(canaryWeight: 10)) } == .invalidGatewayRoute)
        var spec = routing()
        spec.services = nil
        #expect(errorReason { _ = try patched(route, TrafficSplit(canaryWeight: 10), routing: spec) } == .invalidSpec)
    }

    @Test func shadowAddsAndRemovesOnlyItsMirrorFilter() throws {
        let route = try json(httpRouteText)
        let shadow = try patched(route, TrafficSplit(canaryWeight: 0, mirrorPercent: 20))
        let filters = shadow[path: ["spec", "rules"]]?[1]?["filters"]?.arrayValue ?? []
        #expect(filters.count == 2)
        #expect(filters[1] == ["type": "RequestMirror",
                               "requestMirror": ["backendRef": ["name": "fraud-canary", "port": 8080], "percent": 20]])
        let observed = try GatewayRouteRouting.observe(shadow, api: .httpRoute, routing: routing(), rollout: "fraud")
        #expect(observed.routes.first?.mirrorPercent == 20)
        let more = try patched(shadow, TrafficSplit(canaryWeight: 0, mirrorPercent: 50))
        #expect(more[path: ["spec", "rules"]]?[1]?["filters"]?[1]?["requestMirror"]?["percent"] == 50)
        let done = try patched(more, TrafficSplit(canaryWeight: 0))
        #expect(done == route)
        // Someone else's mirror is never replaced.
        let audit = try route.applyingJSONPatch([["op": "add", "path": "/spec/rules/1/filters/-", "value":
            ["type": "RequestMirror", "requestMirror": ["backendRef": ["name": "audit-log", "port": 80]]]]])
        #expect(errorReason { _ = try patched(audit, TrafficSplit(canaryWeight: 0, mirrorPercent: 10)) } == .conflictingMirror)
    }

    @Test func abRuleCarriesTheOwnedMatchesPlusTheHeaderAndIsRemoved() throws {
        let route = try json(httpRouteText)
        let matches = [ABMatch(header: HeaderMatch(name: "X-User-Group", exact: "internal")),
                       ABMatch(cookie: CookieMatch(name: "exp", value: "b.1"))]
        let ab = try patched(route, TrafficSplit(canaryWeight: 0, abMatch: matches))
        let rules = ab[path: ["spec", "rules"]]?.arrayValue ?? []
        #expect(rules.count == 4)
        let rule = rules[1]
        #expect(rule["name"] == "sextant-ab-fraud")
        #expect(rules[2]["name"] == "primary")
        #expect(rule["backendRefs"] == [["name": "fraud-canary", "port": 8080, "weight": 1]])
        #expect(rule["timeouts"] == ["request": "10s"])
        #expect(rule["filters"] == route[path: ["spec", "rules"]]?[1]?["filters"])
        let blocks = rule["matches"]?.arrayValue ?? []
        #expect(blocks.count == 4)  // 2 owned match blocks × 2 A/B matches
        #expect(blocks[0] == ["path": ["type": "PathPrefix", "value": "/v2"],
                              "headers": [["type": "Exact", "name": "x-user-group", "value": "internal"]]])
        #expect(blocks[1]["headers"]?[0]?["value"] == .string("^(.*?;\\s*)?(exp=b\\.1)(;.*)?$"))
        #expect(try GatewayRouteRouting.observe(ab, api: .httpRoute, routing: routing(), rollout: "fraud").abTestRouteIndex == 1)
        #expect(try GatewayRouteRouting.patch(for: ab, api: .httpRoute, routing: routing(), rollout: "fraud",
                                              split: TrafficSplit(canaryWeight: 0, abMatch: matches)).isEmpty)
        #expect(try patched(ab, TrafficSplit(canaryWeight: 0)) == route)
        // A prefix becomes an anchored regex (Gateway API has no prefix header match).
        let prefix = try GatewayRouteRouting.headerMatch(ABMatch(header: HeaderMatch(name: "x-v", prefix: "2.")), field: "m")
        #expect(prefix == ["type": "RegularExpression", "name": "x-v", "value": "^2\\..*"])
        let conflicting = try route.applyingJSONPatch([["op": "add", "path": "/spec/rules/1/matches/0/headers",
                                                        "value": [["name": "X-User-Group", "value": "staff"]]]])
        #expect(errorReason { _ = try patched(conflicting, TrafficSplit(canaryWeight: 0, abMatch: matches)) } == .conflictingMatch)
    }

    @Test func grpcRouteSharesTheRuleShape() throws {
        let route: JSONValue = [
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": ["name": "ranker", "namespace": "ml-production", "resourceVersion": "3"],
            "spec": ["rules": [["matches": [["method": ["service": "ranker.v1.Ranker"]]],
                                "backendRefs": [["name": "ranker-stable", "port": 9000, "weight": 1],
                                                ["name": "ranker-canary", "port": 9000, "weight": 0]]]]],
        ]
        let spec = RoutingSpec(grpcRoute: GatewayRouteRef(name: "ranker"), services: ServicePair(stable: "ranker-stable", canary: "ranker-canary"))
        let after = try patched(route, TrafficSplit(canaryWeight: 25), routing: spec, api: .grpcRoute)
        #expect(after[path: ["spec", "rules"]]?[0]?["backendRefs"]?[0]?["weight"] == 75)
        #expect(after[path: ["spec", "rules"]]?[0]?["backendRefs"]?[1]?["weight"] == 25)
        #expect(try GatewayRouteRouting.observe(after, api: .grpcRoute, routing: spec, rollout: "fraud").canaryWeight == 25)
        // The spec names an HTTPRoute but the router was asked for a GRPCRoute: refused, named.
        #expect(errorReason { _ = try patched(route, TrafficSplit(canaryWeight: 25), routing: routing(), api: .grpcRoute) } == .invalidSpec)
    }
}
