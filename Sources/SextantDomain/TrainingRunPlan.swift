import Foundation
import SextantAPI
import SextantKubeTypes

/// Bookkeeping of a TrainingJob's runs: names, triggers, history and phase. Pure; the reconciler
/// feeds it what it read and writes what it returns.
public enum TrainingRuns {
    /// The annotation that asks for a run (`kubectl annotate tj NAME mlops.sextant.dev/retrain-requested-at=...`);
    /// each distinct value starts one run.
    public static let retrainAnnotation = SextantGroup.labelPrefix + "retrain-requested-at"

    /// `<trainingJob>-<count>`, shortened to 63 characters (a Job name is also a label value).
    public static func runName(trainingJob: String, count: Int64) -> String {
        let suffix = "-\(count)"
        let base = trainingJob.count + suffix.count > 63 ? String(trainingJob.prefix(63 - suffix.count)) : trainingJob
        var name = base + suffix
        while name.hasPrefix("-") || name.hasSuffix("--") { name.removeFirst() }
        return name
    }

    /// The artifact directory of a version: `<output.uri>/<modelName>/v<N>/`.
    public static func outputURI(base: String, model: String, version: Int64) -> String {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return "\(trimmed)/\(model)/v\(version)/"
    }

    /// A manual trigger from `status.requests.run` or the annotation, unless a run in history
    /// already stands for that request (its `requestedAt` is kept in `trigger.scheduledTime`).
    public static func manualTrigger(request: ManualRequest?, annotation: String?, history: [TrainingRun]) -> (RunTrigger, requestedAt: String)? {
        let handled = Set(history.filter { $0.trigger.type == .manual }.compactMap(\.trigger.scheduledTime))
        if let request, !handled.contains(request.requestedAt) {
            var t = RunTrigger(type: .manual)
            t.requestedBy = request.requestedBy
            t.scheduledTime = request.requestedAt
            return (t, request.requestedAt)
        }
        if let annotation, !annotation.isEmpty, !handled.contains(annotation) {
            var t = RunTrigger(type: .manual)
            t.requestedBy = "annotation " + retrainAnnotation
            t.scheduledTime = annotation
            return (t, annotation)
        }
        return nil
    }

    /// A one-shot job (no schedule, no retrain conditions) runs when created and again when its
    /// spec changes (`metadata.generation` moves past the generation of the last run, which is
    /// kept in `status.observedGeneration`).
    public static func oneShotTrigger(spec: TrainingJobSpec, generation: Int64?, status: TrainingJobStatus?) -> RunTrigger? {
        guard spec.schedule == nil, spec.retrainOn == nil else { return nil }
        if (status?.runCount ?? 0) == 0 { return RunTrigger(type: .created) }
        if let generation, let seen = status?.observedGeneration, generation > seen { return RunTrigger(type: .specChanged) }
        return nil
    }

    /// Adds or replaces `run` (by name), newest first, keeping at most `limit` entries; running
    /// runs are never dropped.
    public static func record(_ run: TrainingRun, in runs: [TrainingRun], limit: Int) -> [TrainingRun] {
        var out = runs
        if let i = out.firstIndex(where: { $0.name == run.name }) { out[i] = run } else { out.insert(run, at: 0) }
        var kept: [TrainingRun] = []
        var finishedKept = 0
        let finishedLimit = max(0, limit - out.filter { $0.result == .running }.count)
        for r in out {
            if r.result == .running { kept.append(r) } else if finishedKept < finishedLimit {
                kept.append(r)
                finishedKept += 1
            }
        }
        return kept
    }

    /// Finished Jobs beyond the history limits, oldest first (runs are newest first). Succeeded
    /// and failed Jobs are counted separately, like a CronJob's history limits.
    public static func jobsToDelete(finished: [(job: String, succeeded: Bool)], successfulLimit: Int, failedLimit: Int) -> [String] {
        var ok = 0, bad = 0
        var doomed: [String] = []
        for f in finished {
            if f.succeeded { ok += 1; if ok > successfulLimit { doomed.append(f.job) } } else {
                bad += 1
                if bad > failedLimit { doomed.append(f.job) }
            }
        }
        return doomed.reversed()
    }

    /// The summary phase of a valid TrainingJob.
    public static func phase(spec: TrainingJobSpec, runs: [TrainingRun]) -> TrainingJobPhase {
        if runs.contains(where: { $0.result == .running }) { return .running }
        if spec.runPolicy?.suspend == true { return .suspended }
        if spec.schedule != nil || spec.retrainOn != nil { return .waiting }
        switch runs.first?.result {
        case nil: return .pending
        case .succeeded?: return .succeeded
        case .running?: return .running
        default: return .failed
        }
    }

    /// One line for the run's trigger, for Events and messages.
    public static func describe(_ trigger: RunTrigger) -> String {
        switch trigger.type {
        case .created: return "created"
        case .specChanged: return "spec changed"
        case .schedule: return "schedule \(trigger.scheduledTime ?? "")"
        case .retrainCondition:
            return "retrain condition \(trigger.condition ?? "")" + (trigger.value.map { " (value \(RetrainTrigger.format($0)))" } ?? "")
        case .manual: return "manual request by \(trigger.requestedBy ?? "unknown")"
        }
    }
}
