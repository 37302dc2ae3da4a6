// The one model a server process serves: a Sextant artifact, an XGBoost JSON model or a LightGBM
// text model, behind one scoring interface over row-major feature matrices.
import Foundation
import SextantJSON
import SextantML

/// One input feature as requests see it.
public struct ServedFeature: Sendable, Equatable {
    public var name: String
    public var isCategorical: Bool
    /// Category name -> code (categorical features only).
    public var categoryCodes: [String: Int]
    /// Code -> category name.
    public var categories: [String]

    /// The code of a category not seen in training: one past the known codes. It is scored like a
    /// missing value (the tree's default branch) but kept apart from missing for drift, which
    /// gives unknown categories their own bin.
    public var unknownCode: Double { Double(categories.count) }

    /// Code of a category value (known or unknown).
    func code(_ value: String) -> Double { categoryCodes[value].map(Double.init) ?? unknownCode }
}

public struct ServedModel: Sendable {
    public enum Format: String, Sendable { case sextant, xgboost, lightgbm }
    enum Scorer: Sendable {
        case artifact(Predictor)
        case xgboost(XGBoostForest)
        case lightgbm(LightGBMModel)
    }

    public let name: String
    public let version: String
    public let format: Format
    public let features: [ServedFeature]
    /// Reference data profile for drift (Sextant artifacts only).
    public let referenceProfile: ReferenceProfile?
    /// Score at or above which a prediction counts as class 1 (accuracy, `class` label).
    public let threshold: Double
    /// What the model's output is: a Sextant artifact's objective; for an imported model the
    /// objective of the same output kind (`ServedModel.importedKind`).
    public let objective: Objective
    /// The imported model's own objective (`reg:tweedie`, ...); a Sextant artifact's objective.
    public let objectiveName: String
    /// Values per row: K class probabilities for multi:softprob, T values for a multi-target
    /// regression model, else 1.
    public let outputWidth: Int
    let scorer: Scorer

    public var featureCount: Int { features.count }

    public init(artifact: ModelArtifact, name: String, version: String) throws(ModelLoadError) {
        guard let predictor = artifact.predictor else { throw ModelLoadError("model artifact: not compiled") }
        self.name = name
        self.version = version
        format = .sextant
        features = artifact.features.map { f in
            let cats = f.categories ?? []
            return ServedFeature(name: f.name, isCategorical: f.type == .categorical,
                                 categoryCodes: f.categoryCodes,
                                 categories: cats)
        }
        referenceProfile = artifact.referenceProfile
        threshold = artifact.threshold
        objective = predictor.objective
        objectiveName = predictor.objective.rawValue
        outputWidth = predictor.outputs
        scorer = .artifact(predictor)
    }

    public init(xgboost forest: XGBoostForest, name: String, version: String) {
        self.name = name
        self.version = version
        format = .xgboost
        features = forest.featureNames.map { ServedFeature(name: $0, isCategorical: false, categoryCodes: [:], categories: []) }
        referenceProfile = nil
        threshold = 0.5
        objective = Self.importedKind(forest.link)
        objectiveName = forest.objective
        outputWidth = forest.outputs
        scorer = .xgboost(forest)
    }

    public init(lightgbm model: LightGBMModel, name: String, version: String) {
        self.name = name
        self.version = version
        format = .lightgbm
        features = model.featureNames.map { ServedFeature(name: $0, isCategorical: false, categoryCodes: [:], categories: []) }
        referenceProfile = nil
        threshold = 0.5
        objective = switch model.transform {
        case .sigmoid: .binaryLogistic
        case .softmax: .multiSoftprob
        case .identity: .squaredError
        case .exp: .poisson
        }
        objectiveName = model.objective
        outputWidth = model.outputs
        scorer = .lightgbm(model)
    }

    /// The served output kind of an imported model's link: probabilities of class 1 (sigmoid),
    /// class probabilities (softmax), values (identity) or positive values (exp: Poisson,
    /// Tweedie, gamma). It decides the output name and how feedback labels are judged.
    static func importedKind(_ link: XGBoostForest.Link) -> Objective {
        switch link {
        case .sigmoid: .binaryLogistic
        case .softmax: .multiSoftprob
        case .identity: .squaredError
        case .exp: .poisson
        }
    }

    /// Reads the model from `uri` (file path, file://, http(s)://, s3://), checks `sha256` when
    /// given, and picks the format from the document: `format: sextant-model/v1`, XGBoost's
    /// `learner` or LightGBM's text model (first line `tree`).
    public static func load(uri: String, name: String, version: String, sha256: String? = nil,
                            s3: S3Settings = S3Settings()) async throws -> ServedModel {
        let bytes: InputBytes
        do { bytes = try await DataSource.read(uri: uri, s3: s3) } catch {
            throw ModelLoadError("model \(uri): cannot read: \(error)")
        }
        var data = bytes.withBytes { Data($0) }
        if bytes.isGzip { data = try bytes.withBytes { try Gzip.decompress($0) } }
        if let expected = sha256?.lowercased(), !expected.isEmpty {
            let actual = try SHA256.hex(data)
            guard actual == expected else {
                throw ModelLoadError("model \(uri): sha256 is \(actual), expected \(expected)")
            }
        }
        return try decode(data, uri: uri, name: name, version: version)
    }

    public static func decode(_ data: Data, uri: String, name: String, version: String) throws -> ServedModel {
        // A cheap look at the top-level keys decides the format without a second full parse.
        let head = String(decoding: data.prefix(4096), as: UTF8.self)
        if head.contains("\"sextant-model/") || head.contains("\"modelName\"") {
            let artifact: ModelArtifact
            do { artifact = try ModelArtifact.load(data: data) } catch {
                throw ModelLoadError("model \(uri): \(error)")
            }
            return try ServedModel(artifact: artifact, name: name, version: version)
        }
        // LightGBM's text format starts with the line "tree".
        if head.hasPrefix("tree\n") || head.hasPrefix("tree\r\n") {
            do {
                return ServedModel(lightgbm: try LightGBMModel(text: String(decoding: data, as: UTF8.self)), name: name, version: version)
            } catch {
                throw ModelLoadError("model \(uri): \(error.description)")
            }
        }
        do {
            return ServedModel(xgboost: try XGBoostForest(json: data), name: name, version: version)
        } catch {
            throw ModelLoadError("model \(uri): \(error.description)")
        }
    }

    public var isBinaryClassifier: Bool { objective == .binaryLogistic }

    /// How feedback labels are read and judged, from the objective.
    public var feedbackTarget: FeedbackTarget {
        switch objective {
        case .binaryLogistic: .binary(threshold: threshold)
        case .multiSoftprob: .multiclass(classes: outputWidth)
        case .squaredError, .poisson, .absoluteError, .tweedie, .quantileError: .regression
        }
    }

    /// Whether `contributions` can be computed (Sextant tree artifacts with covers, XGBoost
    /// models with scalar leaves, LightGBM models with their row counts).
    public var canExplain: Bool {
        switch scorer {
        case .artifact(let p): p.canExplain
        case .xgboost(let forest): forest.canExplain
        case .lightgbm(let model): model.cannotExplainReason == nil
        }
    }

    /// Why `contributions` are refused (a 400) when `canExplain` is false.
    public var cannotExplainMessage: String {
        if case .lightgbm(let model) = scorer, let reason = model.cannotExplainReason {
            return "model '\(name)' cannot explain predictions: \(reason)"
        }
        return "model '\(name)' cannot explain predictions: contributions need trees with node covers and one value per leaf "
            + "(a Sextant tree artifact, an XGBoost model without vector leaves, or a LightGBM model with its row counts)"
    }

    /// Shape of the contributions of `rows` rows: [rows, features + 1] or [rows, K, features + 1].
    public func contributionShape(rows: Int) -> [Int] {
        outputWidth > 1 ? [rows, outputWidth, featureCount + 1] : [rows, featureCount + 1]
    }

    /// TreeSHAP contributions (margin space, last value of each block the bias), row-major as
    /// `contributionShape`; nil when the model cannot explain. Unknown categories count as missing.
    public func contributions(_ values: [Double], rows: Int) -> [Double]? {
        if case .xgboost(let forest) = scorer { return forest.contributions(values, rows: rows) }
        if case .lightgbm(let model) = scorer { return model.contributions(values, rows: rows) }
        guard case .artifact(let predictor) = scorer, predictor.canExplain else { return nil }
        let nf = featureCount
        var out: [Double] = []
        out.reserveCapacity(rows * outputWidth * (nf + 1))
        for r in 0..<rows {
            let row = (0..<nf).map { j in
                let v = values[r * nf + j]
                return features[j].isCategorical && v >= features[j].unknownCode ? .nan : v
            }
            guard let phi = predictor.contributions(row) else { return nil }
            out.append(contentsOf: phi)
        }
        return out
    }

    /// The V2 output tensor's name: `probability` for classifiers (binary: P(class 1); multiclass:
    /// the K class probabilities), `prediction` for regression (the value, or the expected count).
    public var outputName: String { objective.isClassification ? "probability" : "prediction" }

    /// The output shape of `rows` predictions: [rows] or, for K classes, [rows, K].
    public func outputShape(rows: Int) -> [Int] { outputWidth > 1 ? [rows, outputWidth] : [rows] }

    /// One number per row for the drift/feedback bookkeeping: the probability of class 1, the
    /// regression value (a multi-target model's first target), or a multiclass model's most
    /// probable class.
    public func rowScores(_ predictions: [Double], rows: Int) -> [Double] {
        guard outputWidth > 1 else { return predictions }
        let k = outputWidth
        guard objective == .multiSoftprob else { return (0..<rows).map { predictions[$0 * k] } }
        return (0..<rows).map { r in
            var best = 0
            for c in 1..<k where predictions[r * k + c] > predictions[r * k + best] { best = c }
            return Double(best)
        }
    }

    /// Predictions for `rows` rows, row-major, NaN = missing; categorical features carry category
    /// codes (`unknownCode` for unknown categories). `outputWidth` values per row: the probability
    /// of class 1, the regression value, or the K class probabilities.
    public func predict(_ values: [Double], rows: Int) -> [Double] {
        switch scorer {
        case .xgboost(let forest):
            return forest.predictions(values, rows: rows)
        case .lightgbm(let model):
            return model.predictions(values, rows: rows)
        case .artifact(let predictor):
            // Column-major for `Predictor`; unknown categories (code past the known ones) are
            // scored as missing.
            let nf = featureCount
            var columns = [[Double]](repeating: [], count: nf)
            for j in 0..<nf {
                let categorical = features[j].isCategorical, unknown = features[j].unknownCode
                columns[j] = (0..<rows).map { r in
                    let v = values[r * nf + j]
                    return categorical && v >= unknown ? .nan : v
                }
            }
            return predictor.predictions(columns: columns)
        }
    }
}
