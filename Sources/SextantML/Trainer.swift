// The training pipeline: load -> hash -> parse -> profile -> data-quality gate -> split ->
// train (with optional cross-validation) -> evaluate -> gates -> artifact + metrics + summary.
import Foundation

public struct TrainingOutcome: Sendable {
    public var summary: ResultSummary
    public var artifact: ModelArtifact?
}

/// Everything written besides the artifact: `metrics.json` in the output directory.
public struct MetricsDocument: Codable, Sendable {
    public var modelName: String
    /// ISO 8601 time the run started (not in the artifact, which is byte-identical across runs).
    public var createdAt: String?
    /// The objective the model was trained for (`binary:logistic`, `reg:squarederror`, ...).
    public var objective: String?
    /// Binary: EvaluationMetrics keys; regression: rmse, mae, r2 (poissonDeviance); multiclass:
    /// accuracy, logLoss, macroF1, classes, confusionMatrix.
    public var test: ObjectiveMetrics?
    public var validation: ObjectiveMetrics?
    public var crossValidation: CrossValidation?
    public var gates: [GateResult]
    /// Binary models: the validation log loss per round (also in `validationLoss`).
    public var validationLogLoss: [Double]?
    /// The objective's early-stopping loss per round on the validation rows (`validationLossName`).
    public var validationLoss: [Double]?
    /// logloss, rmse, poisson-nloglik or mlogloss.
    public var validationLossName: String?
    public var bestIteration: Int?
    public var timings: [String: Double]
}

public struct CrossValidation: Codable, Sendable {
    public var folds: Int
    public var auc: [Double]
    public var aucMean: Double
    public var aucStd: Double
}

public enum Trainer {
    /// Runs a whole training job. Bad input throws `TrainerError(.badInput)`; a failed gate is a
    /// normal outcome with status `GateFailed` (the summary still carries every number).
    ///
    /// With a `collective` of more than one rank (the trainer started by mpirun), every rank calls
    /// this with its own rank and they train one model together (`DistributedTrainer`); rank 0
    /// writes the outputs and every rank returns the same summary.
    public static func run(_ config: TrainingConfig, s3: S3Settings = S3Settings(environment: ProcessInfo.processInfo.environment),
                           collective: any Collective = SingleProcess(),
                           log: @escaping @Sendable (String) -> Void = { _ in }) async throws -> TrainingOutcome {
        if collective.isDistributed {
            // Same binary and config on every rank first (RankConsistency.swift): then every
            // later check gives the same answer on every rank.
            try await RankConsistency.check(config, collective: collective)
            try config.validate()
            return try await DistributedTrainer.run(config, s3: s3, collective: collective, log: log)
        }
        try config.validate()
        let clock = Date()
        let createdAt = ISO8601DateFormatter().string(from: clock)
        var timings: [String: Double] = [:]
        func lap(_ name: String, _ since: Date) { timings[name] = (Date().timeIntervalSince(since) * 1000).rounded() / 1000 }
        let threads = effectiveThreads(config.hyperparameters?.threads)
        guard let outputURI = config.output?.uri, !outputURI.isEmpty else {
            throw TrainerError.badInput("config: output.uri (or --output) is required")
        }

        // 1. Bytes, fingerprint, parse.
        let input = try await TrainingInput.load(config, s3: s3, threads: threads, lap: lap, log: log)
        let dataset = input.dataset, sha = input.sha256
        log("loaded \(dataset.rowCount) rows x \(dataset.features.featureCount) features from \(config.data.uri) (sha256 \(sha.prefix(12)), \(input.bytes) bytes) in \(String(format: "%.2f", timings["parseSeconds"] ?? 0))s")
        guard dataset.rowCount > 0 else { throw TrainerError.badInput("data: no rows after the header") }

        var summary = ResultSummary(status: .succeeded)
        summary.modelName = config.modelName
        summary.createdAt = createdAt
        summary.algorithm = config.algorithm ?? .gradientBoosting
        summary.data = .init(uri: config.data.uri, version: input.version, sha256: sha, rows: dataset.rowCount)

        // 2. Profile and data quality (fail fast, before spending time on training).
        var t = Date()
        let profile = try ReferenceProfile.build(dataset.features, labels: dataset.labels, threads: threads)
        lap("profileSeconds", t)
        var gateResults: [GateResult] = []
        if let dq = config.gates?.dataQuality {
            gateResults += Gates.dataQuality(dq, profile: profile)
            if let failed = Trainer.dataQualityFailure(gateResults, summary: summary, since: clock) { return failed }
        }

        // A binary classifier needs both classes: with one, AUC, log loss gradients and every gate
        // metric are undefined (this used to end in an encoding error on a NaN AUC).
        let objective = config.objective ?? .binaryLogistic
        if objective == .binaryLogistic {
            try Self.requireBothClasses(Array(0..<dataset.rowCount), labels: dataset.labels,
                                        what: "data: target '\(config.target)' over all \(dataset.rowCount) rows")
        }
        var classes = 1
        if objective == .multiSoftprob {
            classes = config.hyperparameters?.numClass ?? (Int(dataset.labels.max() ?? 0) + 1)
            guard classes >= 2 else {
                throw TrainerError.badInput("data: target '\(config.target)' holds only class 0; multi:softprob needs at least two classes (labels 0, 1, ...)")
            }
        }

        var monotone: [Int] = []
        if let constraints = config.hyperparameters?.monotoneConstraints, constraints.values.contains(where: { $0 != 0 }) {
            for name in constraints.keys.sorted() where !dataset.features.names.contains(name) {
                throw TrainerError.badInput("config: hyperparameters.monotoneConstraints.\(name): '\(name)' is not a feature (features: \(dataset.features.names.prefix(20).joined(separator: ", ")))")
            }
            monotone = dataset.features.names.map { constraints[$0] ?? 0 }
        }

        // 3. Split.
        let split = try DataSplit.make(dataset, config: config.split)
        guard !split.train.isEmpty else { throw TrainerError.badInput("split: no training rows") }
        let evalRows = split.test.isEmpty ? split.validation : split.test
        guard !evalRows.isEmpty else { throw TrainerError.badInput("split: no test (or validation) rows to evaluate on") }
        for (part, rows) in [("train", split.train), ("validation", split.validation), ("test", split.test)] where !rows.isEmpty && objective == .binaryLogistic {
            try Self.requireBothClasses(rows, labels: dataset.labels, what: "split: the \(part) part (\(rows.count) rows)")
        }
        if let k = config.hyperparameters?.folds, k >= 2 {
            let positives = split.train.reduce(0) { $0 + (dataset.labels[$1] > 0.5 ? 1 : 0) }
            let minority = min(positives, split.train.count - positives)
            if minority < k {
                throw TrainerError.badInput("config: hyperparameters.folds is \(k) but the training rows hold only \(minority) of their rarer class; every fold needs both classes (use at most \(minority) folds)")
            }
        }
        if config.hyperparameters?.earlyStoppingRounds != nil, split.validation.isEmpty {
            throw TrainerError.badInput("config: hyperparameters.earlyStoppingRounds needs validation rows (split.validation > 0 or a 'validation' split value)")
        }
        log("split: \(split.train.count) train, \(split.validation.count) validation, \(split.test.count) test rows")

        // 4. Train.
        let algorithm = config.algorithm ?? .gradientBoosting
        var params = GBDTParameters(config.hyperparameters, threads: threads)
        params.monotone = monotone
        let labelsOf = { (rows: [Int]) in rows.map { dataset.labels[$0] } }
        let weightsOf = { (rows: [Int]) in dataset.weights.map { w in rows.map { w[$0] } } }
        var artifact: ModelArtifact
        var crossValidation: CrossValidation?
        var validationLosses: [Double]?
        var bestIteration: Int?
        let featureSpecs = dataset.features.names.enumerated().map { j, name in
            FeatureSpec(name: name, type: dataset.features.isCategorical[j] ? .categorical : .numeric,
                        categories: dataset.features.isCategorical[j] ? dataset.features.levels[j] : nil,
                        groupedCategories: dataset.features.groupedLevels.indices.contains(j) ? dataset.features.groupedLevels[j] : nil)
        }
        t = Date()
        switch algorithm {
        case .gradientBoosting:
            let cuts = BinCuts.fit(dataset.features, rows: split.train, maxBin: params.maxBin, threads: threads)
            let trainBins = BinnedMatrix(dataset.features, rows: split.train, cuts: cuts, threads: threads)
            let trainLabels = labelsOf(split.train)
            var validation: (x: BinnedMatrix, labels: [Double], weights: [Double]?)?
            if !split.validation.isEmpty {
                validation = (BinnedMatrix(dataset.features, rows: split.validation, cuts: cuts, threads: threads), labelsOf(split.validation),
                              weightsOf(split.validation))
            }
            lap("binSeconds", t)
            if let k = config.hyperparameters?.folds, k >= 2 {
                let cvStart = Date()
                crossValidation = try Self.crossValidate(trainBins, labels: trainLabels, cuts: cuts, params: params, folds: k, log: log)
                lap("crossValidationSeconds", cvStart)
            }
            let trainStart = Date()
            let total = params.nEstimators
            let progressLine = ProgressLine(rounds: total, metric: validation == nil ? nil : "valid-\(objective.evaluationLossName)")
            let result = GradientBoosting.train(trainBins, labels: trainLabels, weights: weightsOf(split.train), cuts: cuts, params: params,
                                                objective: objective, classes: classes, validation: validation) { p in
                if p.round % 10 == 0 || p.round == total || p.round == 1 {
                    let v = p.validationLogLoss.map { " valid-\(objective.evaluationLossName)=\(String(format: "%.5f", $0))" } ?? ""
                    log("round \(p.round)/\(total)\(v) elapsed=\(String(format: "%.2f", p.elapsedSeconds))s")
                }
                if let line = progressLine.line(for: p) { log(line) }
            }
            lap("trainSeconds", trainStart)
            validationLosses = result.validationLoss.isEmpty ? nil : result.validationLoss
            bestIteration = result.bestIteration
            let multi = objective == .multiSoftprob
            artifact = ModelArtifact(modelName: config.modelName, algorithm: algorithm, features: featureSpecs,
                                     baseScore: multi ? 0 : result.baseScore, trees: result.trees.map { $0.arrays(cuts: cuts) },
                                     linear: nil, threshold: config.decisionThreshold, hyperparameters: params.summary(for: objective),
                                     objective: objective, baseScores: multi ? result.baseMargins : nil)
            artifact.bestIteration = result.bestIteration
        case .logisticRegression:
            let lambda = config.hyperparameters?.regLambda ?? 1
            if let k = config.hyperparameters?.folds, k >= 2 {
                let assignment = DataSplit.folds(rows: split.train, labels: dataset.labels, k: k, seed: params.seed)
                var aucs: [Double] = []
                for fold in 0..<k {
                    let fit = split.train.indices.filter { assignment[$0] != fold }.map { split.train[$0] }
                    let held = split.train.indices.filter { assignment[$0] == fold }.map { split.train[$0] }
                    let model = try LogisticRegression.train(dataset.features, rows: fit, labels: dataset.labels, lambda: lambda, threads: threads)
                    var a = ModelArtifact(modelName: config.modelName, algorithm: algorithm, features: featureSpecs, baseScore: 0,
                                          trees: nil, linear: model, threshold: 0.5, hyperparameters: [:])
                    try a.compile()
                    let sub = dataset.features.subset(held)
                    aucs.append(Metrics.auc(labels: labelsOf(held), scores: a.predictor?.probabilities(columns: sub.columns, threads: threads) ?? []))
                    log("cv fold \(fold + 1)/\(k): auc=\(String(format: "%.5f", aucs.last ?? .nan))")
                }
                crossValidation = CrossValidation(aucs)
            }
            let model = try LogisticRegression.train(dataset.features, rows: split.train, labels: dataset.labels, lambda: lambda, threads: threads)
            lap("trainSeconds", t)
            artifact = ModelArtifact(modelName: config.modelName, algorithm: algorithm, features: featureSpecs, baseScore: 0,
                                     trees: nil, linear: model, threshold: config.decisionThreshold,
                                     hyperparameters: ["regLambda": lambda])
        }
        try artifact.compile()
        guard let predictor = artifact.predictor else { throw TrainerError.io("model did not compile") }

        // 5. Evaluate on the test rows through the artifact's own predictor (what serving runs).
        t = Date()
        let test = dataset.features.subset(evalRows)
        let testLabels = labelsOf(evalRows)
        let testP = predictor.predictions(columns: test.columns, threads: threads)
        func evaluate(_ rows: [Int], _ p: [Double]) -> ObjectiveMetrics {
            switch objective {
            case .binaryLogistic: .binary(EvaluationMetrics(labels: labelsOf(rows), probabilities: p, threshold: config.decisionThreshold))
            case .squaredError, .poisson, .absoluteError, .tweedie, .quantileError:
                .regression(RegressionMetrics(labels: labelsOf(rows), predictions: p, weights: weightsOf(rows), poisson: objective == .poisson,
                                                        tweediePower: objective == .tweedie ? params.tweedieVariancePower : nil,
                                                        quantileAlpha: objective == .quantileError ? params.quantileAlpha : nil))
            case .multiSoftprob: .multiclass(MulticlassMetrics(labels: labelsOf(rows), probabilities: p, classes: classes, weights: weightsOf(rows)))
            }
        }
        let metrics = evaluate(evalRows, testP)
        var validationMetrics: ObjectiveMetrics?
        if !split.validation.isEmpty, !split.test.isEmpty {
            let v = dataset.features.subset(split.validation)
            validationMetrics = evaluate(split.validation, predictor.predictions(columns: v.columns, threads: threads))
        }
        log("test: " + objective.metricNames.map { "\($0)=\(String(format: "%.5f", metrics.value(named: $0) ?? .nan))" }.joined(separator: " "))

        // 6. Gates.
        if let g = config.gates?.performance { gateResults += Gates.performance(g, metrics: metrics) }
        if let g = config.gates?.fairness {
            var attributes: [String: CategoricalColumn] = [:]
            for (name, column) in dataset.protected {
                attributes[name] = CategoricalColumn(codes: evalRows.map { column.codes[$0] }, levels: column.levels)
            }
            gateResults += Gates.fairness(g, attributes: attributes, labels: testLabels, probabilities: testP)
        }
        if let g = config.gates?.robustness {
            let stddev = profile.columns.map { ($0.variance ?? 0).squareRoot() }
            gateResults += Gates.robustness(g, predictor: predictor, columns: test.columns, isCategorical: dataset.features.isCategorical,
                                            stddev: stddev, labels: testLabels, baselineAUC: metrics.binary?.aucRoc ?? .nan, seed: params.seed, threads: threads)
        }
        lap("evaluateSeconds", t)

        // 7. Artifact and metrics out.
        artifact.bestIteration = bestIteration
        artifact.data = input.lineage
        artifact.referenceProfile = profile
        artifact.metrics = metrics
        t = Date()
        let artifactData = try artifact.encoded()
        let artifactURI = DataSource.join(outputURI, "model.json")
        let metricsURI = DataSource.join(outputURI, "metrics.json")
        try await DataSource.write(artifactData, to: artifactURI, s3: s3)
        lap("writeSeconds", t)
        timings["totalSeconds"] = Date().timeIntervalSince(clock)
        let doc = MetricsDocument(modelName: config.modelName, createdAt: createdAt, objective: objective.rawValue, test: metrics,
                                  validation: validationMetrics, crossValidation: crossValidation, gates: gateResults,
                                  validationLogLoss: objective == .binaryLogistic ? validationLosses : nil,
                                  validationLoss: validationLosses, validationLossName: validationLosses == nil ? nil : objective.evaluationLossName,
                                  bestIteration: bestIteration, timings: timings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try await DataSource.write(try encoder.encode(doc), to: metricsURI, s3: s3)

        summary.artifact = .init(uri: artifactURI, sha256: try SHA256.hex(artifactData), size: artifactData.count)
        summary.metricsUri = metricsURI
        summary.hyperparameters = artifact.hyperparameters
        var m = metrics.values(names: objective.metricNames)
        if let cv = crossValidation { m["cvAucMean"] = cv.aucMean; m["cvAucStd"] = cv.aucStd }
        summary.metrics = m
        summary.validationCurve = validationLosses.flatMap {
            ResultSummary.ValidationCurve(metric: "valid-\(objective.evaluationLossName)", losses: $0)
        }
        summary.gates = gateResults
        let failed = gateResults.filter { !$0.passed }
        if !failed.isEmpty {
            summary.status = .gateFailed
            summary.reason = "GateFailed"
            summary.message = "gate failed: " + failed.map(\.message).joined(separator: "; ")
        }
        summary.durationSeconds = Date().timeIntervalSince(clock)
        return TrainingOutcome(summary: summary, artifact: artifact)
    }

    /// Bad input unless `rows` hold both label values.
    /// The outcome of a run whose data-quality gate failed (nil when every result passed); one
    /// place for the single-process and the distributed trainer.
    static func dataQualityFailure(_ results: [GateResult], summary: ResultSummary, since clock: Date) -> TrainingOutcome? {
        let failed = results.filter { !$0.passed }
        guard !failed.isEmpty else { return nil }
        var summary = summary
        summary.status = .gateFailed
        summary.reason = "GateFailed"
        summary.message = "data-quality gate failed: " + failed.map(\.message).joined(separator: "; ")
        summary.gates = results
        summary.durationSeconds = Date().timeIntervalSince(clock)
        return TrainingOutcome(summary: summary, artifact: nil)
    }

    static func requireBothClasses(_ rows: [Int], labels: [Double], what: String) throws {
        let positives = rows.reduce(0) { $0 + (labels[$1] > 0.5 ? 1 : 0) }
        guard positives == 0 || positives == rows.count else { return }
        throw TrainerError.badInput("\(what) holds only class \(positives == 0 ? 0 : 1); a binary classifier needs rows of both classes in the data and in every split part (AUC and the gate metrics are undefined otherwise)")
    }

    static func crossValidate(_ x: BinnedMatrix, labels: [Double], cuts: BinCuts, params: GBDTParameters, folds k: Int,
                              log: @Sendable (String) -> Void) throws -> CrossValidation {
        let rows = Array(0..<x.rows)
        let assignment = DataSplit.folds(rows: rows, labels: labels, k: k, seed: params.seed)
        var aucs: [Double] = []
        for fold in 0..<k {
            let fit = rows.filter { assignment[$0] != fold }, held = rows.filter { assignment[$0] == fold }
            var p = params
            p.earlyStoppingRounds = nil
            let result = GradientBoosting.train(x.rows(fit), labels: fit.map { labels[$0] }, cuts: cuts, params: p)
            let heldBins = x.rows(held)
            var scores = [Double](repeating: 0, count: held.count)
            heldBins.bins.withUnsafeBufferPointer { bp in
                guard let base = bp.baseAddress else { return }
                for i in 0..<held.count {
                    var m = result.baseScore
                    for tree in result.trees { m += tree.leafValue(rowBins: base + i * x.features) }
                    scores[i] = sigmoid(m)
                }
            }
            aucs.append(Metrics.auc(labels: held.map { labels[$0] }, scores: scores))
            log("cv fold \(fold + 1)/\(k): auc=\(String(format: "%.5f", aucs.last ?? .nan))")
        }
        return CrossValidation(aucs)
    }
}

extension CrossValidation {
    init(_ aucs: [Double]) {
        let mean = aucs.reduce(0, +) / Double(max(aucs.count, 1))
        let variance = aucs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(aucs.count, 1))
        self.init(folds: aucs.count, auc: aucs, aucMean: mean, aucStd: variance.squareRoot())
    }
}

extension BinnedMatrix {
    /// A copy holding only `rows` (in that order).
    func rows(_ rows: [Int]) -> BinnedMatrix {
        var out = [UInt8]()
        out.reserveCapacity(rows.count * features)
        bins.withUnsafeBufferPointer { b in
            for r in rows { out.append(contentsOf: b[(r * features)..<((r + 1) * features)]) }
        }
        return BinnedMatrix(rows: rows.count, features: features, bins: out)
    }
}

extension GBDTParameters {
    /// Hyperparameters as recorded in the artifact: the general ones, and the objective's own
    /// (`quantileAlpha`, `tweedieVariancePower`) when it has one, so a model says what it was
    /// trained for.
    func summary(for objective: Objective) -> [String: Double] {
        var s = summary
        switch objective {
        case .quantileError: s["quantileAlpha"] = quantileAlpha
        case .tweedie: s["tweedieVariancePower"] = tweedieVariancePower
        default: break
        }
        return s
    }

    /// Hyperparameters as recorded in the artifact and summary.
    var summary: [String: Double] {
        var s: [String: Double] = [
            "nEstimators": Double(nEstimators), "maxDepth": Double(maxDepth), "learningRate": learningRate,
            "subsample": subsample, "colsampleBytree": colsampleBytree, "minChildWeight": minChildWeight,
            "gamma": gamma, "regAlpha": regAlpha, "regLambda": regLambda, "maxBin": Double(maxBin), "seed": Double(seed),
            "maxCatToOnehot": Double(maxCatToOnehot), "maxCatThreshold": Double(maxCatThreshold),
            "catSmooth": catSmooth, "catL2": catL2, "minDataPerGroup": Double(minDataPerGroup),
        ]
        if let e = earlyStoppingRounds { s["earlyStoppingRounds"] = Double(e) }
        return s
    }
}
