import Foundation
import Testing
@testable import SextantML

/// Issue 16: missing values as a split of their own and the categorical partition rule, each
/// checked against real XGBoost on the same rows (python3 with xgboost, pinned in
/// hack/requirements-test.txt; a missing tool fails the test).
@Suite struct SplitRuleTests {
    /// Test AUC of XGBoost (hist, same hyperparameters) on the rows of `csv` whose `split` is test.
    static func xgboostAUC(_ csv: URL, categorical: [String], rounds: Int, depth: Int, eta: Double) throws -> Double? {
        let script = """
            import sys, pandas as pd, xgboost as xgb
            from sklearn.metrics import roc_auc_score
            df = pd.read_csv(sys.argv[1])
            cats = [c for c in sys.argv[2].split(",") if c]
            for c in cats: df[c] = df[c].astype("category")
            tr = df["split"] == "train"
            X = df.drop(columns=["label", "split"])
            m = xgb.XGBClassifier(n_estimators=\(rounds), max_depth=\(depth), learning_rate=\(eta), min_child_weight=1,
                                  reg_lambda=1, max_bin=256, tree_method="hist", enable_categorical=True, n_jobs=1)
            m.fit(X[tr], df["label"][tr])
            print(roc_auc_score(df["label"][~tr], m.predict_proba(X[~tr])[:, 1]))
            """
        let file = csv.deletingLastPathComponent().appendingPathComponent("xgb.py")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", file.path, csv.path, categorical.joined(separator: ",")]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch {
            Issue.record("python3 is required (with xgboost, pandas, scikit-learn: pip install -r hack/requirements-test.txt): \(error)")
            return nil
        }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, let auc = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            Issue.record("XGBoost run failed (python3 with xgboost, pandas, scikit-learn required: pip install -r hack/requirements-test.txt): \(errors.suffix(800))")
            return nil
        }
        return auc
    }

    /// Trains through the whole pipeline on the `split` column and returns the test AUC.
    static func sextantAUC(_ csv: URL, categorical: [String], rounds: Int, depth: Int, eta: Double) async throws -> (Double, ModelArtifact?) {
        let cats = categorical.isEmpty ? "" : "categoricalFeatures: [\(categorical.joined(separator: ", "))]\n"
        let cfg = try TrainingConfig.parse(yaml: """
            modelName: rule
            data: {uri: "\(csv.path)"}
            target: label
            \(cats)split: {column: split}
            hyperparameters: {nEstimators: \(rounds), maxDepth: \(depth), learningRate: \(eta), threads: 2}
            output: {uri: "\(csv.deletingLastPathComponent().appendingPathComponent("out").path)"}
            """)
        let outcome = try await Trainer.run(cfg)
        return (outcome.summary.metrics?["aucRoc"] ?? .nan, outcome.artifact)
    }

    @Test func presenceOnlyFeatureIsLearnedLikeXGBoost() async throws {
        let dir = try makeTempDir()
        var rng = SplitMix64(seed: 11)
        var csv = "p,noise,label,split\n"
        for i in 0..<8_000 {
            let y = rng.nextUnit() < 0.5 ? 1 : 0
            let present = rng.nextUnit() < (y == 1 ? 0.71 : 0.29)
            let p = present ? String(rng.nextGaussian()) : ""
            csv += "\(p),\(rng.nextGaussian()),\(y),\(i % 4 == 0 ? "test" : "train")\n"
        }
        let url = dir.appendingPathComponent("presence.csv")
        try Data(csv.utf8).write(to: url)
        let (ours, model) = try await Self.sextantAUC(url, categorical: [], rounds: 30, depth: 3, eta: 0.3)
        #expect(ours > 0.69, "presence-only AUC \(ours) (0.51 before the missing-vs-present split)")
        // The split survives the artifact: threshold -max sends every present value right.
        let a = try #require(model)
        let root = try #require(a.trees?.first)
        #expect(root.splitFeature[0] == 0 && root.threshold[0] == -Double.greatestFiniteMagnitude && root.defaultLeft[0])
        #expect(try a.predictProbability([nil, 0]) < a.predictProbability([-1e300, 0]))
        guard let xgb = try Self.xgboostAUC(url, categorical: [], rounds: 30, depth: 3, eta: 0.3) else { return }
        #expect(abs(ours - xgb) < 0.01, "sextant \(ours) vs xgboost \(xgb)")
    }

    @Test func longTailCategoricalMatchesXGBoost() async throws {
        let dir = try makeTempDir()
        var rng = SplitMix64(seed: 5)
        let levels = 150
        // Zipf-like frequencies: a few common levels, a long tail of levels with a handful of rows.
        let weights = (1...levels).map { 1 / pow(Double($0), 1.1) }
        let total = weights.reduce(0, +)
        let effects = (0..<levels).map { _ in 0.8 * rng.nextGaussian() }
        var csv = "x0,x1,cat,label,split\n"
        for i in 0..<20_000 {
            var u = rng.nextUnit() * total, c = 0
            while c < levels - 1, u >= weights[c] { u -= weights[c]; c += 1 }
            let x0 = rng.nextGaussian(), x1 = rng.nextGaussian()
            let logit = 0.8 * x0 - 0.6 * x1 + effects[c] - 1
            let y = rng.nextUnit() < 1 / (1 + exp(-logit)) ? 1 : 0
            csv += "\(x0),\(x1),c\(c),\(y),\(i % 5 == 0 ? "test" : "train")\n"
        }
        let url = dir.appendingPathComponent("longtail.csv")
        try Data(csv.utf8).write(to: url)
        let (ours, _) = try await Self.sextantAUC(url, categorical: ["cat"], rounds: 60, depth: 6, eta: 0.1)
        guard let xgb = try Self.xgboostAUC(url, categorical: ["cat"], rounds: 60, depth: 6, eta: 0.1) else { return }
        #expect(ours > xgb - 0.003, "sextant \(ours) vs xgboost \(xgb)")
    }

    @Test func fewLevelsSplitOneAgainstTheRest() throws {
        // Three levels (< maxCatToOnehot 4): every categorical split holds exactly one level.
        var rng = SplitMix64(seed: 3)
        var codes: [Double] = [], labels: [Double] = []
        for _ in 0..<3_000 {
            let c = Double(Int(rng.next() % 3))
            codes.append(c)
            labels.append(rng.nextUnit() < [0.2, 0.5, 0.8][Int(c)] ? 1 : 0)
        }
        let x = FeatureMatrix(names: ["c"], columns: [codes], isCategorical: [true], levels: [["a", "b", "c"]])
        var params = GBDTParameters()
        params.nEstimators = 5
        params.maxDepth = 2
        let (result, cuts) = trainGBDT(x, labels: labels, params: params)
        let a = try artifact(from: result, cuts: cuts, x: x)
        var splits = 0
        for tree in a.trees ?? [] {
            for (i, f) in tree.splitFeature.enumerated() where f >= 0 {
                #expect(tree.categories?[i].count == 1)
                splits += 1
            }
        }
        #expect(splits > 0)
        params.maxCatToOnehot = 1  // partition splits instead: the first split separates a from c
        let (partition, cuts2) = trainGBDT(x, labels: labels, params: params)
        let b = try artifact(from: partition, cuts: cuts2, x: x)
        #expect(b.trees?.first?.categories?[0].count ?? 0 >= 1)
    }
}
