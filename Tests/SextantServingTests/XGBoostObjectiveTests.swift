import Foundation
import SextantJSON
import SextantML
import SextantTestSupport
import Testing
@testable import SextantServing

/// Trains one XGBoost model per objective the server imports (and categorical splits, and both
/// kinds of multi-target model) on the same rows with a fixed seed, saves each with
/// `save_model`, and writes XGBoost's `predict` and `pred_contribs` on 200 other rows: 15 %
/// missing values, unseen, negative, fractional, huge and infinite category codes.
let objectivesScript = #"""
import json, sys
import numpy as np
import xgboost as xgb

out = sys.argv[1]
rng = np.random.default_rng(11)
n, f = 500, 5
X = rng.normal(size=(n, f))
X[:, 4] = rng.integers(0, 20, size=n)            # categorical codes in the categorical cases
signal = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.2 * (X[:, 4] % 5)
X[:, :4][rng.random(size=(n, 4)) < 0.15] = np.nan
T = rng.normal(size=(200, f))
T[:, 4] = rng.integers(-1, 24, size=200)          # unseen (20-23) and negative categories
T[:5, 4] = [2.5, -0.5, 1e9, np.inf, 0]
T[:, :4][rng.random(size=(200, 4)) < 0.15] = np.nan
T[rng.random(size=200) < 0.1, 4] = np.nan
base = {"max_depth": 4, "eta": 0.3, "seed": 3}
cases = [
    ("squarederror", {"objective": "reg:squarederror"}, 3 * signal + rng.normal(size=n), False),
    ("absoluteerror", {"objective": "reg:absoluteerror"}, 3 * signal + rng.laplace(size=n), False),
    ("poisson", {"objective": "count:poisson"}, rng.poisson(np.exp(0.5 * signal + 1)), False),
    ("tweedie", {"objective": "reg:tweedie", "tweedie_variance_power": 1.4},
     rng.poisson(np.exp(0.5 * signal)) * rng.gamma(2.0, size=n), False),
    ("gamma", {"objective": "reg:gamma"}, rng.gamma(2.0, np.exp(0.3 * signal)), False),
    ("quantileerror", {"objective": "reg:quantileerror", "quantile_alpha": 0.8}, 3 * signal + rng.laplace(size=n), False),
    ("quantileerror_three", {"objective": "reg:quantileerror", "quantile_alpha": [0.2, 0.5, 0.8]},
     3 * signal + rng.laplace(size=n), False),
    ("softprob", {"objective": "multi:softprob", "num_class": 3}, np.digitize(signal, [-0.5, 0.7]), False),
    ("categorical", {"objective": "binary:logistic", "max_cat_to_onehot": 1},
     (signal + rng.normal(scale=0.5, size=n) > 0.5).astype(int), True),
    ("categorical_softprob", {"objective": "multi:softprob", "num_class": 3, "max_cat_to_onehot": 4},
     np.digitize(signal, [-0.5, 0.7]), True),
    ("multi_output_tree", {"objective": "reg:squarederror", "multi_strategy": "multi_output_tree", "tree_method": "hist"},
     np.stack([signal, -2 * signal + np.nan_to_num(X[:, 3])], axis=1), False),
    ("one_output_per_tree", {"objective": "reg:squarederror"},
     np.stack([signal, -2 * signal + np.nan_to_num(X[:, 3])], axis=1), False),
]
summary = {}
for name, params, y, categorical in cases:
    types = ["q"] * 4 + (["c"] if categorical else ["q"])
    d = xgb.DMatrix(X, label=y, feature_types=types, enable_categorical=categorical)
    booster = xgb.train({**base, **params}, d, num_boost_round=15)
    booster.save_model(f"{out}/{name}.json")
    dt = xgb.DMatrix(T, feature_types=types, enable_categorical=categorical)
    p = booster.predict(dt)
    doc = {"rows": [[None if np.isnan(v) else (float(v) if np.isfinite(v) else None) for v in r] for r in T],
           "predictions": np.asarray(p, dtype=np.float64).ravel().tolist()}
    # rows with infinities are not JSON: mark them so the Swift side sends the same value
    doc["inf"] = [[i, j, float(np.sign(T[i, j]))] for i, j in zip(*np.where(np.isinf(T)))]
    if params.get("multi_strategy") != "multi_output_tree":
        doc["contribs"] = np.asarray(booster.predict(dt, pred_contribs=True), dtype=np.float64).ravel().tolist()
    json.dump(doc, open(f"{out}/{name}.expected.json", "w"))
    summary[name] = list(np.shape(p))
print(json.dumps({"xgboost": xgb.__version__, "shapes": summary}))
"""#

/// The cases `objectivesScript` trains, with the objective each must load as and its outputs per row.
let xgboostObjectiveCases: [(name: String, objective: String, outputs: Int)] = [
    ("squarederror", "reg:squarederror", 1), ("absoluteerror", "reg:absoluteerror", 1),
    ("poisson", "count:poisson", 1), ("tweedie", "reg:tweedie", 1), ("gamma", "reg:gamma", 1),
    ("quantileerror", "reg:quantileerror", 1), ("quantileerror_three", "reg:quantileerror", 3),
    ("softprob", "multi:softprob", 3), ("categorical", "binary:logistic", 1),
    ("categorical_softprob", "multi:softprob", 3), ("multi_output_tree", "reg:squarederror", 2),
    ("one_output_per_tree", "reg:squarederror", 2),
]

/// One case's expected answers, read from `NAME.expected.json`.
struct XGBoostExpected {
    var rows: Int
    var values: [Double]
    var predictions: [Double]
    var contributions: [Double]?

    init(_ path: String, features: Int) throws {
        let doc = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path)))
        let rows = try #require(doc["rows"]?.arrayValue)
        self.rows = rows.count
        values = rows.flatMap { ($0.arrayValue ?? []).map { $0.doubleValue ?? .nan } }
        for mark in doc["inf"]?.arrayValue ?? [] {
            let m = mark.arrayValue?.compactMap(\.doubleValue) ?? []
            if m.count == 3 { values[Int(m[0]) * features + Int(m[1])] = m[2] * .infinity }
        }
        predictions = try #require(doc["predictions"]?.arrayValue).compactMap(\.doubleValue)
        contributions = doc["contribs"]?.arrayValue?.compactMap(\.doubleValue)
    }
}

/// Largest difference, relative above magnitude 1 (XGBoost's float32 outputs carry 7 digits).
func worstDifference(_ got: [Double], _ want: [Double]) -> Double {
    zip(got, want).reduce(0) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) }
}

@Suite struct XGBoostObjectiveTests {
    @Test func everyObjectiveMatchesXGBoost() async throws {
        guard try Tooling.available("python3 with xgboost and numpy (hack/requirements-test.txt)",
                                    Tooling.pythonHas(["xgboost", "numpy"])) else { return }
        let dir = try TemporaryDirectory()
        try Data(objectivesScript.utf8).write(to: URL(fileURLWithPath: dir.file("objectives.py")))
        let run = try await runClient("python3", [dir.file("objectives.py"), dir.path])
        try #require(run.code == 0, "\(run.output)")
        for (name, objective, outputs) in xgboostObjectiveCases {
            let model = try await ServedModel.load(uri: dir.file("\(name).json"), name: name, version: "1")
            guard case .xgboost(let forest) = model.scorer else { Issue.record("\(name): not an XGBoost scorer"); continue }
            #expect(forest.objective == objective && model.objectiveName == objective, "\(name)")
            #expect(model.outputWidth == outputs, "\(name)")
            let expected = try XGBoostExpected(dir.file("\(name).expected.json"), features: model.featureCount)
            let got = model.predict(expected.values, rows: expected.rows)
            #expect(got.count == expected.predictions.count && got.count == expected.rows * outputs, "\(name)")
            let worst = worstDifference(got, expected.predictions)
            #expect(worst <= 1e-6, "\(name): max |swift - xgboost| = \(worst) over \(expected.rows) rows")
            // The complete-tree walk (numeric trees) and the node walk give the same bits.
            #expect(forest.predictions(expected.values, rows: expected.rows, walk: .nodes) == got, "\(name): node walk differs")
            // TreeSHAP against pred_contribs (XGBoost cannot explain vector-leaf trees; neither do we).
            if let want = expected.contributions {
                #expect(model.canExplain, "\(name)")
                let phi = try #require(model.contributions(expected.values, rows: expected.rows), "\(name)")
                #expect(phi.count == want.count && phi.count == model.contributionShape(rows: expected.rows).reduce(1, *), "\(name)")
                let worstPhi = worstDifference(phi, want)
                #expect(worstPhi <= 1e-5, "\(name): max |swift - pred_contribs| = \(worstPhi)")
            } else {
                #expect(!model.canExplain && model.contributions(expected.values, rows: expected.rows) == nil, "\(name)")
            }
            // Two threads for large requests, row for row the same.
            let copies = XGBoostForest.parallelRows / expected.rows + 2
            let large = model.predict(Array([[Double]](repeating: expected.values, count: copies).joined()), rows: expected.rows * copies)
            #expect(large == Array([[Double]](repeating: got, count: copies).joined()), "\(name): two-thread scoring differs")
        }
    }

    /// `tinyXGBoostJSON`: f0 < 0.5 -> -0.4 (cover 5), else 0.6 (cover 5), missing right; the
    /// tree's mean is 0.1 and the base margin 0. TreeSHAP: f0 gets leaf - 0.1, f1 nothing, bias 0.1.
    @Test func explainOverV1AndV2() async throws {
        let model = try ServedModel.decode(Data(tinyXGBoostJSON.utf8), uri: "inline", name: "tiny", version: "1")
        #expect(model.canExplain)
        let want: [[Double]] = [[Double(Float(-0.4)) - 0.1, 0, 0.1], [Double(Float(0.6)) - 0.1, 0, 0.1]]
        try await withServer(loadedState(model)) { base in
            let v1 = try await call("POST", "\(base)/v1/models/tiny:explain", #"{"instances":[[0.1,0],[null,0]]}"#)
            #expect(v1.status == 200, "\(v1.text)")
            let rows = try #require(v1.json["contributions"] as? [[Double]], "\(v1.text)")
            #expect((v1.json["predictions"] as? [Double])?.count == 2)
            #expect(rows.count == 2 && zip(rows, want).allSatisfy { zip($0, $1).allSatisfy { abs($0 - $1) < 1e-6 } }, "\(rows)")
            let v2 = try await call("POST", "\(base)/v2/models/tiny/infer",
                                    #"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP64","data":[0.1,0,null,0]}],"parameters":{"explain":true}}"#)
            #expect(v2.status == 200, "\(v2.text)")
            let outputs = try #require(v2.json["outputs"] as? [[String: Any]])
            let phi = try #require(outputs.first { $0["name"] as? String == "contributions" }?["data"] as? [Double], "\(v2.text)")
            #expect(zip(phi, want.flatMap { $0 }).allSatisfy { abs($0 - $1) < 1e-6 }, "\(phi)")
        }
        // A model that cannot explain says why, over V1 too.
        let lgb = try ServedModel.decode(Data(LightGBMTests.tinyModel.utf8), uri: "inline", name: "lgb", version: "1")
        try await withServer(loadedState(lgb)) { base in
            let r = try await call("POST", "\(base)/v1/models/lgb:explain", #"{"instances":[[0.1,0]]}"#)
            #expect(r.status == 400 && r.text.contains("cannot explain predictions"), "\(r.text)")
        }
    }
}
