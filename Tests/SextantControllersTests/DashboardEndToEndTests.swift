import Foundation
import SextantAPI
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing

/// `sextant dashboard` (issue 19, item 1) in real headless Chromium (Debian's chromium and
/// chromium-driver through Selenium, Tests/Browser/dashboard.py) against the development API
/// server with a real rollout (the controller, a real Prometheus scraping the versions'
/// exporters): the pages' content against the cluster, the abort button rolling the rollout
/// back, and the page showing it through its event stream without a reload.
@Suite(.serialized) struct DashboardEndToEndTests {
    static func browserPresent() throws -> Bool {
        try Tooling.available("chromium (Debian package chromium)", Tooling.find("chromium") != nil)
            && Tooling.available("chromedriver (Debian package chromium-driver)", Tooling.find("chromedriver") != nil)
            && Tooling.available("python3 with selenium (hack/requirements-test.txt)", Tooling.pythonHas(["selenium"]))
            && Tooling.available("curl", Tooling.find("curl") != nil)
    }

    @Test func pagesActionsAndLiveUpdatesInChromium() async throws {
        guard try CanaryRolloutEndToEndTests.toolsPresent(), try Self.browserPresent(),
              try Tooling.available("sextant next to the test bundle (swift build --build-tests)", RolloutTreeEndToEndTests.sextantBinary != nil),
              let sextant = RolloutTreeEndToEndTests.sextantBinary else { return }
        let env = try await RolloutTreeEndToEndTests.pausedCanary()
        defer { env.stopProcesses(); Task { await env.stop() } }
        let namespace = CanaryEnvironment.namespace
        for (version, auc) in [("fraud-v1", 0.91), ("fraud-v2", 0.93)] {
            let _: ModelVersion = try await env.client.patch(ModelVersion.self, name: version, namespace: namespace,
                                                             .merge(["spec": ["metrics": ["auc": .double(auc), "logloss": 0.3]]]))
        }
        let job = TrainingJobSpec(modelName: "fraud", data: DataSpec(source: DataSource(uri: "file:///data/fraud.csv"), target: "label"),
                                  output: OutputSpec(uri: "file:///models/"))
        _ = try await env.client.create(TrainingJob(metadata: ObjectMeta(name: "fraud-train", namespace: namespace), spec: job))
        try await env.waitFor("the canary paused after a passing analysis") {
            let s = try await env.rollout().status
            return s?.phase == .paused && s?.measurements?.count == 2
        }

        let dashboard = try TestProcess(sextant, ["dashboard", "--port", "0", "-n", namespace, "--kubeconfig", env.kubeconfig.file("config"),
                                                  "--prometheus-url", env.prometheus.address])
        defer { dashboard.stop() }
        let url = try await dashboard.waitForLine(prefix: "Sextant dashboard: ", timeout: .seconds(30))
        let base = String(url.dropLast(url.hasSuffix("/") ? 1 : 0))

        // Refused: a POST without the CSRF token, and any request addressed to another host name.
        let noToken = try await runCommandAsync("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                                                                 "\(base)/actions/abort/\(namespace)/fraud"])
        #expect(noToken.output == "403", "\(noToken.output)")
        let rebound = try await runCommandAsync("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                                 "-H", "Host: attacker.example", "\(base)/rollouts"])
        #expect(rebound.output == "403", "\(rebound.output)")
        #expect(try await env.rollout().status?.phase == .paused, "nothing was aborted by the refused request")

        let scratch = try TemporaryDirectory()
        let screenshots = ProcessInfo.processInfo.environment["SEXTANT_SCREENSHOTS"] ?? scratch.path
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
        let expected = #"{"namespace":"\#(namespace)","rollout":"fraud","stable":"fraud-v1","canary":"fraud-v2","trainingJob":"fraud-train"}"#
        let browser = try await runCommandAsync("/usr/bin/env", ["python3", Repo.root + "/Tests/Browser/dashboard.py", base, expected, screenshots])
        #expect(browser.code == 0, "browser checks failed: \(browser.output)\ndashboard: \(dashboard.text.suffix(2000))")
        let report = browser.output.split(separator: "\n").last.map(String.init) ?? ""
        print("dashboard browser test: \(report)")
        // Issue 19 wants a rollback on the page within 2 s; the assertion allows 30 s (a loaded CI
        // machine), so the measured time is printed for the record (docs/dashboard.md).
        if let measured = report.range(of: #"(?<="rollbackSeconds": )[0-9.]+"#, options: .regularExpression) {
            print("dashboard browser test: RolledBack shown \(report[measured]) s after the Abort click (target 2 s, asserted 30 s)")
        }
        #expect(report.contains(#""failures": []"#), "\(browser.output)")
        let status = try #require(try await env.rollout().status)
        #expect(status.phase == .rolledBack && status.reason == "Aborted", "the abort button rolled it back: \(status.phase?.rawValue ?? "-")")
    }
}
