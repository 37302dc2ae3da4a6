// Data-parallel training over the ranks of a `Collective` (docs/trainer.md "Training on several
// ranks"): each rank parses its line-aligned byte range of the CSV file; categorical levels, the
// profile, the split, the bin cuts, start margins, node sums and histograms are agreed over all
// ranks with exact (integer) reductions, so every rank grows the same trees and the model is
// byte-identical to the one a single process trains on the whole file. Rank 0 hashes the file and
// writes the artifact, metrics and summary.
import CCrypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum DistributedTrainer {
    /// Config that cannot run on several ranks yet, named by key (the same answer on every rank).
    static func checkSupported(_ config: TrainingConfig) throws {
        func refuse(_ key: String, _ why: String) throws {
            throw TrainerError.badInput("config: \(key): \(why) is not supported when training on several ranks (mpirun -np > 1); train on one rank")
        }
        if (config.algorithm ?? .gradientBoosting) != .gradientBoosting { try refuse("algorithm", "logisticRegression") }
        if let f = config.data.format, f != "csv" { try refuse("data.format", "'\(f)' (only an uncompressed CSV file)") }
        if config.data.dvc != nil { try refuse("data.dvc", "a DVC pointer") }
        if config.data.uri.hasPrefix("lakefs://") { try refuse("data.uri", "lakefs://") }
        if let h = config.hyperparameters {
            if let k = h.folds, k >= 2 { try refuse("hyperparameters.folds", "cross-validation") }
            if let s = h.subsample, s < 1 { try refuse("hyperparameters.subsample", "row sampling (subsample < 1)") }
            if h.earlyStoppingRounds != nil { try refuse("hyperparameters.earlyStoppingRounds", "early stopping") }
        }
        if (config.split?.validation ?? 0) > 0 { try refuse("split.validation", "a validation part") }
        if config.gates?.fairness != nil { try refuse("gates.fairness", "the fairness gate") }
        if config.gates?.robustness != nil { try refuse("gates.robustness", "the robustness gate") }
    }

    static func run(_ config: TrainingConfig, s3: S3Settings, collective c: any Collective,
                    log: @escaping @Sendable (String) -> Void) async throws -> TrainingOutcome {
        try checkSupported(config)
        let clock = Date()
        let createdAt = ISO8601DateFormatter().string(from: clock)
        var timings: [String: Double] = [:]
        func lap(_ name: String, _ since: Date) { timings[name] = (Date().timeIntervalSince(since) * 1000).rounded() / 1000 }
        let threads = effectiveThreads(config.hyperparameters?.threads)
        guard let outputURI = config.output?.uri, !outputURI.isEmpty else {
            throw TrainerError.badInput("config: output.uri (or --output) is required")
        }
        let isRoot = c.rank == 0
        let rankLog: @Sendable (String) -> Void = { line in if isRoot { log(line) } }

        // 1. Each rank its shard; rank 0 the SHA-256 of the whole file. A rank that fails here
        // stops every rank (`agree`), before anything is written.
        var t = Date()
        let shard = try await c.agree { try readShard(config, rank: c.rank, size: c.size, threads: threads) }
        lap("parseSeconds", t)
        var dataset = shard.0
        let bytes = shard.2
        let sha: String = try c.broadcast(c.rank == 0 ? shard.1 : nil)
        if let pinned = config.data.sha256?.lowercased(), pinned != sha {
            throw TrainerError.badInput("data: sha256 mismatch for \(config.data.uri): pinned \(pinned), read \(sha)")
        }
        try mergeLevels(&dataset.features, c)
        let (rowCounts, rowOffset) = try c.counts(dataset.rowCount)
        let totalRows = rowCounts.reduce(0, +)
        rankLog("loaded \(totalRows) rows x \(dataset.features.featureCount) features on \(c.size) ranks (rows per rank: \(rowCounts.map(String.init).joined(separator: ", "))) from \(config.data.uri) (sha256 \(sha.prefix(12)), \(bytes) bytes)")
        guard totalRows > 0 else { throw TrainerError.badInput("data: no rows after the header") }

        var summary = ResultSummary(status: .succeeded)
        summary.modelName = config.modelName
        summary.createdAt = createdAt
        summary.algorithm = .gradientBoosting
        summary.data = .init(uri: config.data.uri, version: config.data.version, sha256: sha, rows: totalRows)

        // 2. Profile over all ranks; the data-quality gate (the same decision on every rank).
        t = Date()
        let profile = try ReferenceProfile.build(dataset.features, labels: dataset.labels, threads: threads, collective: c, rowOffset: rowOffset)
        lap("profileSeconds", t)
        var gateResults: [GateResult] = []
        if let dq = config.gates?.dataQuality {
            gateResults += Gates.dataQuality(dq, profile: profile)
            if let failed = Trainer.dataQualityFailure(gateResults, summary: summary, since: clock) { return failed }
        }

        // 3. Labels of every row (8 bytes a row) for the stratified split and the test metrics.
        let allLabels = try c.allgather(doubles: dataset.labels)
        let allWeights = try dataset.weights.map { try c.allgather(doubles: $0) }
        let objective = config.objective ?? .binaryLogistic
        if objective == .binaryLogistic {
            try Trainer.requireBothClasses(Array(0..<totalRows), labels: allLabels,
                                           what: "data: target '\(config.target)' over all \(totalRows) rows")
        }
        var classes = 1
        if objective == .multiSoftprob {
            classes = config.hyperparameters?.numClass ?? (Int(allLabels.max() ?? 0) + 1)
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

        // The split of all rows, as one process makes it; a split column is per row already.
        let global: DataSplit
        if dataset.splitColumn != nil {
            // An empty split value fails on one rank only: agreed, so no rank waits for it.
            let local = try await c.agree { try DataSplit.make(dataset, config: config.split) }
            func all(_ rows: [Int]) throws -> [Int] { try c.allgather(doubles: rows.map { Double($0 + rowOffset) }).map { Int($0) } }
            global = DataSplit(train: try all(local.train), validation: try all(local.validation), test: try all(local.test))
        } else {
            var whole = Dataset(features: FeatureMatrix(names: [], columns: [], isCategorical: [], levels: []), labels: allLabels)
            whole.weights = nil
            global = try DataSplit.make(whole, config: config.split)
        }
        guard !global.train.isEmpty else { throw TrainerError.badInput("split: no training rows") }
        guard !global.test.isEmpty else { throw TrainerError.badInput("split: no test (or validation) rows to evaluate on") }
        if !global.validation.isEmpty { throw TrainerError.badInput("split: validation rows are not supported when training on several ranks") }
        for (part, rows) in [("train", global.train), ("test", global.test)] where objective == .binaryLogistic {
            try Trainer.requireBothClasses(rows, labels: allLabels, what: "split: the \(part) part (\(rows.count) rows)")
        }
        let mine = rowOffset..<(rowOffset + dataset.rowCount)
        let train = global.train.filter { mine.contains($0) }.map { $0 - rowOffset }
        let test = global.test.filter { mine.contains($0) }.map { $0 - rowOffset }
        rankLog("split: \(global.train.count) train, 0 validation, \(global.test.count) test rows")

        // 4. Bins (cut points from the same sample one process takes), then the trees.
        t = Date()
        var params = GBDTParameters(config.hyperparameters, threads: threads)
        params.monotone = monotone
        let cuts = try fitCuts(dataset.features, train: train, maxBin: params.maxBin, collective: c)
        let trainBins = BinnedMatrix(dataset.features, rows: train, cuts: cuts, threads: threads)
        lap("binSeconds", t)
        let trainStart = Date()
        let total = params.nEstimators
        let result = try GradientBoosting.train(trainBins, labels: train.map { dataset.labels[$0] },
                                                weights: dataset.weights.map { w in train.map { w[$0] } }, cuts: cuts, params: params,
                                                objective: objective, classes: classes, validation: nil, collective: c) { p in
            if p.round % 10 == 0 || p.round == total || p.round == 1 {
                rankLog("round \(p.round)/\(total) allreduce=\(p.allreduceBytes) bytes\(p.gatheredBytes > 0 ? " gathered=\(p.gatheredBytes) bytes" : "") elapsed=\(String(format: "%.2f", p.elapsedSeconds))s")
            }
        }
        lap("trainSeconds", trainStart)
        let featureSpecs = dataset.features.names.enumerated().map { j, name in
            FeatureSpec(name: name, type: dataset.features.isCategorical[j] ? .categorical : .numeric,
                        categories: dataset.features.isCategorical[j] ? dataset.features.levels[j] : nil,
                        groupedCategories: dataset.features.groupedLevels.indices.contains(j) ? dataset.features.groupedLevels[j] : nil)
        }
        let multi = objective == .multiSoftprob
        var artifact = ModelArtifact(modelName: config.modelName, algorithm: .gradientBoosting, features: featureSpecs,
                                     baseScore: multi ? 0 : result.baseScore, trees: result.trees.map { $0.arrays(cuts: cuts) },
                                     linear: nil, threshold: config.decisionThreshold, hyperparameters: params.summary(for: objective),
                                     objective: objective, baseScores: multi ? result.baseMargins : nil)
        artifact.bestIteration = result.bestIteration
        try artifact.compile()
        guard let predictor = artifact.predictor else { throw TrainerError.io("model did not compile") }

        // 5. Test predictions of every rank, in row order, to rank 0 for the metrics.
        t = Date()
        let localP = predictor.predictions(columns: dataset.features.subset(test).columns, threads: threads)
        let testP = try c.gather(doubles: localP)
        var metrics: ObjectiveMetrics?
        if c.rank == 0 {
            let labels = global.test.map { allLabels[$0] }
            let weights = allWeights.map { w in global.test.map { w[$0] } }
            switch objective {
            case .binaryLogistic: metrics = .binary(EvaluationMetrics(labels: labels, probabilities: testP, threshold: config.decisionThreshold))
            case .squaredError, .poisson, .absoluteError, .tweedie, .quantileError:
                metrics = .regression(RegressionMetrics(labels: labels, predictions: testP, weights: weights, poisson: objective == .poisson,
                                                        tweediePower: objective == .tweedie ? params.tweedieVariancePower : nil,
                                                        quantileAlpha: objective == .quantileError ? params.quantileAlpha : nil))
            case .multiSoftprob: metrics = .multiclass(MulticlassMetrics(labels: labels, probabilities: testP, classes: classes, weights: weights))
            }
        }
        lap("evaluateSeconds", t)

        // 6. Rank 0 gates and writes; every rank then gets its summary (same exit code everywhere).
        let written = try await c.agree { () async throws -> ResultSummary? in
            guard c.rank == 0, let metrics else { return nil }
            rankLog("test: " + objective.metricNames.map { "\($0)=\(String(format: "%.5f", metrics.value(named: $0) ?? .nan))" }.joined(separator: " "))
            var summary = summary, gateResults = gateResults
            if let g = config.gates?.performance { gateResults += Gates.performance(g, metrics: metrics) }
            artifact.data = DataLineage(uri: config.data.uri, version: config.data.version, sha256: sha, rows: totalRows, bytes: bytes)
            artifact.referenceProfile = profile
            artifact.metrics = metrics
            let w = Date()
            let artifactData = try artifact.encoded()
            let artifactURI = DataSource.join(outputURI, "model.json")
            let metricsURI = DataSource.join(outputURI, "metrics.json")
            try await DataSource.write(artifactData, to: artifactURI, s3: s3)
            lap("writeSeconds", w)
            timings["totalSeconds"] = Date().timeIntervalSince(clock)
            timings["ranks"] = Double(c.size)
            let doc = MetricsDocument(modelName: config.modelName, createdAt: createdAt, objective: objective.rawValue, test: metrics,
                                      validation: nil, crossValidation: nil, gates: gateResults, validationLogLoss: nil,
                                      validationLoss: nil, validationLossName: nil, bestIteration: result.bestIteration, timings: timings)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try await DataSource.write(try encoder.encode(doc), to: metricsURI, s3: s3)
            summary.artifact = .init(uri: artifactURI, sha256: try SHA256.hex(artifactData), size: artifactData.count)
            summary.metricsUri = metricsURI
            summary.hyperparameters = artifact.hyperparameters
            summary.metrics = metrics.values(names: objective.metricNames)
            summary.gates = gateResults
            let failed = gateResults.filter { !$0.passed }
            if !failed.isEmpty {
                summary.status = .gateFailed
                summary.reason = "GateFailed"
                summary.message = "gate failed: " + failed.map(\.message).joined(separator: "; ")
            }
            summary.durationSeconds = Date().timeIntervalSince(clock)
            return summary
        }
        let final: ResultSummary = try c.broadcast(written)
        return TrainingOutcome(summary: final, artifact: c.rank == 0 ? artifact : nil)
    }

    /// Rank `rank`'s rows of the CSV file (and on rank 0 the file's SHA-256) and the file size.
    static func readShard(_ config: TrainingConfig, rank: Int, size: Int, threads: Int) throws -> (Dataset, String, Int) {
        guard case .file(let path) = try DataLocation(uri: config.data.uri) else {
            throw TrainerError.badInput("data: \(config.data.uri): training on several ranks reads a local file (a volume every rank mounts), not http(s) or s3")
        }
        let raw = try DataSource.mapFile(path)
        if raw.isGzip || raw.isParquet {
            throw TrainerError.badInput("data: \(config.data.uri): training on several ranks reads an uncompressed CSV file (gzip and Parquet are read by one rank only)")
        }
        let sha = rank == 0 ? try raw.withBytes { try hashReleasingPages($0) } : ""
        let dataset = try raw.withBytes { try Dataset.load(csv: $0, config: config, threads: threads, shard: (rank, size)) }
        return (dataset, sha, raw.count)
    }

    /// Categorical codes follow the first appearance in the file: each rank's levels (in its order
    /// of appearance) are merged in rank order and the local codes renumbered.
    static func mergeLevels(_ x: inout FeatureMatrix, _ c: any Collective) throws {
        let categorical = (0..<x.featureCount).filter { x.isCategorical[$0] }
        if categorical.isEmpty { return }
        // Grouping rare levels needs the counts of all rows: one process only.
        for j in categorical where x.groupedLevels.indices.contains(j) && !x.groupedLevels[j].isEmpty {
            throw TrainerError.badInput("data: categorical feature '\(x.names[j])' has more than \(BinnedMatrix.maxCategories) categories; grouping rare ones is supported in one process only (no MPI ranks)")
        }
        let mine = Array(try JSONEncoder().encode(categorical.map { x.levels[$0] }))
        let all = try c.allgather(mine).map { try JSONDecoder().decode([[String]].self, from: Data($0)) }
        for (k, j) in categorical.enumerated() {
            var merged: [String] = [], index: [String: Int] = [:]
            for rankLevels in all {
                for level in rankLevels[k] where index[level] == nil { index[level] = merged.count; merged.append(level) }
            }
            if merged.count > BinnedMatrix.maxCategories {
                throw TrainerError.badInput("data: categorical feature '\(x.names[j])' has \(merged.count) categories; at most \(BinnedMatrix.maxCategories) are supported")
            }
            let remap = x.levels[j].map { Double(index[$0] ?? 0) }
            x.columns[j] = x.columns[j].map { $0.isNaN ? $0 : remap[Int($0)] }
            x.levels[j] = merged
        }
    }

    /// `BinCuts.fit` over the ranks: the training rows at the same global positions are sampled,
    /// gathered to rank 0 (the sample is sorted, so order does not matter) and the cuts broadcast.
    static func fitCuts(_ x: FeatureMatrix, train: [Int], maxBin: Int, collective c: any Collective,
                        sampleSize: Int = 1 << 18) throws -> BinCuts {
        let (counts, offset) = try c.counts(train.count)
        let stride = max(1, counts.reduce(0, +) / sampleSize)
        var samples: [[UInt8]] = []
        for j in 0..<x.featureCount where !x.isCategorical[j] {
            var sample: [Double] = []
            var i = (stride - offset % stride) % stride
            while i < train.count {
                let v = x.columns[j][train[i]]
                if !v.isNaN { sample.append(v) }
                i += stride
            }
            samples.append(Wire.bytes(sample))
        }
        let gathered = try c.gather(Wire.pack(samples), root: 0).map { try Wire.unpack($0) }
        var cuts: BinCuts?
        if c.rank == 0 {
            var perFeature: [[Double]] = [], k = 0
            for j in 0..<x.featureCount {
                if x.isCategorical[j] { perFeature.append([]); continue }
                let values = gathered.flatMap { Wire.doubles($0[k]) }
                perFeature.append(BinCuts.cutPoints(sortedValues: values.sorted(), maxBin: maxBin))
                k += 1
            }
            let binCount = (0..<x.featureCount).map { j in x.isCategorical[j] ? max(1, x.levels[j].count) : perFeature[j].count + 1 }
            cuts = BinCuts(cuts: perFeature, isCategorical: x.isCategorical, binCount: binCount)
        }
        return try c.broadcast(cuts)
    }

    /// SHA-256 of a mapped file in 64 MiB windows, each dropped from memory once hashed, so the
    /// hashing rank's resident size does not grow by the whole file.
    static func hashReleasingPages(_ bytes: UnsafeRawBufferPointer) throws -> String {
        guard let ctx = EVP_MD_CTX_new() else { throw TrainerError.io("sha256: EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { throw TrainerError.io("sha256: init failed") }
        let window = 64 << 20
        var at = 0
        while let base = bytes.baseAddress, at < bytes.count {
            let n = min(window, bytes.count - at)
            guard EVP_DigestUpdate(ctx, base + at, n) == 1 else { throw TrainerError.io("sha256: update failed") }
            // Page-aligned windows of a read-only file mapping: dropping them loses nothing.
            _ = madvise(UnsafeMutableRawPointer(mutating: base + at), n, MADV_DONTNEED)
            at += n
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &digest, &length) == 1 else { throw TrainerError.io("sha256: final failed") }
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}
