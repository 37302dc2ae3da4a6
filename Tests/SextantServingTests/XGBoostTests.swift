import Foundation
import SextantJSON
import SextantML
import SextantTestSupport
import Testing
@testable import SextantServing

/// Trains XGBoost models in Python, saves them with `save_model("model.json")` and compares the
/// Swift predictions with XGBoost's own on rows that include missing values and values sitting
/// exactly on (and one float step beside) split thresholds.
let trainScript = #"""
import json, sys
import numpy as np
import xgboost as xgb

out = sys.argv[1]
rng = np.random.default_rng(7)
n, f = 600, 6
X = rng.normal(size=(n, f))
X[:, 3] = rng.integers(0, 5, size=n)          # a discrete feature: many ties at thresholds
y = ((X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.3 * X[:, 3] + rng.normal(scale=0.5, size=n)) > 0.5).astype(int)
X[rng.random(size=(n, f)) < 0.1] = np.nan      # 10% missing
cases = [
    ("default", {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, None, 40),
    ("named", {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "base_score": 0.3, "min_child_weight": 0.5},
     [f"x{i}" for i in range(f)], 60),
]
for name, params, names, rounds in cases:
    d = xgb.DMatrix(X, label=y, feature_names=names)
    booster = xgb.train(params, d, num_boost_round=rounds)
    booster.save_model(f"{out}/{name}.json")
    model = json.load(open(f"{out}/{name}.json"))
    thresholds = sorted({c for t in model["learner"]["gradient_booster"]["model"]["trees"]
                         for c, l in zip(t["split_conditions"], t["left_children"]) if l != -1})
    T = rng.normal(size=(300, f))
    T[rng.random(size=T.shape) < 0.15] = np.nan
    # Rows whose values are thresholds and their float32 neighbours.
    edge = []
    for i, c in enumerate(thresholds[:200]):
        c32 = np.float32(c)
        for v in (c32, np.nextafter(c32, np.float32(-np.inf)), np.nextafter(c32, np.float32(np.inf))):
            row = rng.normal(size=f)
            row[i % f] = float(v)
            edge.append(row)
    T = np.vstack([T, np.array(edge)]) if edge else T
    p = booster.predict(xgb.DMatrix(T, feature_names=names))
    json.dump({"rows": [[None if np.isnan(v) else float(v) for v in r] for r in T],
               "predictions": [float(v) for v in p]}, open(f"{out}/{name}.expected.json", "w"))
print("ok", xgb.__version__)
"""#

@Suite struct XGBoostTests {
    @Test func predictionsMatchXGBoost() async throws {
        guard try Tooling.available("python3 with xgboost and numpy (pip install xgboost numpy)",
                                    Tooling.pythonHas(["xgboost", "numpy"])) else { return }
        let dir = try TemporaryDirectory()
        try Data(trainScript.utf8).write(to: URL(fileURLWithPath: dir.file("train.py")))
        let run = try await runClient("python3", [dir.file("train.py"), dir.path])
        try #require(run.code == 0, "\(run.output)")
        for name in ["default", "named"] {
            let model = try await ServedModel.load(uri: dir.file("\(name).json"), name: name, version: "1")
            #expect(model.format == .xgboost)
            let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: dir.file("\(name).expected.json"))))
            let rows = try #require(expected["rows"]?.arrayValue)
            let wantValues = try #require(expected["predictions"]?.arrayValue)
            let want = wantValues.compactMap(\.doubleValue)
            var values: [Double] = []
            for row in rows { for v in row.arrayValue ?? [] { values.append(v.doubleValue ?? .nan) } }
            #expect(values.count == rows.count * model.featureCount)
            let got = model.predict(values, rows: rows.count)
            var worst = 0.0
            for (a, b) in zip(got, want) { worst = max(worst, abs(a - b)) }
            #expect(got.count == want.count)
            #expect(worst <= 1e-6, "model \(name): max |swift - xgboost| = \(worst) over \(got.count) rows")
            if name == "named" { #expect(model.features.map(\.name) == (0..<6).map { "x\($0)" }) }
            // A request of many rows is scored on two threads: the same answers, row for row.
            let copies = XGBoostForest.parallelRows / rows.count + 2
            let large = model.predict(Array([[Double]](repeating: values, count: copies).joined()), rows: rows.count * copies)
            #expect(large.count == rows.count * copies && rows.count * copies >= XGBoostForest.parallelRows)
            #expect(large == Array([[Double]](repeating: got, count: copies).joined()), "two-thread scoring differs")
        }
    }

    @Test(arguments: ["5E-1", "[5E-1]", "[2.5E-1]"])
    func baseScoreForms(_ text: String) throws {
        let json = tinyXGBoostJSON.replacingOccurrences(of: #""base_score":"[5E-1]""#, with: #""base_score":"\#(text)""#)
        let forest = try XGBoostForest(json: Data(json.utf8))
        let base = Double(text.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) ?? .nan
        #expect(abs(Double(forest.baseMargin) - log(base / (1 - base))) < 1e-6)
    }

    @Test(arguments: [
        (#""name":"binary:logistic""#, #""name":"multi:softprob""#, "objective 'multi:softprob' is not supported"),
        (#""left_children":[1,-1,-1]"#, #""left_children":[1,-1]"#, "node arrays are empty or differ in length"),
        (#""split_indices":[0,0,0]"#, #""split_indices":[7,0,0]"#, "split feature 7 out of range"),
        (#""right_children":[2,-1,-1]"#, #""right_children":[0,-1,-1]"#, "node 0 is reached twice"),
        (#""base_score":"[5E-1]""#, #""base_score":"[1.5E0]""#, "base_score 1.5 must lie in (0, 1)"),
        (#""split_type":[0,0,0]"#, #""split_type":[1,0,0]"#, "categorical splits are not supported"),
    ])
    func badModelsAreRejectedWithReason(find: String, replace: String, message: String) {
        let json = tinyXGBoostJSON.replacingOccurrences(of: find, with: replace)
        #expect(json != tinyXGBoostJSON)
        do {
            _ = try XGBoostForest(json: Data(json.utf8))
            Issue.record("accepted a bad model (\(message))")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func artifactChecksumIsVerified() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("model.json")
        try Data(artifactJSON.utf8).write(to: URL(fileURLWithPath: path))
        let digest = try SextantML.SHA256.hex(Data(artifactJSON.utf8))
        let model = try await ServedModel.load(uri: "file://" + path, name: "fraud", version: "3", sha256: digest)
        #expect(model.format == .sextant)
        await #expect(throws: ModelLoadError.self) {
            _ = try await ServedModel.load(uri: path, name: "fraud", version: "3", sha256: String(repeating: "0", count: 64))
        }
    }
}
