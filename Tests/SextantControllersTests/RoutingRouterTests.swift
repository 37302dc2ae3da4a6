import Foundation
import SextantAPI
import SextantControllers
import SextantDevServer
import SextantDomain
import SextantJSON
import SextantKube
import Testing

/// TrafficRouter against the development API server with the Istio CRDs of hack/local-crds: every
/// VirtualService write below is validated against their schema (cross-checked with Istio's own).
@Suite(.serialized) struct RoutingRouterTests {
    private func weights(_ vs: JSONValue, route: Int = 1) -> [JSONValue?] {
        let entries = vs[path: ["spec", "http"]]?[route]?["route"]?.arrayValue ?? []
        return entries.map { $0["weight"] }
    }

    private func subsetLabels(_ rule: JSONValue) -> [JSONValue?] {
        (rule[path: ["spec", "subsets"]]?.arrayValue ?? []).map { $0["labels"]?[SextantLabel.modelVersion] }
    }

    @Test func schemaValidationIsActiveForVirtualServiceWrites() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        let router = TrafficRouter(client: cluster.client)
        // A weight of the wrong type passes every check of ours but not Istio's schema.
        let error = await expectRoutingError {
            _ = try await router.patch(cluster.virtualServices, name: "fraud-detector", namespace: RoutingCluster.namespace,
                                       ops: [["op": "replace", "path": "/spec/http/1/route/1/weight", "value": "ten"]],
                                       notFound: .virtualServiceNotFound, invalid: .invalidVirtualService)
        }
        #expect(error?.reason == .invalidVirtualService)
        #expect(error?.message.contains("spec.http[1].route[1].weight") == true)
        // A mirror without its required host, likewise.
        let mirror = await expectRoutingError {
            _ = try await router.patch(cluster.virtualServices, name: "fraud-detector", namespace: RoutingCluster.namespace,
                                       ops: [["op": "add", "path": "/spec/http/1/mirror", "value": ["subset": "canary"]]],
                                       notFound: .virtualServiceNotFound, invalid: .invalidVirtualService)
        }
        #expect(mirror?.reason == .invalidVirtualService)
        #expect(weights(try await cluster.get(cluster.virtualServices, "fraud-detector")) == [100, 0])
    }

    @Test func subsetLevelStepsWithReadBackAndPromotion() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        let original = try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        let originalRule = try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout()

        // Step 0: subsets pointed at the versions; the split is already 100/0.
        var result = try await router.route(rollout, stableVersion: "fraud-detector-v2", canaryVersion: "fraud-detector-v3",
                                            split: TrafficSplit(canaryWeight: 0), manageSelectors: true)
        #expect(!result.changed && result.selectorsChanged)
        let rule = try await cluster.get(cluster.destinationRules, "fraud-detector")
        #expect(subsetLabels(rule) == ["fraud-detector-v2", "fraud-detector-v3"])
        #expect(rule[path: ["spec", "subsets"]]?[0]?["labels"]?["app"] == "fraud-detector")
        #expect(rule[path: ["spec", "trafficPolicy"]] == originalRule[path: ["spec", "trafficPolicy"]])

        for weight in [10, 50, 100] {
            result = try await router.route(rollout, stableVersion: "fraud-detector-v2", canaryVersion: "fraud-detector-v3",
                                            split: TrafficSplit(canaryWeight: weight), manageSelectors: true)
            #expect(result.changed && !result.selectorsChanged)
            #expect(result.observed.canaryWeight == weight)
            #expect(weights(try await cluster.get(cluster.virtualServices, "fraud-detector")) == [.int(Int64(100 - weight)), .int(Int64(weight))])
        }
        // Same split again: nothing written.
        result = try await router.route(rollout, stableVersion: "fraud-detector-v2", canaryVersion: "fraud-detector-v3",
                                        split: TrafficSplit(canaryWeight: 100), manageSelectors: true)
        #expect(!result.changed && !result.selectorsChanged)

        // Promotion, in the safe order: stable subset → v3 first (both subsets now serve v3),
        // then weights back to 100/0.
        result = try await router.route(rollout, stableVersion: "fraud-detector-v3", canaryVersion: nil,
                                        split: TrafficSplit(canaryWeight: 100), manageSelectors: true)
        #expect(!result.changed && result.selectorsChanged)
        #expect(subsetLabels(try await cluster.get(cluster.destinationRules, "fraud-detector")) == ["fraud-detector-v3", "fraud-detector-v3"])
        result = try await router.route(rollout, stableVersion: "fraud-detector-v3", canaryVersion: nil,
                                        split: TrafficSplit(canaryWeight: 0), manageSelectors: true)
        #expect(result.changed && result.observed.description == "100/0")

        // After the full cycle every route and user field is as the user wrote it.
        let final = try await cluster.get(cluster.virtualServices, "fraud-detector")
        #expect(final["spec"] == original["spec"])
        #expect(final[path: ["metadata", "labels"]] == original[path: ["metadata", "labels"]])
        #expect(try await router.observe(rollout).canaryWeight == 0)
    }

    @Test func hostLevelSetsServiceSelectorsOnlyWhenManaging() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.createHostLevel()
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.hostRollout()

        // External serving: the user's Services are left alone, weights still move.
        var result = try await router.route(rollout, stableVersion: "churn-v4", canaryVersion: "churn-v5",
                                            split: TrafficSplit(canaryWeight: 20), manageSelectors: false)
        #expect(result.changed && !result.selectorsChanged)
        #expect(try await cluster.get(TrafficRouter.services, "churn-stable")[path: ["spec", "selector"]] == ["app": "churn"])
        #expect(weights(try await cluster.get(cluster.virtualServices, "churn"), route: 0) == [80, 20])

        result = try await router.route(rollout, stableVersion: "churn-v4", canaryVersion: "churn-v5",
                                        split: TrafficSplit(canaryWeight: 40), manageSelectors: true)
        #expect(result.changed && result.selectorsChanged)
        #expect(result.previous.description == "80/20" && result.observed.description == "60/40")
        let stable = try await cluster.get(TrafficRouter.services, "churn-stable")
        let canary = try await cluster.get(TrafficRouter.services, "churn-canary")
        #expect(stable[path: ["spec", "selector"]] == ["app": "churn", "mlops.sextant.dev/model-version": "churn-v4"])
        #expect(canary[path: ["spec", "selector"]] == ["app": "churn", "mlops.sextant.dev/model-version": "churn-v5"])
        #expect(stable[path: ["spec", "ports"]]?[0]?["targetPort"] == 8080)
        let vs = try await cluster.get(cluster.virtualServices, "churn")
        #expect(vs[path: ["spec", "http"]]?[0]?["timeout"] == "30s")
    }

    /// Issue 21: `route` writes from the objects `check` read (no second GET); when one of them
    /// changed in between, its guarded patch fails, everything is read once more and the write
    /// made from the fresh reads, keeping the other writer's change.
    @Test func routeWritesFromTheCheckReadsAndReadsAgainWhenTheyAreStale() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.createHostLevel()
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.hostRollout()
        let log = cluster.server.handler.requestLog
        log.recordsReads = true
        let routePath = cluster.virtualServices.path(namespace: RoutingCluster.namespace, name: "churn")

        var mark = log.mark
        let check = try await router.check(rollout, stableVersion: "churn-v4", canaryVersion: "churn-v5",
                                           split: TrafficSplit(canaryWeight: 20))
        #expect(!check.routes && check.observed.description == "100/0")
        #expect(log.entries(after: mark).filter { $0.method == "GET" }.count == 3, "the route and both Services, once each")
        #expect(check.reads.paths.count == 3)

        mark = log.mark
        var result = try await router.route(rollout, stableVersion: "churn-v4", canaryVersion: "churn-v5",
                                            split: TrafficSplit(canaryWeight: 20), manageSelectors: true, reads: check.reads)
        var entries = log.entries(after: mark)
        #expect(entries.filter { $0.method == "GET" }.isEmpty, "written from the check's reads: \(entries)")
        #expect(entries.filter { $0.method == "PATCH" }.count == 3, "both selectors and the route: \(entries)")
        #expect(result.changed && result.selectorsChanged && result.observed.description == "80/20")
        #expect(weights(try await cluster.get(cluster.virtualServices, "churn"), route: 0) == [80, 20])

        // The user edits the route between this pass's check and its write.
        let stale = try await router.check(rollout, stableVersion: "churn-v4", canaryVersion: "churn-v5",
                                           split: TrafficSplit(canaryWeight: 40)).reads
        try await cluster.edit(cluster.virtualServices, "churn", [["op": "replace", "path": "/spec/http/0/timeout", "value": "45s"]])
        mark = log.mark
        result = try await router.route(rollout, stableVersion: "churn-v4", canaryVersion: "churn-v5",
                                        split: TrafficSplit(canaryWeight: 40), manageSelectors: true, reads: stale)
        entries = log.entries(after: mark)
        let routePatches = entries.filter { $0.method == "PATCH" && $0.path == routePath }
        #expect(routePatches.count == 2 && routePatches.first.map { $0.status >= 400 } == true,
                "the stale write is refused, the fresh one lands: \(entries)")
        #expect(entries.filter { $0.method == "GET" }.count == 3, "read again once: \(entries)")
        #expect(result.changed && result.observed.description == "60/40")
        let vs = try await cluster.get(cluster.virtualServices, "churn")
        #expect(weights(vs, route: 0) == [60, 40])
        #expect(vs[path: ["spec", "http"]]?[0]?["timeout"] == "45s", "the user's edit is kept")
    }

    @Test func outOfBandEditIsRestoredAndReported() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout()
        let split = TrafficSplit(canaryWeight: 10)
        _ = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3", split: split, manageSelectors: true)

        // Someone sets 30/70 by hand.
        try await cluster.edit(cluster.virtualServices, "fraud-detector",
                               [["op": "replace", "path": "/spec/http/1/route/0/weight", "value": 30],
                                ["op": "replace", "path": "/spec/http/1/route/1/weight", "value": 70]])
        #expect(try await router.observe(rollout).description == "30/70")
        let result = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3", split: split, manageSelectors: true)
        #expect(result.changed)
        #expect("VirtualService fraud-detector: weights \(result.previous) restored to \(result.observed)"
                == "VirtualService fraud-detector: weights 30/70 restored to 90/10")
        #expect(weights(try await cluster.get(cluster.virtualServices, "fraud-detector")) == [90, 10])
    }

    @Test func concurrentEditBetweenReadAndPatchIsAConflictNotAnOverwrite() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout()

        // What route() does, with a user's edit between the read and the write.
        let read = try await cluster.get(cluster.virtualServices, "fraud-detector")
        let ops = try VirtualServiceRouting.patch(for: read, routing: rollout.spec.routing, rollout: "fraud-detector",
                                                  split: TrafficSplit(canaryWeight: 10))
        try await cluster.edit(cluster.virtualServices, "fraud-detector",
                               [["op": "move", "from": "/spec/http/2", "path": "/spec/http/1"]])
        do {
            _ = try await router.patch(cluster.virtualServices, name: "fraud-detector", namespace: RoutingCluster.namespace,
                                       ops: ops, notFound: .virtualServiceNotFound, invalid: .invalidVirtualService)
            Issue.record("the patch overwrote a concurrent edit")
        } catch let error as KubeError {
            #expect(error.reason == .conflict && error.code == 409)
            #expect(error.status.message?.contains("VirtualService ml-production/fraud-detector changed since it was read") == true)
        }
        let after = try await cluster.get(cluster.virtualServices, "fraud-detector")
        #expect(after[path: ["spec", "http"]]?.arrayValue?.map { $0["name"] } == ["health", "fallback", "primary"])
        #expect(weights(after, route: 1) == [100])
        #expect(weights(after, route: 2) == [100, 0])

        // Without the resourceVersion guard, the route-name guard alone still refuses it.
        let unguarded = Array(ops.dropFirst())
        #expect(unguarded.first?["path"] == "/spec/http/1/name")
        await #expect(throws: KubeError.self) {
            _ = try await router.patch(cluster.virtualServices, name: "fraud-detector", namespace: RoutingCluster.namespace,
                                       ops: unguarded, notFound: .virtualServiceNotFound, invalid: .invalidVirtualService)
        }
        // The next reconcile reads again and lands on the right route.
        try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        let result = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                            split: TrafficSplit(canaryWeight: 10), manageSelectors: true)
        #expect(result.observed.routes.map(\.index) == [2] && result.observed.canaryWeight == 10)
    }

    @Test func missingObjectsGiveTheirReasons() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout()
        func route(_ rollout: CanaryRollout) async -> RoutingError? {
            await expectRoutingError {
                _ = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                           split: TrafficSplit(canaryWeight: 10), manageSelectors: true)
            }
        }
        var error = await route(rollout)
        #expect(error?.reason == .destinationRuleNotFound)
        #expect(error?.message == "DestinationRule ml-production/fraud-detector not found (networking.istio.io/v1beta1)")

        try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        error = await route(rollout)
        #expect(error?.reason == .virtualServiceNotFound)
        #expect(error?.message.contains("VirtualService ml-production/fraud-detector not found") == true)

        try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        error = await route(RoutingFixtures.subsetRollout(routes: ["main"]))
        #expect(error?.reason == .routeNotFound)

        try await cluster.edit(cluster.virtualServices, "fraud-detector", [["op": "remove", "path": "/spec/http/1/route/1"]])
        error = await route(rollout)
        #expect(error?.reason == .destinationNotFound)
        #expect(error?.message.contains("route \"primary\" has no destination for the canary") == true)

        try await cluster.edit(cluster.destinationRules, "fraud-detector", [["op": "remove", "path": "/spec/subsets/1"]])
        error = await route(rollout)
        #expect(error?.reason == .subsetNotFound)
        #expect(error?.message.contains("has no subset \"canary\"") == true)

        var hostRollout = RoutingFixtures.hostRollout()
        hostRollout.spec.routing.virtualService?.name = "fraud-detector"
        error = await route(hostRollout)
        #expect(error?.reason == .serviceNotFound)
        #expect(error?.message == "Service ml-production/churn-stable not found (v1)")
    }

    @Test func shadowMirrorOnAndOff() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        let original = try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout()

        var result = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                            split: TrafficSplit(canaryWeight: 0, mirrorPercent: 50), manageSelectors: true)
        #expect(result.changed && result.observed.description == "100/0 mirror 50%")
        var route = try #require(try await cluster.get(cluster.virtualServices, "fraud-detector")[path: ["spec", "http"]]?[1])
        #expect(route["mirror"] == ["host": "fraud-detector", "subset": "canary", "port": ["number": 8080]])
        #expect(route["mirrorPercentage"]?["value"]?.doubleValue == 50)
        #expect(weights(try await cluster.get(cluster.virtualServices, "fraud-detector")) == [100, 0])

        result = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                        split: TrafficSplit(canaryWeight: 0, mirrorPercent: 100), manageSelectors: true)
        #expect(result.changed && result.observed.routes.first?.mirrorPercent == 100)

        result = try await router.route(rollout, stableVersion: "v2", canaryVersion: nil,
                                        split: TrafficSplit(canaryWeight: 0), manageSelectors: true)
        #expect(result.changed && result.observed.description == "100/0")
        let final = try await cluster.get(cluster.virtualServices, "fraud-detector")
        route = try #require(final[path: ["spec", "http"]]?[1])
        #expect(route["mirror"] == nil && route["mirrorPercentage"] == nil)
        #expect(final["spec"] == original["spec"])
    }

    @Test func abRouteAddedThenRemoved() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        let original = try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout()
        let matches = [ABMatch(header: HeaderMatch(name: "x-user-group", exact: "internal")),
                       ABMatch(header: HeaderMatch(name: "user-agent", regex: ".*Beta.*")),
                       ABMatch(cookie: CookieMatch(name: "ranker-experiment", value: "candidate"))]

        var result = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                            split: TrafficSplit(canaryWeight: 0, abMatch: matches), manageSelectors: true)
        #expect(result.changed && result.observed.abTestRouteIndex == 1)
        var vs = try await cluster.get(cluster.virtualServices, "fraud-detector")
        let http = try #require(vs[path: ["spec", "http"]]?.arrayValue)
        #expect(http.map { $0["name"] } == ["health", "sextant-ab-fraud-detector", "primary", "fallback"])
        #expect(http[1]["match"]?.arrayValue?.count == 3)
        #expect(http[1]["match"]?[2]?["headers"]?["cookie"]?["regex"] == "^(.*?;\\s*)?(ranker-experiment=candidate)(;.*)?$")
        #expect(http[1]["match"]?[0]?["uri"] == ["prefix": "/v2"])
        #expect(http[1]["route"] == [["destination": ["host": "fraud-detector", "subset": "canary", "port": ["number": 8080]], "weight": 100]])
        #expect(weights(vs, route: 2) == [100, 0])

        // Idempotent while the test runs.
        result = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                        split: TrafficSplit(canaryWeight: 0, abMatch: matches), manageSelectors: true)
        #expect(!result.changed)

        result = try await router.route(rollout, stableVersion: "v2", canaryVersion: nil,
                                        split: TrafficSplit(canaryWeight: 0), manageSelectors: true)
        #expect(result.changed && result.observed.abTestRouteIndex == nil)
        vs = try await cluster.get(cluster.virtualServices, "fraud-detector")
        #expect(vs["spec"] == original["spec"])
    }

    @Test func blueGreenSwitchesAtOnceLeavingUnownedRoutesAlone() async throws {
        let cluster = try await RoutingCluster.start()
        defer { Task { await cluster.stop() } }
        let original = try await cluster.create(cluster.virtualServices, RoutingFixtures.subsetVirtualService)
        try await cluster.create(cluster.destinationRules, RoutingFixtures.destinationRule)
        let router = TrafficRouter(client: cluster.client)
        let rollout = RoutingFixtures.subsetRollout(routes: [])
        // `routes` empty owns every route: give the two unowned ones stable/canary destinations first.
        let error = await expectRoutingError {
            _ = try await router.route(rollout, stableVersion: "v2", canaryVersion: "v3",
                                       split: TrafficSplit(canaryWeight: 100), manageSelectors: true)
        }
        #expect(error?.reason == .destinationNotFound)
        #expect(error?.message.contains("route \"health\"") == true)
        #expect(try await cluster.get(cluster.virtualServices, "fraud-detector")["spec"] == original["spec"])

        let named = RoutingFixtures.subsetRollout()
        let result = try await router.route(named, stableVersion: "v2", canaryVersion: "v3",
                                            split: TrafficSplit(canaryWeight: 100), manageSelectors: true)
        #expect(result.previous.description == "100/0" && result.observed.description == "0/100")
        let vs = try await cluster.get(cluster.virtualServices, "fraud-detector")
        #expect(vs[path: ["spec", "http"]]?[0] == original[path: ["spec", "http"]]?[0])
        #expect(vs[path: ["spec", "http"]]?[2] == original[path: ["spec", "http"]]?[2])
    }
}
