import SextantJSON
import SextantKubeTypes

/// One entry of the model registry: an immutable record of a trained model (artifact, data,
/// parameters, metrics, gate results, lineage) plus its mutable governance (approval, stage,
/// aliases). Written by the TrainingJob controller, or by hand for a model trained elsewhere.
public struct ModelVersion: KubernetesResource, Hashable {
    public static let group = SextantGroup.name
    public static let version = SextantGroup.version
    public static let kind = "ModelVersion"
    public static let plural = "modelversions"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: ModelVersionSpec
    public var status: ModelVersionStatus?

    public init(metadata: ObjectMeta, spec: ModelVersionSpec, status: ModelVersionStatus? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct ModelVersionSpec: Codable, Sendable, Hashable {
    public var modelName: String
    /// Increasing per model, starting at 1.
    public var version: Int64
    public var description: String?
    public var artifact: ModelArtifact
    public var data: DataRecord?
    public var algorithm: String?
    /// Free-form: numbers, strings or booleans as the trainer used them.
    public var hyperparameters: [String: JSONValue]?
    public var metrics: [String: Double]?
    public var gates: GateSummary?
    public var lineage: Lineage?
    public var approval: Approval?
    public var stage: ModelStage?
    public var aliases: [String]?

    public init(modelName: String, version: Int64, artifact: ModelArtifact) {
        self.modelName = modelName
        self.version = version
        self.artifact = artifact
    }
}

public struct ModelArtifact: Codable, Sendable, Hashable {
    public var uri: String
    public var format: ArtifactFormat?
    public var sha256: String?
    public var sizeBytes: Int64?
    public init(uri: String, format: ArtifactFormat? = nil, sha256: String? = nil) {
        self.uri = uri
        self.format = format
        self.sha256 = sha256
    }
}

public enum ArtifactFormat: String, Codable, Sendable, Hashable, CaseIterable {
    /// Sextant's own JSON model (trees, feature names, categorical maps, reference profile).
    case sextantJSON = "SextantJSON"
    /// An XGBoost JSON model (`save_model("model.json")`), for models trained elsewhere.
    case xgboostJSON = "XGBoostJSON"
}

public struct DataRecord: Codable, Sendable, Hashable {
    public var uri: String?
    public var version: String?
    public var sha256: String?
    public var rows: Int64?
    public var features: [String]?
    public var target: String?
    public init() {}
}

public struct GateSummary: Codable, Sendable, Hashable {
    /// True when every gate that ran passed.
    public var passed: Bool
    public var results: [GateResult]?
    public init(passed: Bool, results: [GateResult]? = nil) {
        self.passed = passed
        self.results = results
    }
}

public struct GateResult: Codable, Sendable, Hashable {
    public var gate: GateName
    public var passed: Bool
    public var checks: [GateCheck]?
    public var message: String?
    public init(gate: GateName, passed: Bool) {
        self.gate = gate
        self.passed = passed
    }
}

public enum GateName: String, Codable, Sendable, Hashable, CaseIterable {
    case performance = "Performance", fairness = "Fairness", robustness = "Robustness", dataQuality = "DataQuality"
}

/// One number a gate compared: `aucRoc 0.962 >= 0.95`, `gender disparity 0.04 <= 0.1`.
public struct GateCheck: Codable, Sendable, Hashable {
    public var name: String
    public var value: Double?
    public var threshold: Double?
    public var comparison: String?
    public var passed: Bool
    public var message: String?
    public init(name: String, passed: Bool) {
        self.name = name
        self.passed = passed
    }
}

public struct Lineage: Codable, Sendable, Hashable {
    public var trainingJob: String?
    public var run: String?
    public var jobName: String?
    public var trainerImage: String?
    public var codeRevision: String?
    public var parentVersion: String?
    public var createdBy: String?
    public init() {}
}

public struct Approval: Codable, Sendable, Hashable {
    public var state: ApprovalState
    public var by: String?
    public var time: String?
    public var reason: String?
    public init(state: ApprovalState, by: String? = nil, time: String? = nil, reason: String? = nil) {
        self.state = state
        self.by = by
        self.time = time
        self.reason = reason
    }
}

public enum ApprovalState: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "Pending", approved = "Approved", rejected = "Rejected"
}

/// MLflow's stages.
public enum ModelStage: String, Codable, Sendable, Hashable, CaseIterable {
    case none = "None", staging = "Staging", production = "Production", archived = "Archived"
}

// MARK: Status

public struct ModelVersionStatus: Codable, Sendable, Hashable {
    public var phase: ModelVersionPhase?
    public var conditions: [Condition]?
    public var observedGeneration: Int64?
    /// The effective approval: from `spec.approval`, the automatic policy, or a request.
    public var approval: Approval?
    /// Set when a CanaryRollout rolled this version back; such a version is not rolled out again
    /// unless a `retry` is requested on the rollout.
    public var rolledBack: RollbackRecord?
    /// The CanaryRollout currently serving this version (as stable or canary).
    public var servedBy: String?
    /// `spec.metrics` rounded for display (printer columns cannot round).
    public var displayMetrics: [String: Double]?
    public var requests: ModelVersionRequests?
    public var message: String?
    public init() {}
}

extension ModelVersionStatus {
    /// Decimal places of `displayMetrics`.
    public static let displayPlaces = 4

    /// Metrics rounded to `displayPlaces` (0.9824132643281579 → 0.9824); values that are not
    /// finite are left out; nil when there is nothing to show.
    public static func displayMetrics(_ metrics: [String: Double]?) -> [String: Double]? {
        let scale = (0..<displayPlaces).reduce(1.0) { value, _ in value * 10 }
        let rounded = (metrics ?? [:]).filter { $0.value.isFinite }.mapValues { ($0 * scale).rounded() / scale }
        return rounded.isEmpty ? nil : rounded
    }
}

public enum ModelVersionPhase: String, Codable, Sendable, Hashable, CaseIterable {
    case pendingApproval = "PendingApproval", approved = "Approved", rejected = "Rejected"
    case canary = "Canary", production = "Production", rolledBack = "RolledBack", archived = "Archived"
    case invalid = "Invalid"
}

public struct RollbackRecord: Codable, Sendable, Hashable {
    public var time: String
    public var canaryRollout: String?
    public var reason: String?
    public var message: String?
    public init(time: String, canaryRollout: String? = nil, reason: String? = nil) {
        self.time = time
        self.canaryRollout = canaryRollout
        self.reason = reason
    }
}

public struct ModelVersionRequests: Codable, Sendable, Hashable {
    /// `sextant approve`.
    public var approve: ManualRequest?
    /// `sextant reject`.
    public var reject: ManualRequest?
    public init() {}
}
