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
            // The complete-tree walk (used here: depth 4 and 6) and the node walk give the same bits,
            // with missing values (these models send some left) and without.
            guard case .xgboost(let forest) = model.scorer else { Issue.record("not an XGBoost scorer"); continue }
            let complete = try #require(forest.complete, "model \(name) has no complete-tree layout")
            #expect(complete.hasDefaultLeft, "model \(name): trained with missing values, some split should send them left")
            #expect(forest.predictions(values, rows: rows.count, walk: .nodes) == got, "node walk differs from the complete-tree walk")
            let filled = values.map { $0.isNaN ? 0.25 : $0 }
            #expect(forest.predictions(filled, rows: rows.count, walk: .nodes) == forest.predictions(filled, rows: rows.count),
                    "node walk differs from the complete-tree walk without missing values")
            // A request of many rows is scored on two threads: the same answers, row for row.
            let copies = XGBoostForest.parallelRows / rows.count + 2
            let large = model.predict(Array([[Double]](repeating: values, count: copies).joined()), rows: rows.count * copies)
            #expect(large.count == rows.count * copies && rows.count * copies >= XGBoostForest.parallelRows)
            #expect(large == Array([[Double]](repeating: got, count: copies).joined()), "two-thread scoring differs")
        }
    }

    /// A chain of `depth` splits on f0 (split k: "f0 < k + 0.5" goes to a leaf worth (k+1)/100,
    /// missing values left at the first split): up to `CompleteTrees.maxDepth` it is scored in the
    /// complete-tree layout, deeper by the node walk, and both give the chain's own answer.
    @Test(arguments: [CompleteTrees.maxDepth, CompleteTrees.maxDepth + 1])
    func deepTreesKeepTheNodeWalk(depth: Int) throws {
        var left: [Int] = [], right: [Int] = [], cond: [Double] = [], feature: [Int] = [], defaultLeft: [Int] = []
        for k in 0..<depth {
            left += [2 * k + 1, -1]; right += [2 * k + 2, -1]; feature += [0, 0]
            cond += [Double(k) + 0.5, Double(k + 1) / 100]; defaultLeft += [k == 0 ? 1 : 0, 0]
        }
        left.append(-1); right.append(-1); feature.append(0); cond.append(-0.05); defaultLeft.append(0)
        func list(_ a: [some CustomStringConvertible]) -> String { "[" + a.map(\.description).joined(separator: ",") + "]" }
        let n = left.count
        let tree = #"{"default_left":\#(list(defaultLeft)),"id":0,"left_children":\#(list(left)),"right_children":\#(list(right)),"#
            + #""split_conditions":\#(list(cond)),"split_indices":\#(list(feature)),"split_type":\#(list([Int](repeating: 0, count: n)))}"#
        let json = tinyXGBoostJSON.replacing(#/"trees":\[\{.*?\}\}\]/#.dotMatchesNewlines(), with: #""trees":[\#(tree)]"#)
        #expect(json != tinyXGBoostJSON)
        let forest = try XGBoostForest(json: Data(json.utf8))
        #expect((forest.complete != nil) == (depth <= CompleteTrees.maxDepth), "depth \(depth)")
        let x: [Double] = [0, 3.7, 100, .nan]
        let leaf = [1, 5, -5, 1].map { Float(Double($0) / 100) }
        let values: [Double] = x.flatMap { v -> [Double] in [v, 0] }
        let want = leaf.map { Double(XGBoostForest.sigmoid(Float(0) + $0)) }
        #expect(forest.predictions(values, rows: x.count) == want)
        #expect(forest.predictions(values, rows: x.count, walk: .nodes) == want)
    }

    @Test(arguments: ["5E-1", "[5E-1]", "[2.5E-1]"])
    func baseScoreForms(_ text: String) throws {
        let json = tinyXGBoostJSON.replacingOccurrences(of: #""base_score":"[5E-1]""#, with: #""base_score":"\#(text)""#)
        let forest = try XGBoostForest(json: Data(json.utf8))
        let base = Double(text.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) ?? .nan
        #expect(abs(Double(forest.baseMargin) - log(base / (1 - base))) < 1e-6)
    }

    @Test(arguments: [
        (#""name":"binary:logistic""#, #""name":"multi:softprob""#, "num_class=0 for multi:softprob; expected 2 or more"),
        (#""name":"binary:logistic""#, #""name":"multi:softmax""#, "objective 'multi:softmax' is not supported"),
        (#""num_class":"0""#, #""num_class":"3""#, "num_class=3 with objective 'binary:logistic'"),
        (#""name":"gbtree"}"#, #""name":"dart"}"#, "booster 'dart' is not supported"),
        (#""tree_info":[0]"#, #""tree_info":[1]"#, "tree_info[0] = 1 is not an output index below 1"),
        (#""tree_info":[0]"#, #""tree_info":[0,0]"#, "tree_info has 2 entries for 1 trees"),
        (#""size_leaf_vector":"1""#, #""size_leaf_vector":"2""#, "size_leaf_vector=2 for 1 outputs"),
        (#""gbtree_model_param""#, #""cats":{"enc":[["a","b"]]},"gbtree_model_param""#, "cats holds category names"),
        (#""left_children":[1,-1,-1]"#, #""left_children":[1,-1]"#, "node arrays are empty or differ in length"),
        (#""split_indices":[0,0,0]"#, #""split_indices":[7,0,0]"#, "split feature 7 out of range"),
        (#""right_children":[2,-1,-1]"#, #""right_children":[0,-1,-1]"#, "node 0 is reached twice"),
        (#""base_score":"[5E-1]""#, #""base_score":"[1.5E0]""#, "base_score 1.5 must lie in (0, 1)"),
        (#""split_type":[0,0,0]"#, #""split_type":[1,0,0]"#, "node 0: split_type 1 without its categories"),
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
