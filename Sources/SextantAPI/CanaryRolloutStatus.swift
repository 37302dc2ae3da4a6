import SextantJSON
import SextantKubeTypes

// The CanaryRollout's status: phase, history, measurements, webhook results, requests.
public struct CanaryRolloutStatus: Codable, Sendable, Hashable {
    public var phase: RolloutPhase?
    public var conditions: [Condition]?
    public var observedGeneration: Int64?
    public var message: String?
    public var stableVersion: String?
    public var canaryVersion: String?
    /// Index into the effective step list (explicit steps, or the ones derived from stepWeight).
    public var currentStepIndex: Int?
    public var canaryWeight: Int?
    public var mirrorPercent: Int?
    /// Analysis runs completed in the current step (blue-green, shadow, A/B: in the rollout).
    public var iterations: Int?
    public var failedChecks: Int?
    public var consecutiveErrors: Int?
    public var measurements: [Measurement]?
    public var lastAnalysisTime: String?
    public var rolloutStartTime: String?
    public var stepStartTime: String?
    public var pauseStartTime: String?
    /// Last time the rollout made progress (for `progressDeadlineSeconds`).
    public var lastProgressTime: String?
    /// When the candidate or the old stable is due to be scaled down.
    public var scaleDownTime: String?
    public var webhooks: [WebhookResult]?
    public var requests: RolloutRequests?
    /// The `requestedAt` of the last request acted on, so each request is acted on once.
    public var lastHandledRequest: String?
    /// Why the rollout is in its phase (CamelCase, e.g. `VirtualServiceNotFound`, `AnalysisFailed`).
    public var reason: String?
    /// Under phase `Waiting` or `Invalid`: the phase the rollout resumes once the wait is over or
    /// the spec is valid again. Traffic and serving follow this phase meanwhile.
    public var heldPhase: RolloutPhase?
    /// The latest rollouts (newest last, at most `RolloutRecord.limit`): one record per candidate
    /// started, closed with its outcome. ModelVersion records and the important Events derive
    /// from it, so a controller killed at any point after a commit catches up.
    public var history: [RolloutRecord]?
    /// Notifications delivered (or given up on), so a restarted controller posts only what is missing.
    public var notifications: [NotificationRecord]?
    /// Open while a promoted version is on probation (`analysis.rollbackWindow`).
    public var rollbackWindow: RollbackWindowStatus?
    /// When the background analysis last ran (or, before its first run, when the first step
    /// started); the next run is due one background interval later.
    public var backgroundAnalysisTime: String?
    public init() {}
}

/// The probation of a promoted version: analysis keeps running until `endTime`; failing checks
/// reaching `failureLimit` before it roll back to `previousStable`.
public struct RollbackWindowStatus: Codable, Sendable, Hashable {
    /// The promoted version on probation.
    public var version: String
    /// The stable version before the promotion (kept serving until the window closes).
    public var previousStable: String
    public var startTime: String
    public var endTime: String
    /// Failed checks within the window.
    public var failedChecks: Int?
    public init(version: String, previousStable: String, startTime: String, endTime: String) {
        self.version = version
        self.previousStable = previousStable
        self.startTime = startTime
        self.endTime = endTime
    }
}

public enum RolloutPhase: String, Codable, Sendable, Hashable, CaseIterable {
    case initializing = "Initializing", progressing = "Progressing", paused = "Paused", promoting = "Promoting"
    case succeeded = "Succeeded", rolledBack = "RolledBack", failed = "Failed"
    /// Holding, not progressing: routing object missing, candidate not serving or not eligible,
    /// analysis errors, GitOps not caught up after `promotionTimeoutSeconds`. `reason` says which.
    case waiting = "Waiting"
    /// The spec is invalid (the `Ready` condition names the field); nothing is changed until it is fixed.
    case invalid = "Invalid"
}

/// One rollout of a candidate: started, then ended with an outcome.
public struct RolloutRecord: Codable, Sendable, Hashable {
    public static let limit = 10

    public var version: String
    /// The stable version when it started (none for the first version).
    public var stableVersion: String?
    public var startTime: String
    /// `RolloutRetried` for a retry request, else absent.
    public var trigger: String?
    /// Absent while the rollout runs.
    public var outcome: RolloutOutcome?
    public var endTime: String?
    public var reason: String?
    public var message: String?
    public init(version: String, stableVersion: String?, startTime: String) {
        self.version = version
        self.stableVersion = stableVersion
        self.startTime = startTime
    }
}

public enum RolloutOutcome: String, Codable, Sendable, Hashable, CaseIterable {
    case promoted = "Promoted", rolledBack = "RolledBack", failed = "Failed", cancelled = "Cancelled"
}

public struct Measurement: Codable, Sendable, Hashable {
    public var metric: String
    public var value: Double?
    public var query: String?
    public var outcome: MeasurementOutcome
    public var time: String
    public var message: String?
    public init(metric: String, outcome: MeasurementOutcome, time: String) {
        self.metric = metric
        self.outcome = outcome
        self.time = time
    }
}

public enum MeasurementOutcome: String, Codable, Sendable, Hashable, CaseIterable {
    case pass = "Pass", fail = "Fail", noData = "NoData", error = "Error"
}

public struct WebhookResult: Codable, Sendable, Hashable {
    public var name: String
    public var type: WebhookType
    public var time: String
    public var succeeded: Bool
    public var statusCode: Int?
    public var message: String?
    public init(name: String, type: WebhookType, time: String, succeeded: Bool) {
        self.name = name
        self.type = type
        self.time = time
        self.succeeded = succeeded
    }
}

public struct RolloutRequests: Codable, Sendable, Hashable {
    /// Skip the rest of the steps (or end an indefinite pause) and promote; analysis still gates.
    public var promote: ManualRequest?
    /// Roll back now: canary weight 0, phase `RolledBack` with reason `Aborted`.
    public var abort: ManualRequest?
    /// Start again from the first step after `RolledBack`/`Failed`, with the same candidate.
    public var retry: ManualRequest?
    public init() {}
}
