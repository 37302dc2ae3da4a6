import Foundation
import SextantAPI
import SextantControllers
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// Item 1 of issue 21 (#16): the real `sextant-controller` SIGKILLed right after it commits
/// `RolledBack` (the `kill-after-rollback-commit` failpoint puts the kill exactly there), a new
/// candidate set while it is down, then restarted. The rolled-back ModelVersion must still end
/// `RolledBack` with its record, with exactly one RolledBack Event.
@Suite(.serialized) struct CanaryCrashTests {
    @Test func rollbackCommittedThenKilledThenNewCandidateThenRestart() async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent() else { return }
        guard try Tooling.available("sextant-controller next to the test bundle (swift build --build-tests)",
                                    CanaryEnvironment.controllerBinary != nil),
              let binary = CanaryEnvironment.controllerBinary else { return }
        let env = try await CanaryRolloutEndToEndTests.withStableV1(
            ["fraud-v1": CanaryRolloutEndToEndTests.healthy, "fraud-v3": CanaryRolloutEndToEndTests.failing,
             "fraud-v4": CanaryRolloutEndToEndTests.healthy], inProcess: false)
        defer { env.stopProcesses(); Task { await env.stop() } }
        let arguments = ["--kubeconfig", try env.kubeconfig.file("config"), "--leader-elect=false",
                         "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
                         "--prometheus-url", env.prometheus.address, "--prometheus-timeout-seconds", "2"]
        let doomed = try TestProcess(binary, arguments, environment: ["SEXTANT_FAILPOINT": "kill-after-rollback-commit"])
        defer { doomed.stop() }
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v1")

        try await env.setCandidate("fraud-v3")
        try await env.waitFor("the controller to die right after committing RolledBack", timeout: .seconds(60)) {
            !doomed.process.isRunning
        }
        #expect(doomed.process.terminationReason == .uncaughtSignal && doomed.process.terminationStatus == SIGKILL,
                "killed by the failpoint: \(doomed.process.terminationStatus)")
        let committed = try #require(try await env.rollout().status)
        #expect(committed.phase == .rolledBack && committed.canaryVersion == "fraud-v3")
        // The crash point: nothing after the commit happened.
        #expect(try await env.modelVersion("fraud-v3").status?.rolledBack == nil, "killed before the ModelVersion record")
        func rolledBackEvents() async throws -> [Event] {
            try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
                .filter { $0.reason == "RolledBack" && ($0.note ?? "").contains("fraud-v3") }
        }
        #expect(try await rolledBackEvents().isEmpty, "killed before the Event")

        // While it is down, someone sets the next candidate.
        try await env.setCandidate("fraud-v4")
        let controller = try TestProcess(binary, arguments)
        defer { controller.stop() }

        try await env.waitFor("fraud-v3 recorded as rolled back after the restart") {
            let v3 = try await env.modelVersion("fraud-v3").status
            return v3?.phase == .rolledBack && v3?.rolledBack?.canaryRollout == "fraud"
        }
        let v3 = try #require(try await env.modelVersion("fraud-v3").status)
        #expect(v3.rolledBack?.reason == RolloutReason.analysisFailed, "\(String(describing: v3.rolledBack))")
        #expect(v3.rolledBack?.message?.contains("failureLimit") == true)
        #expect(v3.servedBy == nil)
        try await env.waitFor("the RolledBack Event written after the restart") { try await !rolledBackEvents().isEmpty }
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v4")
        #expect(try await rolledBackEvents().count == 1, "exactly one RolledBack Event")
        // Events are written after the status that caused them.
        try await env.waitFor("the Promoted event of fraud-v4") {
            try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
                .contains { $0.reason == "Promoted" && ($0.note ?? "").contains("promoted fraud-v4") }
        }

        let events = try await env.client.list(Event.self, namespace: CanaryEnvironment.namespace).items
        func count(_ reason: String, _ text: String) -> Int {
            events.filter { $0.reason == reason && ($0.note ?? "").contains(text) }.reduce(0) { $0 + ($1.series?.count ?? 1) }
        }
        #expect(count("RolloutStarted", "rolling out fraud-v3") == 1, "written before the crash, not again after it")
        #expect(count("RolloutStarted", "rolling out fraud-v4") == 1)
        #expect(count("Promoted", "promoted fraud-v4") == 1)
        #expect(try await env.modelVersion("fraud-v4").status?.phase == .production)
        #expect(try await env.modelVersion("fraud-v1").status?.phase == .archived)

        // The rule holds for it: a rolled-back version goes out again only on `retry`.
        try await env.setCandidate("fraud-v3")
        try await env.waitFor("fraud-v3 waits for a retry") {
            let s = try await env.rollout().status
            return s?.phase == .waiting && s?.reason == RolloutReason.rolledBackBefore && s?.stableVersion == "fraud-v4"
        }
        let t = try await env.traffic()
        #expect(t.canary == 0 && t.stableVersion == "fraud-v4")
    }
}
