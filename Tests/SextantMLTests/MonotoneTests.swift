import Foundation
import Testing
@testable import SextantML

/// Issue 16: monotone constraints per feature with XGBoost's `monotone_constraints` semantics:
/// predictions over a grid of the constrained feature never move against the constraint, and the
/// test RMSE stays within 1 % of XGBoost trained with the same constraints on the same rows.
@Suite struct MonotoneTests {
    @Test func constrainedPredictionsAreMonotoneAndMatchXGBoost() async throws {
        let dir = try makeTempDir()
        var rng = SplitMix64(seed: 31)
        // y rises with x0 and falls with x1 overall, with wiggles and noise that an unconstrained
        // model follows (so the constraints bind).
        var csv = "x0,x1,x2,label,split\n"
        for i in 0..<6_000 {
            let x = (0..<3).map { _ in rng.nextUnit() }
            let y = 4 * x[0] + 0.6 * sin(12 * x[0]) - 3 * x[1] + 0.5 * cos(10 * x[1]) + 2 * x[2] + 0.5 * rng.nextGaussian()
            let x0 = rng.nextUnit() < 0.05 ? "" : String(x[0])
            csv += "\(x0),\(x[1]),\(x[2]),\(y),\(i % 4 == 0 ? "test" : "train")\n"
        }
        let url = dir.appendingPathComponent("monotone.csv")
        try Data(csv.utf8).write(to: url)
        let (outcome, ours, _) = try await ObjectiveTests.sextant(url, objective: .squaredError, rounds: 60, depth: 5, eta: 0.1,
                                                                  weighted: false, extra: "")
        // The same data and hyperparameters with constraints.
        let out = dir.appendingPathComponent("constrained")
        let cfg = try TrainingConfig.parse(yaml: """
            modelName: monotone
            data: {uri: "\(url.path)"}
            target: label
            objective: "reg:squarederror"
            split: {column: split}
            hyperparameters: {nEstimators: 60, maxDepth: 5, learningRate: 0.1, threads: 2, monotoneConstraints: {x0: 1, x1: -1}}
            output: {uri: "\(out.path)"}
            """)
        let constrained = try await Trainer.run(cfg)
        let model = try #require(constrained.artifact)
        // Over a grid of x0 (x1) at 50 fixed (x1, x2) ((x0, x2)) points: never down (up).
        var probe = SplitMix64(seed: 1)
        var violations = [0, 0], unconstrainedViolations = 0
        let free = try #require(outcome.artifact)
        for _ in 0..<50 {
            let a = probe.nextUnit(), b = probe.nextUnit()
            var last0 = -Double.infinity, last1 = Double.infinity, lastFree = -Double.infinity
            for step in 0...100 {
                let v = Double(step) / 100
                let p0 = try model.predictOutputs([v, a, b])[0]
                let p1 = try model.predictOutputs([a, v, b])[0]
                let pf = try free.predictOutputs([v, a, b])[0]
                if p0 < last0 { violations[0] += 1 }
                if p1 > last1 { violations[1] += 1 }
                if pf < lastFree - 1e-12 { unconstrainedViolations += 1 }
                last0 = p0; last1 = p1; lastFree = pf
            }
        }
        #expect(violations == [0, 0], "monotonicity violations (x0 up, x1 down): \(violations)")
        #expect(unconstrainedViolations > 0, "the unconstrained model is monotone already: the constraints were not tested")
        // Quality against XGBoost with the same constraints on the same rows.
        let m = try #require(constrained.summary.metrics)
        guard let peer = try ObjectiveTests.peer(url, objective: "reg:squarederror", rounds: 60, depth: 5, eta: 0.1, weighted: false,
                                                 ours: ours, xgboostExtra: #", monotone_constraints={"x0": 1, "x1": -1}"#) else { return }
        let xgb = try #require(peer["xgboost"])
        #expect((m["rmse"] ?? .nan) <= (xgb["rmse"] ?? 0) * 1.01, "constrained rmse: sextant \(m["rmse"] ?? .nan) vs xgboost \(xgb["rmse"] ?? .nan)")
    }

    @Test func constraintsOnUnknownOrCategoricalFeaturesAreRefused() async throws {
        let message = errorMessage {
            _ = try TrainingConfig.parse(yaml: """
                modelName: m
                data: {uri: x.csv}
                target: y
                categoricalFeatures: [c]
                hyperparameters: {monotoneConstraints: {c: 1}}
                """)
        }
        #expect(message.contains("hyperparameters.monotoneConstraints.c") && message.contains("categorical"), "\(message)")
        #expect(errorMessage {
            _ = try TrainingConfig.parse(yaml: "{modelName: m, data: {uri: x.csv}, target: y, hyperparameters: {monotoneConstraints: {a: 2}}}")
        }.contains("must be -1, 0 or 1, got 2"))
        let dir = try makeTempDir()
        let url = dir.appendingPathComponent("d.csv")
        try Data("x,label\n1,0\n2,1\n3,1\n4,0\n".utf8).write(to: url)
        let cfg = try TrainingConfig.parse(yaml: """
            modelName: m
            data: {uri: "\(url.path)"}
            target: label
            hyperparameters: {monotoneConstraints: {nope: 1}}
            output: {uri: "\(dir.appendingPathComponent("out").path)"}
            """)
        do {
            _ = try await Trainer.run(cfg)
            Issue.record("a constraint on an unknown feature was accepted")
        } catch let e as TrainerError {
            #expect(e.message.contains("monotoneConstraints.nope: 'nope' is not a feature"), "\(e.message)")
        }
    }
}
