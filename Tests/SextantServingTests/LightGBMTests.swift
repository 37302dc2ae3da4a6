import Foundation
import SextantJSON
import SextantTestSupport
import Testing
@testable import SextantServing

/// Trains LightGBM models (binary with a categorical feature, regression with each missing-value
/// handling, multiclass, Poisson, Tweedie, L1 and quantile regression) on the same rows with a fixed seed, saves each with
/// `save_model("NAME.txt")` and writes `Booster.predict` on 200 other rows with missing values,
/// exact zeros and unseen, negative, fractional and huge category codes.
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
           "predictions": np.asarray(p, dtype=np.float64).ravel().tolist()}
    json.dump(doc, open(f"{out}/{name}.expected.json", "w"))
print(json.dumps({"lightgbm": lgb.__version__}))
"""#

@Suite struct LightGBMTests {
    @Test func predictionsMatchLightGBM() async throws {
        guard try Tooling.available("python3 with lightgbm and numpy (hack/requirements-test.txt)",
                                    Tooling.pythonHas(["lightgbm", "numpy"])) else { return }
        let dir = try TemporaryDirectory()
        try Data(lightGBMScript.utf8).write(to: URL(fileURLWithPath: dir.file("lgb.py")))
        let run = try await runClient("python3", [dir.file("lgb.py"), dir.path])
        try #require(run.code == 0, "\(run.output)")
        let cases: [(name: String, objective: String, kind: String, outputs: Int)] = [
            ("binary", "binary", "probability", 1), ("regression", "regression", "prediction", 1),
            ("regression_zero_missing", "regression", "prediction", 1), ("regression_no_missing", "regression", "prediction", 1),
            ("multiclass", "multiclass", "probability", 3), ("poisson", "poisson", "prediction", 1),
            ("tweedie", "tweedie", "prediction", 1), ("regression_l1", "regression_l1", "prediction", 1),
            ("quantile", "quantile", "prediction", 1),
        ]
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
        }
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
        let text = Self.tinyModel.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.tinyModel)
        do {
            _ = try ServedModel.decode(Data(text.utf8), uri: "inline", name: "tiny", version: "1")
            Issue.record("accepted a bad model (\(message))")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
