import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKubeTypes
import Testing

// Session affinity by cookie (spec.analysis.sessionAffinity) on both routers: the canary's
// Set-Cookie response header and Sextant's cookie-match route, added, kept, changed and removed.

/// A VirtualService whose canary destination already adds a response header of the user's.
private let virtualServiceText = """
{
  "apiVersion": "networking.istio.io/v1beta1",
  "kind": "VirtualService",
  "metadata": {"name": "fraud", "namespace": "ml", "resourceVersion": "5"},
  "spec": {
    "hosts": ["fraud"],
    "http": [
      {"name": "health", "match": [{"uri": {"prefix": "/healthz"}}], "route": [{"destination": {"host": "fraud-health"}}]},
      {"name": "primary", "match": [{"uri": {"prefix": "/predict"}}], "timeout": "10s",
       "route": [
         {"destination": {"host": "fraud-stable"}, "weight": 100},
         {"destination": {"host": "fraud-canary"}, "weight": 0, "headers": {"response": {"add": {"x-served-by": "canary"}}}}
       ]}
    ]
  }
}
"""

private let httpRouteText = """
{
  "apiVersion": "gateway.networking.k8s.io/v1",
  "kind": "HTTPRoute",
  "metadata": {"name": "fraud", "namespace": "ml", "resourceVersion": "9"},
  "spec": {
    "parentRefs": [{"name": "edge"}],
    "rules": [
      {"name": "primary", "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
       "backendRefs": [{"name": "fraud-stable", "port": 8080, "weight": 100},
                       {"name": "fraud-canary", "port": 8080, "weight": 0}]}
    ]
  }
}
"""

private let services = ServicePair(stable: "fraud-stable", canary: "fraud-canary")
private let vsRouting: RoutingSpec = {
    var spec = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud", routes: ["primary"]))
    spec.services = services
    return spec
}()
private let routeRouting = RoutingSpec(httpRoute: GatewayRouteRef(name: "fraud", rules: ["primary"]), services: services)
private let cookie = AffinityCookie(SessionAffinity(cookieName: "fraud-canary", maxAge: 600), rollout: "fraud", canaryVersion: "v2")

private func affine(_ weight: Int, _ cookie: AffinityCookie? = cookie) -> TrafficSplit {
    TrafficSplit(canaryWeight: weight, sessionAffinity: cookie)
}

private func vsPatched(_ vs: JSONValue, _ split: TrafficSplit) throws -> JSONValue {
    try vs.applyingJSONPatch(.array(VirtualServiceRouting.patch(for: vs, routing: vsRouting, rollout: "fraud", split: split)))
}

private func routePatched(_ route: JSONValue, _ split: TrafficSplit) throws -> JSONValue {
    try route.applyingJSONPatch(.array(GatewayRouteRouting.patch(for: route, api: .httpRoute, routing: routeRouting,
                                                                 rollout: "fraud", split: split)))
}

private func reason(_ body: () throws -> Void) -> RoutingError.Reason? {
    do { try body() } catch let error as RoutingError { return error.reason } catch { return nil }
    return nil
}

/// Whether `regex` (the route's cookie match) matches a `Cookie` header.
private func matches(_ regex: String, _ header: String) throws -> Bool {
    let expression = try NSRegularExpression(pattern: regex)
    return expression.firstMatch(in: header, range: NSRange(header.startIndex..., in: header)) != nil
}

@Suite struct SessionAffinitySplitTests {
    @Test func affinityOnlyWhileTheCanaryHasAShareOfTraffic() {
        let spec = SessionAffinity(cookieName: "fraud-canary")
        let on = TrafficSplit(canaryWeight: 10).withSessionAffinity(spec, rollout: "fraud", canaryVersion: "v2")
        #expect(on.sessionAffinity == AffinityCookie(name: "fraud-canary", value: "sextant_fraud_v2", maxAge: 86400))
        #expect(on.sessionAffinity?.setCookie == "fraud-canary=sextant_fraud_v2; Max-Age=86400")
        #expect(on.description == "90/10 affinity cookie fraud-canary")
        for split in [TrafficSplit(canaryWeight: 0), TrafficSplit(canaryWeight: 100),
                      TrafficSplit(canaryWeight: 0, mirrorPercent: 100)] {
            #expect(split.withSessionAffinity(spec, rollout: "fraud", canaryVersion: "v2").sessionAffinity == nil)
        }
        #expect(TrafficSplit(canaryWeight: 10).withSessionAffinity(spec, rollout: "fraud", canaryVersion: nil).sessionAffinity == nil)
        // Turning it off clears a cookie carried in.
        #expect(on.withSessionAffinity(nil, rollout: "fraud", canaryVersion: "v2").sessionAffinity == nil)
    }

    @Test func ownershipIsByTheRolloutsValuePrefix() {
        #expect(AffinityCookie.isOurs("c=sextant_fraud_v9; Max-Age=1", rollout: "fraud"))
        #expect(!AffinityCookie.isOurs("c=sextant_fraud-eu_v9; Max-Age=1", rollout: "fraud"))
        #expect(!AffinityCookie.isOurs("session=abc; Path=/", rollout: "fraud"))
        #expect(!AffinityCookie.isOurs("no-equals", rollout: "fraud"))
    }

    @Test func validationNamesTheField() {
        var spec = CanaryRolloutSpec(modelName: "fraud", serving: ServingSpec(managed: ManagedServing()),
                                     routing: vsRouting, strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10)))
        spec.routing.services = nil
        spec.routing.destinationRule = DestinationRuleRef(name: "fraud", host: "fraud")
        spec.analysis = AnalysisSpec()
        let rollout = { (spec: CanaryRolloutSpec) in CanaryRollout(metadata: ObjectMeta(name: "fraud", namespace: "ml"), spec: spec) }
        spec.analysis?.sessionAffinity = SessionAffinity(cookieName: "fraud-canary", maxAge: 60)
        #expect(rollout(spec).validate().isEmpty, "\(rollout(spec).validate())")
        for bad in ["", "has space", "semi;colon", "a=b", "é"] {
            spec.analysis?.sessionAffinity = SessionAffinity(cookieName: bad)
            #expect(rollout(spec).validate().contains { $0.path == "spec.analysis.sessionAffinity.cookieName" }, "\(bad)")
        }
        spec.analysis?.sessionAffinity = SessionAffinity(cookieName: "ok", maxAge: 0)
        #expect(rollout(spec).validate().contains { $0.path == "spec.analysis.sessionAffinity.maxAge" })
        spec.analysis?.sessionAffinity = SessionAffinity(cookieName: "ok")
        spec.strategy = RolloutStrategy(abTest: ABTestStrategy(match: [ABMatch(header: HeaderMatch(name: "x", exact: "1"))]))
        #expect(rollout(spec).validate().contains { $0.path == "spec.analysis.sessionAffinity" })
    }
}

@Suite struct SessionAffinityVirtualServiceTests {
    @Test func canarySetsTheCookieAndTheCookieRouteGoesFirst() throws {
        let vs = try JSONValue.parse(string: virtualServiceText)
        let ops = try VirtualServiceRouting.patch(for: vs, routing: vsRouting, rollout: "fraud", split: affine(20))
        #expect(ops.first?["path"] == "/metadata/resourceVersion")
        let after = try vs.applyingJSONPatch(.array(ops))
        let primary = try #require(after[path: ["spec", "http"]]?.arrayValue?.last)
        let canary = try #require(primary["route"]?.arrayValue?[1])
        // The user's response header stays beside Sextant's.
        #expect(canary["headers"] == ["response": ["add": ["x-served-by": "canary",
                                                          "Set-Cookie": "fraud-canary=sextant_fraud_v2; Max-Age=600"]]])
        #expect(canary["weight"] == 20)
        let http = try #require(after[path: ["spec", "http"]]?.arrayValue)
        #expect(http.count == 3)
        let cookieRoute = http[1]
        #expect(cookieRoute["name"] == "sextant-ab-fraud")
        #expect(cookieRoute["timeout"] == "10s")
        #expect(cookieRoute["route"] == [["destination": ["host": "fraud-canary"], "weight": 100]])
        let regex = try #require(cookieRoute[path: ["match"]]?.arrayValue?.first?[path: ["headers", "cookie", "regex"]]?.stringValue)
        #expect(cookieRoute[path: ["match"]]?.arrayValue?.first?["uri"] == ["prefix": "/predict"])
        #expect(try matches(regex, "theme=dark; fraud-canary=sextant_fraud_v2"))
        #expect(try matches(regex, "fraud-canary=sextant_fraud_v2;theme=dark"))
        #expect(!(try matches(regex, "fraud-canary=sextant_fraud_v20")))
        #expect(!(try matches(regex, "xfraud-canary=sextant_fraud_v2")))
        // Idempotent, and the read-back sees the split.
        #expect(try VirtualServiceRouting.patch(for: after, routing: vsRouting, rollout: "fraud", split: affine(20)).isEmpty)
        #expect(try VirtualServiceRouting.observe(after, routing: vsRouting, rollout: "fraud").canaryWeight == 20)
        // The next weight keeps the cookie and its route.
        let next = try vsPatched(after, affine(50))
        #expect(next[path: ["spec", "http"]]?.arrayValue?[1] == cookieRoute)
    }

    @Test func removalLeavesTheRouteAsWithoutAffinity() throws {
        let vs = try JSONValue.parse(string: virtualServiceText)
        let withAffinity = try vsPatched(vs, affine(20))
        let plain = try vsPatched(vs, TrafficSplit(canaryWeight: 0))
        let ops = try VirtualServiceRouting.patch(for: withAffinity, routing: vsRouting, rollout: "fraud",
                                                  split: TrafficSplit(canaryWeight: 0))
        // The cookie header is removed only after a test of its value.
        #expect(ops.contains { $0["op"] == "test" && $0["value"] == "fraud-canary=sextant_fraud_v2; Max-Age=600" })
        #expect(try withAffinity.applyingJSONPatch(.array(ops)) == plain)
        // Headers Sextant created whole go whole.
        var bare = vs
        bare = try bare.applyingJSONPatch([["op": "remove", "path": "/spec/http/1/route/1/headers"]])
        let round = try vsPatched(try vsPatched(bare, affine(20)), TrafficSplit(canaryWeight: 0))
        #expect(round == (try vsPatched(bare, TrafficSplit(canaryWeight: 0))))
        #expect(round[path: ["spec", "http"]]?.arrayValue?[1]["route"]?.arrayValue?[1]["headers"] == nil)
    }

    @Test func aNewCandidateGetsANewCookieValue() throws {
        let vs = try vsPatched(try JSONValue.parse(string: virtualServiceText), affine(20))
        let v3 = AffinityCookie(SessionAffinity(cookieName: "fraud-canary", maxAge: 600), rollout: "fraud", canaryVersion: "v3")
        let ops = try VirtualServiceRouting.patch(for: vs, routing: vsRouting, rollout: "fraud", split: affine(20, v3))
        #expect(ops.contains { $0["op"] == "replace" && $0["value"] == "fraud-canary=sextant_fraud_v3; Max-Age=600" })
        let after = try vs.applyingJSONPatch(.array(ops))
        let regex = try #require(after[path: ["spec", "http"]]?.arrayValue?[1]["match"]?.arrayValue?.first?[path: ["headers", "cookie", "regex"]]?.stringValue)
        #expect(try matches(regex, "fraud-canary=sextant_fraud_v3"))
        #expect(!(try matches(regex, "fraud-canary=sextant_fraud_v2")))
    }

    @Test func aSetCookieOfTheUsersIsAConflictNotOverwritten() throws {
        let vs = try JSONValue.parse(string: virtualServiceText).applyingJSONPatch([
            ["op": "add", "path": "/spec/http/1/route/1/headers/response/add/Set-Cookie", "value": "session=abc"],
        ])
        #expect(reason { _ = try VirtualServiceRouting.patch(for: vs, routing: vsRouting, rollout: "fraud", split: affine(20)) }
                == .conflictingHeader)
        // Without affinity the user's header is left alone.
        let plain = try vsPatched(vs, TrafficSplit(canaryWeight: 0))
        #expect(plain[path: ["spec", "http"]]?.arrayValue?[1]["route"]?.arrayValue?[1][path: ["headers", "response", "add", "Set-Cookie"]] == "session=abc")
        let wrongType = try JSONValue.parse(string: virtualServiceText).applyingJSONPatch([
            ["op": "replace", "path": "/spec/http/1/route/1/headers", "value": "oops"],
        ])
        #expect(reason { _ = try VirtualServiceRouting.patch(for: wrongType, routing: vsRouting, rollout: "fraud", split: affine(20)) }
                == .invalidVirtualService)
    }
}

@Suite struct SessionAffinityGatewayAPITests {
    @Test func canaryBackendSetsTheCookieAndARuleMatchesIt() throws {
        let route = try JSONValue.parse(string: httpRouteText)
        let ops = try GatewayRouteRouting.patch(for: route, api: .httpRoute, routing: routeRouting, rollout: "fraud", split: affine(20))
        #expect(ops.first?["path"] == "/metadata/resourceVersion")
        #expect(ops.contains { $0["op"] == "test" && $0["path"] == "/spec/rules/0/backendRefs/1/name" && $0["value"] == "fraud-canary" })
        let after = try route.applyingJSONPatch(.array(ops))
        let rules = try #require(after[path: ["spec", "rules"]]?.arrayValue)
        #expect(rules.count == 2)
        let owned = try #require(rules.first { $0["name"] == "primary" })
        #expect(owned["backendRefs"]?.arrayValue?[1]["filters"] == [[
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": ["add": [["name": "Set-Cookie", "value": "fraud-canary=sextant_fraud_v2; Max-Age=600"]]],
        ]])
        let cookieRule = try #require(rules.first { $0["name"] == "sextant-ab-fraud" })
        // One backendRef, the canary, without the cookie filter; the owned rule's path match kept.
        #expect(cookieRule["backendRefs"] == [["name": "fraud-canary", "port": 8080, "weight": 1]])
        let match = try #require(cookieRule["matches"]?.arrayValue?.first)
        #expect(match["path"] == ["type": "PathPrefix", "value": "/predict"])
        let header = try #require(match["headers"]?.arrayValue?.first)
        #expect(header["type"] == "RegularExpression" && header["name"] == "cookie")
        let regex = try #require(header["value"]?.stringValue)
        #expect(try matches(regex, "a=1; fraud-canary=sextant_fraud_v2"))
        #expect(!(try matches(regex, "fraud-canary=sextant_fraud_v1")))
        #expect(try GatewayRouteRouting.patch(for: after, api: .httpRoute, routing: routeRouting, rollout: "fraud", split: affine(20)).isEmpty)
        #expect(try GatewayRouteRouting.observe(after, api: .httpRoute, routing: routeRouting, rollout: "fraud").canaryWeight == 20)
        let next = try routePatched(after, affine(40))
        #expect(next[path: ["spec", "rules"]]?.arrayValue?.first { $0["name"] == "sextant-ab-fraud" } == cookieRule)
    }

    @Test func removalLeavesTheRouteAsWithoutAffinity() throws {
        let route = try JSONValue.parse(string: httpRouteText)
        let withAffinity = try routePatched(route, affine(20))
        let plain = try routePatched(route, TrafficSplit(canaryWeight: 0))
        let ops = try GatewayRouteRouting.patch(for: withAffinity, api: .httpRoute, routing: routeRouting, rollout: "fraud",
                                                split: TrafficSplit(canaryWeight: 0))
        #expect(ops.contains { $0["op"] == "test" && $0["path"] == "/spec/rules/1/backendRefs/1/filters/0" }, "the owned rule is at 1 behind the cookie rule")
        #expect(try withAffinity.applyingJSONPatch(.array(ops)) == plain)
        // A filter of the user's beside Sextant's stays.
        let userFilter: JSONValue = ["type": "RequestHeaderModifier", "requestHeaderModifier": ["set": [["name": "x-v", "value": "c"]]]]
        let withUser = try route.applyingJSONPatch([["op": "add", "path": "/spec/rules/0/backendRefs/1/filters", "value": [userFilter]]])
        let round = try routePatched(try routePatched(withUser, affine(20)), TrafficSplit(canaryWeight: 0))
        #expect(round[path: ["spec", "rules"]]?.arrayValue?[0]["backendRefs"]?.arrayValue?[1]["filters"] == [userFilter])
        let cookieRule = try routePatched(withUser, affine(20))[path: ["spec", "rules"]]?.arrayValue?.first { $0["name"] == "sextant-ab-fraud" }
        #expect(cookieRule?["backendRefs"]?.arrayValue?.first?["filters"] == [userFilter])
    }

    @Test func aResponseHeaderModifierOfTheUsersIsAConflict() throws {
        let filter: JSONValue = ["type": "ResponseHeaderModifier", "responseHeaderModifier": ["add": [["name": "x-v", "value": "c"]]]]
        let route = try JSONValue.parse(string: httpRouteText).applyingJSONPatch([
            ["op": "add", "path": "/spec/rules/0/backendRefs/1/filters", "value": [filter]],
        ])
        #expect(reason { _ = try routePatched(route, affine(20)) } == .conflictingHeader)
        #expect(try routePatched(route, TrafficSplit(canaryWeight: 0))[path: ["spec", "rules"]]?.arrayValue?[0]["backendRefs"]?.arrayValue?[1]["filters"] == [filter])
    }
}
