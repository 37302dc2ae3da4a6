import Foundation
import SextantAPI
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// `sextant get cro NAME -w --tree` (issue 19, item 2) against a real rollout: the development
/// API server, the controller, a real Prometheus scraping the versions' exporters. The tree is
/// read as plain lines through a pipe and through a pseudo-terminal (`script`), where it redraws
/// in place with colours.
@Suite(.serialized) struct RolloutTreeEndToEndTests {
    /// The `sextant` binary built next to the test bundle.
    static var sextantBinary: String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidate = exe.deletingLastPathComponent().appendingPathComponent("sextant").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    /// A rollout of fraud-v2 held at an indefinite pause after a 25 % step with analysis.
    static func pausedCanary() async throws -> CanaryEnvironment {
        let env = try await CanaryRolloutEndToEndTests.withStableV1(
            ["fraud-v1": CanaryRolloutEndToEndTests.healthy, "fraud-v2": CanaryRolloutEndToEndTests.healthy])
        try await CanaryRolloutEndToEndTests.waitForStable(env, "fraud-v1")
        let _: CanaryRollout = try await env.client.patch(CanaryRollout.self, name: "fraud", namespace: CanaryEnvironment.namespace, .merge([
            "spec": ["modelVersion": "fraud-v2",
                     "strategy": ["canary": ["stepWeight": .null, "maxWeight": .null, "steps": [["setWeight": 25], ["pause": [:]]]]]],
        ]))
        return env
    }

    /// The blocks the plain (non-terminal) tree printed, each a redraw.
    static func blocks(_ text: String) -> [String] {
        text.components(separatedBy: "\nName:").map { $0.hasPrefix("Name:") ? $0 : "Name:" + $0 }
    }

    @Test func treeFollowsARolloutThroughItsStepsAndAnAbort() async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent(),
              try Tooling.available("sextant next to the test bundle (swift build --build-tests)", Self.sextantBinary != nil),
              try Tooling.available("script (util-linux)", Tooling.find("script") != nil),
              let sextant = Self.sextantBinary else { return }
        let env = try await Self.pausedCanary()
        defer { env.stopProcesses(); Task { await env.stop() } }
        let args = ["get", "cro", "fraud", "--tree", "-w", "-n", CanaryEnvironment.namespace,
                    "--kubeconfig", env.kubeconfig.file("config")]
        let plain = try TestProcess(sextant, args)
        defer { plain.stop() }

        // Paused at step 2 after a passing analysis at 25 %, both Deployments ready.
        func pausedBlock() -> String? {
            Self.blocks(plain.text).last {
                $0.contains("Phase:           ॥ Paused (AwaitingPromoteRequest)")
                    && $0.contains("├──✔ 1. setWeight 25 · analysis") && $0.contains("└──► 2. pause (until promote)  (weight 25)")
                    && $0.contains("canary 25% (verified)") && $0.contains("✔ success-rate")
            }
        }
        guard try await poll(timeout: .seconds(60), every: .milliseconds(50), { pausedBlock() != nil }), let paused = pausedBlock() else {
            Issue.record("no paused tree: \(plain.text.suffix(3000))")
            return
        }
        let lines = paused.split(separator: "\n").map(String.init)
        #expect(lines.contains("Stable:          fraud-v1") && lines.contains("Canary:          fraud-v2"), "\(paused)")
        #expect(lines.contains { $0.contains("Deployment fraud-fraud-v1") && $0.contains("stable") && $0.contains("1/1 ready  ✔ Available") }, "\(paused)")
        #expect(lines.contains { $0.contains("Deployment fraud-fraud-v2") && $0.contains("canary") && $0.contains("1/1 ready  ✔ Available") }, "\(paused)")
        // The analysis line shows the value Prometheus gave, against the spec's threshold.
        let status = try #require(try await env.rollout().status)
        let measured = try #require(status.measurements?.first { $0.metric == "success-rate" }?.value)
        #expect(lines.contains { $0.contains("success-rate") && $0.contains("≥ 0.95") && $0.hasSuffix("Pass") }, "\(paused)")
        #expect(measured > 0.95)
        #expect(lines.contains { $0.contains("latency-p99") && $0.contains("≤ 0.5") }, "\(paused)")
        #expect(lines.contains { $0.contains("Normal   RolloutStarted: rolling out fraud-v2") }, "\(paused)")
        #expect(!plain.text.contains("\u{1B}["), "plain lines through a pipe")

        // The same tree on a pseudo-terminal: redrawn in place, with colours.
        let command = ([sextant] + args).map { "'\($0)'" }.joined(separator: " ")
        let terminal = try TestProcess("/usr/bin/script", ["-qfec", command, "/dev/null"], environment: ["TERM": "xterm"])
        defer { terminal.stop() }
        let drawn = try await poll(timeout: .seconds(30), every: .milliseconds(50)) {
            terminal.text.contains("\u{1B}[H\u{1B}[J") && terminal.text.contains("\u{1B}[33m►\u{1B}[0m 2. pause (until promote)")
        }
        #expect(drawn, "terminal output: \(terminal.text.suffix(2000).debugDescription)")

        // An abort: both redraw with the rollback.
        let abort: JSONValue = ["status": ["requests": ["abort": ["requestedAt": .string(KubeTime.format(Date(), fractionDigits: 3)),
                                                                  "requestedBy": "test"]]]]
        let _: CanaryRollout = try await env.client.patch(CanaryRollout.self, name: "fraud", namespace: CanaryEnvironment.namespace,
                                                          .merge(abort), subresource: "status")
        let rolledBack = try await poll(timeout: .seconds(30), every: .milliseconds(50)) {
            Self.blocks(plain.text).last?.contains("Phase:           ✖ RolledBack (Aborted)") == true
                && Self.blocks(plain.text).last?.contains("└──✖ 2. pause (until promote)") == true
                && terminal.text.contains("\u{1B}[31m✖ RolledBack\u{1B}[0m (Aborted)")
        }
        #expect(rolledBack, "plain: \(Self.blocks(plain.text).last ?? "") terminal: \(terminal.text.suffix(1500).debugDescription)")
        #expect(Self.blocks(plain.text).last?.contains("RolledBack") == true)
    }
}
