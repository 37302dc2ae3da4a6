import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Issue 18 item 4 end to end: the controller, a real Prometheus scraping `sextant-server`-style
/// exporters, a real HTTP receiver for the webhook (hack/testservers/webhook_receiver.py), the
/// development API server with Istio's CRDs. One rollout exercises both gates (to keep CI time
/// down): a ConfirmTrafficIncrease webhook that refuses twice holds the first increase at weight
/// 0, then each increase is asked; after promotion the rollback window keeps the previous version
/// serving, and a degradation within it routes everything back to it.
@Suite(.serialized) struct CanaryGatesEndToEndTests {
    @Test func confirmTrafficIncreaseThenARollbackWithinTheWindow() async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent() else { return }
        let env = try await CanaryEnvironment.start(versions: ["fraud-v1": CanaryRolloutEndToEndTests.healthy,
                                                               "fraud-v2": CanaryRolloutEndToEndTests.healthy])
        defer { env.stopProcesses(); Task { await env.stop() } }
        let receiver = try await RolloutWebhooksTests.Receiver.start()
        defer { receiver.process.stop() }
        try await env.createRouting()
        try await env.createVersion("fraud-v1", version: 1)
        try await env.createVersion("fraud-v2", version: 2)
        // 503 to the first four calls, then 200.
        // Refused four times: the hold lasts about four intervals, long enough for the polling
        // below to see it on a loaded machine (with two refusals it was missed once at load 15).
        let gatePath = "/flaky/4"
        try await env.createRollout(candidate: "fraud-v1") { spec in
            var gate = RolloutWebhook(name: "capacity", type: .confirmTrafficIncrease, url: receiver.base + gatePath)
            gate.retries = 0
            gate.timeout = "2s"
            spec.webhooks = [gate]
            spec.analysis?.rollbackWindow = RollbackWindowSpec(intervals: 15)  // 30 s at the 2 s interval
            var latency = AnalysisMetric(name: "background-latency", template: .latencyP99, thresholdRange: ThresholdRange(max: 0.5))
            latency.interval = "5s"
            var background = BackgroundAnalysis(metrics: [latency])
            background.interval = "1s"
            spec.analysis?.background = background
        }
        env.startController()
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v1")
        func gateCalls() throws -> Int { try receiver.calls().filter { $0["path"]?.stringValue == gatePath }.count }
        #expect(try gateCalls() == 0, "the first version has no weight steps")

        // ConfirmTrafficIncrease: refused four times (weight stays 0), then each increase confirmed.
        try await env.setCandidate("fraud-v2")
        var weights: [Int64] = []
        var sawHold = false
        var callsAtFirstTraffic: Int?
        var backgroundRuns: [Int64: Set<String>] = [:]  // canary weight → times of background measurements
        try await env.waitFor("fraud-v2 promoted", timeout: .seconds(60)) {
            let t = try await env.traffic()
            if weights.last != t.canary { weights.append(t.canary) }
            if t.canary > 0, callsAtFirstTraffic == nil { callsAtFirstTraffic = try gateCalls() }
            let s = try await env.rollout().status
            if s?.reason == RolloutGateReason.awaitingConfirmTrafficIncrease, t.canary == 0 { sawHold = true }
            if let m = s?.measurements?.first(where: { $0.metric == "background-latency" }), s?.phase == .progressing || s?.phase == .paused {
                backgroundRuns[t.canary, default: []].insert(m.time)
            }
            return s?.phase == .succeeded && s?.stableVersion == "fraud-v2"
        }
        #expect(sawHold, "phase reason AwaitingConfirmTrafficIncrease while the webhook refused")
        #expect((callsAtFirstTraffic ?? 0) >= 5, "no traffic before the fifth call confirmed: \(String(describing: callsAtFirstTraffic))")
        #expect(weights.filter { $0 != 0 } == [25, 50], "canary weights seen: \(weights)")
        #expect(try gateCalls() >= 6, "asked again before 25 → 50")
        // Background analysis ran across the steps, on its own 1 s interval, without failures.
        #expect((backgroundRuns[25]?.count ?? 0) >= 1 && (backgroundRuns[50]?.count ?? 0) >= 1, "\(backgroundRuns)")
        #expect(backgroundRuns.values.reduce(0) { $0 + $1.count } >= 3, "\(backgroundRuns)")
        #expect(try await env.rollout().status?.failedChecks == 0)

        // The rollback window: v1 keeps running past scaleDownDelaySeconds (1 s).
        let window = try #require(try await env.rollout().status?.rollbackWindow)
        #expect(window.version == "fraud-v2" && window.previousStable == "fraud-v1")
        func replicas(_ name: String) async throws -> Int64? {
            try JSONValue.decode(try await env.client.send(method: "GET", path: RolloutServing.deployments.path(
                namespace: CanaryEnvironment.namespace, name: name)))["spec"]?["replicas"]?.intValue
        }
        try await Task.sleep(for: .seconds(2))
        #expect(try await replicas("fraud-fraud-v1") == 1, "the previous stable version stays up during the window")
        #expect(try await env.rollout().status?.phase == .succeeded)

        // fraud-v2 degrades within the window: failureLimit (2) failed checks route back to v1.
        try await env.exporters["fraud-v2"]?.configure(successRate: 0.6, latencySeconds: 0.9)
        try await env.waitFor("fraud-v2 rolled back within its window", timeout: .seconds(30)) {
            let s = try await env.rollout().status
            return s?.phase == .rolledBack && s?.stableVersion == "fraud-v1"
        }
        let status = try #require(try await env.rollout().status)
        #expect(status.reason == RolloutGateReason.postPromotionAnalysisFailed, "\(status.reason ?? "")")
        #expect(status.message?.contains("rollback window") == true, "\(status.message ?? "")")
        try await env.waitFor("all traffic back on fraud-v1") {
            let t = try await env.traffic()
            return t.stable == 100 && t.canary == 0 && t.stableVersion == "fraud-v1"
        }
        try await env.waitFor("ModelVersion records follow") {
            let v1 = try await env.modelVersion("fraud-v1").status?.phase
            let v2 = try await env.modelVersion("fraud-v2").status
            return v1 == .production && v2?.phase == .rolledBack
                && v2?.rolledBack?.reason == RolloutGateReason.postPromotionAnalysisFailed
        }
        try await env.waitFor("the RolledBack Warning event") {
            try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
                .contains { $0.type == "Warning" && $0.reason == "RolledBack" && ($0.note ?? "").contains("fraud-v2") }
        }
    }
}
