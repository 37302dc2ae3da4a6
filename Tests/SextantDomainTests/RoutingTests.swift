import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import Testing

// MARK: Fixtures

/// A subset-level VirtualService: an unowned route before and after the owned `primary` route,
/// and user fields (retries, timeout, header manipulation, ports) Sextant must not touch.
private let subsetVSText = """
{
  "apiVersion": "networking.istio.io/v1beta1",
  "kind": "VirtualService",
  "metadata": {"name": "fraud-detector", "namespace": "ml-production", "resourceVersion": "42",
               "labels": {"team": "risk"}, "annotations": {"note": "owned by GitOps"}},
  "spec": {
    "hosts": ["fraud-detector"],
    "gateways": ["mesh"],
    "http": [
      {"name": "health", "match": [{"uri": {"prefix": "/healthz"}}],
       "route": [{"destination": {"host": "fraud-detector-health"}}]},
      {"name": "primary",
       "match": [{"uri": {"prefix": "/v2"}}, {"uri": {"prefix": "/predict"}}],
       "retries": {"attempts": 3, "perTryTimeout": "2s"},
       "timeout": "10s",
       "headers": {"request": {"set": {"x-team": "risk"}}},
       "route": [
         {"destination": {"host": "fraud-detector.ml-production.svc.cluster.local", "subset": "stable", "port": {"number": 8080}},
          "weight": 100, "headers": {"response": {"add": {"x-served-by": "stable"}}}},
         {"destination": {"host": "fraud-detector", "subset": "canary", "port": {"number": 8080}}, "weight": 0}
       ]},
      {"name": "fallback", "route": [{"destination": {"host": "legacy-scorer"}, "weight": 100}]}
    ]
  }
}
"""

/// A host-level VirtualService with two unnamed routes, hosts written in different forms.
private let hostVSText = """
{
  "apiVersion": "networking.istio.io/v1beta1",
  "kind": "VirtualService",
  "metadata": {"name": "churn", "namespace": "ml-production", "resourceVersion": "7"},
  "spec": {
    "hosts": ["churn"],
    "http": [
      {"match": [{"headers": {"x-batch": {"exact": "1"}}}], "timeout": "60s",
       "route": [{"destination": {"host": "churn-stable.ml-production"}, "weight": 80},
                 {"destination": {"host": "churn-canary.ml-production.svc.cluster.local"}, "weight": 20}]},
      {"route": [{"destination": {"host": "churn-canary"}},
                 {"destination": {"host": "churn-stable.ml-production.svc"}, "weight": 100}]}
    ]
  }
}
"""

private func json(_ text: String) throws -> JSONValue { try JSONValue.parse(string: text) }

private func subsetRouting(routes: [String]? = ["primary"]) -> RoutingSpec {
    var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "fraud-detector", routes: routes))
    routing.destinationRule = DestinationRuleRef(name: "fraud-detector", host: "fraud-detector.ml-production.svc.cluster.local")
    return routing
}

private func hostRouting(routes: [String]? = nil) -> RoutingSpec {
    var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "churn", routes: routes))
    routing.services = ServicePair(stable: "churn-stable", canary: "churn-canary")
    return routing
}

private let rollout = "fraud-detector"

/// Applies ops the way the API server does.
private func apply(_ ops: [JSONValue], to object: JSONValue) throws -> JSONValue {
    try object.applyingJSONPatch(.array(ops))
}

/// The object with plain replace/add/remove edits, written independently of the code under test.
private func edited(_ object: JSONValue, _ ops: [JSONValue]) throws -> JSONValue {
    try object.applyingJSONPatch(.array(ops))
}

private func routingError(_ body: () throws -> Void) -> RoutingError? {
    do {
        try body()
        return nil
    } catch let error as RoutingError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

// MARK: Weights

@Suite struct RoutingWeightTests {
    @Test func subsetLevelSplitChangesOnlyTheOwnedWeights() throws {
        let vs = try json(subsetVSText)
        let ops = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                  split: TrafficSplit(canaryWeight: 10))
        let patched = try apply(ops, to: vs)
        let expected = try edited(vs, [["op": "replace", "path": "/spec/http/1/route/0/weight", "value": 90],
                                       ["op": "replace", "path": "/spec/http/1/route/1/weight", "value": 10]])
        // Whole-document equality: every unowned route and field is unchanged.
        #expect(patched == expected)
        #expect(try VirtualServiceRouting.patch(for: patched, routing: subsetRouting(), rollout: rollout,
                                                split: TrafficSplit(canaryWeight: 10)).isEmpty)
        let observed = try VirtualServiceRouting.observe(patched, routing: subsetRouting(), rollout: rollout)
        #expect(observed.routes == [ObservedRoute(index: 1, name: "primary", stableWeight: 90, canaryWeight: 10, mirrorPercent: nil)])
        #expect(observed.canaryWeight == 10)
        #expect(observed.description == "90/10")
        #expect(observed.resourceVersion == "42")
    }

    @Test func opsAreGuardedByResourceVersionRouteNameAndDestinations() throws {
        let ops = try VirtualServiceRouting.patch(for: try json(subsetVSText), routing: subsetRouting(),
                                                  rollout: rollout, split: TrafficSplit(canaryWeight: 50))
        #expect(ops.first == ["op": "test", "path": "/metadata/resourceVersion", "value": "42"])
        let tests = ops.filter { $0["op"] == "test" }.compactMap { $0["path"]?.stringValue }
        #expect(tests == ["/metadata/resourceVersion", "/spec/http/1/name",
                          "/spec/http/1/route/0/destination/host", "/spec/http/1/route/0/destination/subset",
                          "/spec/http/1/route/1/destination/host", "/spec/http/1/route/1/destination/subset"])
        // Every test precedes every write.
        let lastTest = try #require(ops.lastIndex { $0["op"] == "test" })
        let firstWrite = try #require(ops.firstIndex { $0["op"] != "test" })
        #expect(lastTest < firstWrite)
    }

    @Test func fullCycleZeroToHundredAndBack() throws {
        var vs = try json(subsetVSText)
        for weight in [0, 10, 50, 100, 0] {
            let ops = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                      split: TrafficSplit(canaryWeight: weight))
            vs = try apply(ops, to: vs)
            #expect(try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout).canaryWeight == weight)
            #expect(vs[path: ["spec", "http"]]?[1]?["route"]?[0]?["weight"] == .int(Int64(100 - weight)))
        }
        // Back at 100/0: the document is the original again.
        #expect(vs == (try json(subsetVSText)))
        #expect(try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                split: TrafficSplit(canaryWeight: 0)).isEmpty)
    }

    @Test func hostLevelMatchesShortNamespacedAndFQDNHostsOnEveryUnnamedRoute() throws {
        let vs = try json(hostVSText)
        let split = TrafficSplit(canaryWeight: 30)
        let ops = try VirtualServiceRouting.patch(for: vs, routing: hostRouting(), rollout: "churn", split: split)
        let patched = try apply(ops, to: vs)
        let expected = try edited(vs, [["op": "replace", "path": "/spec/http/0/route/0/weight", "value": 70],
                                       ["op": "replace", "path": "/spec/http/0/route/1/weight", "value": 30],
                                       ["op": "add", "path": "/spec/http/1/route/0/weight", "value": 30],
                                       ["op": "replace", "path": "/spec/http/1/route/1/weight", "value": 70]])
        #expect(patched == expected)
        // Unnamed routes are identified by their destinations, not a name.
        let paths = ops.filter { $0["op"] == "test" }.compactMap { $0["path"]?.stringValue }
        #expect(!paths.contains { $0.hasSuffix("/name") })
        #expect(paths.contains("/spec/http/1/route/0/destination/host"))
        #expect(try VirtualServiceRouting.isRouting(patched, routing: hostRouting(), rollout: "churn", split: split))
    }

    @Test func absentWeightIsObservedAsZeroAndWrittenExplicitly() throws {
        let vs = try json(hostVSText)
        let observed = try VirtualServiceRouting.observe(vs, routing: hostRouting(), rollout: "churn")
        #expect(observed.routes.map(\.stableWeight) == [80, 100])
        #expect(observed.routes.map(\.canaryWeight) == [20, 0])
        #expect(!observed.consistent)
        #expect(observed.canaryWeight == nil)
        #expect(observed.description == "http[0] 80/20, http[1] 100/0")
        // 100/0 is what route 1 means already, but its weight is implicit: Sextant writes it.
        let ops = try VirtualServiceRouting.patch(for: vs, routing: hostRouting(routes: nil), rollout: "churn",
                                                  split: TrafficSplit(canaryWeight: 0))
        #expect(ops.contains(["op": "add", "path": "/spec/http/1/route/0/weight", "value": 0]))
    }

    @Test func severalNamedOwnedRoutes() throws {
        var vs = try json(subsetVSText)
        // Make `fallback` a second owned route with stable/canary destinations.
        vs = try edited(vs, [["op": "replace", "path": "/spec/http/2/route",
                              "value": [["destination": ["host": "fraud-detector", "subset": "canary"], "weight": 5],
                                        ["destination": ["host": "fraud-detector", "subset": "stable"], "weight": 95]]]])
        let routing = subsetRouting(routes: ["fallback", "primary"])
        let observed = try VirtualServiceRouting.observe(vs, routing: routing, rollout: rollout)
        #expect(observed.routes.map(\.index) == [1, 2])
        #expect(!observed.consistent)
        #expect(observed.description == "\"primary\" 100/0, \"fallback\" 95/5")
        let patched = try apply(try VirtualServiceRouting.patch(for: vs, routing: routing, rollout: rollout,
                                                                split: TrafficSplit(canaryWeight: 25)), to: vs)
        let again = try VirtualServiceRouting.observe(patched, routing: routing, rollout: rollout)
        #expect(again.consistent && again.canaryWeight == 25)
        #expect(patched[path: ["spec", "http"]]?[2]?["route"]?[0]?["weight"] == 25)
        #expect(patched[path: ["spec", "http"]]?[0] == vs[path: ["spec", "http"]]?[0])
    }

    @Test func outOfBandEditIsDetectedAndUndone() throws {
        let desired = TrafficSplit(canaryWeight: 10)
        var vs = try apply(try VirtualServiceRouting.patch(for: try json(subsetVSText), routing: subsetRouting(),
                                                           rollout: rollout, split: desired), to: try json(subsetVSText))
        // Someone sets 30/70 by hand.
        vs = try edited(vs, [["op": "replace", "path": "/spec/http/1/route/0/weight", "value": 30],
                             ["op": "replace", "path": "/spec/http/1/route/1/weight", "value": 70],
                             ["op": "replace", "path": "/metadata/resourceVersion", "value": "43"]])
        let observed = try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout)
        #expect(observed.description == "30/70")
        #expect(!(try VirtualServiceRouting.isRouting(vs, routing: subsetRouting(), rollout: rollout, split: desired)))
        let restored = try apply(try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                                 split: desired), to: vs)
        #expect(try VirtualServiceRouting.observe(restored, routing: subsetRouting(), rollout: rollout).description == "90/10")
    }

    @Test func emptyRoutesOwnsEveryRouteButSextantABRoutes() throws {
        var vs = try json(hostVSText)
        vs = try edited(vs, [["op": "add", "path": "/spec/http/0",
                              "value": ["name": "sextant-ab-other", "route": [["destination": ["host": "elsewhere"]]]]]])
        let observed = try VirtualServiceRouting.observe(vs, routing: hostRouting(routes: []), rollout: "churn")
        #expect(observed.routes.map(\.index) == [1, 2])
    }
}

// MARK: Errors

@Suite struct RoutingErrorTests {
    @Test func missingRouteNamesTheRouteAndTheVirtualService() throws {
        let error = routingError {
            _ = try VirtualServiceRouting.patch(for: try json(subsetVSText), routing: subsetRouting(routes: ["main"]),
                                                rollout: rollout, split: TrafficSplit(canaryWeight: 10))
        }
        #expect(error?.reason == .routeNotFound)
        #expect(error?.message.contains("VirtualService ml-production/fraud-detector has no http route named \"main\"") == true)
        #expect(error?.message.contains("\"health\", \"primary\", \"fallback\"") == true)
    }

    @Test func noHttpRoutes() throws {
        let vs: JSONValue = ["metadata": ["name": "x"], "spec": ["hosts": ["x"]]]
        #expect(routingError { _ = try VirtualServiceRouting.observe(vs, routing: hostRouting(), rollout: "x") }?.reason == .routeNotFound)
    }

    @Test func missingDestinationNamesRouteHostAndSubset() throws {
        let vs = try edited(try json(subsetVSText), [["op": "remove", "path": "/spec/http/1/route/1"]])
        let error = routingError { _ = try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout) }
        #expect(error?.reason == .destinationNotFound)
        #expect(error?.message.contains("route \"primary\" has no destination for the canary (host fraud-detector.ml-production.svc.cluster.local subset canary)") == true)

        let noRoute = try edited(try json(subsetVSText), [["op": "remove", "path": "/spec/http/1/route"]])
        #expect(routingError { _ = try VirtualServiceRouting.observe(noRoute, routing: subsetRouting(), rollout: rollout) }?.reason == .destinationNotFound)
    }

    @Test func wrongSubsetOrOtherNamespaceIsNotTheDestination() throws {
        let vs = try edited(try json(subsetVSText), [["op": "replace", "path": "/spec/http/1/route/1/destination/host",
                                                      "value": "fraud-detector.other-namespace.svc.cluster.local"]])
        let error = routingError { _ = try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout) }
        #expect(error?.reason == .destinationNotFound)
    }

    @Test func thirdDestinationIsRefused() throws {
        let vs = try edited(try json(subsetVSText), [["op": "add", "path": "/spec/http/1/route/-",
                                                      "value": ["destination": ["host": "shadow-scorer"], "weight": 0]]])
        let error = routingError { _ = try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout) }
        #expect(error?.reason == .unexpectedDestination)
        #expect(error?.message.contains("third destination, host shadow-scorer at route[2]") == true)
    }

    @Test func duplicateStableDestinationIsRefused() throws {
        let vs = try edited(try json(subsetVSText), [["op": "add", "path": "/spec/http/1/route/-",
                                                      "value": ["destination": ["host": "fraud-detector", "subset": "stable"]]]])
        let error = routingError { _ = try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout) }
        #expect(error?.reason == .unexpectedDestination)
        #expect(error?.message.contains("2 destinations for the stable") == true)
    }

    @Test func wrongTypesAreErrorsNotCrashes() throws {
        let cases: [(JSONValue, RoutingError.Reason)] = [
            (.string("nope"), .invalidVirtualService),
            (["metadata": ["name": "x"]], .invalidVirtualService),
            (["spec": ["http": "all"]], .invalidVirtualService),
            (["spec": ["http": [1]]], .invalidVirtualService),
            (["spec": ["http": [["route": [["destination": ["host": 3]]]]]]], .invalidVirtualService),
            (["spec": ["http": [["route": [["destination": ["host": "churn-stable", "subset": 1]]]]]]], .invalidVirtualService),
            (["spec": ["http": [["route": [["destination": ["host": "churn-stable"], "weight": "ten"],
                                           ["destination": ["host": "churn-canary"]]]]]]], .invalidVirtualService),
            (["spec": ["http": [["route": [["destination": ["host": "churn-stable"], "weight": 10.5],
                                           ["destination": ["host": "churn-canary"]]]]]]], .invalidVirtualService),
            (["spec": ["http": [["route": "x"]]]], .destinationNotFound),
        ]
        for (vs, reason) in cases {
            let error = routingError {
                _ = try VirtualServiceRouting.patch(for: vs, routing: hostRouting(), rollout: "churn",
                                                    split: TrafficSplit(canaryWeight: 10, mirrorPercent: 5, abMatch: [ABMatch(header: HeaderMatch(name: "x", exact: "1"))]))
            }
            #expect(error?.reason == reason, "\(vs.jsonString())")
        }
    }

    @Test func splitOutOfRangeIsRefused() throws {
        let vs = try json(subsetVSText)
        for split in [TrafficSplit(canaryWeight: 101), TrafficSplit(canaryWeight: -1),
                      TrafficSplit(canaryWeight: 0, mirrorPercent: 101)] {
            let error = routingError {
                _ = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout, split: split)
            }
            #expect(error?.reason == .invalidSplit)
        }
    }

    @Test func routingSpecNeedsExactlyOneKindOfDestination() throws {
        var both = subsetRouting()
        both.services = ServicePair(stable: "a", canary: "b")
        let neither = RoutingSpec(virtualService: VirtualServiceRef(name: "x"))
        var sameSubsets = subsetRouting()
        sameSubsets.destinationRule?.canarySubset = "stable"
        var sameServices = hostRouting()
        sameServices.services = ServicePair(stable: "a", canary: "a.ml-production")
        for routing in [both, neither, sameSubsets, sameServices] {
            #expect(routingError { _ = try VirtualServiceRouting.observe(try json(subsetVSText), routing: routing, rollout: rollout) }?.reason == .invalidSpec)
        }
    }
}

// MARK: Concurrency guards

@Suite struct RoutingGuardTests {
    @Test func patchFailsOnAChangedResourceVersion() throws {
        let vs = try json(subsetVSText)
        let ops = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                  split: TrafficSplit(canaryWeight: 10))
        let changed = try edited(vs, [["op": "replace", "path": "/metadata/resourceVersion", "value": "43"]])
        #expect(throws: JSONPatchError.self) { try apply(ops, to: changed) }
    }

    @Test func patchFailsWhenRoutesWereReorderedEvenWithoutAResourceVersion() throws {
        var vs = try json(subsetVSText)
        vs = try edited(vs, [["op": "remove", "path": "/metadata/resourceVersion"]])
        let ops = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                  split: TrafficSplit(canaryWeight: 10))
        #expect(ops.first?["path"] == "/spec/http/1/name")
        // Someone moved `primary` to the front: index 1 is now `health`.
        let reordered = try edited(vs, [["op": "move", "from": "/spec/http/1", "path": "/spec/http/0"]])
        do {
            _ = try apply(ops, to: reordered)
            Issue.record("the patch landed on a reordered VirtualService")
        } catch let error as JSONPatchError {
            #expect(error.kind == .testFailed)
            #expect(error.message.contains("/spec/http/1/name"))
        }
    }

    @Test func unnamedRouteGuardCatchesAnotherRouteAtTheIndex() throws {
        var vs = try json(hostVSText)
        vs = try edited(vs, [["op": "remove", "path": "/metadata/resourceVersion"]])
        let ops = try VirtualServiceRouting.patch(for: vs, routing: hostRouting(), rollout: "churn",
                                                  split: TrafficSplit(canaryWeight: 50))
        let inserted = try edited(vs, [["op": "add", "path": "/spec/http/0",
                                        "value": ["route": [["destination": ["host": "other"]]]]]])
        #expect(throws: JSONPatchError.self) { try apply(ops, to: inserted) }
    }
}

// MARK: Shadow

@Suite struct RoutingShadowTests {
    @Test func mirrorOnAdjustAndOff() throws {
        let original = try json(subsetVSText)
        let shadow = TrafficSplit(canaryWeight: 0, mirrorPercent: 50)
        let on = try apply(try VirtualServiceRouting.patch(for: original, routing: subsetRouting(), rollout: rollout,
                                                           split: shadow), to: original)
        let expected = try edited(original, [
            ["op": "add", "path": "/spec/http/1/mirror",
             "value": ["host": "fraud-detector", "subset": "canary", "port": ["number": 8080]]],
            ["op": "add", "path": "/spec/http/1/mirrorPercentage", "value": ["value": 50]],
        ])
        #expect(on == expected)
        #expect(try VirtualServiceRouting.patch(for: on, routing: subsetRouting(), rollout: rollout, split: shadow).isEmpty)
        let observed = try VirtualServiceRouting.observe(on, routing: subsetRouting(), rollout: rollout)
        #expect(observed.routes.first?.mirrorPercent == 50)
        #expect(observed.description == "100/0 mirror 50%")

        let lessOps = try VirtualServiceRouting.patch(for: on, routing: subsetRouting(), rollout: rollout,
                                                      split: TrafficSplit(canaryWeight: 0, mirrorPercent: 20))
        #expect(lessOps.filter { $0["op"] != "test" } == [["op": "add", "path": "/spec/http/1/mirrorPercentage", "value": ["value": 20]]])

        let offOps = try VirtualServiceRouting.patch(for: on, routing: subsetRouting(), rollout: rollout,
                                                     split: TrafficSplit(canaryWeight: 0))
        #expect(offOps.contains(["op": "test", "path": "/spec/http/1/mirror/host", "value": "fraud-detector"]))
        #expect(try apply(offOps, to: on) == original)
    }

    @Test func userMirrorIsAConflictDuringShadowAndLeftAloneOtherwise() throws {
        let vs = try edited(try json(subsetVSText), [["op": "add", "path": "/spec/http/1/mirror", "value": ["host": "audit-log"]]])
        let error = routingError {
            _ = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                split: TrafficSplit(canaryWeight: 0, mirrorPercent: 10))
        }
        #expect(error?.reason == .conflictingMirror)
        #expect(error?.message.contains("route \"primary\" already mirrors to host audit-log") == true)
        // Without shadow, the user's mirror stays as it is.
        let patched = try apply(try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                                split: TrafficSplit(canaryWeight: 40)), to: vs)
        #expect(patched[path: ["spec", "http"]]?[1]?["mirror"] == ["host": "audit-log"])
        #expect(try VirtualServiceRouting.observe(patched, routing: subsetRouting(), rollout: rollout).routes.first?.mirrorPercent == nil)
    }

    @Test func userMirrorsListIsAConflictDuringShadow() throws {
        let vs = try edited(try json(subsetVSText), [["op": "add", "path": "/spec/http/1/mirrors",
                                                      "value": [["destination": ["host": "audit-log"]]]]])
        let error = routingError {
            _ = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                split: TrafficSplit(canaryWeight: 0, mirrorPercent: 10))
        }
        #expect(error?.reason == .conflictingMirror)
    }

    @Test func mirrorWithoutShareCountsAsAll() throws {
        let vs = try edited(try json(subsetVSText), [["op": "add", "path": "/spec/http/1/mirror",
                                                      "value": ["host": "fraud-detector.ml-production", "subset": "canary"]]])
        #expect(try VirtualServiceRouting.observe(vs, routing: subsetRouting(), rollout: rollout).routes.first?.mirrorPercent == 100)
        let ops = try VirtualServiceRouting.patch(for: vs, routing: subsetRouting(), rollout: rollout,
                                                  split: TrafficSplit(canaryWeight: 0, mirrorPercent: 100))
        #expect(ops.filter { $0["op"] != "test" } == [["op": "add", "path": "/spec/http/1/mirrorPercentage", "value": ["value": 100]]])
    }
}

// MARK: A/B

@Suite struct RoutingABTests {
    let matches = [ABMatch(header: HeaderMatch(name: "X-User-Group", exact: "internal")),
                   ABMatch(cookie: CookieMatch(name: "ranker.exp", value: "a+b"))]

    @Test func abRouteIsInsertedBeforeTheOwnedRouteAndRemovedCleanly() throws {
        let original = try json(subsetVSText)
        let split = TrafficSplit(canaryWeight: 0, abMatch: matches)
        let ops = try VirtualServiceRouting.patch(for: original, routing: subsetRouting(), rollout: rollout, split: split)
        let on = try apply(ops, to: original)
        let http = try #require(on[path: ["spec", "http"]]?.arrayValue)
        #expect(http.map { $0["name"]?.stringValue } == ["health", "sextant-ab-fraud-detector", "primary", "fallback"])
        let cookie = JSONValue.string("^(.*?;\\s*)?(ranker\\.exp=a\\+b)(;.*)?$")
        let ab: JSONValue = [
            "name": "sextant-ab-fraud-detector",
            "match": [
                ["uri": ["prefix": "/v2"], "headers": ["x-user-group": ["exact": "internal"]]],
                ["uri": ["prefix": "/v2"], "headers": ["cookie": ["regex": cookie]]],
                ["uri": ["prefix": "/predict"], "headers": ["x-user-group": ["exact": "internal"]]],
                ["uri": ["prefix": "/predict"], "headers": ["cookie": ["regex": cookie]]],
            ],
            "retries": ["attempts": 3, "perTryTimeout": "2s"],
            "timeout": "10s",
            "headers": ["request": ["set": ["x-team": "risk"]]],
            "route": [["destination": ["host": "fraud-detector", "subset": "canary", "port": ["number": 8080]], "weight": 100]],
        ]
        #expect(http[1] == ab)
        #expect(try edited(on, [["op": "remove", "path": "/spec/http/1"]]) == original)
        #expect(try VirtualServiceRouting.patch(for: on, routing: subsetRouting(), rollout: rollout, split: split).isEmpty)
        #expect(try VirtualServiceRouting.observe(on, routing: subsetRouting(), rollout: rollout).abTestRouteIndex == 1)
        #expect(try VirtualServiceRouting.observe(on, routing: subsetRouting(), rollout: rollout).description == "100/0 + A/B route")

        let offOps = try VirtualServiceRouting.patch(for: on, routing: subsetRouting(), rollout: rollout,
                                                     split: TrafficSplit(canaryWeight: 0))
        #expect(offOps.contains(["op": "test", "path": "/spec/http/1/name", "value": "sextant-ab-fraud-detector"]))
        #expect(try apply(offOps, to: on) == original)
    }

    @Test func changedMatchReplacesTheRouteInPlace() throws {
        let original = try json(subsetVSText)
        let on = try apply(try VirtualServiceRouting.patch(for: original, routing: subsetRouting(), rollout: rollout,
                                                           split: TrafficSplit(canaryWeight: 0, abMatch: matches)), to: original)
        let fewer = TrafficSplit(canaryWeight: 0, abMatch: [matches[0]])
        let ops = try VirtualServiceRouting.patch(for: on, routing: subsetRouting(), rollout: rollout, split: fewer)
        #expect(ops.filter { $0["op"] != "test" }.map { $0["op"] } == ["replace"])
        let updated = try apply(ops, to: on)
        #expect(updated[path: ["spec", "http"]]?[1]?["match"]?.arrayValue?.count == 2)
        #expect(try VirtualServiceRouting.isRouting(updated, routing: subsetRouting(), rollout: rollout, split: fewer))
    }

    @Test func misplacedABRouteIsMovedBack() throws {
        let original = try json(subsetVSText)
        let split = TrafficSplit(canaryWeight: 0, abMatch: matches)
        let on = try apply(try VirtualServiceRouting.patch(for: original, routing: subsetRouting(), rollout: rollout,
                                                           split: split), to: original)
        for target in ["/spec/http/3", "/spec/http/0"] {
            let moved = try edited(on, [["op": "move", "from": "/spec/http/1", "path": .string(target)]])
            let fixed = try apply(try VirtualServiceRouting.patch(for: moved, routing: subsetRouting(), rollout: rollout,
                                                                  split: split), to: moved)
            #expect(fixed == on, "moved to \(target)")
        }
    }

    @Test func unmatchedOwnedRouteGivesPlainMatchBlocks() throws {
        let vs = try json(hostVSText)
        let on = try apply(try VirtualServiceRouting.patch(for: vs, routing: hostRouting(routes: nil), rollout: "churn",
                                                           split: TrafficSplit(canaryWeight: 0, abMatch: [matches[0]])), to: vs)
        let ab = try #require(on[path: ["spec", "http"]]?[0])
        #expect(ab["name"] == "sextant-ab-churn")
        // Route 0 matches x-batch; route 1 matches everything: both combinations, in order.
        #expect(ab["match"] == [["headers": ["x-batch": ["exact": "1"], "x-user-group": ["exact": "internal"]]],
                                ["headers": ["x-user-group": ["exact": "internal"]]]])
        #expect(ab["route"] == [["destination": ["host": "churn-canary.ml-production.svc.cluster.local"], "weight": 100]])
        #expect(ab["timeout"] == "60s")
    }

    @Test func headerAlreadyMatchedByTheOwnedRouteIsAConflict() throws {
        let vs = try json(hostVSText)
        let error = routingError {
            _ = try VirtualServiceRouting.patch(for: vs, routing: hostRouting(), rollout: "churn",
                                                split: TrafficSplit(canaryWeight: 0, abMatch: [ABMatch(header: HeaderMatch(name: "x-batch", prefix: "2"))]))
        }
        #expect(error?.reason == .conflictingMatch)
    }

    @Test func malformedMatchesAreSpecErrors() throws {
        let bad = [ABMatch(), ABMatch(header: HeaderMatch(name: "a", exact: "1"), cookie: CookieMatch(name: "b", value: "2")),
                   ABMatch(header: HeaderMatch(name: "a")), ABMatch(header: HeaderMatch(name: "a", exact: "1", regex: "x")),
                   ABMatch(header: HeaderMatch(name: "", exact: "1")), ABMatch(cookie: CookieMatch(name: "", value: "1"))]
        for match in bad {
            let error = routingError {
                _ = try VirtualServiceRouting.patch(for: try json(subsetVSText), routing: subsetRouting(), rollout: rollout,
                                                    split: TrafficSplit(canaryWeight: 0, abMatch: [match]))
            }
            #expect(error?.reason == .invalidSpec)
            #expect(error?.message.contains("spec.strategy.abTest.match[0]") == true)
        }
    }

    @Test func cookieRegexMatchesTheCookieAnywhereAndOnlyExactly() throws {
        let (header, condition) = try #require(try? VirtualServiceRouting.headerCondition(
            ABMatch(cookie: CookieMatch(name: "ranker.exp", value: "a+b")), field: "f"))
        #expect(header == "cookie")
        let pattern = try #require(condition["regex"]?.stringValue)
        let regex = try NSRegularExpression(pattern: pattern)
        func full(_ text: String) -> Bool {
            regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))?.range == NSRange(text.startIndex..., in: text)
        }
        #expect(full("ranker.exp=a+b"))
        #expect(full("session=1; ranker.exp=a+b; theme=dark"))
        #expect(full("session=1;ranker.exp=a+b"))
        #expect(!full("ranker.exp=a+bc"))
        #expect(!full("rankerXexp=a+b"))
        #expect(!full("xranker.exp=a+b"))
    }
}

// MARK: Version selectors

private let destinationRuleText = """
{
  "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
  "metadata": {"name": "fraud-detector", "namespace": "ml-production", "resourceVersion": "9"},
  "spec": {
    "host": "fraud-detector",
    "trafficPolicy": {"connectionPool": {"http": {"http2MaxRequests": 100}}},
    "subsets": [
      {"name": "stable", "labels": {"app": "fraud-detector"}},
      {"name": "canary"},
      {"name": "debug", "labels": {"app": "fraud-detector", "mlops.sextant.dev/model-version": "old"}}
    ]
  }
}
"""

@Suite struct RoutingSelectorTests {
    let ref = DestinationRuleRef(name: "fraud-detector", host: "fraud-detector.ml-production.svc.cluster.local")

    @Test func subsetsArePointedAtVersionsTouchingOnlyTheLabel() throws {
        let rule = try json(destinationRuleText)
        let ops = try VersionSelectors.destinationRulePatch(rule, ref: ref, stableVersion: "fraud-detector-v2",
                                                            canaryVersion: "fraud-detector-v3")
        #expect(ops.first == ["op": "test", "path": "/metadata/resourceVersion", "value": "9"])
        let patched = try apply(ops, to: rule)
        let expected = try edited(rule, [
            ["op": "add", "path": "/spec/subsets/0/labels/mlops.sextant.dev~1model-version", "value": "fraud-detector-v2"],
            ["op": "add", "path": "/spec/subsets/1/labels", "value": ["mlops.sextant.dev/model-version": "fraud-detector-v3"]],
        ])
        #expect(patched == expected)
        #expect(try VersionSelectors.destinationRulePatch(patched, ref: ref, stableVersion: "fraud-detector-v2",
                                                          canaryVersion: "fraud-detector-v3").isEmpty)
        // Promotion: stable → v3; no rollout: canary follows stable.
        let promoted = try apply(try VersionSelectors.destinationRulePatch(patched, ref: ref, stableVersion: "fraud-detector-v3",
                                                                           canaryVersion: nil), to: patched)
        #expect(promoted[path: ["spec", "subsets"]]?[0]?["labels"] == ["app": "fraud-detector", "mlops.sextant.dev/model-version": "fraud-detector-v3"])
        #expect(promoted[path: ["spec", "subsets"]]?[1]?["labels"] == ["mlops.sextant.dev/model-version": "fraud-detector-v3"])
        #expect(promoted[path: ["spec", "subsets"]]?[2] == rule[path: ["spec", "subsets"]]?[2])
    }

    @Test func subsetGuardsCatchAReorderedList() throws {
        let rule = try edited(try json(destinationRuleText), [["op": "remove", "path": "/metadata/resourceVersion"]])
        let ops = try VersionSelectors.destinationRulePatch(rule, ref: ref, stableVersion: "v2", canaryVersion: "v3")
        let reordered = try edited(rule, [["op": "move", "from": "/spec/subsets/1", "path": "/spec/subsets/0"]])
        #expect(throws: JSONPatchError.self) { try apply(ops, to: reordered) }
    }

    @Test func missingSubsetAndWrongHostAreErrors() throws {
        let rule = try edited(try json(destinationRuleText), [["op": "remove", "path": "/spec/subsets/1"]])
        let error = routingError {
            _ = try VersionSelectors.destinationRulePatch(rule, ref: ref, stableVersion: "v2", canaryVersion: "v3")
        }
        #expect(error?.reason == .subsetNotFound)
        #expect(error?.message.contains("DestinationRule ml-production/fraud-detector has no subset \"canary\" (its subsets: stable, debug)") == true)

        let other = try edited(try json(destinationRuleText), [["op": "replace", "path": "/spec/host", "value": "pricing"]])
        #expect(routingError { _ = try VersionSelectors.destinationRulePatch(other, ref: ref, stableVersion: "v2", canaryVersion: nil) }?.reason == .invalidDestinationRule)
        let noSpec: JSONValue = ["metadata": ["name": "x"]]
        #expect(routingError { _ = try VersionSelectors.destinationRulePatch(noSpec, ref: ref, stableVersion: "v2", canaryVersion: nil) }?.reason == .invalidDestinationRule)
        let badLabels = try edited(try json(destinationRuleText), [["op": "replace", "path": "/spec/subsets/0/labels", "value": "x"]])
        #expect(routingError { _ = try VersionSelectors.destinationRulePatch(badLabels, ref: ref, stableVersion: "v2", canaryVersion: nil) }?.reason == .invalidDestinationRule)
    }

    @Test func serviceSelectorGetsOnlyTheVersionLabel() throws {
        let service: JSONValue = ["metadata": ["name": "churn-stable", "namespace": "ml-production", "resourceVersion": "5"],
                                  "spec": ["selector": ["app": "churn"], "ports": [["port": 80, "targetPort": 8080]]]]
        let ops = try VersionSelectors.servicePatch(service, version: "churn-v4")
        let patched = try apply(ops, to: service)
        #expect(patched == (try edited(service, [["op": "add", "path": "/spec/selector/mlops.sextant.dev~1model-version", "value": "churn-v4"]])))
        #expect(try VersionSelectors.servicePatch(patched, version: "churn-v4").isEmpty)
        let next = try VersionSelectors.servicePatch(patched, version: "churn-v5")
        #expect(next.filter { $0["op"] != "test" } == [["op": "replace", "path": "/spec/selector/mlops.sextant.dev~1model-version", "value": "churn-v5"]])

        let noSelector: JSONValue = ["metadata": ["name": "manual"], "spec": ["ports": [["port": 80]]]]
        let error = routingError { _ = try VersionSelectors.servicePatch(noSelector, version: "v1") }
        #expect(error?.reason == .invalidService)
        #expect(error?.message.contains("Service manual has no spec.selector") == true)
    }
}
