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

/// A real `mlflow server` on 127.0.0.1 with a SQLite store and artifact root in a temporary
/// directory; stopped by `stop()` (and when released). `mlflow server` starts uvicorn as a child
/// (and, unless disabled as here, a job runner with seven huey consumers) that outlive a SIGTERM
/// to the parent, so `stop()` kills the whole process group.
final class MLflowServer: Sendable {
    let process: TestProcess
    let directory: TemporaryDirectory
    let port: Int
    /// The server's process group (Foundation's `Process` starts each child in its own group).
    let group: pid_t?
    let tls: Bool
    private let stopped = Mutex(false)
    var url: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }

    /// `mlflow` on PATH, else `python3 -m mlflow` (pip does not always put the script on PATH).
    static let command: [String]? = {
        if let exe = Tooling.find("mlflow") { return [exe] }
        if Tooling.find("python3") != nil, Tooling.pythonHas(["mlflow"]) { return ["python3", "-m", "mlflow"] }
        return nil
    }()

    /// False (skip) when mlflow is missing on a developer machine; throws in CI.
    static func available() throws -> Bool { try Tooling.available("mlflow (pip install mlflow)", command != nil) }

    private init(process: TestProcess, directory: TemporaryDirectory, port: Int, tls: Bool) {
        self.process = process
        self.directory = directory
        self.port = port
        self.tls = tls
        let pid = process.process.processIdentifier
        group = getpgid(pid) == pid ? pid : nil  // only a group of its own, never the test's
    }

    /// Starts the server (on `port`, or a free one) and waits until `/health` answers; the first
    /// start creates the SQLite schema and takes from a few seconds to most of a minute. With
    /// `tls`, uvicorn serves HTTPS with its server certificate; with `adminPassword`, MLflow's
    /// basic-auth app (`--app-name basic-auth`) requires the user `admin` with that password.
    static func start(port: Int? = nil, timeout: Duration = .seconds(180), tls: TestCertificates? = nil,
                      adminPassword: String? = nil) async throws -> MLflowServer {
        guard let command else { throw TestSetupError("mlflow is not installed") }
        let directory = try TemporaryDirectory()
        let port = try port ?? LocalHTTP.freePort()
        var arguments = Array(command.dropFirst()) + [
            "server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1",
            "--backend-store-uri", "sqlite:///\(directory.file("mlflow.db"))",
            "--default-artifact-root", directory.file("artifacts"),
        ]
        var environment = ["MLFLOW_HOME": directory.path, "PYTHONUNBUFFERED": "1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"]
        if let tls {
            arguments += ["--uvicorn-opts", "--ssl-keyfile \(tls.serverKey) --ssl-certfile \(tls.serverCert)"]
        }
        if let adminPassword {
            // The auth app's user store goes to the temporary directory, not the working directory.
            try """
            [mlflow]
            default_permission = READ
            database_uri = sqlite:///\(directory.file("basic_auth.db"))
            admin_username = admin
            authorization_function = mlflow.server.auth:authenticate_request_basic_auth
            """.write(toFile: directory.file("basic_auth.ini"), atomically: true, encoding: .utf8)
            arguments += ["--app-name", "basic-auth"]
            environment["MLFLOW_AUTH_CONFIG_PATH"] = directory.file("basic_auth.ini")
            environment["MLFLOW_AUTH_ADMIN_PASSWORD"] = adminPassword
            environment["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "sextant-test"
        }
        let process = try TestProcess(command[0], arguments, environment: environment)
        let server = MLflowServer(process: process, directory: directory, port: port, tls: tls != nil)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let tls {
                let probe = try await runCommandAsync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                                               "--cacert", tls.caCert, server.url + "/health"])
                if probe.output == "200" { return server }
            } else if (try? LocalHTTP.request("GET", port: port, path: "/health", timeoutSeconds: 2))?.status == 200 {
                return server
            }
            guard process.process.isRunning else {
                throw TestSetupError("mlflow server exited: \(process.text.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        server.stop()
        throw TestSetupError("mlflow server did not answer /health within \(timeout): \(process.text.suffix(2000))")
    }

    /// Kills the server's process group (a throwaway server: no graceful shutdown needed).
    func stop() {
        guard stopped.withLock({ let first = !$0; $0 = true; return first }) else { return }  // once: the group id could be reused
        if let group { kill(-group, SIGKILL) }
        process.stop()
    }

    deinit { stop() }
}

/// The MLflow client against a real MLflow server, the report built from a run, and the
/// TrainingJob controller reporting runs (with MLflow down, up, and across a controller restart).
@Suite("MLflow", .serialized)
struct MLflowTests {
    static let epoch = Date(timeIntervalSince1970: 1_780_000_000)

    @Test func clientCreatesLogsEndsAndReadsBackARunAndReportsOnce() async throws {
        guard try MLflowServer.available() else { return }
        let server = try await MLflowServer.start()
        defer { server.stop() }
        let mlflow = MLflowClient(trackingURI: server.url + "/")

        // Experiments: created once, found by name afterwards.
        #expect(try await mlflow.experiment(named: "default/client-test") == nil)
        let experiment = try await mlflow.ensureExperiment(named: "default/client-test")
        #expect(experiment.name == "default/client-test" && experiment.lifecycleStage == "active")
        #expect(try await mlflow.ensureExperiment(named: "default/client-test").id == experiment.id)

        // A run with more params and metrics than one log-batch takes.
        let start = Self.epoch
        let run = try await mlflow.createRun(experimentID: experiment.id, name: "client-1", startTime: start,
                                             tags: ["mlops.sextant.dev/run": "client-1"])
        #expect(run.status == .running && run.name == "client-1" && run.experimentID == experiment.id)
        var params: [String: String] = [:]
        for i in 0..<130 { params["p\(i)"] = "v\(i)" }
        params["long"] = String(repeating: "x", count: 900)
        var metrics: [MLflowClient.Metric] = []
        for i in 0..<1100 { metrics.append(.init(key: "m\(i % 1000)", value: Double(i), timestamp: start.addingTimeInterval(1), step: Int64(i / 1000))) }
        metrics.append(.init(key: "nan", value: .nan, timestamp: start))  // not JSON: dropped
        try await mlflow.logBatch(runID: run.id, params: params, metrics: metrics, tags: ["result": "Succeeded", "note": "ok"])
        try await mlflow.updateRun(runID: run.id, status: .finished, endTime: start.addingTimeInterval(60))

        let back = try await mlflow.run(id: run.id)
        #expect(back.status == .finished)
        #expect(back.startTime == start && back.endTime == start.addingTimeInterval(60))
        #expect(back.params.count == 131 && back.params["p129"] == "v129")
        #expect(back.params["long"]?.count == MLflowClient.maxParamValueLength)
        #expect(back.metrics.count == 1000 && back.metrics["m5"] != nil && back.metrics["nan"] == nil)
        #expect(back.metrics["m99"] == 1099)  // step 1 is the latest value of m99
        #expect(back.tags["result"] == "Succeeded" && back.tags["mlops.sextant.dev/run"] == "client-1" && back.tags["mlflow.runName"] == "client-1")

        // Found again by its tags.
        let found = try await mlflow.searchRuns(experimentIDs: [experiment.id],
                                                filter: MLflowClient.tagEquals("mlops.sextant.dev/run", "client-1"))
        #expect(found.map(\.id) == [run.id])
        #expect(try await mlflow.searchRuns(experimentIDs: [experiment.id],
                                            filter: MLflowClient.tagEquals("mlops.sextant.dev/run", "client-2")).isEmpty)

        // Errors name the URL, the HTTP status and MLflow's error code and message.
        do {
            try await mlflow.logBatch(runID: run.id, params: ["p1": "changed"])
            Issue.record("changing a param must fail")
        } catch let error as MLflowError {
            #expect(error.status == 400 && error.errorCode == "INVALID_PARAMETER_VALUE", "\(error)")
            #expect(error.description.contains("\(server.url)/api/2.0/mlflow/runs/log-batch") && error.description.contains("HTTP 400"), "\(error)")
        }
        do {
            _ = try await mlflow.run(id: "0123456789abcdef0123456789abcdef")
            Issue.record("an unknown run must fail")
        } catch let error as MLflowError {
            #expect(error.isNotFound, "\(error)")
        }
        // Nobody listening: no HTTP status, the URL in the message.
        let nowhere = MLflowClient(trackingURI: "http://127.0.0.1:\(try LocalHTTP.freePort())")
        do {
            _ = try await nowhere.ensureExperiment(named: "x")
            Issue.record("an unreachable server must fail")
        } catch let error as MLflowError {
            #expect(error.status == nil && error.description.contains(nowhere.baseURL + "/api/2.0/mlflow/experiments/get-by-name"), "\(error)")
        }

        try await Self.checkReportIsIdempotent(mlflow)
    }

    /// `report` twice, and after a crash mid-report, gives one MLflow run (same server as above:
    /// each server start costs from seconds to a minute).
    static func checkReportIsIdempotent(_ mlflow: MLflowClient) async throws {
        let (run, tj) = Self.finishedRun(result: .succeeded)
        let summary = try #require(TrainerSummary(parsing: trainerSummary()))
        let report = MLflowRunReport(run: run, of: tj, summary: summary, modelVersion: nil)
        let experiment = try await mlflow.ensureExperiment(named: report.experiment)

        // A crash after runs/create: the run exists with its identity tags only, still RUNNING.
        let identity = report.tags.filter { MLflowRunReport.identityTags.contains($0.key) }
        let half = try await mlflow.createRun(experimentID: experiment.id, name: run.name, startTime: report.startTime, tags: identity)
        try await mlflow.logBatch(runID: half.id, params: ["data.uri": report.params["data.uri"] ?? ""])
        let id = try await mlflow.report(report)
        #expect(id == half.id)
        #expect(try await mlflow.report(report) == id)
        let all = try await mlflow.searchRuns(experimentIDs: [experiment.id], filter: "")
        #expect(all.count == 1)
        let back = try await mlflow.run(id: id)
        #expect(back.status == .finished && back.params["nEstimators"] == "20" && back.metrics["aucRoc"] == 0.91)

        // Same run name under another TrainingJob uid (deleted and re-created): a new MLflow run.
        var other = tj
        other.metadata.uid = "uid-2"
        let second = try await mlflow.report(MLflowRunReport(run: run, of: other, summary: summary, modelVersion: nil))
        #expect(second != id)
        #expect(try await mlflow.searchRuns(experimentIDs: [experiment.id], filter: "").count == 2)
    }

    @Test func reportMapsParamsMetricsAndTags() throws {
        let (run, tj) = Self.finishedRun(result: .gateFailed)
        let summary = try #require(TrainerSummary(parsing: trainerSummary(status: "GateFailed", auc: 0.61, gatePassed: false)))
        let report = MLflowRunReport(run: run, of: tj, summary: summary, modelVersion: nil, trainerImage: "sextant-trainer:test")
        #expect(report.experiment == "default/churn-train" && report.runName == "churn-train-3" && report.status == .failed)
        #expect(report.startTime == Self.epoch && report.endTime == Self.epoch.addingTimeInterval(90))
        #expect(report.params["nEstimators"] == "20" && report.params["maxDepth"] == "3" && report.params["algorithm"] == "gradientBoosting")
        #expect(report.params["data.uri"] == "file:///data/churn.csv" && report.params["data.version"] == "2026-03")
        #expect(report.params["data.sha256"] == String(repeating: "cd", count: 32) && report.params["data.rows"] == "5000")
        #expect(report.params["trigger.type"] == "RetrainCondition" && report.params["trigger.condition"] == "accuracy-drop")
        #expect(report.params["trigger.value"] == "0.6" && report.params["trainer.image"] == "sextant-trainer:test")
        #expect(report.metrics == ["aucRoc": 0.61, "f1": 0.8, "logLoss": 0.3, "gate.performance.aucRoc": 0.61, "training.durationSeconds": 1.2])
        #expect(report.tags["mlops.sextant.dev/training-job"] == "churn-train" && report.tags["mlops.sextant.dev/training-job-uid"] == "uid-1")
        #expect(report.tags["mlops.sextant.dev/run"] == "churn-train-3" && report.tags["mlops.sextant.dev/result"] == "GateFailed")
        #expect(report.tags["mlops.sextant.dev/reason"] == "GateFailed" && report.tags["mlops.sextant.dev/gates"] == "failed")
        #expect(report.tags["mlops.sextant.dev/model-version"] == nil && report.tags["mlflow.note.content"] == run.message)

        // Without the Pod's summary the registered ModelVersion supplies params, metrics and gates.
        var ok = run
        ok.result = .succeeded
        ok.modelVersion = "churn-v3"
        var data = DataRecord()
        data.uri = "s3://bucket/churn.csv"
        data.sha256 = String(repeating: "ef", count: 32)
        var spec = ModelVersionSpec(modelName: "churn", version: 3, artifact: ModelArtifact(uri: "file:///m", format: .sextantJSON))
        spec.data = data
        spec.metrics = ["aucRoc": 0.9]
        spec.hyperparameters = ["learningRate": .double(0.1)]
        var check = GateCheck(name: "aucRoc", passed: true)
        check.value = 0.9
        var gate = GateResult(gate: .performance, passed: true)
        gate.checks = [check]
        spec.gates = GateSummary(passed: true, results: [gate])
        let fromMV = MLflowRunReport(run: ok, of: tj, summary: nil, modelVersion: ModelVersion(metadata: ObjectMeta(name: "churn-v3"), spec: spec))
        #expect(fromMV.status == .finished && fromMV.params["learningRate"] == "0.1" && fromMV.params["data.uri"] == "s3://bucket/churn.csv")
        #expect(fromMV.metrics == ["aucRoc": 0.9, "gate.performance.aucRoc": 0.9])
        #expect(fromMV.tags["mlops.sextant.dev/model-version"] == "churn-v3" && fromMV.tags["mlops.sextant.dev/gates"] == "passed")
        var cancelled = run
        cancelled.result = .cancelled
        #expect(MLflowRunReport(run: cancelled, of: tj, summary: nil, modelVersion: nil).status == .killed)
    }

    /// MLflow down while a run finishes: the run succeeds anyway, a Warning Event says why, and
    /// the run is reported once MLflow is up. Then a gate failure, and a controller restart that
    /// lost the recorded MLflow run id: found again by its tags, not duplicated. MLflow serves
    /// HTTPS with a private CA (`--mlflow-ca-file`) and its basic-auth app (credentials as the
    /// chart passes them from a Secret): without the CA nothing reaches it (issue 21 item 5).
    @Test func controllerReportsRunsAcrossOutagesAndRestarts() async throws {
        guard try MLflowServer.available(), try Tooling.available("curl", Tooling.find("curl") != nil) else { return }
        let port = try LocalHTTP.freePort()
        let uri = "https://127.0.0.1:\(port)"
        let certificateDirectory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: certificateDirectory.path)
        let password = "s3cret-Passw0rd"
        var settings = ControllerSettings(trainerImage: "sextant-trainer:test", mlflowTrackingURI: uri,
                                          mlflowCredentials: .basic(user: "admin", password: password), mlflowRetryInterval: .seconds(1))
        settings.mlflowCAFile = certificates.caCert
        var env = try await Self.environment(settings)
        var mlflowServer: MLflowServer?
        defer {
            mlflowServer?.stop()
            let env = env
            Task { await env.stop() }
        }

        // 1. MLflow is down: the run still succeeds and registers its version.
        _ = try await env.client.create(sampleTrainingJob("churn-a"))
        try await env.waitForRun("churn-a", "churn-a-1")
        try await env.finishJob("churn-a-1", exitCode: 0, message: trainerSummary())
        try await env.eventually("run succeeded") { try await env.trainingJob("churn-a").status?.runs?.first?.result == .succeeded }
        try await env.eventually("MLflowReportFailed Event") { try await !env.events(reason: "MLflowReportFailed").isEmpty }
        let warning = try #require(try await env.events(reason: "MLflowReportFailed").first)
        #expect(warning.type == "Warning" && warning.note?.contains("\(uri)/api/2.0/mlflow/") == true, "\(warning.note ?? "")")
        #expect(warning.note?.contains("churn-a-1") == true)
        #expect(try await env.trainingJob("churn-a").status?.runs?.first?.mlflowRunId == nil)
        #expect(try await env.modelVersion("churn-v1").spec.version == 1)

        // 2. MLflow comes up: the retry (every second here) reports it.
        let server = try await MLflowServer.start(port: port, tls: certificates, adminPassword: password)
        mlflowServer = server
        let mlflow = try #require(try MLflowClient.controllerClient(settings))
        try await env.eventually("run reported", timeout: .seconds(30)) {
            try await env.trainingJob("churn-a").status?.runs?.first?.mlflowRunId != nil
        }
        let statusA = try #require(try await env.trainingJob("churn-a").status?.runs?.first)
        let idA = try #require(statusA.mlflowRunId)
        let a = try await mlflow.run(id: idA)
        #expect(a.status == .finished && a.name == "churn-a-1")
        #expect(a.startTime == statusA.startTime.flatMap(KubeTime.parse) && a.endTime == statusA.completionTime.flatMap(KubeTime.parse))
        #expect(a.params["nEstimators"] == "20" && a.params["maxDepth"] == "3" && a.params["algorithm"] == "GradientBoosting")
        #expect(a.params["data.uri"] == "file:///data/churn.csv" && a.params["data.version"] == "2026-03")
        #expect(a.params["data.sha256"] == String(repeating: "cd", count: 32) && a.params["trigger.type"] == "Created")
        #expect(a.metrics["aucRoc"] == 0.91 && a.metrics["f1"] == 0.8 && a.metrics["gate.performance.aucRoc"] == 0.91)
        #expect(a.tags["mlops.sextant.dev/training-job"] == "churn-a" && a.tags["mlops.sextant.dev/run"] == "churn-a-1")
        #expect(a.tags["mlops.sextant.dev/model-version"] == "churn-v1" && a.tags["mlops.sextant.dev/result"] == "Succeeded")
        #expect(a.tags["mlops.sextant.dev/trigger"] == "Created" && a.tags["mlops.sextant.dev/gates"] == "passed")
        let experimentA = try #require(try await mlflow.experiment(named: "default/churn-a"))
        #expect(a.experimentID == experimentA.id)

        // 3. A gate failure is reported as FAILED with the gate's value.
        _ = try await env.client.create(sampleTrainingJob("churn-b", model: "churn-b"))
        try await env.waitForRun("churn-b", "churn-b-1")
        try await env.finishJob("churn-b-1", exitCode: 3, message: trainerSummary(status: "GateFailed", model: "churn-b", auc: 0.61, gatePassed: false))
        try await env.eventually("gate failure reported") {
            let run = try await env.trainingJob("churn-b").status?.runs?.first
            return run?.result == .gateFailed && run?.mlflowRunId != nil
        }
        let idB = try #require(try await env.trainingJob("churn-b").status?.runs?.first?.mlflowRunId)
        let b = try await mlflow.run(id: idB)
        #expect(b.status == .failed && b.metrics["aucRoc"] == 0.61 && b.metrics["gate.performance.aucRoc"] == 0.61)
        #expect(b.tags["mlops.sextant.dev/result"] == "GateFailed" && b.tags["mlops.sextant.dev/reason"] == "GateFailed")
        #expect(b.tags["mlops.sextant.dev/gates"] == "failed" && b.tags["mlops.sextant.dev/model-version"] == nil)
        #expect(b.tags["mlflow.note.content"]?.contains("performance.aucRoc") == true)

        // 4. Restart: the controller stops; the status write of the id is "lost"; a new one starts.
        await Self.stopController(env)
        var tj = try await env.trainingJob("churn-a")
        tj.status?.runs?[0].mlflowRunId = nil
        _ = try await env.client.updateStatus(tj)
        env = try await Self.startController(env, settings)
        try await env.eventually("run id recorded again") {
            try await env.trainingJob("churn-a").status?.runs?.first?.mlflowRunId != nil
        }
        try await env.poke("churn-b")
        try await Task.sleep(for: .seconds(1))
        #expect(try await env.trainingJob("churn-a").status?.runs?.first?.mlflowRunId == idA)
        #expect(try await env.trainingJob("churn-b").status?.runs?.first?.mlflowRunId == idB)
        #expect(try await mlflow.searchRuns(experimentIDs: [experimentA.id], filter: "").map(\.id) == [idA])
        let experimentB = try #require(try await mlflow.experiment(named: "default/churn-b"))
        #expect(try await mlflow.searchRuns(experimentIDs: [experimentB.id], filter: "").map(\.id) == [idB])

        // 5. TLS: without the CA the certificate is refused before anything is sent (the POST never
        // created its experiment); no insecure retry exists.
        let unverified = MLflowClient(trackingURI: uri, credentials: mlflow.credentials)
        do {
            _ = try await unverified.createExperiment(named: "tls/unverified")
            Issue.record("a certificate from an unknown CA must be refused")
        } catch let error as MLflowError {
            #expect(error.status == nil && error.description.hasPrefix("MLflow POST \(uri)/api/2.0/mlflow/experiments/create: "), "\(error)")
            #expect(error.description.lowercased().contains("certificate"), "\(error)")
        }
        #expect(try await mlflow.experiment(named: "tls/unverified") == nil)
        // MLflow's auth app refuses a wrong password and no credentials (so the reports above were authenticated).
        for credentials in [MLflowCredentials.basic(user: "admin", password: "wrong"), nil] {
            var refused = mlflow
            refused.credentials = credentials
            do {
                _ = try await refused.experiment(named: "default/churn-a")
                Issue.record("MLflow's basic-auth app must refuse \(String(describing: credentials))")
            } catch let error as MLflowError {
                #expect(error.status == 401, "\(error)")
            }
        }
        // A CA file that went away: an error naming the flag and the path, no client without it.
        var gone = settings
        gone.mlflowCAFile = certificateDirectory.file("absent.crt")
        #expect(throws: MLflowError.self) { try MLflowClient.controllerClient(gone) }
        do {
            _ = try MLflowClient.controllerClient(gone)
        } catch {
            #expect(error.description.contains("--mlflow-ca-file \(certificateDirectory.file("absent.crt")) cannot be read"), "\(error)")
        }
    }

    // MARK: Helpers

    static func finishedRun(result: RunResult) -> (TrainingRun, TrainingJob) {
        var trigger = RunTrigger(type: .retrainCondition)
        trigger.condition = "accuracy-drop"
        trigger.value = 0.6
        var run = TrainingRun(name: "churn-train-3", trigger: trigger, result: result)
        run.startTime = KubeTime.format(epoch)
        run.completionTime = KubeTime.format(epoch.addingTimeInterval(90))
        run.reason = result == .gateFailed ? "GateFailed" : "Succeeded"
        run.message = "performance.aucRoc: value 0.61, threshold 0.7 (aucRoc=0.6100 < 0.7)"
        var tj = sampleTrainingJob("churn-train")
        tj.metadata.uid = "uid-1"
        return (run, tj)
    }

    /// `TrainingEnvironment` with these settings (MLflow reporting, a one-second retry).
    static func environment(_ settings: ControllerSettings) async throws -> TrainingEnvironment {
        let (server, client) = try await TrainingEnvironment.startServer()
        return try await startManager(server: server, client: client, clock: TrainingClock(), settings: settings)
    }

    static func startManager(server: DevServer, client: KubeClient, clock: TrainingClock, settings: ControllerSettings) async throws -> TrainingEnvironment {
        var managerOptions = ManagerOptions()
        managerOptions.leaderElect = false
        managerOptions.metricsBindAddress = "0"
        managerOptions.healthProbeBindAddress = "0"
        let manager = Manager(client: client, options: managerOptions)
        var settings = settings
        settings.now = { clock.now }
        addTrainingControllers(to: manager, settings: settings)
        let task = Task { try await manager.run() }
        return TrainingEnvironment(server: server, client: client, manager: manager, clock: clock, task: task)
    }

    /// Stops the controller, keeping the API server.
    static func stopController(_ env: TrainingEnvironment) async {
        env.task.cancel()
        _ = await env.task.result
    }

    /// Starts a new controller on the same API server.
    static func startController(_ env: TrainingEnvironment, _ settings: ControllerSettings) async throws -> TrainingEnvironment {
        try await startManager(server: env.server, client: env.client, clock: env.clock, settings: settings)
    }
}
