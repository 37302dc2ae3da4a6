import Foundation
import SextantAPI
import SextantControllers
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue #6's "done when": the development API server with the Istio CRDs of hack/local-crds
/// (every VirtualService write is validated against them), a real Prometheus scraping exporters of
/// `sextant-server`'s metrics (one healthy version, one failing), and the controller.
@Suite(.serialized) struct CanaryRolloutEndToEndTests {
    static func toolsPresent() throws -> Bool {
        try Tooling.available("prometheus", PrometheusServer.isInstalled)
            && Tooling.available("python3", MetricsExporter.isAvailable)
    }

    static let healthy = (success: 0.999, latency: 0.05)
    static let failing = (success: 0.6, latency: 0.9)

    /// Starts the environment and deploys `fraud-v1` as the first (stable) version.
    static func withStableV1(_ versions: [String: (success: Double, latency: Double)], inProcess: Bool = true,
                             router: TestRouter = .istio, comparisons: [ComparisonMetric]? = nil,
                             configure: (inout CanaryRolloutSpec) -> Void = { _ in }) async throws -> CanaryEnvironment {
        let env = try await CanaryEnvironment.start(versions: versions, gatewayCRDs: router.gatewayCRDs)
        try await router.createObjects(env)
        for (index, name) in versions.keys.sorted().enumerated() {
            try await env.createVersion(name, version: Int64(index + 1))
        }
        try await env.createRollout(candidate: "fraud-v1", routing: router.routing, comparisons: comparisons, configure: configure)
        if inProcess { env.startController() }
        return env
    }

    static func waitForStable(_ env: CanaryEnvironment, _ version: String) async throws {
        try await env.waitFor("\(version) stable") {
            let s = try await env.rollout().status
            return s?.phase == .succeeded && s?.stableVersion == version
        }
    }

    /// The statistical comparison rides along on every router: real Prometheus series of both
    /// versions, an equal candidate passes it and a failing one fails it.
    static func comparison() -> ComparisonMetric {
        var comparison = ComparisonMetric(name: "success-vs-stable", template: .successRate)
        comparison.interval = "5s"
        comparison.minSamples = 100
        return comparison
    }

    /// Once per router (issue 18), on the real CRDs of each, with session affinity by cookie
    /// riding along: set while the candidate has weight, gone after promotion.
    @Test(arguments: TestRouter.allCases)
    func healthyCandidateGoesThroughItsStepsAndIsPromoted(router: TestRouter) async throws {
        guard try Self.toolsPresent() else { return }
        let env = try await Self.withStableV1(["fraud-v1": Self.healthy, "fraud-v2": Self.healthy], router: router,
                                              comparisons: [Self.comparison()]) { spec in
            spec.analysis?.sessionAffinity = SessionAffinity(cookieName: "fraud-canary", maxAge: 600)
        }
        defer { env.stopProcesses(); Task { await env.stop() } }
        try await Self.waitForStable(env, "fraud-v1")
        let userSpec = try await router.userSpec(env)
        let first = try await router.traffic(env)
        #expect(first.stable == 100 && first.canary == 0 && first.stableVersion == "fraud-v1")

        try await env.setCandidate("fraud-v2")
        var weights: [Int64] = []
        var cookies: Set<String> = []
        var cookieRouteSeen = false
        var storedRoutes: [JSONValue] = []
        try await env.waitFor("fraud-v2 promoted", timeout: .seconds(60)) {
            let t = try await router.traffic(env)
            if weights.last != t.canary { weights.append(t.canary) }
            if t.canary > 0, t.canary < 100 {
                let affinity = try await router.affinity(env)
                if let cookie = affinity.setCookie { cookies.insert(cookie) }
                cookieRouteSeen = cookieRouteSeen || affinity.cookieRoute
                if router == .httpRoute, storedRoutes.count < 3 { storedRoutes.append(try await env.httpRoute()) }
            }
            let s = try await env.rollout().status
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v2"
        }
        #expect(weights.filter { $0 != 0 } == [25, 50], "canary weights seen: \(weights)")
        #expect(cookies == ["fraud-canary=sextant_fraud_fraud-v2; Max-Age=600"], "the canary's Set-Cookie: \(cookies)")
        #expect(cookieRouteSeen, "the cookie route to the canary while it had weight")
        let afterPromotion = try await router.affinity(env)
        #expect(afterPromotion.setCookie == nil && !afterPromotion.cookieRoute, "affinity removed on promotion")
        if router == .httpRoute {
            storedRoutes.append(try await env.httpRoute())
            let violations = try await CanaryEnvironment.gatewayCELViolations(storedRoutes)
            #expect(violations == nil, "the HTTPRoute CRD's CEL rules refuse a route Sextant stored: \(violations ?? "")")
        }
        let end = try await router.traffic(env)
        #expect(end.stable == 100 && end.canary == 0)
        #expect(end.stableVersion == "fraud-v2", "the stable subset now selects the promoted version")

        let status = try #require(try await env.rollout().status)
        #expect(status.failedChecks == 0)
        #expect(status.measurements?.allSatisfy { $0.outcome == .pass } == true, "\(status.measurements ?? [])")
        let success = status.measurements?.first { $0.metric == "success-rate" }
        #expect(success?.query?.contains(#"version="fraud-v2""#) == true)
        #expect(success?.query?.contains(#"namespace="ml-production""#) == true)
        #expect((success?.value ?? 0) > 0.95)
        #expect(status.conditions?.contains { $0.type == "Promoted" && $0.status == "True" } == true)
        let compared = status.measurements?.first { $0.metric == "success-vs-stable" }
        #expect(compared?.outcome == .pass && compared?.query?.contains(#"version="fraud-v2""#) == true,
                "equal candidate vs stable: \(String(describing: compared))")
        #expect(try await router.userSpec(env) == userSpec, "only the weights changed")

        try await env.waitFor("ModelVersion stages") {
            let v2 = try await env.modelVersion("fraud-v2").status?.phase
            let v1 = try await env.modelVersion("fraud-v1").status?.phase
            return v2 == .production && v1 == .archived
        }
        try await env.waitFor("old stable scaled down") {
            let d = try JSONValue.decode(try await env.client.send(method: "GET", path: RolloutServing.deployments.path(
                namespace: CanaryEnvironment.namespace, name: "fraud-fraud-v1")))
            return d["spec"]?["replicas"]?.intValue == 0
        }
    }

    /// Once per router (issue 18), on the real CRDs of each.
    @Test(arguments: TestRouter.allCases)
    func failingCandidateIsRolledBackWithinOneInterval(router: TestRouter) async throws {
        guard try Self.toolsPresent() else { return }
        let env = try await Self.withStableV1(["fraud-v1": Self.healthy, "fraud-v3": Self.failing], router: router,
                                              comparisons: [Self.comparison()]) { spec in
            spec.analysis?.sessionAffinity = SessionAffinity(cookieName: "fraud-canary")
        }
        defer { env.stopProcesses(); Task { await env.stop() } }
        try await Self.waitForStable(env, "fraud-v1")
        let userSpec = try await router.userSpec(env)

        try await env.setCandidate("fraud-v3")
        var sawCanaryTraffic = false
        var zeroAt: Date?
        try await env.waitFor("fraud-v3 rolled back with traffic back on stable", timeout: .seconds(60)) {
            let t = try await router.traffic(env)
            if t.canary > 0 { sawCanaryTraffic = true }
            if sawCanaryTraffic, t.canary == 0, zeroAt == nil { zeroAt = Date() }
            guard zeroAt != nil else { return false }
            let phase = try await env.rollout().status?.phase
            return phase == .rolledBack
        }
        let status = try #require(try await env.rollout().status)
        #expect(status.phase == .rolledBack)
        #expect(status.failedChecks == 2)
        #expect(status.stableVersion == "fraud-v1")
        let message = status.message ?? ""
        #expect(message.contains("AnalysisFailed") && message.contains("failureLimit 2"), "\(message)")
        #expect(message.contains("success-rate") || message.contains("latency-p99"), "names the metric: \(message)")
        let compared = status.measurements?.first { $0.metric == "success-vs-stable" }
        #expect(compared?.outcome == .fail && (compared?.value ?? 1) < 0.05, "60% vs 99.9%: \(String(describing: compared))")
        let t = try await router.traffic(env)
        #expect(t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v1")
        let afterRollback = try await router.affinity(env)
        #expect(afterRollback.setCookie == nil && !afterRollback.cookieRoute, "session affinity removed on rollback")
        if router == .httpRoute {
            let violations = try await CanaryEnvironment.gatewayCELViolations([try await env.httpRoute()])
            #expect(violations == nil, "the HTTPRoute CRD's CEL rules refuse the route after rollback: \(violations ?? "")")
        }
        #expect(try await router.userSpec(env) == userSpec, "only the weights changed")

        // Threshold breach (the analysis run that reached the failure limit) to canary weight 0.
        let breach = try #require(status.lastAnalysisTime.flatMap(KubeTime.parse))
        let zero = try #require(zeroAt)
        let seconds = zero.timeIntervalSince(breach)
        print("\(router) canary rollback: threshold breach to canary weight 0 took \(String(format: "%.3f", seconds)) s (polling every 20 ms)")
        #expect(seconds < 2, "within one analysis interval (2 s): \(seconds) s")

        try await env.waitFor("ModelVersion marked rolled back") {
            let v3 = try await env.modelVersion("fraud-v3").status
            return v3?.phase == .rolledBack && v3?.rolledBack?.canaryRollout == "fraud"
        }
        // Events are written after the status that caused them.
        try await env.waitFor("the RolledBack Warning event") {
            try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
                .contains { $0.type == "Warning" && $0.reason == "RolledBack" }
        }

        // The candidate is scaled down after abortScaleDownDelaySeconds (1 s here).
        try await env.waitFor("fraud-v3 scaled to 0") {
            let d = try JSONValue.decode(try await env.client.send(method: "GET", path: RolloutServing.deployments.path(
                namespace: CanaryEnvironment.namespace, name: "fraud-fraud-v3")))
            return d["spec"]?["replicas"]?.intValue == 0
        }
        // Fixed, then retried by request: it serves again and goes through to promotion.
        try await env.exporters["fraud-v3"]?.configure(successRate: 0.999, latencySeconds: 0.05)
        try await Task.sleep(for: .seconds(6))  // the 5 s query window holds only healthy samples
        let _: CanaryRollout = try await env.client.patch(
            CanaryRollout.self, name: "fraud", namespace: CanaryEnvironment.namespace,
            .merge(["status": ["requests": ["retry": ["requestedAt": .string(KubeTime.formatMicro(Date())), "requestedBy": "test"]]]]),
            subresource: "status")
        try await Self.waitForStable(env, "fraud-v3")
        let retried = try await env.rollout().status
        #expect(retried?.requests == nil && retried?.lastHandledRequest != nil, "the request was acknowledged")
        try await env.waitFor("fraud-v3 in production") { try await env.modelVersion("fraud-v3").status?.phase == .production }
    }

    @Test func prometheusDownHoldsTheRolloutThenFailsIt() async throws {
        guard try Self.toolsPresent() else { return }
        let env = try await Self.withStableV1(["fraud-v1": Self.healthy, "fraud-v2": Self.healthy])
        defer { env.stopProcesses(); Task { await env.stop() } }
        try await Self.waitForStable(env, "fraud-v1")
        try await env.setCandidate("fraud-v2")
        try await env.waitFor("first canary step") { try await env.traffic().canary == 25 }
        env.prometheus.stop()
        let heldAt = try await env.rollout().status?.currentStepIndex ?? 0

        var sawHold = false
        try await env.waitFor("the rollout fails on query errors", timeout: .seconds(60)) {
            let s = try await env.rollout().status
            #expect(s?.stableVersion == "fraud-v1", "never promoted")
            #expect((s?.currentStepIndex ?? 0) <= heldAt + 1, "no step advances on errors")
            if s?.phase == .waiting, s?.reason == "AnalysisError", s?.heldPhase == .progressing,
               (s?.consecutiveErrors ?? 0) >= 1 { sawHold = true }
            return s?.phase == .failed
        }
        let status = try #require(try await env.rollout().status)
        #expect(sawHold, "errors held the rollout before failing it")
        #expect(status.consecutiveErrors == 3)
        #expect(status.failedChecks == 0, "query errors are not failed checks")
        #expect(status.message?.contains("consecutiveErrorLimit 3") == true, "\(status.message ?? "")")
        #expect(status.measurements?.contains { $0.outcome == .error && ($0.message ?? "").contains("127.0.0.1") } == true)
        // The weights follow in the same pass, right after the status write.
        try await env.waitFor("traffic back on fraud-v1", timeout: .seconds(2)) {
            let t = try await env.traffic()
            return t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v1"
        }
    }

    /// Once per router (issue 18): the step index and the weights come back from the committed
    /// status whichever object carries them.
    @Test(arguments: TestRouter.allCases)
    func killedControllerResumesWithoutSkippingOrRepeatingSteps(router: TestRouter) async throws {
        guard try Self.toolsPresent() else { return }
        guard try Tooling.available("sextant-controller next to the test bundle (swift build --build-tests)",
                                    CanaryEnvironment.controllerBinary != nil),
              let binary = CanaryEnvironment.controllerBinary else { return }
        let env = try await Self.withStableV1(["fraud-v1": Self.healthy, "fraud-v2": Self.healthy], inProcess: false,
                                       router: router)
        defer { env.stopProcesses(); Task { await env.stop() } }
        var controller = try env.controllerProcess(binary)
        defer { controller.stop() }
        try await Self.waitForStable(env, "fraud-v1")

        try await env.setCandidate("fraud-v2")
        try await env.waitFor("first canary step") { try await router.traffic(env).canary == 25 }
        kill(controller.process.processIdentifier, SIGKILL)
        controller.process.waitUntilExit()
        let atKill = try #require(try await env.rollout().status)
        try await Task.sleep(for: .seconds(1))
        controller = try env.controllerProcess(binary)

        var steps: [Int] = [atKill.currentStepIndex ?? 0]
        try await env.waitFor("fraud-v2 promoted after the restart", timeout: .seconds(60)) {
            let s = try await env.rollout().status
            if let i = s?.currentStepIndex, steps.last != i { steps.append(i) }
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v2"
        }
        #expect(steps == steps.sorted(), "the step index never went back: \(steps)")
        // Events are written after the status that caused them.
        try await env.waitFor("the Promoted event") {
            try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
                .contains { $0.reason == "Promoted" && ($0.note ?? "").contains("fraud-v2") }
        }
        let events = try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
        func count(_ reason: String, _ text: String) -> Int {
            events.filter { $0.reason == reason && ($0.note ?? "").contains(text) }
                .reduce(0) { $0 + ($1.series?.count ?? 1) }
        }
        #expect(count("RolloutStarted", "fraud-v2") == 1, "the rollout was not restarted")
        #expect(count("StepAdvanced", "step 1") == 1, "step 1 entered once")
        #expect(count("StepAdvanced", "end of the steps") == 1, "the last step completed once")
        #expect(count("Promoted", "fraud-v2") == 1, "\(events.map { "\($0.reason ?? ""): \($0.note ?? "")" })")
        let t = try await router.traffic(env)
        #expect(t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v2")
    }
}
