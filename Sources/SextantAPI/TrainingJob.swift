import SextantJSON
import SextantKubeTypes
import SextantTrainingContract

/// Trains a model by running the trainer image as a `batch/v1` Job, once, on a cron schedule,
/// or when a Prometheus condition says the live model drifted. Each successful run registers a
/// ``ModelVersion``.
public struct TrainingJob: KubernetesResource, Hashable {
    public static let group = SextantGroup.name
    public static let version = SextantGroup.version
    public static let kind = "TrainingJob"
    public static let plural = "trainingjobs"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: TrainingJobSpec
    public var status: TrainingJobStatus?

    public init(metadata: ObjectMeta, spec: TrainingJobSpec, status: TrainingJobStatus? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct TrainingJobSpec: Codable, Sendable, Hashable {
    /// Registry name of the model; versions are registered as `<modelName>-v<N>`.
    public var modelName: String
    public var trainer: TrainerSpec?
    public var data: DataSpec
    public var algorithm: Algorithm?
    public var objective: TrainingObjective?
    public var hyperparameters: Hyperparameters?
    public var gates: EvaluationGates?
    public var output: OutputSpec
    public var pod: PodPlacement?
    /// Ranks of a data-parallel run (default 1): more than 1 runs each run as a Kubeflow MPIJob
    /// (`kubeflow.org/v2beta1`) instead of a `batch/v1` Job (docs/training.md#several-workers-mpijob).
    public var workers: Int?
    public var runPolicy: RunPolicy?
    public var schedule: TrainingSchedule?
    public var retrainOn: RetrainPolicy?
    public var release: ReleasePolicy?
    /// Where TrainingStarted, RetrainTriggered, TrainingSucceeded, TrainingFailed, GateFailed are posted.
    public var notifications: [NotificationTarget]?

    public init(modelName: String, data: DataSpec, output: OutputSpec) {
        self.modelName = modelName
        self.data = data
        self.output = output
    }
}

/// The trainer container.
public struct TrainerSpec: Codable, Sendable, Hashable {
    /// Default: the controller's `--trainer-image`.
    public var image: String?
    public var imagePullPolicy: PullPolicy?
    public var args: [String]?
    public init(image: String? = nil) { self.image = image }
}

public enum PullPolicy: String, Codable, Sendable, Hashable, CaseIterable {
    case always = "Always", ifNotPresent = "IfNotPresent", never = "Never"
}

/// The training data and how to use its columns.
public struct DataSpec: Codable, Sendable, Hashable {
    public var source: DataSource
    /// Feature columns; empty means every column except target and protected attributes.
    public var features: [String]?
    public var categoricalFeatures: [String]?
    public var target: String
    /// Columns used only by the fairness gate (never as features).
    public var protectedAttributes: [String]?
    /// Column of non-negative sample weights (never a feature).
    public var weightColumn: String?
    public var split: DataSplit?

    public init(source: DataSource, target: String) {
        self.source = source
        self.target = target
    }
}

public struct DataSource: Codable, Sendable, Hashable {
    /// `file://`, `http://`, `https://` or `s3://`.
    public var uri: String
    /// The data version label recorded in lineage (`v2.1`, a DVC/LakeFS commit, a date).
    public var version: String?
    /// When set, the run fails unless the bytes read hash to this value.
    public var sha256: String?
    public var format: DataFormat?
    /// Delta time travel (timestampAsOf): the last table version committed at or before this
    /// RFC 3339 time. With `format: Delta`, `version` is the table version (versionAsOf).
    public var timestamp: String?
    /// Set when `uri` is a DVC pointer (a `.dvc` file or `dvc.lock`) naming the data by its MD5.
    public var dvc: DVCReference?
    /// Credentials for `s3://` (keys `AWS_ACCESS_KEY_ID`, ...) or `http(s)://` (`token`).
    public var secretRef: SecretReference?
    /// S3-compatible endpoint override (MinIO, ...).
    public var endpoint: String?

    public init(uri: String, version: String? = nil, sha256: String? = nil) {
        self.uri = uri
        self.version = version
        self.sha256 = sha256
    }
}

/// Where the object a DVC pointer names is kept.
public struct DVCReference: Codable, Sendable, Hashable {
    /// The DVC remote's URL (`s3://bucket/prefix`, `http(s)://`, `file://`); default: the
    /// repository's default remote from `.dvc/config` above a local pointer.
    public var remote: String?
    /// Which output of the pointer (a dvc.lock usually has several).
    public var path: String?
    public init(remote: String? = nil, path: String? = nil) { self.remote = remote; self.path = path }
}

public enum DataFormat: String, Codable, Sendable, Hashable, CaseIterable {
    case csv = "CSV", csvGzip = "CSVGzip", parquet = "Parquet"
    /// A Delta Lake table: `uri` is the table root (the directory holding `_delta_log`).
    case delta = "Delta"
}

/// Train/validation/test parts: fractions that add up to 1 (``splitFractionTolerance``), or a
/// column naming each row's part.
public struct DataSplit: Codable, Sendable, Hashable {
    public var train: Double?
    public var validation: Double?
    public var test: Double?
    public var stratify: Bool?
    /// Seed of the shuffle behind the fractions (the trainer's default is 42).
    public var seed: Int64?
    /// A column holding `train`, `validation` or `test` per row; overrides the fractions.
    public var column: String?
    public init(train: Double? = nil, validation: Double? = nil, test: Double? = nil, stratify: Bool? = nil,
                seed: Int64? = nil, column: String? = nil) {
        self.train = train
        self.validation = validation
        self.test = test
        self.stratify = stratify
        self.seed = seed
        self.column = column
    }

    /// How far from 1 the fractions may add up (floating-point slack). The CRD's CEL rule, the
    /// admission check and `sextant-trainer` all use this value (a test compares them).
    public static let fractionTolerance = SplitContract.fractionTolerance

    /// The admission rule, shared with the CRD's CEL expressions and `sextant-trainer`: unless a
    /// split column is set or no ratio is (the trainer's default 0.8 / 0 / 0.2 applies), the ratios,
    /// unset ones counting 0, must add up to 1 and the training ratio must be positive.
    public var fractionProblem: String? {
        if column != nil || (train == nil && validation == nil && test == nil) { return nil }
        let sum = (train ?? 0) + (validation ?? 0) + (test ?? 0)
        if abs(sum - 1) > Self.fractionTolerance { return "split ratios must sum to 1 (or set column), got \(sum)" }
        if (train ?? 0) <= 0 { return "split train ratio must be greater than 0" }
        return nil
    }
}

/// The cases are `TrainingContract.algorithms` (TrainingContractDriftTests).
public enum Algorithm: String, Codable, Sendable, Hashable, CaseIterable {
    case gradientBoosting = "GradientBoosting"
    case logisticRegression = "LogisticRegression"
}

/// XGBoost-style hyperparameters, camelCased (`n_estimators` is `nEstimators`). Their types,
/// bounds and defaults are `TrainingContract.hyperparameters`; TrainingContractDriftTests fail when
/// a property is added here and not there, or the other way round.
public struct Hyperparameters: Codable, Sendable, Hashable {
    public var nEstimators: Int?
    public var maxDepth: Int?
    public var learningRate: Double?
    public var subsample: Double?
    public var colsampleBytree: Double?
    public var minChildWeight: Double?
    public var gamma: Double?
    public var regAlpha: Double?
    public var regLambda: Double?
    public var maxBin: Int?
    public var maxCatToOnehot: Int?
    public var maxCatThreshold: Int?
    public var catSmooth: Double?
    public var catL2: Double?
    public var minDataPerGroup: Int?
    public var numClass: Int?
    public var tweedieVariancePower: Double?
    public var quantileAlpha: Double?
    /// Feature name -> +1, -1 or 0 (XGBoost's `monotone_constraints`).
    public var monotoneConstraints: [String: Int]?
    public var earlyStoppingRounds: Int?
    public var seed: Int64?
    public var folds: Int?
    public var decisionThreshold: Double?
    public init() {}
}

/// The loss the trainer fits (XGBoost's objective names); the cases are `TrainingContract.objectives`
/// (TrainingContractDriftTests).
public enum TrainingObjective: String, Codable, Sendable, Hashable, CaseIterable {
    case binaryLogistic = "binary:logistic"
    case squaredError = "reg:squarederror"
    case poisson = "count:poisson"
    case absoluteError = "reg:absoluteerror"
    case tweedie = "reg:tweedie"
    case quantileError = "reg:quantileerror"
    case multiSoftprob = "multi:softprob"

    /// The metrics `sextant-trainer` reports for the objective, from the training contract.
    public var metrics: [GateMetric] {
        (TrainingContract.objective(rawValue)?.metrics ?? []).compactMap(GateMetric.init(rawValue:))
    }
}

/// Metric names as `sextant-trainer` reports them (`metrics.json`, ModelVersion `spec.metrics`);
/// TrainingContractDriftTests compare the cases with `TrainingContract.metrics`.
public enum GateMetric: String, Codable, Sendable, Hashable, CaseIterable {
    case aucRoc, aucPr, precision, recall, f1, accuracy, logLoss, expectedCalibrationError
    case rmse, mae, r2, poissonDeviance, macroF1, tweedieDeviance, pinballLoss
}

public struct EvaluationGates: Codable, Sendable, Hashable {
    public var performance: PerformanceGate?
    public var fairness: FairnessGate?
    public var robustness: RobustnessGate?
    public var dataQuality: DataQualityGate?
    public init() {}
}

public struct PerformanceGate: Codable, Sendable, Hashable {
    public var thresholds: [MetricThreshold]
    public init(thresholds: [MetricThreshold]) { self.thresholds = thresholds }
}

public struct MetricThreshold: Codable, Sendable, Hashable {
    public var metric: GateMetric
    public var min: Double?
    public var max: Double?
    public init(metric: GateMetric, min: Double? = nil, max: Double? = nil) {
        self.metric = metric
        self.min = min
        self.max = max
    }
}

/// AUC-ROC disparity across the groups of each protected attribute.
public struct FairnessGate: Codable, Sendable, Hashable {
    public var protectedAttributes: [String]?
    public var maxDisparity: Double?
    public var minGroupSize: Int?
    public init() {}
}

/// AUC-ROC degradation under Gaussian noise.
public struct RobustnessGate: Codable, Sendable, Hashable {
    public var noiseLevels: [Double]?
    public var maxDegradation: Double?
    public init() {}
}

public struct DataQualityGate: Codable, Sendable, Hashable {
    public var maxNullRatio: Double?
    public var minFeatureVariance: Double?
    public var classBalance: ClassBalance?
    public init() {}
}

public struct ClassBalance: Codable, Sendable, Hashable {
    /// Bounds of the positive-class fraction.
    public var min: Double
    public var max: Double
    public init(min: Double, max: Double) {
        self.min = min
        self.max = max
    }
}

public struct OutputSpec: Codable, Sendable, Hashable {
    /// Base location; each run writes under `<uri>/<modelName>/v<N>/`.
    public var uri: String
    public var secretRef: SecretReference?
    public var endpoint: String?
    public init(uri: String) { self.uri = uri }
}

public struct RunPolicy: Codable, Sendable, Hashable {
    public var backoffLimit: Int?
    public var activeDeadlineSeconds: Int64?
    public var ttlSecondsAfterFinished: Int?
    public var suspend: Bool?
    public var successfulJobsHistoryLimit: Int?
    public var failedJobsHistoryLimit: Int?
    public var runHistoryLimit: Int?
    public init() {}
}

public struct TrainingSchedule: Codable, Sendable, Hashable {
    /// Standard 5-field cron, or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    public var cron: String
    /// IANA time zone name; default UTC.
    public var timeZone: String?
    public var concurrencyPolicy: ConcurrencyPolicy?
    public var startingDeadlineSeconds: Int64?
    public init(cron: String) { self.cron = cron }
}

public enum ConcurrencyPolicy: String, Codable, Sendable, Hashable, CaseIterable {
    case allow = "Allow", forbid = "Forbid", replace = "Replace"
}

/// Retrain when a Prometheus query says the live model drifted or degraded.
public struct RetrainPolicy: Codable, Sendable, Hashable {
    public var prometheus: PrometheusEndpoint?
    public var interval: String?
    public var cooldown: String?
    public var conditions: [RetrainCondition]
    public init(conditions: [RetrainCondition]) { self.conditions = conditions }
}

public struct PrometheusEndpoint: Codable, Sendable, Hashable {
    /// Base URL such as `http://prometheus.monitoring:9090`; default: the controller's `--prometheus-url`.
    public var address: String?
    public var timeout: String?
    /// A Secret in the resource's namespace with the credentials and the CA (docs/canary.md#prometheus-over-https):
    /// `token` (bearer) or `username` and `password` (basic), and `ca.crt` (PEM) to verify the server.
    public var secretRef: SecretReference?
    /// Skips verifying the server's certificate. Off by default and never implied; a CA in the Secret
    /// or the controller's `--prometheus-ca-file` is the way to trust a private CA.
    public var insecureSkipVerify: Bool?
    public init(address: String? = nil, secretRef: SecretReference? = nil) {
        self.address = address
        self.secretRef = secretRef
    }
}

public struct RetrainCondition: Codable, Sendable, Hashable {
    public var name: String
    /// PromQL returning one sample; templated like analysis queries (`{{ model }}`, `{{ namespace }}`).
    public var query: String
    /// Fires when the value is greater than this.
    public var above: Double?
    /// Fires when the value is less than this.
    public var below: Double?
    /// The condition must hold this long before it fires.
    public var `for`: String?
    public init(name: String, query: String, above: Double? = nil, below: Double? = nil) {
        self.name = name
        self.query = query
        self.above = above
        self.below = below
    }
}

/// What happens to a new version.
public struct ReleasePolicy: Codable, Sendable, Hashable {
    public var approval: ApprovalPolicy?
    public var stage: ModelStage?
    public var aliases: [String]?
    /// A CanaryRollout in this namespace whose `spec.modelVersion` is set to each approved version.
    public var canaryRollout: String?
    public init() {}
}

public enum ApprovalPolicy: String, Codable, Sendable, Hashable, CaseIterable {
    case automatic = "Automatic", manual = "Manual"
}

// MARK: Status

public struct TrainingJobStatus: Codable, Sendable, Hashable {
    public var phase: TrainingJobPhase?
    public var conditions: [Condition]?
    public var observedGeneration: Int64?
    /// The run in progress, if any (a name from `runs`).
    public var activeRun: String?
    /// Runs, newest first, at most `runPolicy.runHistoryLimit`.
    public var runs: [TrainingRun]?
    /// Incremented for each run started; runs are named `<metadata.name>-<runCount>`.
    public var runCount: Int64?
    public var lastScheduleTime: String?
    public var nextScheduleTime: String?
    /// When a retrain condition last started a run (for the cooldown).
    public var lastRetrainTime: String?
    public var retrainChecks: [RetrainCheck]?
    public var latestModelVersion: String?
    /// The active run's progress in one line (the `Progress` printer column), derived from its `progress`.
    public var progress: String?
    public var requests: TrainingJobRequests?
    public var message: String?
    /// Notifications delivered (or given up on), so a restarted controller posts only what is missing.
    public var notifications: [NotificationRecord]?
    public init() {}
}

public enum TrainingJobPhase: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "Pending", running = "Running", succeeded = "Succeeded", failed = "Failed"
    case waiting = "Waiting", suspended = "Suspended", invalid = "Invalid"
}

public struct TrainingRun: Codable, Sendable, Hashable {
    public var name: String
    public var jobName: String?
    /// Ranks of the run; more than 1: `jobName` is an MPIJob (nil: 1, a batch/v1 Job).
    public var workers: Int?
    public var trigger: RunTrigger
    public var startTime: String?
    public var completionTime: String?
    public var result: RunResult
    public var modelVersion: String?
    public var dataSha256: String?
    /// The data version the run read (`data.source.version`, as the trainer reported it).
    public var dataVersion: String?
    public var reason: String?
    public var message: String?
    /// The MLflow run this run was reported as (set once reported; see docs/training.md#mlflow).
    public var mlflowRunId: String?
    /// The trainer's last progress report while the run ran (docs/training.md#progress).
    public var progress: TrainingProgress?
    /// The trainer's test-set metrics of a finished run (its result summary's `metrics`).
    public var metrics: [String: Double]?
    /// The validation loss per round of a finished run (docs/training.md#validation-curve).
    public var validationCurve: ValidationCurve?
    public init(name: String, trigger: RunTrigger, result: RunResult = .running) {
        self.name = name
        self.trigger = trigger
        self.result = result
    }
}

public struct RunTrigger: Codable, Sendable, Hashable {
    public var type: TriggerType
    /// For `RetrainCondition`: which condition and the value that fired it.
    public var condition: String?
    public var value: Double?
    /// For `Schedule`: the scheduled time this run stands for.
    public var scheduledTime: String?
    /// For `Manual`: who asked.
    public var requestedBy: String?
    public init(type: TriggerType) { self.type = type }
}

public enum TriggerType: String, Codable, Sendable, Hashable, CaseIterable {
    case created = "Created", specChanged = "SpecChanged", schedule = "Schedule"
    case retrainCondition = "RetrainCondition", manual = "Manual"
}

public enum RunResult: String, Codable, Sendable, Hashable, CaseIterable {
    case running = "Running", succeeded = "Succeeded", failed = "Failed"
    case gateFailed = "GateFailed", invalidInput = "InvalidInput", cancelled = "Cancelled"
}

public struct RetrainCheck: Codable, Sendable, Hashable {
    public var name: String
    public var value: Double?
    public var query: String?
    public var outcome: RetrainOutcome
    public var time: String
    /// Since when the condition has held (for `for`).
    public var since: String?
    public var message: String?
    public init(name: String, outcome: RetrainOutcome, time: String) {
        self.name = name
        self.outcome = outcome
        self.time = time
    }
}

public enum RetrainOutcome: String, Codable, Sendable, Hashable, CaseIterable {
    case fired = "Fired", holding = "Holding", ok = "OK", noData = "NoData", error = "Error", coolingDown = "CoolingDown"
}

public struct TrainingJobRequests: Codable, Sendable, Hashable {
    /// Start a run now (`sextant retrain`).
    public var run: ManualRequest?
    public init() {}
}

/// A run's validation loss per boosting round as the trainer reported it in its result summary:
/// at most `ValidationCurveContract.maxPoints` rounds, evenly spaced, the first and last kept.
public struct ValidationCurve: Codable, Sendable, Hashable {
    public static let maxPoints = ValidationCurveContract.maxPoints
    /// `valid-logloss`, `valid-rmse`, ... (as in the progress report).
    public var metric: String?
    /// 1-based rounds, ascending; `values[i]` is the loss after `rounds[i]`.
    public var rounds: [Int]
    public var values: [Double]
    public init(metric: String?, rounds: [Int], values: [Double]) {
        self.metric = metric
        self.rounds = rounds
        self.values = values
    }
}

/// What the trainer last reported about a running run (its `sextant-progress` log line).
public struct TrainingProgress: Codable, Sendable, Hashable {
    public var roundsDone: Int
    public var rounds: Int?
    public var metric: String?
    public var value: Double?
    public var etaSeconds: Double?
    public var time: String
    public init(roundsDone: Int, time: String) {
        self.roundsDone = roundsDone
        self.time = time
    }

    /// `120/300 valid-logloss=0.4123 ETA 45s`: the `Progress` column.
    public var summary: String {
        var parts = [rounds.map { "\(roundsDone)/\($0)" } ?? "\(roundsDone)"]
        if let metric, let value { parts.append("\(metric)=\(String(format: "%.4g", value))") }
        if let eta = etaSeconds, eta.isFinite, eta >= 0 {
            let s = Int(eta.rounded())
            parts.append("ETA " + (s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"))
        }
        return parts.joined(separator: " ")
    }
}
