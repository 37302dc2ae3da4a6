import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTransport

// MLflow reporting (docs/training.md#mlflow): every finished training run becomes one MLflow run
// in the experiment `<namespace>/<trainingjob>`, with the run's parameters, the trainer's metrics
// and Sextant's tags. Over MLflow's REST API (`/api/2.0/mlflow/...`) on Sextant's libcurl
// transport; never Foundation's URLSession.

// MARK: Client

/// Credentials for an MLflow tracking server, as MLflow's own clients take them.
public enum MLflowCredentials: Sendable, Hashable {
    case bearer(String)
    case basic(user: String, password: String)

    /// `MLFLOW_TRACKING_TOKEN` (bearer), else `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` (basic).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> MLflowCredentials? {
        if let token = environment["MLFLOW_TRACKING_TOKEN"], !token.isEmpty { return .bearer(token) }
        if let user = environment["MLFLOW_TRACKING_USERNAME"], !user.isEmpty {
            return .basic(user: user, password: environment["MLFLOW_TRACKING_PASSWORD"] ?? "")
        }
        return nil
    }
}

/// A failed MLflow request: the URL, the HTTP status (nil when there was no HTTP answer) and
/// MLflow's `error_code` and `message`.
public struct MLflowError: Error, Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var status: Int?
    public var errorCode: String?
    public var message: String

    public var description: String {
        let what = [status.map { "HTTP \($0)" }, errorCode].compactMap { $0 }.joined(separator: " ")
        return "MLflow \(method) \(url): " + (what.isEmpty ? message : "\(what): \(message)")
    }

    public var isNotFound: Bool { errorCode == "RESOURCE_DOES_NOT_EXIST" || status == 404 && errorCode == nil }
    public var isAlreadyExists: Bool { errorCode == "RESOURCE_ALREADY_EXISTS" }
}

/// A small client for MLflow's tracking REST API.
public struct MLflowClient: Sendable {
    public enum RunStatus: String, Sendable, Hashable {
        case running = "RUNNING", scheduled = "SCHEDULED", finished = "FINISHED", failed = "FAILED", killed = "KILLED"
        public var isTerminal: Bool { self == .finished || self == .failed || self == .killed }
    }

    public struct Experiment: Sendable, Hashable {
        public var id: String
        public var name: String
        /// `active` or `deleted`.
        public var lifecycleStage: String?
    }

    public struct Metric: Sendable, Hashable {
        public var key: String
        public var value: Double
        public var timestamp: Date
        public var step: Int64
        public init(key: String, value: Double, timestamp: Date, step: Int64 = 0) {
            self.key = key
            self.value = value
            self.timestamp = timestamp
            self.step = step
        }
    }

    /// A run as `runs/get` and `runs/search` return it (metrics: the latest value of each key).
    public struct Run: Sendable, Hashable {
        public var id: String
        public var experimentID: String
        public var name: String?
        public var status: RunStatus?
        public var startTime: Date?
        public var endTime: Date?
        public var params: [String: String] = [:]
        public var metrics: [String: Double] = [:]
        public var tags: [String: String] = [:]
    }

    /// MLflow's limits: per `runs/log-batch` request, and per value.
    public static let maxParamsPerBatch = 100
    public static let maxTagsPerBatch = 100
    public static let maxMetricsPerBatch = 1000
    public static let maxParamValueLength = 500
    public static let maxTagValueLength = 5000
    public static let maxKeyLength = 250

    public let baseURL: String
    public var credentials: MLflowCredentials?
    /// Certificates are always verified: `tls.caFile` (the controller's `--mlflow-ca-file`) adds a
    /// private CA; there is no option to skip verification.
    public var tls: TLSOptions
    public var timeouts: HTTPTimeouts

    /// `trackingURI`: the server's base URL (`http://mlflow.mlflow:5000`), without `/api/...`.
    public init(trackingURI: String, credentials: MLflowCredentials? = nil, tls: TLSOptions = TLSOptions(),
                timeouts: HTTPTimeouts = HTTPTimeouts(connect: .seconds(5), idle: .seconds(10), total: .seconds(20))) {
        var base = trackingURI
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.credentials = credentials
        self.tls = tls
        self.timeouts = timeouts
    }

    /// The controller's client: `--mlflow-tracking-uri`, the credentials from its environment and
    /// `--mlflow-ca-file`. A CA file that cannot be read is an error naming the flag and the path
    /// (never a request without it); nil when reporting is off.
    public static func controllerClient(_ settings: ControllerSettings) throws(MLflowError) -> MLflowClient? {
        guard let uri = settings.mlflowTrackingURI, !uri.isEmpty else { return nil }
        var tls = TLSOptions()
        if let file = settings.mlflowCAFile {
            if let problem = OutboundCA.fileProblem(file, flag: "--mlflow-ca-file") {
                throw MLflowError(method: "-", url: uri, status: nil, message: problem)
            }
            tls.caFile = file
        }
        return MLflowClient(trackingURI: uri, credentials: settings.mlflowCredentials, tls: tls)
    }

    // MARK: Experiments

    /// The experiment with this name, or nil when there is none.
    public func experiment(named name: String) async throws -> Experiment? {
        do {
            let answer = try await call("GET", "experiments/get-by-name", query: ["experiment_name": name])
            return try Self.experiment(answer["experiment"], url: url("experiments/get-by-name"))
        } catch let error as MLflowError where error.isNotFound {
            return nil
        }
    }

    /// Creates an experiment and returns its id.
    public func createExperiment(named name: String) async throws -> String {
        let answer = try await call("POST", "experiments/create", body: ["name": .string(name)])
        guard let id = answer["experiment_id"]?.stringValue else {
            throw MLflowError(method: "POST", url: url("experiments/create"), status: 200, message: "answer has no experiment_id")
        }
        return id
    }

    /// The active experiment with this name, created when missing (a concurrent create is
    /// tolerated). A deleted experiment is an error: MLflow refuses runs in it.
    public func ensureExperiment(named name: String) async throws -> Experiment {
        var found = try await experiment(named: name)
        if found == nil {
            do {
                return Experiment(id: try await createExperiment(named: name), name: name, lifecycleStage: "active")
            } catch let error as MLflowError where error.isAlreadyExists {
                found = try await experiment(named: name)
            }
        }
        guard let found else {
            throw MLflowError(method: "GET", url: url("experiments/get-by-name"), status: nil,
                              message: "experiment '\(name)' neither exists nor can be created")
        }
        if found.lifecycleStage == "deleted" {
            throw MLflowError(method: "GET", url: url("experiments/get-by-name"), status: nil,
                              message: "experiment '\(name)' (id \(found.id)) is deleted: restore it (`mlflow experiments restore --experiment-id \(found.id)`) or delete it permanently (`mlflow gc`)")
        }
        return found
    }

    // MARK: Runs

    /// Creates a run (status RUNNING) with these tags.
    public func createRun(experimentID: String, name: String, startTime: Date?, tags: [String: String]) async throws -> Run {
        var body: [String: JSONValue] = ["experiment_id": .string(experimentID), "run_name": .string(name),
                                         "tags": .array(Self.keyValues(tags, limit: Self.maxTagValueLength))]
        if let startTime { body["start_time"] = .int(Self.millis(startTime)) }
        let answer = try await call("POST", "runs/create", body: body)
        return try Self.run(answer["run"], url: url("runs/create"))
    }

    /// Logs params, metrics and tags, split into batches within MLflow's limits. Params are
    /// immutable in MLflow: logging the same value again is fine, a different one is an error.
    public func logBatch(runID: String, params: [String: String] = [:], metrics: [Metric] = [], tags: [String: String] = [:]) async throws {
        var params = Self.keyValues(params, limit: Self.maxParamValueLength)[...]
        var tags = Self.keyValues(tags, limit: Self.maxTagValueLength)[...]
        var metrics = metrics.filter { $0.value.isFinite }.map { m -> JSONValue in
            ["key": .string(String(m.key.prefix(Self.maxKeyLength))), "value": .double(m.value),
             "timestamp": .int(Self.millis(m.timestamp)), "step": .int(m.step)]
        }[...]
        while !params.isEmpty || !tags.isEmpty || !metrics.isEmpty {
            let p = params.prefix(Self.maxParamsPerBatch)
            let t = tags.prefix(Self.maxTagsPerBatch)
            let m = metrics.prefix(Self.maxMetricsPerBatch - p.count - t.count)
            params = params.dropFirst(p.count)
            tags = tags.dropFirst(t.count)
            metrics = metrics.dropFirst(m.count)
            _ = try await call("POST", "runs/log-batch", body: ["run_id": .string(runID), "params": .array(Array(p)),
                                                                "metrics": .array(Array(m)), "tags": .array(Array(t))])
        }
    }

    /// Ends a run: its status and end time.
    public func updateRun(runID: String, status: RunStatus, endTime: Date?) async throws {
        var body: [String: JSONValue] = ["run_id": .string(runID), "status": .string(status.rawValue)]
        if let endTime { body["end_time"] = .int(Self.millis(endTime)) }
        _ = try await call("POST", "runs/update", body: body)
    }

    public func run(id: String) async throws -> Run {
        let answer = try await call("GET", "runs/get", query: ["run_id": id])
        return try Self.run(answer["run"], url: url("runs/get"))
    }

    /// Runs of these experiments matching an MLflow filter (`tags.\`a/b\` = 'x' and ...`), newest first.
    public func searchRuns(experimentIDs: [String], filter: String, maxResults: Int = 100) async throws -> [Run] {
        let answer = try await call("POST", "runs/search", body: ["experiment_ids": .array(experimentIDs.map(JSONValue.string)),
                                                                  "filter": .string(filter), "max_results": .int(Int64(maxResults)),
                                                                  "order_by": ["attributes.start_time DESC"]])
        return try (answer["runs"]?.arrayValue ?? []).map { try Self.run($0, url: url("runs/search")) }
    }

    /// A filter clause on a tag: keys with dots and slashes are quoted with backticks; the value
    /// is kept to characters that need no escaping (Kubernetes names and uids).
    public static func tagEquals(_ key: String, _ value: String) -> String {
        let safe = value.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "-._/:".contains($0)) }
        return "tags.`\(key)` = '\(safe)'"
    }

    // MARK: HTTP

    func url(_ endpoint: String) -> String { "\(baseURL)/api/2.0/mlflow/\(endpoint)" }

    func call(_ method: String, _ endpoint: String, query: [String: String] = [:], body: [String: JSONValue]? = nil) async throws -> JSONValue {
        var target = url(endpoint)
        if !query.isEmpty {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            target += "?" + query.sorted { $0.key < $1.key }.map { key, value in
                "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
            }.joined(separator: "&")
        }
        var headers = [HTTPHeader("Accept", "application/json")]
        var basic: (user: String, password: String)?
        switch credentials {
        case .bearer(let token)?: headers.append(HTTPHeader("Authorization", "Bearer \(token)"))
        case .basic(let user, let password)?: basic = (user, password)
        case nil: break
        }
        var payload: Data?
        if let body {
            headers.append(HTTPHeader("Content-Type", "application/json"))
            payload = try JSONValue.object(body).encoded()
        }
        let request = HTTPRequest(method: method, url: target, headers: headers, body: payload, tls: tls, timeouts: timeouts,
                                  basicAuth: basic, maxResponseBytes: 8 << 20)
        let response: HTTPResponse
        do {
            response = try await HTTPClient.shared.send(request)
        } catch let error as TransportError {
            throw MLflowError(method: method, url: url(endpoint), status: nil, message: error.message)
        }
        let parsed = try? JSONValue.parse(response.body)
        guard (200..<300).contains(response.status) else {
            let text = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw MLflowError(method: method, url: url(endpoint), status: response.status,
                              errorCode: parsed?["error_code"]?.stringValue,
                              message: parsed?["message"]?.stringValue ?? (text.isEmpty ? "no body" : text))
        }
        guard let parsed else {
            throw MLflowError(method: method, url: url(endpoint), status: response.status,
                              message: "the answer is not JSON: \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        return parsed
    }

    // MARK: Decoding

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static func keyValues(_ pairs: [String: String], limit: Int) -> [JSONValue] {
        pairs.sorted { $0.key < $1.key }.map { key, value in
            ["key": .string(String(key.prefix(maxKeyLength))), "value": .string(String(value.prefix(limit)))]
        }
    }

    static func experiment(_ value: JSONValue?, url: String) throws -> Experiment {
        guard let value, let id = value["experiment_id"]?.stringValue else {
            throw MLflowError(method: "GET", url: url, status: 200, message: "the answer has no experiment")
        }
        return Experiment(id: id, name: value["name"]?.stringValue ?? "", lifecycleStage: value["lifecycle_stage"]?.stringValue)
    }

    static func run(_ value: JSONValue?, url: String) throws -> Run {
        guard let value, let info = value["info"], let id = info["run_id"]?.stringValue ?? info["run_uuid"]?.stringValue else {
            throw MLflowError(method: "POST", url: url, status: 200, message: "the answer has no run")
        }
        func date(_ v: JSONValue?) -> Date? { v?.doubleValue.map { Date(timeIntervalSince1970: $0 / 1000) } }
        func pairs(_ v: JSONValue?) -> [String: String] {
            var out: [String: String] = [:]
            for item in v?.arrayValue ?? [] {
                if let k = item["key"]?.stringValue { out[k] = item["value"]?.stringValue ?? "" }
            }
            return out
        }
        var run = Run(id: id, experimentID: info["experiment_id"]?.stringValue ?? "", name: info["run_name"]?.stringValue,
                      status: info["status"]?.stringValue.flatMap(RunStatus.init(rawValue:)),
                      startTime: date(info["start_time"]), endTime: date(info["end_time"]))
        let data = value["data"]
        run.params = pairs(data?["params"])
        run.tags = pairs(data?["tags"])
        for m in data?["metrics"]?.arrayValue ?? [] {
            if let k = m["key"]?.stringValue, let v = m["value"]?.doubleValue { run.metrics[k] = v }
        }
        return run
    }
}

// MARK: What a run reports

/// One finished training run as MLflow records it. Built from the TrainingJob, the run's status
/// entry, the trainer's result summary (from the run's Pod) and, when the Pod is gone, the
/// ModelVersion the run registered.
public struct MLflowRunReport: Sendable, Equatable {
    public static let tagPrefix = SextantGroup.labelPrefix
    /// The tags that identify the run, so a report after a crash finds the MLflow run it created.
    public static let identityTags = [tagPrefix + "training-job-uid", tagPrefix + "run"]

    public var experiment: String
    public var runName: String
    public var status: MLflowClient.RunStatus
    public var startTime: Date?
    public var endTime: Date?
    public var params: [String: String] = [:]
    public var metrics: [String: Double] = [:]
    public var tags: [String: String] = [:]

    public init(run: TrainingRun, of tj: TrainingJob, summary: TrainerSummary?, modelVersion: ModelVersion?, trainerImage: String? = nil) {
        let name = tj.metadata.name ?? ""
        let namespace = tj.metadata.namespace ?? "default"
        experiment = Self.experimentName(namespace: namespace, trainingJob: name)
        runName = run.name
        switch run.result {
        case .succeeded: status = .finished
        case .cancelled: status = .killed
        case .running: status = .running
        case .failed, .gateFailed, .invalidInput: status = .failed
        }
        startTime = run.startTime.flatMap(KubeTime.parse)
        endTime = run.completionTime.flatMap(KubeTime.parse)
        let mv = modelVersion?.spec

        // Params: what went in.
        params["model.name"] = tj.spec.modelName
        params["algorithm"] = tj.spec.algorithm?.rawValue ?? summary?.algorithm ?? mv?.algorithm
        let hyperparameters = summary?.hyperparameters ?? mv?.hyperparameters
            ?? (try? JSONValue(encoding: tj.spec.hyperparameters))?.objectValue ?? [:]
        for (key, value) in hyperparameters { params[key] = Self.paramText(value) }
        params["data.uri"] = summary?.data?.uri ?? mv?.data?.uri ?? tj.spec.data.source.uri
        params["data.version"] = summary?.data?.version ?? mv?.data?.version ?? tj.spec.data.source.version
        params["data.sha256"] = summary?.data?.sha256 ?? mv?.data?.sha256 ?? run.dataSha256
        params["data.rows"] = (summary?.data?.rows ?? mv?.data?.rows).map(String.init)
        params["data.target"] = tj.spec.data.target
        params["trigger.type"] = run.trigger.type.rawValue
        params["trigger.condition"] = run.trigger.condition
        params["trigger.value"] = run.trigger.value.map { String($0) }
        params["trigger.scheduledTime"] = run.trigger.scheduledTime
        params["trigger.requestedBy"] = run.trigger.requestedBy
        params["trainer.image"] = trainerImage
        params["trainer.version"] = summary?.trainerVersion

        // Metrics: what came out, and what the gates compared.
        for (key, value) in summary?.metrics ?? mv?.metrics ?? [:] { metrics[key] = value }
        if let gates = summary?.gates {
            for gate in gates { if let v = gate.value { metrics["gate." + gate.name] = v } }
        } else {
            for result in mv?.gates?.results ?? [] {
                let gate = result.gate.rawValue.prefix(1).lowercased() + result.gate.rawValue.dropFirst()
                for check in result.checks ?? [] { if let v = check.value { metrics["gate.\(gate).\(check.name)"] = v } }
            }
        }
        if let seconds = summary?.durationSeconds { metrics["training.durationSeconds"] = seconds }
        metrics = metrics.filter { $0.value.isFinite }

        // Tags: Sextant's names for it.
        let p = Self.tagPrefix
        tags[p + "training-job"] = name
        tags[p + "training-job-uid"] = tj.metadata.uid ?? ""
        tags[p + "namespace"] = namespace
        tags[p + "run"] = run.name
        tags[p + "model"] = tj.spec.modelName
        tags[p + "model-version"] = run.result == .succeeded ? run.modelVersion : nil
        tags[p + "trigger"] = run.trigger.type.rawValue
        tags[p + "result"] = run.result.rawValue
        tags[p + "reason"] = run.reason
        if let passed = summary?.gates.map({ $0.allSatisfy(\.passed) }) ?? mv?.gates?.passed {
            tags[p + "gates"] = passed ? "passed" : "failed"
        }
        tags["mlflow.note.content"] = run.message
        tags["mlflow.source.name"] = "sextant-controller"
        tags["mlflow.source.type"] = "JOB"
    }

    /// `<namespace>/<trainingjob>`: one experiment per TrainingJob, its runs side by side.
    public static func experimentName(namespace: String, trainingJob: String) -> String { "\(namespace)/\(trainingJob)" }

    static func paramText(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .null: return "null"
        case .array, .object: return (try? String(decoding: value.encoded(), as: UTF8.self)) ?? ""
        }
    }

    /// The MLflow filter that finds the run this report created before.
    var identityFilter: String {
        Self.identityTags.map { MLflowClient.tagEquals($0, tags[$0] ?? "") }.joined(separator: " and ")
    }
}

extension MLflowClient {
    /// Reports one run and returns its MLflow run id. Safe to repeat: an MLflow run carrying the
    /// report's identity tags (TrainingJob uid and run name, set atomically at `runs/create`) is
    /// reused; if it already has a final status nothing is written, otherwise the params it lacks,
    /// the metrics (same timestamps, so no duplicate points) and the tags are logged and it is ended.
    public func report(_ report: MLflowRunReport) async throws -> String {
        let experiment = try await ensureExperiment(named: report.experiment)
        let existing = try await searchRuns(experimentIDs: [experiment.id], filter: report.identityFilter, maxResults: 10)
        if let done = existing.first(where: { $0.status?.isTerminal == true }) { return done.id }
        let run: Run
        if let found = existing.first {
            run = found
        } else {
            let identity = report.tags.filter { MLflowRunReport.identityTags.contains($0.key) }
            run = try await createRun(experimentID: experiment.id, name: report.runName, startTime: report.startTime, tags: identity)
        }
        let at = report.endTime ?? report.startTime ?? Date()
        let metrics = report.metrics.sorted { $0.key < $1.key }.map { Metric(key: $0.key, value: $0.value, timestamp: at) }
        try await logBatch(runID: run.id, params: report.params.filter { run.params[$0.key] == nil }, metrics: metrics,
                           tags: report.tags)
        try await updateRun(runID: run.id, status: report.status, endTime: report.endTime)
        return run.id
    }
}

// MARK: The TrainingJob controller's hook

extension TrainingJobReconciler {
    /// How long after a run finished Sextant keeps trying to report it (MLflow down, a
    /// persistent error); older unreported runs, e.g. history from before MLflow was configured,
    /// are left alone.
    static let mlflowReportWindow: TimeInterval = 24 * 3600

    /// Reports the finished runs of `tj` (as just written) that have no `mlflowRunId` yet and
    /// records the ids with a status JSON patch guarded by each run's name. Never throws: a
    /// failure is logged, becomes a `MLflowReportFailed` Warning Event and returns when to try again.
    func reportToMLflow(_ tj: TrainingJob, now: Date) async -> Date? {
        guard settings.mlflowTrackingURI?.isEmpty == false else { return nil }
        let namespace = tj.metadata.namespace ?? "default"
        let runs = tj.status?.runs ?? []
        let pending = runs.indices.filter { i in
            let run = runs[i]
            guard run.result != .running, run.mlflowRunId == nil else { return false }
            let finished = run.completionTime.flatMap(KubeTime.parse) ?? now
            return now.timeIntervalSince(finished) < Self.mlflowReportWindow
        }
        guard !pending.isEmpty else { return nil }
        var ops: [JSONValue] = []
        var failure: String?
        var mlflow: MLflowClient?
        do {
            mlflow = try MLflowClient.controllerClient(settings)
        } catch {
            failure = "\(error)"  // a CA file gone since start: nothing is sent without it
        }
        for i in pending {
            guard let mlflow else { break }
            let run = runs[i]
            let terminations = pods.list(labels: [SextantLabel.run: run.name], namespace: namespace)
                .flatMap { TrainingResources.observe(job: DynamicObject(JSONValue.object([:])), pods: [$0]).terminations }
            let summary = terminations.reversed().lazy.compactMap { $0.message.flatMap(TrainerSummary.init(parsing:)) }.first
            let mv = run.modelVersion.flatMap { modelVersions.get(namespace: namespace, name: $0) }
                .flatMap { try? $0.raw.decode(as: ModelVersion.self) }
            let report = MLflowRunReport(run: run, of: tj, summary: summary, modelVersion: mv,
                                         trainerImage: TrainingResources.image(tj, settings: settings))
            do {
                let id = try await mlflow.report(report)
                ops.append(["op": "test", "path": .string("/status/runs/\(i)/name"), "value": .string(run.name)])
                ops.append(["op": "add", "path": .string("/status/runs/\(i)/mlflowRunId"), "value": .string(id)])
                logger.info("reported run to MLflow", metadata: ["trainingjob": "\(namespace)/\(tj.metadata.name ?? "")",
                                                                 "run": "\(run.name)", "mlflowRun": "\(id)"])
            } catch {
                failure = "run \(run.name): \(error)"
                break  // MLflow is likely down: the other runs wait for the retry too
            }
        }
        if !ops.isEmpty {
            do {
                let _: DynamicObject = try await client.patch(TrainingResources.trainingJobs, name: tj.metadata.name ?? "", .json(ops),
                                                              namespace: namespace, subresource: "status")
            } catch {
                // The runs moved or the object is gone: the next reconcile finds the MLflow runs by their tags.
                logger.notice("cannot record MLflow run ids", metadata: ["trainingjob": "\(tj.metadata.name ?? "")", "error": "\(error)"])
            }
        }
        guard let failure else { return nil }
        let retry = settings.mlflowRetryInterval
        logger.warning("cannot report to MLflow", metadata: ["trainingjob": "\(namespace)/\(tj.metadata.name ?? "")", "error": "\(failure)"])
        await events.record(tj, type: .warning, reason: "MLflowReportFailed", action: "Report",
                            note: "cannot report to MLflow (retrying every \(retry)): \(failure)", now: now)
        let seconds = Double(retry.components.seconds) + Double(retry.components.attoseconds) / 1e18
        return now.addingTimeInterval(seconds)
    }
}
