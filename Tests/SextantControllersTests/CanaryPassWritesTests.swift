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

/// Issue 18 item 5: each reconciler pass routes and writes status once, not twice. The real
/// reconciler, driven one pass at a time over the development API server (Istio CRDs, external
/// serving, no analysis: steps advance by the clock), counts the writes of each pass from the
/// server's request log. A pass that changes the weight patches the VirtualService once and
/// writes status once; a rollback (committed before traffic moves, docs/canary.md) writes status
/// exactly twice; a route already moved by a pass that died before its status commit is not
/// written again and raises no RoutingRestored. Issue 21: each pass reads the VirtualService and
/// the DestinationRule once (the check's reads are handed to the route write), not twice.
@Suite(.serialized) struct CanaryPassWritesTests {
    static let namespace = RoutingCluster.namespace

    final class Clock: Sendable {
        let time = Mutex(Date())
        var now: Date { time.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    struct Pass: CustomStringConvertible {
        var statusWrites: Int
        var routeWrites: Int
        /// GETs of the VirtualService and of the DestinationRule, and all GETs of the pass.
        var routeReads = 0
        var ruleReads = 0
        var reads = 0
        var status: CanaryRolloutStatus?

        var description: String {
            "\(statusWrites) status write(s), \(routeWrites) route write(s), \(routeReads) route read(s), "
                + "\(ruleReads) DestinationRule read(s), \(reads) GET(s) in all; then phase \(status?.phase?.rawValue ?? "-"), "
                + "step \(status?.currentStepIndex.map(String.init) ?? "-"), weight \(status?.canaryWeight.map(String.init) ?? "-")"
        }
    }

    @Test func onePassRoutesOnceAndWritesStatusOnceExceptARollback() async throws {
        let cluster = try await RoutingCluster.start()
        try await TrainingEnvironment.installCRDs(cluster.client)
        try await CanaryEnvironment.createRouting(cluster.client, namespace: Self.namespace)
        var options = ManagerOptions()
        options.leaderElect = false
        options.metricsBindAddress = "0"
        options.healthProbeBindAddress = "0"
        let manager = Manager(client: cluster.client, options: options)
        // The informers of addCanaryRolloutController, without its controller: the test runs the passes.
        let rollouts = manager.informer(resource: RolloutServing.canaryRollouts, as: DynamicObject.self)
        let versions = manager.informer(resource: ResourceDescriptor(ModelVersion.self), as: DynamicObject.self)
        let owned = manager.informer(resource: RolloutServing.deployments, labelSelector: SextantLabel.canaryRollout,
                                     as: DynamicObject.self)
        let serving = manager.informer(resource: RolloutServing.deployments, as: ServingDeployment.self)
        let clock = Clock()
        let settings = ControllerSettings(now: { clock.now })
        let reconciler = CanaryRolloutReconciler(
            client: cluster.client, settings: settings, rollouts: rollouts.cache, modelVersions: versions.cache,
            deployments: owned.cache, servingDeployments: serving.cache, analysis: RolloutAnalysis(settings: settings),
            events: manager.eventRecorder())
        let env = CanaryEdgesEndToEndTests.Env(cluster: cluster, task: Task { try await manager.run() })
        defer { Task { await env.stop() } }
        let client = cluster.client
        let log = cluster.server.handler.requestLog
        log.recordsReads = true
        let key = ObjectKey(namespace: Self.namespace, name: "fraud")
        let statusPath = RolloutServing.canaryRollouts.path(namespace: Self.namespace, name: "fraud", subresource: "status")
        let routePath = TrafficRouter.virtualServices().path(namespace: Self.namespace, name: "fraud")
        let rulePath = TrafficRouter.destinationRules().path(namespace: Self.namespace, name: "fraud")

        /// One pass over the rollout as the server has it now (the cache caught up first).
        func pass() async throws -> Pass {
            let current = try await client.get(CanaryRollout.self, name: "fraud", namespace: Self.namespace)
            let caught = try await poll(timeout: .seconds(30), every: .milliseconds(10)) {
                rollouts.cache.get(key)?.metadata.resourceVersion == current.metadata.resourceVersion
                    && versions.cache.list(namespace: Self.namespace).count == 3
            }
            guard caught else { throw TestSetupError("the rollout cache never caught up with the server") }
            let mark = log.mark
            _ = try await reconciler.reconcile(key)
            let writes = log.entries(after: mark)
            let status = try await client.get(CanaryRollout.self, name: "fraud", namespace: Self.namespace).status
            let gets = writes.filter { $0.method == "GET" }
            let pass = Pass(statusWrites: writes.filter { ($0.method == "PUT" || $0.method == "PATCH") && $0.path == statusPath }.count,
                            routeWrites: writes.filter { $0.method == "PATCH" && $0.path == routePath }.count,
                            routeReads: gets.filter { $0.path == routePath }.count,
                            ruleReads: gets.filter { $0.path == rulePath }.count, reads: gets.count, status: status)
            // Issue 21: the check's reads are handed to the route write, so no pass reads a
            // routing object twice (the old pass read both in `check` and again in `route`).
            #expect(pass.routeReads <= 1 && pass.ruleReads <= 1, "each routing object is read once a pass: \(pass)")
            return pass
        }
        func weights() async throws -> (Int64, Int64) {
            let t = try await env.traffic()
            return (t.stable, t.canary)
        }

        // fraud-v1 serves from both of the user's Deployments; steps 20 %, a pause, 60 %, a pause.
        for (name, number) in [("fraud-v1", 1), ("fraud-v2", 2), ("fraud-v3", 3)] as [(String, Int64)] {
            try await env.createVersion(name, number)
        }
        for name in ["fraud-stable", "fraud-canary"] {
            try await env.createDeployment(name, version: "fraud-v1")
            try await env.markRolledOut(name)
        }
        let steps = [CanaryStep(setWeight: 20), CanaryStep(pause: PauseStep(duration: "10m")),
                     CanaryStep(setWeight: 60), CanaryStep(pause: PauseStep(duration: "10m"))]
        try await env.createRollout(RolloutStrategy(canary: CanaryStrategy(steps: steps)), candidate: "fraud-v1")
        var last = Pass(statusWrites: 0, routeWrites: 0, status: nil)
        for _ in 0..<6 where last.status?.phase != .succeeded {
            last = try await pass()
            #expect(last.statusWrites <= 1 && last.routeWrites <= 1, "first version: \(last)")
        }
        #expect(last.status?.stableVersion == "fraud-v1", "\(String(describing: last.status))")

        // fraud-v2: the canary Deployment runs it (GitOps), then the steps pass by the clock.
        try await env.gitOpsUpdate("fraud-canary", to: "fraud-v2")
        try await env.markRolledOut("fraud-canary")
        try await env.setCandidate("fraud-v2")
        var weightChanges = 0
        while weightChanges < 1 {
            let before = try await weights()
            let p = try await pass()
            #expect(p.statusWrites == 1, "every pass of a rollout in motion writes status once: \(p)")
            #expect(p.routeReads == 1 && p.ruleReads == 1, "a pass in motion reads the route and the rule once: \(p)")
            #expect(p.routeWrites <= 1, "\(p)")
            if try await weights() != before {
                weightChanges += 1
                #expect(p.routeWrites == 1 && p.statusWrites == 1, "the pass that moved traffic: \(p)")
                #expect(p.status?.canaryWeight == 20 && p.status?.currentStepIndex == 0, "verified weight in the one write: \(p)")
            }
            guard p.status?.phase != .rolledBack, p.status?.phase != .failed else { break }
        }
        let paused = try await pass()  // step 0 done: the pause, same weight
        #expect(paused.status?.phase == .paused && paused.routeWrites == 0 && paused.statusWrites == 1, "\(paused)")

        // A pass that died after moving traffic to 60 % and before its status commit: the route
        // is ahead of the status. The next pass decides the same step and writes only status.
        clock.advance(11 * 60)
        let router = TrafficRouter(client: client)
        let rollout = try await client.get(CanaryRollout.self, name: "fraud", namespace: Self.namespace)
        _ = try await router.setRoutes(rollout, split: TrafficSplit(canaryWeight: 60))
        let eventsBefore = try await env.events().filter { $0.reason == "RoutingRestored" }.count
        let resumed = try await pass()
        #expect(resumed.status?.currentStepIndex == 2 && resumed.status?.canaryWeight == 60, "\(resumed)")
        #expect(resumed.routeWrites == 0 && resumed.statusWrites == 1, "the route was already there: \(resumed)")
        #expect(try await weights() == (40, 60))
        #expect(try await env.events().filter { $0.reason == "RoutingRestored" }.count == eventsBefore,
                "moving ahead is progress, not an out-of-band edit")

        // An edit out of band while the status holds still: restored in the pass's one route write.
        _ = try await router.setRoutes(rollout, split: TrafficSplit(canaryWeight: 90))
        let restored = try await pass()
        #expect(restored.routeWrites == 1 && restored.statusWrites <= 1, "\(restored)")
        #expect(restored.routeReads == 1, "restored from the check's read (its guard held): \(restored)")
        #expect(try await weights() == (40, 60))
        let restoredEvents = try await env.events().filter { $0.reason == "RoutingRestored" }.count
        #expect(restoredEvents == eventsBefore + 1, "the edit is reported")

        // Abort: the rollback is committed first, then traffic moves, then the verified 0 % is written.
        let abort: JSONValue = ["status": ["requests": ["abort": [
            "requestedAt": .string(KubeTime.formatMicro(Date())), "requestedBy": "test"]]]]
        _ = try await client.send(method: "PATCH", path: statusPath, body: Data(abort.serialized()),
                                  contentType: "application/merge-patch+json")
        let rolledBack = try await pass()
        #expect(rolledBack.status?.phase == .rolledBack && rolledBack.status?.canaryWeight == 0, "\(rolledBack)")
        #expect(rolledBack.statusWrites == 2 && rolledBack.routeWrites == 1,
                "a rollback: commit, route, verified weight (docs/canary.md#one-status-write-per-pass): \(rolledBack)")
        #expect(rolledBack.routeReads == 1 && rolledBack.ruleReads == 1, "\(rolledBack)")
        #expect(try await weights() == (100, 0))
        let settled = try await pass()
        #expect(settled.statusWrites == 0 && settled.routeWrites == 0, "nothing left to write: \(settled)")
    }
}
