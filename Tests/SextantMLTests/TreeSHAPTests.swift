import Foundation
import Testing
@testable import SextantML

/// Issue 16: exact TreeSHAP against XGBoost's `pred_contribs=True` on the same model. XGBoost
/// (python3 with xgboost, pinned in hack/requirements-test.txt; a missing tool fails the test)
/// trains a model on float32 rows with 10 % missing values; its trees are written as a Sextant
/// artifact (thresholds, default directions, leaf values and covers as XGBoost saved them), and
/// our contributions for the test rows must equal XGBoost's to 1e-5.
@Suite struct TreeSHAPTests {
    static let script = """
        import json, sys, math, numpy as np, xgboost as xgb
        objective = sys.argv[2]
        rng = np.random.default_rng(5)
        X = rng.normal(size=(3000, 5)).astype(np.float32)
        z = X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] + 0.3 * rng.normal(size=3000)
        X[rng.random(X.shape) < 0.1] = np.nan
        y = (z > 0).astype(float) if objective == "binary:logistic" else z
        b = xgb.train({"objective": objective, "max_depth": 5, "eta": 0.3, "tree_method": "hist", "nthread": 1},
                      xgb.DMatrix(X[:2500], y[:2500]), 25)
        doc = json.loads(b.save_raw("json"))
        learner = doc["learner"]
        base = float(learner["learner_model_param"]["base_score"].strip("[]"))
        trees = []
        for t in learner["gradient_booster"]["model"]["trees"]:
            left, right = t["left_children"], t["right_children"]
            leaf = [l == -1 for l in left]
            trees.append({"splitFeature": [-1 if leaf[i] else t["split_indices"][i] for i in range(len(left))],
                          "threshold": [0.0 if leaf[i] else t["split_conditions"][i] for i in range(len(left))],
                          "value": [t["split_conditions"][i] if leaf[i] else 0.0 for i in range(len(left))],
                          "left": left, "right": right, "defaultLeft": [bool(d) for d in t["default_left"]],
                          "cover": t["sum_hessian"]})
        artifact = {"format": "sextant-model/v1", "modelName": "imported", "trainerVersion": "xgboost-" + xgb.__version__,
                    "algorithm": "gradientBoosting", "objective": objective,
                    "features": [{"name": f"x{j}", "type": "numeric"} for j in range(5)],
                    "baseScore": math.log(base / (1 - base)) if objective == "binary:logistic" else base,
                    "trees": trees, "threshold": 0.5, "hyperparameters": {}}
        test = xgb.DMatrix(X[2500:2700])
        rows = [[None if math.isnan(v) else float(v) for v in r] for r in X[2500:2700]]
        out = {"artifact": artifact, "rows": rows, "contribs": b.predict(test, pred_contribs=True).astype(float).tolist(),
               "margin": b.predict(test, output_margin=True).astype(float).tolist()}
        json.dump(out, open(sys.argv[1], "w"))
        """

    static func xgboost(_ objective: String) throws -> [String: Any]? {
        let dir = try makeTempDir()
        let file = dir.appendingPathComponent("shap.py"), out = dir.appendingPathComponent("shap.json")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", file.path, out.path, objective]
        let err = Pipe()
        p.standardError = err
        do { try p.run() } catch {
            Issue.record("python3 is required (with xgboost, numpy: pip install -r hack/requirements-test.txt): \(error)")
            return nil
        }
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, let data = try? Data(contentsOf: out),
              let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            Issue.record("XGBoost run failed (python3 with xgboost required: pip install -r hack/requirements-test.txt): \(errors.suffix(800))")
            return nil
        }
        return doc
    }

    @Test(arguments: ["binary:logistic", "reg:squarederror"])
    func contributionsEqualXGBoostPredContribs(objective: String) throws {
        guard let doc = try Self.xgboost(objective) else { return }
        let artifactData = try JSONSerialization.data(withJSONObject: try #require(doc["artifact"]))
        let artifact = try ModelArtifact.load(data: artifactData)
        let predictor = try #require(artifact.predictor)
        #expect(predictor.canExplain)
        let rows = try #require(doc["rows"] as? [[Any]])
        let expected = try #require(doc["contribs"] as? [[Double]])
        let margins = try #require(doc["margin"] as? [Double])
        #expect(rows.count == 200 && expected.count == 200)
        var worst = 0.0, worstMargin = 0.0, worstSum = 0.0
        for (i, row) in rows.enumerated() {
            let x = row.map { ($0 as? Double) ?? .nan }
            let phi = try #require(predictor.contributions(x))
            #expect(phi.count == 6)
            for j in 0..<6 { worst = max(worst, abs(phi[j] - expected[i][j])) }
            // Contributions plus bias add up to the margin our predictor computes.
            let margin = x.withUnsafeBufferPointer { predictor.margin($0.baseAddress) }
            worstSum = max(worstSum, abs(phi.reduce(0, +) - margin))
            worstMargin = max(worstMargin, abs(margin - margins[i]))
        }
        #expect(worstSum < 1e-9, "contributions + bias vs margin: \(worstSum)")
        #expect(worstMargin < 1e-5, "margin vs XGBoost's: \(worstMargin)")
        #expect(worst < 1e-5, "largest difference to XGBoost's pred_contribs: \(worst)")
    }

    @Test func multiclassContributionsAddUpPerClass() async throws {
        let dir = try makeTempDir()
        var rng = SplitMix64(seed: 3)
        var csv = "a,b,label\n"
        for _ in 0..<900 {
            let a = rng.nextGaussian(), b = rng.nextGaussian()
            csv += "\(a),\(rng.nextUnit() < 0.1 ? "" : String(b)),\(a > 0.5 ? 2 : (b > 0 ? 1 : 0))\n"
        }
        try Data(csv.utf8).write(to: dir.appendingPathComponent("d.csv"))
        let cfg = try TrainingConfig.parse(yaml: """
            modelName: m
            data: {uri: "\(dir.appendingPathComponent("d.csv").path)"}
            target: label
            objective: "multi:softprob"
            hyperparameters: {nEstimators: 10, maxDepth: 3}
            output: {uri: "\(dir.appendingPathComponent("out").path)"}
            """)
        let artifact = try #require(try await Trainer.run(cfg).artifact)
        let predictor = try #require(artifact.predictor)
        for x in [[0.7, -1.0], [-0.2, .nan], [1.5, 0.3]] {
            let phi = try #require(predictor.contributions(x))
            #expect(phi.count == 3 * 3)
            // softmax of the per-class sums is the prediction.
            var margins = (0..<3).map { c in phi[(c * 3)..<(c * 3 + 3)].reduce(0, +) }
            Objective.multiSoftprob.transform(&margins, outputs: 3)
            let p = try artifact.predictOutputs(x.map { $0.isNaN ? nil : $0 })
            for c in 0..<3 { #expect(abs(margins[c] - p[c]) < 1e-12) }
        }
    }
}
