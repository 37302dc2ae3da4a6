import Foundation
import SextantAPI
import SextantJSON

/// The result summary `sextant-trainer` writes to its termination message (docs/trainer.md,
/// "Result summary"). Every field is optional: the message may be truncated, or plain text when
/// the trainer crashed, and decoding must never fail a reconcile.
public struct TrainerSummary: Sendable, Equatable {
    public struct Artifact: Sendable, Equatable {
        public var uri: String?
        public var sha256: String?
        public var size: Int64?
    }
    public struct DataInfo: Sendable, Equatable {
        public var uri: String?
        public var version: String?
        public var sha256: String?
        public var rows: Int64?
    }
    public struct Gate: Sendable, Equatable {
        public var name: String
        public var passed: Bool
        public var value: Double?
        public var threshold: Double?
        public var message: String?
    }

    public var status: String?
    public var reason: String?
    public var message: String?
    public var modelName: String?
    public var trainerVersion: String?
    public var artifact: Artifact?
    public var metricsUri: String?
    public var data: DataInfo?
    public var algorithm: String?
    public var hyperparameters: [String: JSONValue]?
    public var metrics: [String: Double]?
    public var gates: [Gate]?
    public var durationSeconds: Double?
    public var truncated: Bool?
    public var validationCurve: ValidationCurve?

    /// nil when `text` is not a JSON object (a crash message, a truncated document).
    public init?(parsing text: String) {
        guard let value = try? JSONValue.parse(string: text), case .object(let o) = value else { return nil }
        func str(_ v: JSONValue?) -> String? { v?.stringValue }
        func int(_ v: JSONValue?) -> Int64? { v?.doubleValue.flatMap { $0.isFinite ? Int64(exactly: $0.rounded()) : nil } }
        status = str(o["status"])
        reason = str(o["reason"])
        message = str(o["message"])
        modelName = str(o["modelName"])
        trainerVersion = str(o["trainerVersion"])
        if case .object(let a)? = o["artifact"] {
            artifact = Artifact(uri: str(a["uri"]), sha256: str(a["sha256"]), size: int(a["size"]))
        }
        metricsUri = str(o["metricsUri"])
        if case .object(let d)? = o["data"] {
            data = DataInfo(uri: str(d["uri"]), version: str(d["version"]), sha256: str(d["sha256"]), rows: int(d["rows"]))
        }
        algorithm = str(o["algorithm"])
        if case .object(let h)? = o["hyperparameters"] { hyperparameters = h }
        if case .object(let m)? = o["metrics"] {
            metrics = m.compactMapValues { $0.doubleValue }
        }
        if case .array(let gs)? = o["gates"] {
            gates = gs.compactMap { g in
                guard case .object(let x) = g, let name = str(x["name"]) else { return nil }
                return Gate(name: name, passed: x["passed"]?.boolValue ?? false, value: x["value"]?.doubleValue,
                            threshold: x["threshold"]?.doubleValue, message: str(x["message"]))
            }
        }
        durationSeconds = o["durationSeconds"]?.doubleValue
        truncated = o["truncated"]?.boolValue
        validationCurve = Self.curve(o["validationCurve"])
    }

    /// The curve when it is well-formed: rounds ascending and at least 1, one finite value each,
    /// at most `ValidationCurve.maxPoints` (anything else is ignored, never a failure).
    static func curve(_ value: JSONValue?) -> ValidationCurve? {
        guard case .object(let c)? = value, case .array(let r)? = c["rounds"], case .array(let v)? = c["values"],
              r.count == v.count, !r.isEmpty, r.count <= ValidationCurve.maxPoints else { return nil }
        let rounds = r.compactMap { $0.doubleValue.flatMap { $0.isFinite ? Int(exactly: $0) : nil } }
        let values = v.compactMap { $0.doubleValue.flatMap { $0.isFinite ? $0 : nil } }
        guard rounds.count == r.count, values.count == v.count, rounds.first ?? 0 >= 1,
              zip(rounds, rounds.dropFirst()).allSatisfy({ $0 < $1 }) else { return nil }
        return ValidationCurve(metric: c["metric"]?.stringValue, rounds: rounds, values: values)
    }

    /// "performance.aucRoc: value 0.71 vs threshold 0.9 (aucRoc=0.7100 >= 0.9 failed)" for each failed gate.
    public var failedGatesDescription: String {
        let failed = (gates ?? []).filter { !$0.passed }
        guard !failed.isEmpty else { return message ?? "a gate failed" }
        return failed.map { g in
            var s = g.name
            var numbers: [String] = []
            if let v = g.value { numbers.append("value \(Self.format(v))") }
            if let t = g.threshold { numbers.append("threshold \(Self.format(t))") }
            if !numbers.isEmpty { s += ": " + numbers.joined(separator: ", ") }
            if let m = g.message { s += " (\(m))" }
            return s
        }.joined(separator: "; ")
    }

    static func format(_ v: Double) -> String { String(format: "%.6g", v) }

    /// The gate results as a ModelVersion records them, grouped by gate (`performance.aucRoc` →
    /// Performance / check `aucRoc`).
    public var gateSummary: GateSummary? {
        guard let gates, !gates.isEmpty else { return nil }
        var byGate: [(GateName, [GateCheck])] = []
        for g in gates {
            let parts = g.name.split(separator: ".", maxSplits: 1).map(String.init)
            let gate: GateName
            switch parts.first ?? "" {
            case "performance": gate = .performance
            case "fairness": gate = .fairness
            case "robustness": gate = .robustness
            default: gate = .dataQuality
            }
            var check = GateCheck(name: parts.count > 1 ? parts[1] : g.name, passed: g.passed)
            check.value = g.value
            check.threshold = g.threshold
            check.message = g.message
            if let i = byGate.firstIndex(where: { $0.0 == gate }) { byGate[i].1.append(check) } else { byGate.append((gate, [check])) }
        }
        let results = byGate.map { gate, checks in
            var r = GateResult(gate: gate, passed: checks.allSatisfy(\.passed))
            r.checks = checks
            return r
        }
        return GateSummary(passed: results.allSatisfy(\.passed), results: results)
    }
}

/// What the controller observed of a run's Job and its Pods.
public struct JobObservation: Sendable, Equatable {
    public var complete = false
    public var failed = false
    /// The `Failed` condition's reason (`BackoffLimitExceeded`, `DeadlineExceeded`).
    public var failureReason: String?
    public var failureMessage: String?
    /// The trainer container's terminated states, newest last.
    public var terminations: [ContainerTermination] = []
    /// An MPIJob's launcher Pod (nil for a Job): the trainer's states above are its.
    public var launcherPod: String?
    /// An MPIJob's Worker Pods that failed (a container terminated non-zero or OOMKilled, or the
    /// Pod evicted), oldest first; Pods being deleted are left out (the operator's clean-up).
    public var failedWorkers: [WorkerFailure] = []
    public init(complete: Bool = false, failed: Bool = false, failureReason: String? = nil, failureMessage: String? = nil,
                terminations: [ContainerTermination] = []) {
        self.complete = complete
        self.failed = failed
        self.failureReason = failureReason
        self.failureMessage = failureMessage
        self.terminations = terminations
    }
}

/// A Worker Pod of an MPIJob that failed, from its containers' terminated state or its Pod status.
public struct WorkerFailure: Sendable, Equatable {
    public var pod: String
    public var exitCode: Int?
    /// `OOMKilled`, `Error`, or the Pod's reason (`Evicted`).
    public var reason: String?
    public var message: String?
    public init(pod: String, exitCode: Int? = nil, reason: String? = nil, message: String? = nil) {
        self.pod = pod
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
    }

    /// `worker T-N-worker-1 OOMKilled (exit 137)`.
    public var description: String {
        var text = "worker \(pod) \(reason ?? "failed")"
        if let exitCode { text += " (exit \(exitCode))" }
        if let message, !message.isEmpty { text += ": " + TrainingOutcome.clip(message) }
        return text
    }
}

public struct ContainerTermination: Sendable, Equatable {
    public var exitCode: Int?
    public var reason: String?
    public var message: String?
    public init(exitCode: Int? = nil, reason: String? = nil, message: String? = nil) {
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
    }
}

/// A finished run's verdict.
public struct RunOutcome: Sendable, Equatable {
    public var result: RunResult
    public var reason: String
    public var message: String
    public var summary: TrainerSummary?
}

public enum TrainingOutcome {
    /// Classifies a finished Job or MPIJob, or returns nil while it is still running. Order of
    /// evidence: OOMKilled (the kernel's verdict, the launcher's then a worker's), the trainer's own
    /// summary, the deadline, a failed worker (the cause of mpirun's exit), the exit code, then
    /// the Job's condition (`BackoffLimitExceeded`).
    public static func classify(_ job: JobObservation) -> RunOutcome? {
        guard job.complete || job.failed else { return nil }
        let last = job.terminations.last
        let summary = job.terminations.reversed().lazy.compactMap { $0.message.flatMap(TrainerSummary.init(parsing:)) }.first
        if job.complete {
            guard let summary, summary.status == "Succeeded" || summary.status == nil && last?.exitCode == 0 else {
                let text = last?.message.map(clip) ?? "no termination message"
                return RunOutcome(result: .failed, reason: "NoResultSummary",
                                  message: "the Job completed but the trainer left no readable result summary: \(text)", summary: summary)
            }
            return RunOutcome(result: .succeeded, reason: "Succeeded", message: "trained \(summary.modelName ?? "model")", summary: summary)
        }
        if job.terminations.contains(where: { $0.reason == "OOMKilled" }) {
            return RunOutcome(result: .failed, reason: "OOMKilled",
                              message: (job.launcherPod.map { "launcher \($0): " } ?? "")
                                + "the trainer was killed for exceeding its memory limit (OOMKilled); raise spec.pod.resources.limits.memory",
                              summary: summary)
        }
        if let worker = job.failedWorkers.first(where: { $0.reason == "OOMKilled" }) {
            return RunOutcome(result: .failed, reason: "WorkerOOMKilled",
                              message: worker.description + "; raise spec.pod.resources.limits.memory", summary: summary)
        }
        if let summary {
            switch (summary.status, summary.reason) {
            case ("GateFailed", _), (_, "GateFailed"):
                return RunOutcome(result: .gateFailed, reason: "GateFailed", message: summary.failedGatesDescription, summary: summary)
            case (_, "BadInput"):
                return RunOutcome(result: .invalidInput, reason: "BadInput", message: summary.message ?? "bad input", summary: summary)
            case (_, let reason?):
                return RunOutcome(result: .failed, reason: reason, message: summary.message ?? reason, summary: summary)
            default: break
            }
        }
        if job.failureReason == "DeadlineExceeded" {
            return RunOutcome(result: .failed, reason: "DeadlineExceeded",
                              message: job.failureMessage ?? "the run exceeded spec.runPolicy.activeDeadlineSeconds", summary: summary)
        }
        if let worker = job.failedWorkers.first {
            return RunOutcome(result: .failed, reason: worker.reason == "Evicted" ? "WorkerEvicted" : "WorkerFailed",
                              message: worker.description, summary: summary)
        }
        let text = last?.message.map(clip)
        if let launcher = job.launcherPod, ![2, 3].contains(last?.exitCode ?? 0) {
            // mpirun's exit without a summary from rank 0: mpirun itself failed (SSH, a rank's
            // signal); its log tail says why. Exits 2 and 3 are a rank's, passed through by mpirun.
            var message = "launcher \(launcher) failed"
            if let code = last?.exitCode { message += " (exit \(code))" }
            if let reason = job.failureReason { message += "; MPIJob \(reason)" + (job.failureMessage.map { ": \($0)" } ?? "") }
            if let text { message += "; log: \(text)" }
            return RunOutcome(result: .failed, reason: "LauncherFailed", message: message, summary: summary)
        }
        switch last?.exitCode {
        case 2?: return RunOutcome(result: .invalidInput, reason: "BadInput", message: text ?? "the trainer rejected its input (exit 2)", summary: summary)
        case 3?: return RunOutcome(result: .gateFailed, reason: "GateFailed", message: text ?? "a gate failed (exit 3)", summary: summary)
        case 1?: return RunOutcome(result: .failed, reason: "IOError", message: text ?? "I/O error (exit 1)", summary: summary)
        default: break
        }
        let reason = job.failureReason ?? "Failed"
        var message = job.failureMessage ?? "the Job failed"
        if let code = last?.exitCode { message += job.launcherPod.map { "; launcher \($0) exit code \(code)" } ?? "; trainer exit code \(code)" }
        if let text { message += ": \(text)" }
        return RunOutcome(result: .failed, reason: reason, message: message, summary: summary)
    }

    /// Termination messages that are not a summary can be long logs: keep the tail, where the error is.
    public static func clip(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count > 512 ? "…" + String(trimmed.suffix(512)) : trimmed
    }
}

extension TrainingRun {
    /// What a finished run keeps of the trainer's result summary: the data it read, its test-set
    /// metrics and its validation curve (a gate failure registers no ModelVersion, so its numbers
    /// live here only). The controller and the dashboard's tests both go through this.
    public mutating func record(_ summary: TrainerSummary?) {
        dataSha256 = summary?.data?.sha256
        dataVersion = summary?.data?.version
        metrics = summary?.metrics.flatMap { m in
            let finite = m.filter { $0.value.isFinite }
            return finite.isEmpty ? nil : finite
        }
        validationCurve = summary?.validationCurve
    }
}
