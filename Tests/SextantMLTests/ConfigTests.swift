import Testing
@testable import SextantML

@Suite struct ConfigTests {
    static let valid = """
    modelName: fraud
    data: {uri: s3://bucket/train.csv, version: v2.1, sha256: \(String(repeating: "ab", count: 32))}
    features: [amount, merchant]
    categoricalFeatures: [merchant]
    target: is_fraud
    protectedAttributes: [gender]
    split: {train: 0.7, validation: 0.15, test: 0.15, stratify: true, seed: 42}
    algorithm: gradientBoosting
    hyperparameters: {nEstimators: 500, maxDepth: 8, learningRate: 0.01, subsample: 0.8, colsampleBytree: 0.8,
                      minChildWeight: 3, gamma: 0.1, regAlpha: 0.1, regLambda: 1.0, maxBin: 255,
                      earlyStoppingRounds: 50, seed: 42, folds: 5, threads: 2}
    gates:
      performance: [{metric: aucRoc, min: 0.95}, {metric: logLoss, max: 0.3}]
      fairness: {protectedAttributes: [gender], maxDisparity: 0.1, minGroupSize: 100}
      robustness: {noiseLevels: [0.001, 0.01, 0.1], maxDegradation: 0.05}
      dataQuality: {maxNullRatio: 0.05, minFeatureVariance: 0.000001, classBalance: {min: 0.01, max: 0.8}}
    output: {uri: s3://bucket/models/fraud}
    threshold: 0.4
    """

    @Test func parsesTheFullShape() throws {
        let c = try TrainingConfig.parse(yaml: Self.valid)
        #expect(c.modelName == "fraud")
        #expect(c.hyperparameters?.maxDepth == 8)
        #expect(c.gates?.performance?.count == 2)
        #expect(c.gates?.dataQuality?.classBalance?.max == 0.8)
        #expect(c.split?.validation == 0.15)
        #expect(c.threshold == 0.4)
    }

    @Test func unknownKeysAreRejectedWithTheirPath() {
        let typo = Self.valid.replacingOccurrences(of: "maxDepth: 8", with: "maxDeph: 8")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: typo) }.contains("unknown key 'hyperparameters.maxDeph'"))
        let inList = Self.valid.replacingOccurrences(of: "{metric: aucRoc, min: 0.95}", with: "{metric: aucRoc, minimum: 0.95}")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: inList) }.contains("unknown key 'gates.performance.*.minimum'"))
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: Self.valid + "\nextra: 1") }.contains("unknown key 'extra'"))
    }

    @Test func missingAndInvalidValuesNameTheKey() {
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: "modelName: m\ndata: {uri: x.csv}\n") }.contains("missing required key 'target'"))
        let depth = Self.valid.replacingOccurrences(of: "maxDepth: 8", with: "maxDepth: 0")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: depth) }.contains("hyperparameters.maxDepth"))
        let split = Self.valid.replacingOccurrences(of: "test: 0.15", with: "test: 0.5")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: split) }.contains("add up to 1"))
        let metric = Self.valid.replacingOccurrences(of: "metric: aucRoc", with: "metric: auc")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: metric) }.contains("unknown metric 'auc'"))
        let algo = Self.valid.replacingOccurrences(of: "algorithm: gradientBoosting", with: "algorithm: svm")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: algo) }.contains("algorithm"))
        let hash = Self.valid.replacingOccurrences(of: String(repeating: "ab", count: 32), with: "xyz")
        #expect(errorMessage { _ = try TrainingConfig.parse(yaml: hash) }.contains("data.sha256"))
    }
}
