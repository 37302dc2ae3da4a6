import Foundation
import SextantAPI
import SextantDomain
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

    /// A TrainingJob of the model whose first run is a real `sextant-trainer` run (150 rounds, so
    /// its validation curve is downsampled), recorded in the status as the controller records a
    /// finished run (`TrainingRun.record`), and a second run in progress with a progress report.
    /// No TrainingJob controller runs here: the page is checked against exactly this status.
    static func trainingJobWithARealRun(_ client: KubeClient, namespace: String, dir: TemporaryDirectory) async throws {
        let trainer = try #require(RolloutTreeEndToEndTests.sextantBinary.map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("sextant-trainer").path },
                                   "sextant-trainer next to the test bundle")
        let csv = dir.file("fraud.csv")
        try writeChurnCSV(to: csv, rows: 800)
        var tj = localTrainingJob("fraud-train", model: "fraud", csv: csv, models: dir.file("models"), namespace: namespace)
        tj.spec.data.source.version = "2026-12-01"
        tj.spec.hyperparameters?.nEstimators = 150
        tj.spec.hyperparameters?.earlyStoppingRounds = 0
        tj.spec.retrainOn = RetrainPolicy(conditions: [RetrainCondition(name: "feature-drift", query: #"max(sextant_feature_psi{model="{{ model }}"})"#, above: 0.2)])
        _ = try await client.create(tj)
        let config = dir.file("config.json")
        try tj.spec.trainerConfig(outputURI: "file://" + dir.file("models") + "/fraud/v1/").encoded().write(to: URL(fileURLWithPath: config))
        let resultFile = dir.file("result.json")
        let started = Date()
        let trained = try await runCommandAsync(trainer, ["--config", config, "--result-file", resultFile, "--threads", "1", "--quiet"])
        #expect(trained.code == 0, "sextant-trainer: \(trained.output)")
        let summary = try #require(TrainerSummary(parsing: String(contentsOfFile: resultFile, encoding: .utf8)))
        var done = TrainingRun(name: "fraud-train-1", trigger: RunTrigger(type: .created), result: .succeeded)
        done.startTime = KubeTime.format(started)
        done.completionTime = KubeTime.format(Date())
        done.modelVersion = "fraud-v2"
        done.record(summary)
        var running = TrainingRun(name: "fraud-train-2", trigger: RunTrigger(type: .manual))
        running.startTime = KubeTime.format(Date())
        var progress = TrainingProgress(roundsDone: 40, time: KubeTime.format(Date()))
        progress.rounds = 150
        progress.metric = "valid-logloss"
        progress.value = 0.41
        running.progress = progress
        var status = TrainingJobStatus()
        status.phase = .running
        status.runs = [running, done]
        status.activeRun = running.name
        status.progress = progress.summary
        status.runCount = 2
        status.latestModelVersion = done.modelVersion
        let _: TrainingJob = try await client.patch(TrainingJob.self, name: "fraud-train", namespace: namespace,
                                                    .merge(["status": try JSONValue(encoding: status)]), subresource: "status")
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
        let scratch = try TemporaryDirectory()
        try await Self.trainingJobWithARealRun(env.client, namespace: namespace, dir: scratch)
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

        let screenshots = ProcessInfo.processInfo.environment["SEXTANT_SCREENSHOTS"] ?? scratch.path
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
        // What the Training and Drift pages must show, from the cluster's state.
        let run = try #require(try await env.client.get(TrainingJob.self, name: "fraud-train", namespace: namespace).status?.runs?.last)
        let curve = try #require(run.validationCurve)
        let expectedValue: JSONValue = [
            "namespace": .string(namespace), "rollout": "fraud", "stable": "fraud-v1", "canary": "fraud-v2", "trainingJob": "fraud-train",
            "run": .string(run.name), "curvePoints": .int(Int64(curve.rounds.count)), "lastRound": .int(Int64(curve.rounds.last ?? 0)),
            "aucRoc": .double(try #require(run.metrics?["aucRoc"])), "dataVersion": .string(run.dataVersion ?? "-"),
            "activeRun": "fraud-train-2", "progress": "40/150", "psiThreshold": 0.2,
        ]
        let expected = String(decoding: try expectedValue.encoded(), as: UTF8.self)
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
