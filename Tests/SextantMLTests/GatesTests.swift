import Foundation
import Testing
@testable import SextantML

@Suite struct GatesTests {
    static let metrics = EvaluationMetrics(labels: [0, 0, 1, 1], probabilities: [0.1, 0.4, 0.35, 0.8])  // AUC 0.75

    @Test func performanceMinAndMax() {
        let r = Gates.performance([.init(metric: "aucRoc", min: 0.7), .init(metric: "aucRoc", min: 0.8),
                                   .init(metric: "logLoss", max: 0.1)], metrics: .binary(Self.metrics))
        #expect(r.map(\.passed) == [true, false, false])
        #expect(r[1].value == 0.75 && r[1].threshold == 0.8)
        #expect(r[1].message.contains("< min 0.8"))
        #expect(r[2].message.contains("> max 0.1"))
    }

    @Test func fairnessComparesGroupAUCAndSkipsSmallGroups() {
        // Group a: perfectly ranked (AUC 1); group b: reversed (AUC 0); group c: too small.
        var codes: [Int32] = [], labels: [Double] = [], p: [Double] = []
        for i in 0..<100 { codes.append(0); labels.append(Double(i % 2)); p.append(i % 2 == 0 ? 0.2 : 0.8) }
        for i in 0..<100 { codes.append(1); labels.append(Double(i % 2)); p.append(i % 2 == 0 ? 0.8 : 0.2) }
        for i in 0..<10 { codes.append(2); labels.append(Double(i % 2)); p.append(0.5) }
        let column = CategoricalColumn(codes: codes, levels: ["a", "b", "c"])
        let fail = Gates.fairness(.init(protectedAttributes: ["g"], maxDisparity: 0.1, minGroupSize: 50),
                                  attributes: ["g": column], labels: labels, probabilities: p)
        #expect(fail.count == 1)
        #expect(fail[0].passed == false)
        #expect(fail[0].value == 1.0)
        #expect(fail[0].message.contains("skipped: c (n=10)"))
        // Only group a is large enough: nothing to compare, passes and says so.
        let bigOnly = Gates.fairness(.init(protectedAttributes: ["g"], maxDisparity: 0.1, minGroupSize: 100),
                                     attributes: ["g": CategoricalColumn(codes: Array(codes[0..<110]), levels: ["a", "b", "c"])],
                                     labels: Array(labels[0..<110]), probabilities: Array(p[0..<110]))
        #expect(bigOnly[0].passed && bigOnly[0].value == nil && bigOnly[0].message.contains("nothing compared"))
        let missing = Gates.fairness(.init(protectedAttributes: ["gender"], maxDisparity: 0.1), attributes: [:], labels: [], probabilities: [])
        #expect(missing[0].passed == false && missing[0].message.contains("'gender'"))
    }

    @Test func robustnessMeasuresDegradationUnderNoise() throws {
        // A one-split model on x0 at threshold 0: perfect on clean data, degraded by large noise.
        var a = ModelArtifact(modelName: "m", algorithm: .gradientBoosting, features: [FeatureSpec(name: "x0", type: .numeric)],
                              baseScore: 0,
                              trees: [TreeArrays(splitFeature: [0, -1, -1], threshold: [0, 0, 0], left: [1, -1, -1], right: [2, -1, -1],
                                                 defaultLeft: [true, true, true], value: [0, -3, 3])],
                              linear: nil, threshold: 0.5, hyperparameters: [:])
        try a.compile()
        let predictor = try #require(a.predictor)
        var rng = SplitMix64(seed: 1)
        let x0 = (0..<2_000).map { _ in rng.nextGaussian() }
        let labels = x0.map { $0 > 0 ? 1.0 : 0.0 }
        let base = Metrics.auc(labels: labels, scores: predictor.probabilities(columns: [x0]))
        #expect(base == 1)
        let r = Gates.robustness(.init(noiseLevels: [0, 0.01, 2.0], maxDegradation: 0.05), predictor: predictor, columns: [x0],
                                 isCategorical: [false], stddev: [1], labels: labels, baselineAUC: base, seed: 3, threads: 1)
        #expect(r.map(\.passed) == [true, true, false])
        #expect(r[0].value == 0)
        #expect((r[2].value ?? 0) > 0.1)
        #expect(r[2].name == "robustness.noise=2.0")
    }

    @Test func dataQualityChecks() throws {
        let x = FeatureMatrix(names: ["a", "flat"], columns: [[1, .nan, 3, 4], [2, 2, 2, 2]], isCategorical: [false, false], levels: [[], []])
        let profile = try ReferenceProfile.build(x, labels: [1, 0, 0, 0], threads: 1)
        #expect(profile.column("a")?.nullRatio == 0.25)
        #expect(profile.column("a")?.mean == 8.0 / 3.0)
        let r = Gates.dataQuality(.init(maxNullRatio: 0.2, minFeatureVariance: 1e-6, classBalance: .init(min: 0.3, max: 0.7)), profile: profile)
        #expect(r.map(\.name) == ["dataQuality.nullRatio", "dataQuality.featureVariance", "dataQuality.classBalance"])
        #expect(r.map(\.passed) == [false, false, false])
        #expect(r[0].message.contains("'a'") && r[1].message.contains("'flat'"))
        let ok = Gates.dataQuality(.init(maxNullRatio: 0.3, classBalance: .init(min: 0.2, max: 0.5)), profile: profile)
        let allPassed = ok.allSatisfy { $0.passed }
        #expect(allPassed)
    }
}
