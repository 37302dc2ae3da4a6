import Foundation
import SextantAPI
import SextantKubeTypes

/// One transition worth telling people about, independent of where it is posted. Derived from the
/// committed status only, under an identity that the same transition always gets, so what was
/// already posted can be found in `status.notifications` after a controller restart.
public struct NotificationMessage: Sendable, Hashable {
    public struct Fact: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// `<object>.<event>.<16 hex digits>` (the transition Events' naming scheme).
    public var id: String
    public var event: NotificationEvent
    /// `CanaryRollout` or `TrainingJob`.
    public var kind: String
    public var namespace: String
    public var name: String
    /// One line: `fraud: rolled back fraud-v2`.
    public var title: String
    public var text: String
    public var facts: [Fact]
    public var time: Date

    public var isWarning: Bool { event.isWarning }
}

/// Transitions older than this are not posted (enabling notifications on an old object does not
/// replay its history; the same horizon as the transition Events).
public enum NotificationPolicy {
    public static let horizon: TimeInterval = 3600

    /// The (notification, target) pairs still to post: recent, wanted by the target, and not in `records`.
    public static func pending(_ notifications: [NotificationMessage], targets: [NotificationTarget]?, records: [NotificationRecord]?,
                               now: Date) -> [(NotificationMessage, NotificationTarget)] {
        let done = Set((records ?? []).map { "\($0.target)\u{0}\($0.id)" })
        var out: [(NotificationMessage, NotificationTarget)] = []
        for n in notifications where now.timeIntervalSince(n.time) < horizon {
            for t in targets ?? [] where (t.events ?? NotificationEvent.allCases).contains(n.event) {
                if !done.contains("\(t.name)\u{0}\(n.id)") { out.append((n, t)) }
            }
        }
        return out
    }

    /// `records` with `record` added (replacing one of the same id and target), newest last, bounded.
    public static func appending(_ record: NotificationRecord, to records: [NotificationRecord]?) -> [NotificationRecord] {
        var list = (records ?? []).filter { !($0.id == record.id && $0.target == record.target) }
        list.append(record)
        return Array(list.suffix(NotificationRecord.limit))
    }

    static func id(object: String, uid: String, parts: [String], event: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes
        for byte in ([uid] + parts + [event]).joined(separator: "\u{0}").utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\(object.prefix(200)).\(event.lowercased()).\(String(repeating: "0", count: 16 - hex.count))\(hex)"
    }
}

public enum RolloutNotifications {
    /// The notifications of the latest `records` rollouts in `status.history`: started, the
    /// current step and the latest failed analysis run while it runs, and how it ended.
    /// Started/Promoted/RolledBack/RolloutFailed have the ids of the transition Events.
    public static func derive(_ rollout: CanaryRollout, records: Int = 3) -> [NotificationMessage] {
        let name = rollout.metadata.name ?? ""
        let uid = rollout.metadata.uid ?? ""
        let status = rollout.status
        let history = status?.history ?? []
        var out: [NotificationMessage] = []
        func note(_ record: RolloutRecord, _ event: NotificationEvent, reason: String, title: String, text: String,
                  facts: [NotificationMessage.Fact], time: Date) {
            out.append(NotificationMessage(
                id: RolloutHistory.eventName(rollout: name, uid: uid, version: record.version, startTime: record.startTime, reason: reason),
                event: event, kind: CanaryRollout.kind, namespace: rollout.metadata.namespace ?? "", name: name,
                title: title, text: text, facts: facts, time: time))
        }
        for (offset, record) in history.suffix(records).enumerated() {
            let latest = offset == min(records, history.count) - 1
            let started = KubeTime.parse(record.startTime) ?? Date(timeIntervalSince1970: 0)
            var base: [NotificationMessage.Fact] = [.init("Rollout", "\(rollout.metadata.namespace ?? "")/\(name)"),
                                             .init("Model", rollout.spec.modelName), .init("Candidate", record.version)]
            if let stable = record.stableVersion { base.append(.init("Stable", stable)) }
            note(record, .rolloutStarted, reason: "RolloutStarted", title: "\(name): rolling out \(record.version)",
                 text: record.stableVersion.map { "Rolling out \(record.version), stable \($0)." }
                    ?? "Deploying the first version \(record.version).",
                 facts: base + (record.trigger.map { [.init("Trigger", $0)] } ?? []), time: started)
            if latest, record.outcome == nil, status?.canaryVersion == record.version {
                let steps = RolloutSteps.of(rollout.spec)
                if let index = status?.currentStepIndex, index >= 1 {
                    let weight = status?.canaryWeight ?? 0
                    note(record, .stepAdvanced, reason: "StepAdvanced-\(index)",
                         title: "\(name): step \(index + 1)/\(steps.count), \(record.version) at \(weight)%",
                         text: "Step \(index + 1) of \(steps.count): \(record.version) takes \(weight)% of the traffic.",
                         facts: base + [.init("Step", "\(index + 1)/\(steps.count)"), .init("Canary weight", "\(weight)%")],
                         time: status?.stepStartTime.flatMap(KubeTime.parse) ?? started)
                }
                if let failed = status?.failedChecks, failed > 0 {
                    let limit = rollout.spec.analysis?.effectiveFailureLimit ?? AnalysisSpec.defaultFailureLimit
                    let failing = (status?.measurements ?? []).filter { $0.outcome == .fail }
                    let detail = failing.map { m in
                        "\(m.metric) = \(m.value.map { String(format: "%.4g", $0) } ?? "no data")\(m.message.map { " (\($0))" } ?? "")"
                    }.joined(separator: "; ")
                    note(record, .analysisFailed, reason: "AnalysisFailed-\(failed)",
                         title: "\(name): analysis failed for \(record.version) (\(failed)/\(limit))",
                         text: detail.isEmpty ? (status?.message ?? "an analysis run failed") : detail,
                         facts: base + [.init("Failed checks", "\(failed)/\(limit)")],
                         time: status?.lastAnalysisTime.flatMap(KubeTime.parse) ?? started)
                }
            }
            let ended = record.endTime.flatMap(KubeTime.parse) ?? started
            let why = record.message ?? record.reason ?? ""
            let end = base + (record.reason.map { [.init("Reason", $0)] } ?? [])
            switch record.outcome {
            case .promoted?:
                note(record, .promoted, reason: "Promoted", title: "\(name): promoted \(record.version)",
                     text: why.isEmpty ? "\(record.version) serves all traffic." : why, facts: end, time: ended)
            case .rolledBack?:
                note(record, .rolledBack, reason: "RolledBack", title: "\(name): rolled back \(record.version)",
                     text: why, facts: end, time: ended)
            case .failed?:
                note(record, .rolloutFailed, reason: "RolloutFailed", title: "\(name): rollout of \(record.version) failed",
                     text: why, facts: end, time: ended)
            case .cancelled?, nil:
                break
            }
        }
        return out
    }
}

public enum TrainingNotifications {
    /// The notifications of the latest `runs` runs: started (or retrain triggered) and how each ended.
    public static func derive(_ job: TrainingJob, runs: Int = 3) -> [NotificationMessage] {
        let name = job.metadata.name ?? ""
        let uid = job.metadata.uid ?? ""
        var out: [NotificationMessage] = []
        // status.runs is newest first; notifications go oldest first.
        for run in (job.status?.runs ?? []).prefix(runs).reversed() {
            func note(_ event: NotificationEvent, title: String, text: String, facts: [NotificationMessage.Fact], time: Date) {
                out.append(NotificationMessage(
                    id: NotificationPolicy.id(object: name, uid: uid, parts: [run.name], event: event.rawValue),
                    event: event, kind: TrainingJob.kind, namespace: job.metadata.namespace ?? "", name: name,
                    title: title, text: text, facts: facts, time: time))
            }
            let started = run.startTime.flatMap(KubeTime.parse) ?? Date(timeIntervalSince1970: 0)
            let base: [NotificationMessage.Fact] = [.init("TrainingJob", "\(job.metadata.namespace ?? "")/\(name)"),
                                             .init("Model", job.spec.modelName), .init("Run", run.name)]
            if run.trigger.type == .retrainCondition {
                let condition = run.trigger.condition ?? ""
                let value = run.trigger.value.map { String(format: "%.4g", $0) } ?? "?"
                note(.retrainTriggered, title: "\(name): retrain triggered by \(condition)",
                     text: "Retrain condition \(condition) fired with value \(value); run \(run.name) started.",
                     facts: base + [.init("Condition", condition), .init("Value", value)], time: started)
            } else {
                note(.trainingStarted, title: "\(name): run \(run.name) started",
                     text: "Run \(run.name) started (\(run.trigger.type.rawValue)).",
                     facts: base + [.init("Trigger", run.trigger.type.rawValue)], time: started)
            }
            let ended = run.completionTime.flatMap(KubeTime.parse) ?? started
            let end = base + (run.reason.map { [.init("Reason", $0)] } ?? [])
            switch run.result {
            case .succeeded:
                note(.trainingSucceeded, title: "\(name): run \(run.name) succeeded",
                     text: run.modelVersion.map { "Registered ModelVersion \($0)." } ?? (run.message ?? "succeeded"),
                     facts: end + (run.modelVersion.map { [.init("ModelVersion", $0)] } ?? []), time: ended)
            case .gateFailed:
                note(.gateFailed, title: "\(name): run \(run.name) failed its gates",
                     text: run.message ?? "a gate failed; no version was registered", facts: end, time: ended)
            case .failed, .invalidInput:
                note(.trainingFailed, title: "\(name): run \(run.name) failed",
                     text: run.message ?? run.reason ?? "failed", facts: end, time: ended)
            case .running, .cancelled:
                break
            }
        }
        return out
    }
}
