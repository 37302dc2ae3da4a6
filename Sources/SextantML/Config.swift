// The training config: the training part of a TrainingJob spec, passed through unchanged by the
// controller. Decoded from YAML (or JSON, a YAML subset); unknown keys are rejected by name so a
// typo never silently falls back to a default.
import Foundation
import SextantTrainingContract
import Yams

public enum Algorithm: String, Codable, Sendable, CaseIterable {
    case gradientBoosting
    case logisticRegression
}

public struct TrainingConfig: Codable, Sendable, Equatable {
    public struct DataSpec: Codable, Sendable, Equatable {
        /// `file://`, a plain path, `http(s)://` or `s3://bucket/key`.
        public var uri: String
        /// Free-form version label recorded in lineage (e.g. a DVC or lakeFS tag).
        public var version: String?
        /// Pinned SHA-256 (hex) of the exact bytes; a mismatch fails the run before training.
        public var sha256: String?
        /// `csv`, `csv.gz`, `parquet` or `delta` (a Delta Lake table at `uri`, read at `version`, at
        /// `timestamp` or latest); the first three are inferred from the magic bytes when absent.
        public var format: String?
        /// Delta time travel (timestampAsOf): the last table version committed at or before this
        /// RFC 3339 time. With `format: delta`, `version` is the table version (versionAsOf).
        public var timestamp: String?
        /// Set when `uri` is a DVC pointer (`.dvc` file or `dvc.lock`) rather than the data.
        public var dvc: DVCSpec?
        public init(uri: String, version: String? = nil, sha256: String? = nil, format: String? = nil, timestamp: String? = nil) {
            self.uri = uri; self.version = version; self.sha256 = sha256; self.format = format; self.timestamp = timestamp
        }
    }

    /// The DVC remote holding the object a pointer names.
    public struct DVCSpec: Codable, Sendable, Equatable {
        /// The remote's URL (a directory path, `file://`, `s3://bucket/prefix`, `http(s)://`);
        /// default: the repository's default remote from `.dvc/config` above a local pointer.
        public var remote: String?
        /// Which output of the pointer (needed when it has several, as a dvc.lock usually does).
        public var path: String?
        public init(remote: String? = nil, path: String? = nil) { self.remote = remote; self.path = path }
    }

    public struct Split: Codable, Sendable, Equatable {
        public var train: Double?
        public var validation: Double?
        public var test: Double?
        public var stratify: Bool?
        public var seed: UInt64?
        /// Optional column holding `train` / `validation` / `test` per row; overrides the fractions
        /// so that external tools can score the very same rows.
        public var column: String?
        public init(train: Double? = nil, validation: Double? = nil, test: Double? = nil,
                    stratify: Bool? = nil, seed: UInt64? = nil, column: String? = nil) {
            self.train = train; self.validation = validation; self.test = test
            self.stratify = stratify; self.seed = seed; self.column = column
        }
    }

    public struct Hyperparameters: Codable, Sendable, Equatable {
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
        /// Classes of a multi:softprob model; labels must be 0..<numClass. Unset: max label + 1.
        public var numClass: Int?
        /// Variance power of reg:tweedie, in (1, 2); unset: 1.5.
        public var tweedieVariancePower: Double?
        /// The quantile reg:quantileerror fits, in (0, 1); unset: 0.5.
        public var quantileAlpha: Double?
        /// Feature name -> +1 (prediction may only rise with it), -1 (only fall), 0 (free); XGBoost's
        /// `monotone_constraints` by name. Numeric features only.
        public var monotoneConstraints: [String: Int]?
        public var earlyStoppingRounds: Int?
        public var seed: UInt64?
        public var folds: Int?
        public var threads: Int?
        public init() {}
    }

    public struct PerformanceGate: Codable, Sendable, Equatable {
        public var metric: String
        public var min: Double?
        public var max: Double?
        public init(metric: String, min: Double? = nil, max: Double? = nil) {
            self.metric = metric; self.min = min; self.max = max
        }
    }

    public struct FairnessGate: Codable, Sendable, Equatable {
        public var protectedAttributes: [String]?
        public var maxDisparity: Double
        public var minGroupSize: Int?
        public init(protectedAttributes: [String]? = nil, maxDisparity: Double, minGroupSize: Int? = nil) {
            self.protectedAttributes = protectedAttributes; self.maxDisparity = maxDisparity
            self.minGroupSize = minGroupSize
        }
    }

    public struct RobustnessGate: Codable, Sendable, Equatable {
        public var noiseLevels: [Double]
        public var maxDegradation: Double
        public init(noiseLevels: [Double], maxDegradation: Double) {
            self.noiseLevels = noiseLevels; self.maxDegradation = maxDegradation
        }
    }

    public struct Range: Codable, Sendable, Equatable {
        public var min: Double?
        public var max: Double?
        public init(min: Double? = nil, max: Double? = nil) { self.min = min; self.max = max }
    }

    public struct DataQualityGate: Codable, Sendable, Equatable {
        public var maxNullRatio: Double?
        public var minFeatureVariance: Double?
        public var classBalance: Range?
        public init(maxNullRatio: Double? = nil, minFeatureVariance: Double? = nil, classBalance: Range? = nil) {
            self.maxNullRatio = maxNullRatio; self.minFeatureVariance = minFeatureVariance
            self.classBalance = classBalance
        }
    }

    public struct Gates: Codable, Sendable, Equatable {
        public var performance: [PerformanceGate]?
        public var fairness: FairnessGate?
        public var robustness: RobustnessGate?
        public var dataQuality: DataQualityGate?
        public init(performance: [PerformanceGate]? = nil, fairness: FairnessGate? = nil,
                    robustness: RobustnessGate? = nil, dataQuality: DataQualityGate? = nil) {
            self.performance = performance; self.fairness = fairness
            self.robustness = robustness; self.dataQuality = dataQuality
        }
    }

    public struct Output: Codable, Sendable, Equatable {
        /// Directory uri (`file://`, path or `s3://bucket/prefix`) receiving model.json and metrics.json.
        public var uri: String
        public init(uri: String) { self.uri = uri }
    }

    public var modelName: String
    public var data: DataSpec
    /// Feature columns; when absent, every column except target, split column and protected attributes.
    public var features: [String]?
    public var categoricalFeatures: [String]?
    public var target: String
    public var protectedAttributes: [String]?
    public var split: Split?
    public var algorithm: Algorithm?
    /// The loss to fit (default `binary:logistic`).
    public var objective: Objective?
    /// A numeric column of non-negative sample weights (XGBoost's `sample_weight`): they scale each
    /// row's gradient and hessian and weight every test metric. Not a feature.
    public var weightColumn: String?
    public var hyperparameters: Hyperparameters?
    public var gates: Gates?
    public var output: Output?
    /// Decision threshold for precision, recall, F1, accuracy and the confusion matrix (default 0.5).
    public var threshold: Double?

    public init(modelName: String, data: DataSpec, target: String) {
        self.modelName = modelName; self.data = data; self.target = target
    }
}

// MARK: - Loading and validation

extension TrainingConfig {
    /// Slack allowed when the split fractions add up to 1; the TrainingJob admission (SextantAPI
    /// `DataSplit.fractionTolerance`, CRD rule) uses the same value (SextantAPITests checks it).
    public static let splitFractionTolerance = SplitContract.fractionTolerance

    /// Values of `data.format`.
    public static let dataFormats = ["csv", "csv.gz", "parquet", "delta"]

    /// Allowed keys per path; `*` marks list elements. Kept next to the types it mirrors.
    static let schema: [String: Set<String>] = [
        "": ["modelName", "data", "features", "categoricalFeatures", "target", "protectedAttributes",
             "split", "algorithm", "objective", "weightColumn", "hyperparameters", "gates", "output", "threshold"],
        "data": ["uri", "version", "sha256", "format", "timestamp", "dvc"],
        "data.dvc": ["remote", "path"],
        "split": ["train", "validation", "test", "stratify", "seed", "column"],
        "hyperparameters": Set(TrainingContract.hyperparameters.filter { $0.configPath == ["hyperparameters", $0.name] }.map(\.name)),
        "gates": ["performance", "fairness", "robustness", "dataQuality"],
        "gates.performance.*": ["metric", "min", "max"],
        "gates.fairness": ["protectedAttributes", "maxDisparity", "minGroupSize"],
        "gates.robustness": ["noiseLevels", "maxDegradation"],
        "gates.dataQuality": ["maxNullRatio", "minFeatureVariance", "classBalance"],
        "gates.dataQuality.classBalance": ["min", "max"],
        "output": ["uri"],
    ]

    /// Parses YAML (or JSON) text, rejecting unknown keys and invalid values with the key path.
    public static func parse(yaml text: String) throws -> TrainingConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw TrainerError.badInput("config: invalid YAML: \(error)")
        }
        guard let node, node.mapping != nil else {
            throw TrainerError.badInput("config: expected a mapping at the top level")
        }
        try checkKeys(node, path: "")
        let config: TrainingConfig
        do {
            config = try YAMLDecoder().decode(TrainingConfig.self, from: withoutOffValues(node))
        } catch let error as DecodingError {
            throw TrainerError.badInput("config: \(describe(error))")
        } catch {
            throw TrainerError.badInput("config: \(error)")
        }
        try config.validate()
        return config
    }

    /// A hyperparameter set to its contract `off` value (`earlyStoppingRounds: 0`, `folds: 0`) is
    /// read as absent, as the TrainingJob means it.
    static func withoutOffValues(_ node: Node) -> Node {
        guard case .mapping(var top) = node, case .mapping(var h)? = top["hyperparameters"] else { return node }
        for p in TrainingContract.hyperparameters where p.configPath == ["hyperparameters", p.name] {
            if let off = p.off, let text = h[p.name]?.scalar?.string, Double(text) == off.value { h[p.name] = nil }
        }
        top["hyperparameters"] = .mapping(h)
        return .mapping(top)
    }

    private static func checkKeys(_ node: Node, path: String) throws {
        if let mapping = node.mapping {
            guard let allowed = schema[path] else { return }
            for (key, value) in mapping {
                guard let name = key.string else { throw TrainerError.badInput("config: non-string key under '\(path)'") }
                let full = path.isEmpty ? name : "\(path).\(name)"
                guard allowed.contains(name) else {
                    throw TrainerError.badInput("config: unknown key '\(full)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
                }
                try checkKeys(value, path: full)
            }
        } else if let sequence = node.sequence {
            for element in sequence { try checkKeys(element, path: "\(path).*") }
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func pathString(_ path: [CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            let parent = pathString(ctx.codingPath)
            return "missing required key '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
            return "invalid value at '\(pathString(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Range checks, so that nonsense values fail here with their key instead of deep in training.
    public func validate() throws {
        func bad(_ key: String, _ why: String) -> TrainerError { .badInput("config: \(key) \(why)") }
        if modelName.isEmpty { throw bad("modelName", "must not be empty") }
        if data.uri.isEmpty { throw bad("data.uri", "must not be empty") }
        if target.isEmpty { throw bad("target", "must not be empty") }
        if let sha = data.sha256 {
            let hex = sha.lowercased()
            if hex.count != 64 || !hex.allSatisfy({ $0.isHexDigit }) { throw bad("data.sha256", "must be 64 hex digits") }
        }
        if let f = data.format, !Self.dataFormats.contains(f) { throw bad("data.format", "must be csv, csv.gz, parquet or delta, got '\(f)'") }
        if data.format == "delta" {
            _ = try DeltaTable.selector(version: data.version, timestamp: data.timestamp)
        } else if data.timestamp != nil {
            throw bad("data.timestamp", "is only for Delta tables (data.format: delta)")
        }
        if data.uri.hasPrefix("lakefs://"), data.format == "delta" || data.dvc != nil {
            throw bad("data.uri", "lakefs:// names one object; it does not combine with format delta or dvc")
        }
        if data.dvc != nil, data.format == "delta" { throw bad("data.dvc", "names one file; a Delta table (data.format: delta) is a directory") }
        if let s = split {
            for (k, v) in [("train", s.train), ("validation", s.validation), ("test", s.test)] {
                if let v, !(0...1).contains(v) { throw bad("split.\(k)", "must be in [0, 1], got \(v)") }
            }
            let total = (s.train ?? 0) + (s.validation ?? 0) + (s.test ?? 0)
            if s.column == nil, s.train != nil || s.validation != nil || s.test != nil, abs(total - 1) > Self.splitFractionTolerance {
                throw bad("split", "fractions must add up to 1, got \(total)")
            }
            if s.column == nil, s.train != nil || s.validation != nil || s.test != nil, (s.train ?? 0) <= 0 {
                throw bad("split.train", "must be greater than 0")
            }
        }
        if let h = hyperparameters {
            // Bounds from the training contract (the TrainingJob's CRD and admission state the same).
            let values = h.contractValues
            for p in TrainingContract.hyperparameters where p.configPath == ["hyperparameters", p.name] {
                if p.kind == .constraintMap {
                    for (name, c) in (h.monotoneConstraints ?? [:]).sorted(by: { $0.key < $1.key }) {
                        if let why = p.problem(mapValue: Double(c)) { throw bad("hyperparameters.\(p.name).\(name)", why) }
                        if categoricalFeatures?.contains(name) == true {
                            throw bad("hyperparameters.\(p.name).\(name)", "'\(name)' is categorical; monotone constraints apply to numeric features")
                        }
                    }
                } else if let v = values[p.name], let why = p.problem(v) {
                    throw bad("hyperparameters.\(p.name)", why)
                }
            }
            if h.monotoneConstraints?.isEmpty == false, algorithm == .logisticRegression {
                throw bad("hyperparameters.monotoneConstraints", "applies to gradientBoosting only")
            }
        }
        for p in TrainingContract.hyperparameters where p.configPath == ["threshold"] {
            if let t = threshold, let why = p.problem(t) { throw bad("threshold", why) }
        }
        let objective = self.objective ?? .binaryLogistic
        if let algorithm, let a = TrainingContract.algorithms.first(where: { $0.configName == algorithm.rawValue }),
           !a.objectives.contains(objective.rawValue) {
            let able = TrainingContract.algorithms.filter { $0.objectives.contains(objective.rawValue) }.map(\.configName)
            throw bad("objective", "\(objective.rawValue) needs algorithm \(able.joined(separator: " or ")) (\(algorithm.rawValue) fits \(a.objectives.joined(separator: ", ")) only)")
        }
        for r in TrainingContract.objectiveRestrictions where !r.objectives.contains(objective.rawValue) && isSet(r.path) {
            throw bad(r.path.joined(separator: "."), r.reason)
        }
        if let g = gates {
            for gate in TrainingContract.gates {
                for setting in gate.settings {
                    guard let v = g.setting(gate: gate.name, setting.name) else { continue }
                    if let lo = setting.minimum, v < lo { throw bad("gates.\(gate.name).\(setting.name)", "must be >= \(lo), got \(v)") }
                    if let hi = setting.maximum, v > hi { throw bad("gates.\(gate.name).\(setting.name)", "must be <= \(hi), got \(v)") }
                }
            }
        }
        if let w = weightColumn {
            if w.isEmpty { throw bad("weightColumn", "must not be empty") }
            if w == target { throw bad("weightColumn", "must not be the target '\(target)'") }
            if features?.contains(w) == true { throw bad("weightColumn", "'\(w)' must not be a feature") }
        }
        if let g = gates {
            for (i, p) in (g.performance ?? []).enumerated() {
                if !objective.metricNames.contains(p.metric) {
                    let other = EvaluationMetrics.gateMetricNames.contains(p.metric) ? "metric '\(p.metric)' is not reported for objective \(objective.rawValue)" : "unknown metric '\(p.metric)'"
                    throw bad("gates.performance[\(i)].metric", "\(other) (known: \(objective.metricNames.sorted().joined(separator: ", ")))")
                }
                if p.min == nil && p.max == nil { throw bad("gates.performance[\(i)]", "needs min or max") }
            }
            if let r = g.robustness, r.noiseLevels.contains(where: { $0 < 0 }) {
                throw bad("gates.robustness.noiseLevels", "must be >= 0")
            }
        }
    }
}

extension TrainingConfig {
    /// `threshold`, or the contract's default of `decisionThreshold` (0.5).
    public var decisionThreshold: Double {
        threshold ?? TrainingContract.hyperparameters.first { $0.configPath == ["threshold"] }?.defaultValue ?? 0.5
    }
}

extension TrainingConfig.Hyperparameters {
    /// Every numeric hyperparameter that is set, by its contract name (TrainingContractDriftTests
    /// check that the property names are the contract's).
    var contractValues: [String: Double] {
        var values: [String: Double] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label else { continue }
            switch child.value {
            case let v as Int: values[label] = Double(v)
            case let v as UInt64: values[label] = Double(v)
            case let v as Double: values[label] = v
            default: break
            }
        }
        return values
    }
}

extension TrainingConfig {
    /// Whether the setting at a contract path is given (and not its `off` value).
    func isSet(_ path: [String]) -> Bool {
        switch path {
        case ["hyperparameters", "numClass"]: return hyperparameters?.numClass != nil
        case ["hyperparameters", "tweedieVariancePower"]: return hyperparameters?.tweedieVariancePower != nil
        case ["hyperparameters", "quantileAlpha"]: return hyperparameters?.quantileAlpha != nil
        case ["hyperparameters", "folds"]: return (hyperparameters?.folds ?? 0) != 0
        case ["gates", "fairness"]: return gates?.fairness != nil
        case ["gates", "robustness"]: return gates?.robustness != nil
        case ["gates", "dataQuality", "classBalance"]: return gates?.dataQuality?.classBalance != nil
        default:
            // A restriction this parser does not know: refuse nothing silently (drift tests cover every path).
            return false
        }
    }
}

extension TrainingConfig.Gates {
    /// A gate setting's value by its contract names.
    func setting(gate: String, _ name: String) -> Double? {
        switch (gate, name) {
        case ("fairness", "maxDisparity"): fairness?.maxDisparity
        case ("fairness", "minGroupSize"): fairness?.minGroupSize.map(Double.init)
        case ("robustness", "maxDegradation"): robustness?.maxDegradation
        case ("dataQuality", "maxNullRatio"): dataQuality?.maxNullRatio
        case ("dataQuality", "minFeatureVariance"): dataQuality?.minFeatureVariance
        default: nil
        }
    }
}
