import Foundation
import Testing
@testable import SextantML

@Suite struct GradientBoostingTests {
    static func params(threads: Int) -> GBDTParameters {
        var p = GBDTParameters()
        p.nEstimators = 30; p.maxDepth = 5; p.learningRate = 0.2; p.threads = threads
        p.subsample = 0.8; p.colsampleBytree = 0.7; p.seed = 9
        return p
    }

    @Test func identicalModelWithOneOrManyThreads() throws {
        let data = Synthetic(rows: 20_000, missingRate: 0.05)
        let x = data.matrix
        let (r1, c1) = trainGBDT(x, labels: data.labels, params: Self.params(threads: 1))
        let (r2, c2) = trainGBDT(x, labels: data.labels, params: Self.params(threads: 2))
        let (r4, c4) = trainGBDT(x, labels: data.labels, params: Self.params(threads: 4))
        let a1 = try artifact(from: r1, cuts: c1, x: x).encoded()
        #expect(a1 == (try artifact(from: r2, cuts: c2, x: x).encoded()))
        #expect(a1 == (try artifact(from: r4, cuts: c4, x: x).encoded()))
        #expect(r1.trees.count == 30)
    }

    @Test func learnsAndRawPredictionsMatchBinnedMargins() throws {
        let data = Synthetic(rows: 8_000, seed: 5)
        let test = Synthetic(rows: 4_000, seed: 6)
        var p = GBDTParameters(); p.nEstimators = 60; p.maxDepth = 4; p.learningRate = 0.2; p.threads = 2
        let (result, cuts) = trainGBDT(data.matrix, labels: data.labels, params: p)
        let model = try artifact(from: result, cuts: cuts, x: data.matrix)
        let probs = try #require(model.predictor).probabilities(columns: test.columns, threads: 2)
        #expect(Metrics.auc(labels: test.labels, scores: probs) > 0.9)
        // The artifact (raw thresholds) and the training trees (bins) agree on every row.
        let binned = BinnedMatrix(test.matrix, rows: Array(0..<4_000), cuts: cuts, threads: 1)
        try binned.bins.withUnsafeBufferPointer { b in
            let base = try #require(b.baseAddress)
            for i in stride(from: 0, to: 4_000, by: 37) {
                var m = result.baseScore
                for t in result.trees { m += t.leafValue(rowBins: base + i * binned.features) }
                #expect(abs(sigmoid(m) - probs[i]) < 1e-12)
            }
        }
    }

    @Test func learnsDefaultDirectionForMissingValues() throws {
        // Missing x0 means positive: the split must send missing values to the positive side.
        var rng = SplitMix64(seed: 2)
        var x0: [Double] = [], labels: [Double] = []
        for _ in 0..<4_000 {
            let positive = rng.nextUnit() < 0.3
            labels.append(positive ? 1 : 0)
            x0.append(positive ? .nan : rng.nextGaussian())
        }
        let x = FeatureMatrix(names: ["x0"], columns: [x0], isCategorical: [false], levels: [[]])
        var p = GBDTParameters(); p.nEstimators = 10; p.maxDepth = 2
        let (result, cuts) = trainGBDT(x, labels: labels, params: p)
        let model = try artifact(from: result, cuts: cuts, x: x)
        #expect(try model.predictProbability([nil]) > 0.9)
        #expect(try model.predictProbability([0.1]) < 0.1)
    }

    @Test func categoricalSplitSeparatesCategorySets() throws {
        // Categories 0 and 2 are positive, 1 and 3 negative: one categorical split separates them.
        var rng = SplitMix64(seed: 4)
        var c: [Double] = [], labels: [Double] = []
        for _ in 0..<2_000 {
            let code = Int(rng.next() % 4)
            c.append(Double(code)); labels.append(code % 2 == 0 ? 1 : 0)
        }
        let x = FeatureMatrix(names: ["c"], columns: [c], isCategorical: [true], levels: [["a", "b", "c", "d"]])
        var p = GBDTParameters(); p.nEstimators = 5; p.maxDepth = 1
        let (result, cuts) = trainGBDT(x, labels: labels, params: p)
        let tree = result.trees[0].arrays(cuts: cuts)
        let left = try #require(tree.categories?[0])
        #expect(Set(left) == [0, 2] || Set(left) == [1, 3])
        let model = try artifact(from: result, cuts: cuts, x: x)
        let pred = try #require(model.predictor)
        #expect(try pred.probability(pred.encode(["c": .string("c")])) > 0.8)
        #expect(try pred.probability(pred.encode(["c": .string("d")])) < 0.2)
    }

    @Test func earlyStoppingKeepsTheBestRound() {
        let data = Synthetic(rows: 3_000, seed: 8)
        var p = GBDTParameters(); p.nEstimators = 400; p.maxDepth = 6; p.learningRate = 0.5; p.earlyStoppingRounds = 5
        let (result, _) = trainGBDT(data.matrix, labels: data.labels, params: p, validation: Array(2_000..<3_000))
        #expect(result.trees.count < 400)
        #expect(result.trees.count == result.bestIteration + 1)
        let best = result.validationLoss.enumerated().min { $0.1 < $1.1 }?.offset
        #expect(best == result.bestIteration)
    }

    @Test func numericBinMatchesLinearCount() {
        var rng = SplitMix64(seed: 12)
        for size in [0, 1, 2, 3, 7, 254] {
            let cuts = (0..<size).map { Double($0) * 0.5 }
            cuts.withUnsafeBufferPointer { c in
                for _ in 0..<500 {
                    let v = (rng.nextUnit() * Double(size + 2)) * 0.5 - 0.5
                    #expect(Int(BinCuts.numericBin(v, c)) == 1 + cuts.filter { $0 <= v }.count)
                }
            }
        }
    }

    @Test func logisticRegressionRecoversASignal() throws {
        let data = Synthetic(rows: 6_000, seed: 21)
        let model = try LogisticRegression.train(data.matrix, rows: Array(0..<5_000), labels: data.labels, lambda: 1, threads: 2)
        #expect(model.weights[0][0] > 0.5)   // label rises with x0
        #expect(model.weights[1][0] < -0.3)  // and falls with x1
        var a = ModelArtifact(modelName: "lr", algorithm: .logisticRegression,
                              features: (0..<6).map { FeatureSpec(name: "x\($0)", type: .numeric) }, baseScore: 0,
                              trees: nil, linear: model, threshold: 0.5, hyperparameters: [:])
        try a.compile()
        let held = Array(5_000..<6_000)
        let probs = try held.map { i in try a.predictProbability(data.columns.map { $0[i] }) }
        #expect(Metrics.auc(labels: held.map { data.labels[$0] }, scores: probs) > 0.8)
    }
}
