import Foundation
import SextantJSON
import SextantTestSupport
import Testing
@testable import SextantServing

/// Trains LightGBM models (binary with a categorical feature, regression with each missing-value
/// handling, multiclass (also with single-leaf trees), Poisson, Tweedie, L1 and quantile
/// regression) on the same rows with a fixed seed, saves each with `save_model("NAME.txt")` and
/// writes `Booster.predict` (probabilities or values, raw scores and `pred_contrib=True`) on 200
/// other rows with missing values, exact zeros and unseen, negative, fractional and huge category
/// codes.
let lightGBMScript = #"""
import json, sys
import numpy as np
import lightgbm as lgb

out = sys.argv[1]
rng = np.random.default_rng(5)
n, f = 500, 5
X = rng.normal(size=(n, f))
X[:, 4] = rng.integers(0, 15, size=n)            # categorical codes
X[rng.random(size=n) < 0.2, 3] = 0.0              # exact zeros: zero_as_missing treats them as missing
signal = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.3 * (X[:, 4] % 4) - 0.5 * (X[:, 3] == 0)
X[:, :3][rng.random(size=(n, 3)) < 0.15] = np.nan
T = rng.normal(size=(200, f))
T[:, 4] = rng.integers(-1, 19, size=200)          # unseen (15-18) and negative categories
T[:4, 4] = [2.5, -0.5, 3e9, 1]
T[rng.random(size=200) < 0.2, 3] = 0.0
T[:, :3][rng.random(size=(200, 3)) < 0.15] = np.nan
T[rng.random(size=200) < 0.1, 4] = np.nan
T[rng.random(size=200) < 0.1, 3] = np.nan
base = {"num_leaves": 15, "learning_rate": 0.2, "min_data_in_leaf": 10, "verbose": -1, "seed": 3, "deterministic": True,
        "num_threads": 1}
cases = [
    ("binary", {"objective": "binary"}, (signal + rng.normal(scale=0.5, size=n) > 0.5).astype(int), [4]),
    ("regression", {"objective": "regression"}, 3 * signal + rng.normal(size=n), []),
    ("regression_zero_missing", {"objective": "regression", "zero_as_missing": True}, 3 * signal + rng.normal(size=n), []),
    ("regression_no_missing", {"objective": "regression", "use_missing": False}, 3 * signal + rng.normal(size=n), [4]),
    ("multiclass", {"objective": "multiclass", "num_class": 3}, np.digitize(signal, [-0.5, 0.7]), [4]),
    # min_gain_to_split leaves some trees a single leaf (no split; TreeSHAP adds only its value to the bias)
    ("multiclass_stumps", {"objective": "multiclass", "num_class": 3, "min_gain_to_split": 3}, np.digitize(signal, [-0.5, 0.7]), [4]),
    ("poisson", {"objective": "poisson"}, rng.poisson(np.exp(0.5 * signal)), []),
    ("tweedie", {"objective": "tweedie", "tweedie_variance_power": 1.3},
     rng.poisson(np.exp(0.5 * signal)) * rng.gamma(2.0, size=n), []),
    ("regression_l1", {"objective": "regression_l1"}, 3 * signal + rng.laplace(size=n), []),
    ("quantile", {"objective": "quantile", "alpha": 0.8}, 3 * signal + rng.laplace(size=n), []),
]
for name, params, y, cats in cases:
    d = lgb.Dataset(X, label=y, categorical_feature=cats or "auto")
    booster = lgb.train({**base, **params}, d, num_boost_round=15)
    booster.save_model(f"{out}/{name}.txt")
    p = booster.predict(T)
    doc = {"rows": [[None if np.isnan(v) else float(v) for v in r] for r in T],
           "predictions": np.asarray(p, dtype=np.float64).ravel().tolist(),
           "contribs": np.asarray(booster.predict(T, pred_contrib=True), dtype=np.float64).ravel().tolist(),
           "raw": np.asarray(booster.predict(T, raw_score=True), dtype=np.float64).ravel().tolist()}
    json.dump(doc, open(f"{out}/{name}.expected.json", "w"))
print(json.dumps({"lightgbm": lgb.__version__}))
"""#

@Suite struct LightGBMTests {
    @Test func predictionsAndContributionsMatchLightGBM() async throws {
        guard try Tooling.available("python3 with lightgbm and numpy (hack/requirements-test.txt)",
                                    Tooling.pythonHas(["lightgbm", "numpy"])) else { return }
        let dir = try TemporaryDirectory()
        try Data(lightGBMScript.utf8).write(to: URL(fileURLWithPath: dir.file("lgb.py")))
        let run = try await runClient("python3", [dir.file("lgb.py"), dir.path])
        try #require(run.code == 0, "\(run.output)")
        let cases: [(name: String, objective: String, kind: String, outputs: Int)] = [
            ("binary", "binary", "probability", 1), ("regression", "regression", "prediction", 1),
            ("regression_zero_missing", "regression", "prediction", 1), ("regression_no_missing", "regression", "prediction", 1),
            ("multiclass", "multiclass", "probability", 3), ("multiclass_stumps", "multiclass", "probability", 3),
            ("poisson", "poisson", "prediction", 1),
            ("tweedie", "tweedie", "prediction", 1), ("regression_l1", "regression_l1", "prediction", 1),
            ("quantile", "quantile", "prediction", 1),
        ]
        var splitKinds: Set<String> = []
        for (name, objective, kind, outputs) in cases {
            let model = try await ServedModel.load(uri: dir.file("\(name).txt"), name: name, version: "1")
            #expect(model.format == .lightgbm && model.objectiveName == objective, "\(name)")
            #expect(model.outputName == kind && model.outputWidth == outputs, "\(name)")
            #expect(model.features.map(\.name) == (0..<5).map { "Column_\($0)" })
            let expected = try XGBoostExpected(dir.file("\(name).expected.json"), features: model.featureCount)
            let got = model.predict(expected.values, rows: expected.rows)
            #expect(got.count == expected.predictions.count && got.count == expected.rows * outputs, "\(name)")
            let worst = worstDifference(got, expected.predictions)
            #expect(worst <= 1e-6, "\(name): max |swift - lightgbm| = \(worst) over \(expected.rows) rows")

            // TreeSHAP against pred_contrib=True, row for row and column for column (multiclass:
            // K blocks of features + 1 per row); each block sums to LightGBM's raw score.
            guard case .lightgbm(let lgb) = model.scorer else { Issue.record("\(name): not a LightGBM scorer"); continue }
            for tree in lgb.trees {
                if tree.nodes.isEmpty { splitKinds.insert("single leaf") }
                for n in tree.nodes {
                    if n.categoryStart >= 0 { splitKinds.insert("categorical") } else {
                        splitKinds.insert("missing type \(n.missingType), default \(n.defaultLeft ? "left" : "right")")
                    }
                }
            }
            #expect(model.canExplain, "\(name): \(model.cannotExplainMessage)")
            let want = try #require(expected.contributions, "\(name): no pred_contrib in the expected file")
            let phi = try #require(model.contributions(expected.values, rows: expected.rows), "\(name)")
            let width = model.featureCount + 1
            #expect(phi.count == want.count && phi.count == expected.rows * outputs * width, "\(name): \(phi.count) contributions, want \(want.count)")
            let worstPhi = zip(phi, want).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
            // Measured ≤ 5e-16: double arithmetic in the same order as LightGBM's.
            #expect(worstPhi <= 1e-9, "\(name): max |swift - pred_contrib| = \(worstPhi)")
            let doc = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: dir.file("\(name).expected.json"))))
            let raw = (doc["raw"]?.arrayValue ?? []).compactMap(\.doubleValue)
            let sums = stride(from: 0, to: phi.count, by: width).map { phi[$0..<$0 + width].reduce(0, +) }
            #expect(sums.count == raw.count && raw.count == expected.rows * outputs, "\(name)")
            let worstSum = zip(sums, raw).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
            #expect(worstSum <= 1e-9, "\(name): max |sum(contributions) - raw score| = \(worstSum)")
            let ours = lgb.margins(expected.values, rows: expected.rows)
            #expect(ours.count == sums.count && zip(sums, ours).allSatisfy { abs($0 - $1) <= 1e-9 }, "\(name): sums differ from our raw scores")
        }
        // The models above exercise every decision TreeSHAP follows: categorical bit sets, and
        // numeric splits with each missing type and default side that training produced, and
        // trees without a split.
        #expect(splitKinds.isSuperset(of: ["single leaf", "categorical", "missing type 0, default left", "missing type 1, default left",
                                           "missing type 1, default right", "missing type 2, default left",
                                           "missing type 2, default right"]), "\(splitKinds.sorted())")
    }

    /// A one-split model written by hand, then broken one field at a time.
    static let tinyModel = """
        tree
        version=v4
        num_class=1
        num_tree_per_iteration=1
        label_index=0
        max_feature_idx=1
        objective=binary sigmoid:1
        feature_names=a b
        tree_sizes=100

        Tree=0
        num_leaves=2
        num_cat=0
        split_feature=1
        threshold=0.5
        decision_type=10
        left_child=-1
        right_child=-2
        leaf_value=-0.25 0.75
        is_linear=0
        shrinkage=1


        end of trees
        """

    /// `tinyModel` with the row counts LightGBM writes: 1 training row went left, 3 right.
    static let countedModel = tinyModel.replacingOccurrences(of: "leaf_value=-0.25 0.75\n",
                                                             with: "leaf_value=-0.25 0.75\nleaf_count=1 3\ninternal_count=4\n")

    static func close(_ a: [Double]?, _ b: [Double]) -> Bool {
        a?.count == b.count && zip(a ?? [], b).allSatisfy { abs($0 - $1) <= 1e-12 }
    }

    /// TreeSHAP by hand on `countedModel`: the expected value is (1·(−0.25) + 3·0.75)/4 = 0.5, so b
    /// gets leaf − 0.5 (−0.75 left, 0.25 right), a nothing, the bias 0.5. NaN goes left (default).
    @Test func explainOverV1AndV2() async throws {
        #expect(Self.countedModel != Self.tinyModel)
        let model = try ServedModel.decode(Data(Self.countedModel.utf8), uri: "inline", name: "lgb", version: "1")
        #expect(model.canExplain, "\(model.cannotExplainMessage)")
        let want: [[Double]] = [[0, -0.75, 0.5], [0, 0.25, 0.5], [0, -0.75, 0.5]]
        #expect(Self.close(model.contributions([0, 0.5, 0, 0.6, 0, .nan], rows: 3), want.flatMap { $0 }))
        try await withServer(loadedState(model)) { base in
            let v1 = try await call("POST", "\(base)/v1/models/lgb:explain", #"{"instances":[[0,0.5],[0,0.6],[0,null]]}"#)
            #expect(v1.status == 200, "\(v1.text)")
            #expect(Self.close((v1.json["contributions"] as? [[Double]])?.flatMap { $0 }, want.flatMap { $0 }), "\(v1.text)")
            #expect((v1.json["contributions"] as? [[Double]])?.count == 3, "\(v1.text)")
            #expect((v1.json["predictions"] as? [Double])?.count == 3, "\(v1.text)")
            let v2 = try await call("POST", "\(base)/v2/models/lgb/infer",
                                    #"{"inputs":[{"name":"x","shape":[3,2],"datatype":"FP64","data":[0,0.5,0,0.6,0,null]}],"parameters":{"explain":true}}"#)
            #expect(v2.status == 200, "\(v2.text)")
            let outputs = try #require(v2.json["outputs"] as? [[String: Any]], "\(v2.text)")
            let phi = try #require(outputs.first { $0["name"] as? String == "contributions" }, "\(v2.text)")
            #expect(phi["shape"] as? [Int] == [3, 3] && Self.close(phi["data"] as? [Double], want.flatMap { $0 }), "\(v2.text)")
        }
    }

    /// Models that score but whose TreeSHAP would not be exact are refused with the reason, over
    /// V1 and V2, instead of answering with wrong contributions.
    @Test(arguments: [
        (tinyModel, "tree 0 has no internal_count/leaf_count"),
        (countedModel.replacingOccurrences(of: "internal_count=4", with: "internal_count=5"),
         "tree 0 node 0: internal_count 5.0 is not the sum of its children's counts (4.0)"),
        (countedModel.replacingOccurrences(of: "leaf_count=1 3\ninternal_count=4", with: "leaf_count=0 0\ninternal_count=0"),
         "tree 0 node 0: internal_count 0.0 is not positive"),
    ])
    func modelsThatCannotExplainSayWhy(text: String, reason: String) async throws {
        let model = try ServedModel.decode(Data(text.utf8), uri: "inline", name: "lgb", version: "1")
        #expect(!model.canExplain && model.contributions([0, 0.5], rows: 1) == nil)
        #expect(model.cannotExplainMessage.hasPrefix("model 'lgb' cannot explain predictions: \(reason)"), "\(model.cannotExplainMessage)")
        #expect(model.predict([0, 0.6], rows: 1) == [1 / (1 + exp(-0.75))], "it still scores")
        try await withServer(loadedState(model)) { base in
            let v1 = try await call("POST", "\(base)/v1/models/lgb:explain", #"{"instances":[[0,0.5]]}"#)
            #expect(v1.status == 400 && v1.text.contains(reason), "\(v1.text)")
            let v2 = try await call("POST", "\(base)/v2/models/lgb/infer",
                                    #"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[0,0.5]}],"parameters":{"explain":true}}"#)
            #expect(v2.status == 400 && v2.text.contains(reason), "\(v2.text)")
        }
    }

    @Test(arguments: [
        ("leaf_count=1 3", "leaf_count=1 x", "tree 0: 'leaf_count' holds 'x'"),
        ("leaf_count=1 3", "leaf_count=1", "tree 0: 'leaf_count' has 1 values, expected 2"),
        ("leaf_count=1 3", "leaf_count=1 -3", "internal_count and leaf_count must be counts"),
        ("internal_count=4\n", "", "tree 0: missing 'internal_count'"),
    ])
    func badCountsAreRefusedByName(find: String, replace: String, message: String) {
        Self.expectRefused(Self.countedModel, find: find, replace: replace, message: message)
    }

    /// `model` with `find` replaced is refused at load, the error containing `message`.
    static func expectRefused(_ model: String, find: String, replace: String, message: String) {
        let text = model.replacingOccurrences(of: find, with: replace)
        #expect(text != model)
        do {
            _ = try ServedModel.decode(Data(text.utf8), uri: "inline", name: "tiny", version: "1")
            Issue.record("accepted a bad model (\(message))")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test func handWrittenModelScores() throws {
        let model = try ServedModel.decode(Data(Self.tinyModel.utf8), uri: "inline", name: "tiny", version: "1")
        #expect(model.format == .lightgbm && model.features.map(\.name) == ["a", "b"])
        // b <= 0.5 left (-0.25); b > 0.5 right (0.75); decision_type 10: missing type NaN, default left.
        let got = model.predict([0, 0.5, 0, 0.6, 0, .nan], rows: 3)
        #expect(got == [-0.25, 0.75, -0.25].map { 1 / (1 + exp(-$0)) })
    }

    @Test(arguments: [
        ("objective=binary sigmoid:1", "objective=lambdarank", "objective 'lambdarank' is not supported"),
        ("objective=binary sigmoid:1", "objective=regression sqrt", "reg_sqrt is not supported"),
        ("is_linear=0", "is_linear=1", "linear trees are not supported"),
        ("right_child=-2", "right_child=-3", "child -3 out of range"),
        ("split_feature=1", "split_feature=2", "split feature 2 out of range"),
        ("leaf_value=-0.25 0.75", "leaf_value=-0.25", "'leaf_value' has 1 values, expected 2"),
        ("num_tree_per_iteration=1", "num_tree_per_iteration=1\naverage_output", "average_output (boosting rf) is not supported"),
        ("end of trees", "", "no 'end of trees' line"),
        ("decision_type=10", "decision_type=11", "categorical threshold 0.5 names no cat_boundaries entry"),
    ])
    func badModelsAreRefusedByName(find: String, replace: String, message: String) {
        Self.expectRefused(Self.tinyModel, find: find, replace: replace, message: message)
    }
}
