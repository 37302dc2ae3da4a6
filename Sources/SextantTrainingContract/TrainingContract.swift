// The training contract: what a TrainingJob may ask of `sextant-trainer` and what the trainer
// answers, written once as data. SextantAPI renders the CRD schema, its CEL rules, admission
// checks and reference docs from it; SextantML's config parser checks keys and bounds with it and
// takes its metric names from it. Nothing here imports anything, so both layers can depend on it
// (docs/architecture.md, docs/trainer.md "Training contract"); drift tests compare every copy that
// cannot be derived (Swift enums, the trainer's Codable structs, docs) with it.

public enum TrainingContract {}

// MARK: Hyperparameters

/// One hyperparameter: its type, default, bounds and meaning. Values are Doubles here; the
/// integer kinds are whole numbers.
public struct Hyperparameter: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A 32-bit integer.
        case integer
        /// A 64-bit integer (seeds).
        case integer64
        case number
        /// A map of feature name to -1, 0 or +1.
        case constraintMap
    }

    /// A value meaning "off" (0 for `earlyStoppingRounds`, `folds`), and the least value that is
    /// not off when the range has a hole (`folds` is 0 or at least 2).
    public struct Off: Sendable, Hashable {
        public var value: Double
        /// Words shown in messages: `folds must be 0 (no cross-validation) or at least 2`.
        public var meaning: String
        public var leastOtherwise: Double?
    }

    /// The camelCase name in the TrainingJob's `spec.hyperparameters` and the trainer config's
    /// `hyperparameters`.
    public var name: String
    public var kind: Kind
    /// The reference text (CRD description, docs).
    public var description: String
    public var defaultValue: Double?
    public var minimum: Double?
    public var maximum: Double?
    /// The value must be greater than `minimum` (the CRD states `minimum` and the description says so).
    public var exclusiveMinimum = false
    /// The value must be less than `maximum`.
    public var exclusiveMaximum = false
    public var off: Off?
    /// Bound of each value of a `constraintMap`.
    public var valueMinimum: Double?
    public var valueMaximum: Double?
    public var valueDescription: String?
    /// Where the trainer config holds it: `["hyperparameters", name]`, or elsewhere (`["threshold"]`).
    public var configPath: [String]
    /// False for settings of one run of the trainer that the TrainingJob does not offer (`threads`).
    public var inTrainingJob = true
    /// Added to the trainer's out-of-range message.
    public var note: String?

    init(_ name: String, _ kind: Kind, _ description: String, default value: Double? = nil,
         min: Double? = nil, max: Double? = nil, exclusiveMinimum: Bool = false, exclusiveMaximum: Bool = false,
         off: Off? = nil, configPath: [String]? = nil, inTrainingJob: Bool = true, note: String? = nil) {
        self.name = name
        self.kind = kind
        self.description = description
        self.defaultValue = value
        self.minimum = min
        self.maximum = max
        self.exclusiveMinimum = exclusiveMinimum
        self.exclusiveMaximum = exclusiveMaximum
        self.off = off
        self.configPath = configPath ?? ["hyperparameters", name]
        self.inTrainingJob = inTrainingJob
        self.note = note
    }

    public var isInteger: Bool { kind == .integer || kind == .integer64 }

    /// The default a CRD states (and fills in): none for a setting only some objectives accept
    /// (`tweedieVariancePower`), which the trainer applies itself when that objective runs, since
    /// a filled-in value would be refused under every other objective.
    public var schemaDefault: Double? {
        TrainingContract.objectiveRestrictions.contains { $0.path == configPath } ? nil : defaultValue
    }

    /// Why `value` is out of bounds, in the trainer's words (`must be in 1...16`), or nil.
    public func problem(_ value: Double) -> String? {
        if let off, value == off.value { return nil }
        let text = render(value)
        var ok = value.isFinite
        if let lo = minimum { ok = ok && (exclusiveMinimum ? value > lo : value >= lo) }
        if let hi = maximum { ok = ok && (exclusiveMaximum ? value < hi : value <= hi) }
        if let least = off?.leastOtherwise { ok = ok && value >= least }
        if isInteger { ok = ok && value == value.rounded() }
        guard !ok else { return nil }
        var message: String
        switch (minimum, maximum) {
        case let (lo?, hi?) where exclusiveMinimum || exclusiveMaximum:
            message = "must be in \(exclusiveMinimum ? "(" : "[")\(render(lo)), \(render(hi))\(exclusiveMaximum ? ")" : "]")"
        case let (lo?, hi?) where isInteger: message = "must be in \(render(lo))...\(render(hi))"
        case let (lo?, hi?): message = "must be in [\(render(lo)), \(render(hi))]"
        case let (lo?, nil): message = exclusiveMinimum ? "must be > \(render(lo))" : "must be >= \(render(lo))"
        case let (nil, hi?): message = exclusiveMaximum ? "must be < \(render(hi))" : "must be <= \(render(hi))"
        case (nil, nil): message = "must be a finite number"
        }
        if let off, let least = off.leastOtherwise {
            message = "must be \(render(off.value)) (\(off.meaning)) or at least \(render(least))"
                + (maximum.map { " and at most \(render($0))" } ?? "")
        } else if let off {
            message += " (\(render(off.value)): \(off.meaning))"
        }
        if let note { message += " (\(note))" }
        return message + ", got \(text)"
    }

    /// Why a value of a `constraintMap` is out of bounds, or nil.
    public func problem(mapValue value: Double) -> String? {
        let lo = valueMinimum ?? -.infinity, hi = valueMaximum ?? .infinity
        guard value < lo || value > hi || value != value.rounded() else { return nil }
        let allowed = stride(from: lo, through: hi, by: 1).map(render)
        return "must be \(allowed.dropLast().joined(separator: ", ")) or \(allowed.last ?? ""), got \(render(value))"
    }

    /// `16`, `0.3`, `1e-06`: whole numbers without a fraction.
    public func render(_ v: Double) -> String { TrainingContract.render(v, integer: isInteger || v == v.rounded()) }
}

extension TrainingContract {
    public static func render(_ v: Double, integer: Bool) -> String {
        if integer, v.isFinite, abs(v) < 9.007e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// Every hyperparameter, in the order the CRD and the docs list them. Defaults are XGBoost's
    /// (LightGBM's for its categorical settings), except `maxBin`: one bin is kept for missing values.
    public static let hyperparameters: [Hyperparameter] = [
        .init("nEstimators", .integer, "Boosting rounds (`n_estimators`).", default: 100, min: 1, max: 100_000),
        .init("maxDepth", .integer, "Maximum tree depth (`max_depth`).", default: 6, min: 1, max: 16),
        .init("learningRate", .number, "Shrinkage per round (`learning_rate`, `eta`), greater than 0.",
              default: 0.3, min: 0, max: 1, exclusiveMinimum: true),
        .init("subsample", .number, "Row subsample ratio per tree (`subsample`), greater than 0.",
              default: 1, min: 0, max: 1, exclusiveMinimum: true),
        .init("colsampleBytree", .number, "Column subsample ratio per tree (`colsample_bytree`), greater than 0.",
              default: 1, min: 0, max: 1, exclusiveMinimum: true),
        .init("minChildWeight", .number, "Minimum hessian sum in a leaf (`min_child_weight`).", default: 1, min: 0),
        .init("gamma", .number, "Minimum loss reduction to split (`gamma`).", default: 0, min: 0),
        .init("regAlpha", .number, "L1 regularization (`reg_alpha`).", default: 0, min: 0),
        .init("regLambda", .number, "L2 regularization (`reg_lambda`).", default: 1, min: 0),
        .init("maxBin", .integer, "Histogram bins per feature (`max_bin`); one more bin holds missing values.",
              default: 255, min: 2, max: 255, note: "one more bin is kept for missing values"),
        .init("maxCatToOnehot", .integer,
              "Categorical features with fewer levels than this split one level against the rest (`max_cat_to_onehot`); others use partition splits.",
              default: 4, min: 1, max: 255),
        .init("maxCatThreshold", .integer,
              "Partition splits put at most this many levels minus one, taken from either end of the levels ordered by their weight, on one side (`max_cat_threshold`).",
              default: 64, min: 1, max: 255),
        .init("catSmooth", .number,
              "Categorical levels with fewer (estimated) rows in a node are left out of the partition order, and this is added to the hessian when ordering (LightGBM `cat_smooth`). 0: XGBoost's rule alone.",
              default: 10, min: 0),
        .init("catL2", .number, "L2 added to `regLambda` in the gain of categorical splits (LightGBM `cat_l2`).", default: 10, min: 0),
        .init("minDataPerGroup", .integer,
              "Rows between two tried categorical partitions, and the least on the right side (LightGBM `min_data_per_group`).",
              default: 100, min: 0),
        .init("numClass", .integer,
              "Classes of a `multi:softprob` model (`num_class`); labels must be 0..numClass-1. Unset: the largest label + 1.",
              min: 2, max: 1000),
        .init("tweedieVariancePower", .number,
              "Variance power p of `reg:tweedie` (`tweedie_variance_power`), between 1 (Poisson-like) and 2 (gamma-like), both excluded.",
              default: 1.5, min: 1, max: 2, exclusiveMinimum: true, exclusiveMaximum: true),
        .init("quantileAlpha", .number,
              "The quantile `reg:quantileerror` fits (`quantile_alpha`, one value), between 0 and 1, both excluded; 0.5 is the median.",
              default: 0.5, min: 0, max: 1, exclusiveMinimum: true, exclusiveMaximum: true),
        {
            var h = Hyperparameter("monotoneConstraints", .constraintMap,
                                   "Per numeric feature: 1 = predictions may only rise with it, -1 = only fall, 0 = free (XGBoost's `monotone_constraints`, by name).")
            h.valueMinimum = -1
            h.valueMaximum = 1
            h.valueDescription = "1, -1 or 0."
            return h
        }(),
        .init("earlyStoppingRounds", .integer,
              "Stop when the validation loss (log loss, RMSE, MAE, Poisson or Tweedie negative log-likelihood, pinball loss or multiclass log loss, by objective) has not improved for this many rounds. 0: off.",
              default: 0, min: 0, off: .init(value: 0, meaning: "off", leastOtherwise: nil)),
        .init("seed", .integer64, "Random seed; equal seeds and data give identical models whatever the thread count.",
              default: 0, min: 0),
        .init("folds", .integer, "Stratified k-fold cross-validation folds reported as `cv_*` metrics. 0: off.",
              default: 0, min: 0, max: 20, off: .init(value: 0, meaning: "no cross-validation", leastOtherwise: 2)),
        .init("decisionThreshold", .number, "Score threshold for precision, recall, F1 and accuracy.",
              default: 0.5, min: 0, max: 1, configPath: ["threshold"]),
        .init("threads", .integer, "Worker threads of one trainer process (0 = all cores; `--threads` overrides it); results do not depend on it.",
              default: 0, min: 0, configPath: ["hyperparameters", "threads"], inTrainingJob: false),
    ]

    public static func hyperparameter(_ name: String) -> Hyperparameter? { hyperparameters.first { $0.name == name } }

    /// The default of a hyperparameter (nil: none, or no such name).
    public static func defaultValue(_ name: String) -> Double? { hyperparameter(name)?.defaultValue }
}

// MARK: Algorithms, objectives, metrics

public struct AlgorithmSpec: Sendable, Hashable {
    /// The TrainingJob's spelling (`GradientBoosting`, a Kubernetes enum value).
    public var name: String
    /// The trainer config's and the artifact's spelling (`gradientBoosting`).
    public var configName: String
    public var description: String
    /// Objectives it can fit.
    public var objectives: [String]
}

public struct ObjectiveSpec: Sendable, Hashable {
    /// XGBoost's objective name.
    public var name: String
    /// What the target column must hold.
    public var label: String
    /// Metrics reported (metrics.json, the result summary, the ModelVersion) and usable in gates.
    public var metrics: [String]
    /// The early-stopping loss (XGBoost's `eval_metric` name).
    public var evaluationLoss: String
}

public struct MetricSpec: Sendable, Hashable {
    public var name: String
    /// Gates on it usually set `max` (a loss or an error).
    public var lowerIsBetter: Bool
}

extension TrainingContract {
    public static let algorithms: [AlgorithmSpec] = [
        .init(name: "GradientBoosting", configName: "gradientBoosting", description: "histogram gradient-boosted trees",
              objectives: objectives.map(\.name)),
        .init(name: "LogisticRegression", configName: "logisticRegression", description: "logistic regression, a baseline",
              objectives: ["binary:logistic"]),
    ]
    public static let defaultAlgorithm = "GradientBoosting"

    public static let metrics: [MetricSpec] = [
        .init(name: "aucRoc", lowerIsBetter: false), .init(name: "aucPr", lowerIsBetter: false),
        .init(name: "precision", lowerIsBetter: false), .init(name: "recall", lowerIsBetter: false),
        .init(name: "f1", lowerIsBetter: false), .init(name: "accuracy", lowerIsBetter: false),
        .init(name: "logLoss", lowerIsBetter: true), .init(name: "expectedCalibrationError", lowerIsBetter: true),
        .init(name: "rmse", lowerIsBetter: true), .init(name: "mae", lowerIsBetter: true),
        .init(name: "r2", lowerIsBetter: false), .init(name: "poissonDeviance", lowerIsBetter: true),
        .init(name: "macroF1", lowerIsBetter: false), .init(name: "tweedieDeviance", lowerIsBetter: true),
        .init(name: "pinballLoss", lowerIsBetter: true),
    ]

    static let binaryMetrics = ["aucRoc", "aucPr", "precision", "recall", "f1", "accuracy", "logLoss", "expectedCalibrationError"]
    static let regressionMetrics = ["rmse", "mae", "r2"]

    public static let objectives: [ObjectiveSpec] = [
        .init(name: "binary:logistic", label: "0/1 or true/false", metrics: binaryMetrics, evaluationLoss: "logloss"),
        .init(name: "reg:squarederror", label: "a number", metrics: regressionMetrics, evaluationLoss: "rmse"),
        .init(name: "count:poisson", label: "a count >= 0", metrics: regressionMetrics + ["poissonDeviance"],
              evaluationLoss: "poisson-nloglik"),
        .init(name: "reg:absoluteerror", label: "a number", metrics: regressionMetrics, evaluationLoss: "mae"),
        .init(name: "reg:tweedie", label: "a number >= 0", metrics: regressionMetrics + ["tweedieDeviance"],
              evaluationLoss: "tweedie-nloglik"),
        .init(name: "reg:quantileerror", label: "a number", metrics: regressionMetrics + ["pinballLoss"], evaluationLoss: "quantile"),
        .init(name: "multi:softprob", label: "a class 0..K-1", metrics: ["accuracy", "logLoss", "macroF1"],
              evaluationLoss: "mlogloss"),
    ]
    public static let defaultObjective = "binary:logistic"

    public static func objective(_ name: String) -> ObjectiveSpec? { objectives.first { $0.name == name } }
}

// MARK: Gates

/// One setting of a gate: its default and bounds.
public struct GateSetting: Sendable, Hashable {
    public var name: String
    public var defaultValue: Double?
    public var minimum: Double?
    public var maximum: Double?
}

public struct GateSpec: Sendable, Hashable {
    /// `performance`, `fairness`, `robustness`, `dataQuality`: the key under `gates` and the prefix
    /// of each result's name (`performance.aucRoc`).
    public var name: String
    /// The TrainingJob's and ModelVersion's name of the gate (`Performance`).
    public var resultName: String
    public var settings: [GateSetting]
}

extension TrainingContract {
    public static let gates: [GateSpec] = [
        .init(name: "performance", resultName: "Performance", settings: []),
        .init(name: "fairness", resultName: "Fairness", settings: [
            .init(name: "maxDisparity", defaultValue: 0.1, minimum: 0, maximum: 1),
            .init(name: "minGroupSize", defaultValue: 100, minimum: 1, maximum: nil),
        ]),
        .init(name: "robustness", resultName: "Robustness", settings: [
            .init(name: "maxDegradation", defaultValue: 0.05, minimum: 0, maximum: 1),
        ]),
        .init(name: "dataQuality", resultName: "DataQuality", settings: [
            .init(name: "maxNullRatio", defaultValue: 0.05, minimum: 0, maximum: 1),
            .init(name: "minFeatureVariance", defaultValue: 1e-6, minimum: 0, maximum: nil),
        ]),
    ]
    /// Default noise levels of the robustness gate (standard deviations relative to each feature's).
    public static let robustnessNoiseLevels = [0.001, 0.01, 0.1]

    /// Settings only some objectives accept (AUC- and positive-rate-based ones), checked by
    /// admission and the trainer with the same words. Paths are the same in the TrainingJob spec
    /// and the trainer config; a setting counts as set when present and not its `off` value.
    public static let objectiveRestrictions: [ObjectiveRestriction] = [
        .init(path: ["hyperparameters", "numClass"], objectives: ["multi:softprob"], reason: "applies to objective multi:softprob only"),
        .init(path: ["hyperparameters", "tweedieVariancePower"], objectives: ["reg:tweedie"], reason: "applies to objective reg:tweedie only"),
        .init(path: ["hyperparameters", "quantileAlpha"], objectives: ["reg:quantileerror"], reason: "applies to objective reg:quantileerror only"),
        .init(path: ["hyperparameters", "folds"], objectives: ["binary:logistic"], reason: "cross-validation (AUC per fold) is binary:logistic only"),
        .init(path: ["gates", "fairness"], objectives: ["binary:logistic"], reason: "compares AUC across groups: binary:logistic only"),
        .init(path: ["gates", "robustness"], objectives: ["binary:logistic"], reason: "measures AUC degradation: binary:logistic only"),
        .init(path: ["gates", "dataQuality", "classBalance"], objectives: ["binary:logistic"],
              reason: "is the positive-class share: binary:logistic only"),
    ]

    public static func gate(_ name: String) -> GateSpec? { gates.first { $0.name == name } }

    /// The default of a gate setting (`fairness`, `minGroupSize` → 100).
    public static func gateDefault(_ gate: String, _ setting: String) -> Double? {
        self.gate(gate)?.settings.first { $0.name == setting }?.defaultValue
    }
}

public struct ObjectiveRestriction: Sendable, Hashable {
    public var path: [String]
    public var objectives: [String]
    public var reason: String
}

// MARK: Data split

public enum SplitContract {
    /// How far from 1 the fractions may add up (floating-point slack): the CRD's CEL rule,
    /// admission and the trainer all use this value.
    public static let fractionTolerance = 1e-6
    /// The TrainingJob's default `data.split` (the CRD fills it in, so the trainer always gets fractions).
    public static let trainingJobDefault = (train: 0.7, validation: 0.15, test: 0.15)
    /// The trainer's fractions when a config has no `split` (a config written by hand).
    public static let trainerDefault = (train: 0.8, validation: 0.0, test: 0.2)
    /// Seed of the shuffle behind the fractions when none is given.
    public static let defaultSeed: UInt64 = 42
    /// Values of a split column.
    public static let columnValues = ["train", "validation", "test"]
}

// MARK: Result summary

/// The JSON the trainer writes to its termination message and the controller reads.
public enum ResultSummaryContract {
    /// Kubernetes keeps at most 4096 bytes of a termination message.
    public static let maxBytes = 4096
    public static let statuses = ["Succeeded", "GateFailed", "Failed"]
    /// `reason` when not succeeded.
    public static let reasons = ["BadInput", "GateFailed", "IOError"]
    /// Top-level fields, and the fields of the nested objects.
    public static let fields = ["status", "reason", "message", "modelName", "trainerVersion", "artifact", "metricsUri",
                                "data", "algorithm", "hyperparameters", "metrics", "gates", "durationSeconds",
                                "createdAt", "truncated", "validationCurve"]
    public static let artifactFields = ["uri", "sha256", "size"]
    public static let dataFields = ["uri", "version", "sha256", "rows"]
    public static let gateFields = ["name", "passed", "value", "threshold", "message"]
    /// Metrics added to the objective's after cross-validation.
    public static let crossValidationMetrics = ["cvAucMean", "cvAucStd"]
    /// `validationCurve`: the objective's validation loss per boosting round, downsampled.
    public static let validationCurveFields = ["metric", "rounds", "values"]
}

/// The validation-loss curve a run reports (the result summary's `validationCurve`, a TrainingJob
/// run's `status.runs[].validationCurve`, the dashboard's run page): at most `maxPoints` rounds, so
/// the termination message and the TrainingJob status stay small.
public enum ValidationCurveContract {
    public static let maxPoints = 100

    /// The 1-based rounds kept of `count` rounds: all when `count <= maxPoints`, else `maxPoints`
    /// evenly spaced ones, always the first and the last.
    public static func rounds(of count: Int, maxPoints: Int = maxPoints) -> [Int] {
        guard count > 0 else { return [] }
        guard count > maxPoints, maxPoints >= 2 else { return Array(1...min(count, max(maxPoints, 1))) }
        var kept: [Int] = []
        for k in 0..<maxPoints {
            let round = 1 + Int((Double(k) * Double(count - 1) / Double(maxPoints - 1)).rounded())
            if kept.last != round { kept.append(round) }
        }
        return kept
    }
}
