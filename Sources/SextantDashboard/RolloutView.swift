import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKubeTypes

/// What a person looks at for one CanaryRollout, derived from its status and the objects around
/// it: the terminal tree (`sextant get cro NAME --tree`) and the dashboard's rollout page both
/// render this, so they never disagree about which step is done or what a threshold is.
public struct RolloutView: Sendable, Hashable {
    public enum StepState: String, Sendable, Hashable { case done, current, failed, pending }

    public struct Step: Sendable, Hashable {
        public var number: Int
        public var label: String
        public var state: StepState
        /// The canary weight this step sends (a pause keeps the previous step's).
        public var weight: Int
    }

    public struct Metric: Sendable, Hashable {
        public var name: String
        public var value: Double?
        public var threshold: String
        public var min: Double?
        public var max: Double?
        public var outcome: MeasurementOutcome?
        public var time: String?
        public var query: String?
        public var message: String?
    }

    public var name: String
    public var namespace: String
    public var model: String
    public var phase: String
    public var reason: String?
    public var message: String?
    public var strategy: String
    public var stable: String?
    public var canary: String?
    /// The verified canary weight (`status.canaryWeight`) and the one the current step asks for.
    public var weight: Int
    public var desiredWeight: Int
    public var steps: [Step]
    public var currentStep: Int?
    public var failedChecks: Int
    public var failureLimit: Int?
    public var consecutiveErrors: Int
    public var consecutiveErrorLimit: Int?
    public var lastAnalysisTime: String?
    public var metrics: [Metric]
    public var history: [RolloutRecord]

    public init(_ rollout: CanaryRollout) {
        let status = rollout.status ?? CanaryRolloutStatus()
        name = rollout.metadata.name ?? ""
        namespace = rollout.metadata.namespace ?? ""
        model = rollout.spec.modelName
        phase = status.phase?.rawValue ?? "Pending"
        reason = status.reason
        message = status.message
        strategy = Self.strategyName(rollout.spec.strategy)
        stable = status.stableVersion
        canary = status.canaryVersion
        weight = status.canaryWeight ?? 0
        failedChecks = status.failedChecks ?? 0
        failureLimit = rollout.spec.analysis?.failureLimit
        consecutiveErrors = status.consecutiveErrors ?? 0
        consecutiveErrorLimit = rollout.spec.analysis?.consecutiveErrorLimit
        lastAnalysisTime = status.lastAnalysisTime
        history = status.history ?? []

        let effective = RolloutSteps.of(rollout.spec)
        // Only a rollout with a candidate is on a step; a settled one has done them all or none.
        let active = status.canaryVersion != nil
        let settledPhase = status.heldPhase ?? status.phase
        let index = active ? status.currentStepIndex : nil
        currentStep = index
        desiredWeight = index.map { RolloutSteps.split(at: $0, of: effective).canaryWeight } ?? 0
        var steps: [Step] = effective.enumerated().map { i, step in
            let state: StepState
            if let index {
                state = i < index ? .done : i > index ? .pending
                    : (settledPhase == .rolledBack || settledPhase == .failed) ? .failed : .current
            } else if settledPhase == .succeeded, status.history?.last?.outcome == .promoted {
                state = .done
            } else {
                state = .pending
            }
            return Step(number: i + 1, label: Self.label(step), state: state,
                        weight: RolloutSteps.split(at: i, of: effective).canaryWeight)
        }
        // A promotion runs past the last step: every step is done.
        if settledPhase == .promoting { steps = steps.map { var s = $0; s.state = .done; return s } }
        self.steps = steps

        let measured = Dictionary((status.measurements ?? []).map { ($0.metric, $0) }, uniquingKeysWith: { _, last in last })
        var metrics: [Metric] = (rollout.spec.analysis?.metrics ?? []).map { spec in
            let m = measured[spec.name]
            return Metric(name: spec.name, value: m?.value, threshold: Self.threshold(spec.thresholdRange),
                          min: spec.thresholdRange.min, max: spec.thresholdRange.max, outcome: m?.outcome,
                          time: m?.time, query: m?.query, message: m?.message)
        }
        // Measurements of metrics no longer in the spec (an edit mid-rollout) are still shown.
        for m in status.measurements ?? [] where !metrics.contains(where: { $0.name == m.metric }) {
            metrics.append(Metric(name: m.metric, value: m.value, threshold: "", outcome: m.outcome, time: m.time,
                                  query: m.query, message: m.message))
        }
        self.metrics = metrics
    }

    static func strategyName(_ strategy: RolloutStrategy) -> String {
        if strategy.canary != nil { return "Canary" }
        if strategy.blueGreen != nil { return "BlueGreen" }
        if strategy.shadow != nil { return "Shadow" }
        if strategy.abTest != nil { return "ABTest" }
        return "None"
    }

    static func label(_ step: RolloutStep) -> String {
        switch step {
        case .traffic(let split, let passes):
            var text: String
            if let mirror = split.mirrorPercent {
                text = "mirror \(mirror)%"
            } else if let match = split.abMatch, !match.isEmpty {
                text = "A/B match (\(match.count) rule\(match.count == 1 ? "" : "s"))"
            } else {
                text = "setWeight \(split.canaryWeight)"
            }
            if passes > 1 { text += " · \(passes) passing runs" } else if passes == 1 { text += " · analysis" }
            return text
        case .pause(let duration):
            guard let duration else { return "pause (until promote)" }
            return "pause \(formatDuration(duration))"
        }
    }

    /// `≥ 0.95`, `≤ 0.5`, `[0.9, 1]`: the metric's threshold range as a person reads it.
    public static func threshold(_ range: ThresholdRange) -> String {
        switch (range.min, range.max) {
        case let (min?, max?): return "[\(number(min)), \(number(max))]"
        case let (min?, nil): return "≥ \(number(min))"
        case let (nil, max?): return "≤ \(number(max))"
        case (nil, nil): return "any"
        }
    }

    /// Four significant digits, no trailing zeros.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value > 0 ? "+Inf" : "-Inf" }
        var text = String(format: "%.4g", value)
        if text.contains("."), !text.contains("e") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }

    static func formatDuration(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        if seconds % 3600 == 0, seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

/// One Deployment that serves a version of a rollout, as the tree and the dashboard show it.
public struct ServingDeployment: Sendable, Hashable {
    public var name: String
    public var version: String?
    public var replicas: Int
    public var ready: Int
    public var available: Int
    public var updated: Int

    public init(name: String, version: String?, replicas: Int, ready: Int, available: Int, updated: Int) {
        self.name = name
        self.version = version
        self.replicas = replicas
        self.ready = ready
        self.available = available
        self.updated = updated
    }

    /// From an `apps/v1` Deployment; the version is its pod template's ModelVersion label.
    public init(_ deployment: JSONValue) {
        name = deployment[path: ["metadata", "name"]]?.stringValue ?? ""
        version = deployment[path: ["spec", "template", "metadata", "labels", SextantLabel.modelVersion]]?.stringValue
        replicas = Int(deployment[path: ["spec", "replicas"]]?.intValue ?? 1)
        ready = Int(deployment[path: ["status", "readyReplicas"]]?.intValue ?? 0)
        available = Int(deployment[path: ["status", "availableReplicas"]]?.intValue ?? 0)
        updated = Int(deployment[path: ["status", "updatedReplicas"]]?.intValue ?? 0)
    }

    /// The role of this Deployment in the rollout: which version it serves now.
    public func role(in view: RolloutView) -> String {
        if let version, version == view.canary { return "canary" }
        if let version, version == view.stable { return "stable" }
        return replicas == 0 ? "scaled down" : "old"
    }

    public var isAvailable: Bool { replicas > 0 && available >= replicas }
}

/// An Event about the rollout, newest last.
public struct RolloutEvent: Sendable, Hashable {
    public var time: Date?
    public var type: String
    public var reason: String
    public var note: String
    public var count: Int

    public init(time: Date?, type: String, reason: String, note: String, count: Int = 1) {
        self.time = time
        self.type = type
        self.reason = reason
        self.note = note
        self.count = count
    }

    /// From an `events.k8s.io/v1` Event: the last time it was seen.
    public init(_ event: Event) {
        let last = event.series?.lastObservedTime ?? event.eventTime ?? event.metadata.creationTimestamp
        time = last.flatMap(KubeTime.parse)
        type = event.type ?? "Normal"
        reason = event.reason ?? ""
        note = event.note ?? ""
        count = event.series?.count ?? 1
    }

    /// The latest `limit` Events about the CanaryRollout `name`, oldest first.
    public static func about(rollout name: String, in events: [Event], limit: Int = 8) -> [RolloutEvent] {
        let mine = events.filter { $0.regarding?.kind == CanaryRollout.kind && $0.regarding?.name == name }
            .map(RolloutEvent.init)
            .sorted { ($0.time ?? .distantPast) < ($1.time ?? .distantPast) }
        return Array(mine.suffix(limit))
    }
}

/// `5s`, `3m`, `2h`, `4d`: how long ago, as kubectl prints ages.
public func shortAge(since date: Date?, now: Date) -> String {
    guard let date else { return "<unknown>" }
    let seconds = max(0, Int(now.timeIntervalSince(date)))
    switch seconds {
    case ..<120: return "\(seconds)s"
    case ..<(120 * 60): return "\(seconds / 60)m"
    case ..<(48 * 3600): return "\(seconds / 3600)h"
    default: return "\(seconds / 86400)d"
    }
}
