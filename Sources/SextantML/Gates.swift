// Evaluation gates. Each check yields a result with its measured value and threshold, so the
// controller can record exactly why a model was (or was not) allowed into the registry.
import Foundation
import SextantTrainingContract

public struct GateResult: Codable, Sendable, Equatable {
    /// `performance.<metric>`, `fairness.<attribute>`, `robustness.noise=<level>`,
    /// `dataQuality.nullRatio`, `dataQuality.featureVariance`, `dataQuality.classBalance`.
    public var name: String
    public var passed: Bool
    public var value: Double?
    public var threshold: Double?
    public var message: String

    public init(name: String, passed: Bool, value: Double?, threshold: Double?, message: String) {
        self.name = name; self.passed = passed
        self.value = value.flatMap { $0.isFinite ? $0 : nil }
        self.threshold = threshold; self.message = message
    }
}

public enum Gates {
    static func fmt(_ v: Double) -> String { String(format: "%.4f", v) }

    /// Performance thresholds on the test metrics.
    public static func performance(_ gates: [TrainingConfig.PerformanceGate], metrics: ObjectiveMetrics) -> [GateResult] {
        gates.map { g in
            let name = "performance.\(g.metric)"
            guard let v = metrics.value(named: g.metric), v.isFinite else {
                return GateResult(name: name, passed: false, value: nil, threshold: g.min ?? g.max,
                                  message: "\(g.metric) is undefined on the test set (a class is missing, or the objective does not report it)")
            }
            if let lo = g.min, v < lo {
                return GateResult(name: name, passed: false, value: v, threshold: lo, message: "\(g.metric)=\(fmt(v)) < min \(lo)")
            }
            if let hi = g.max, v > hi {
                return GateResult(name: name, passed: false, value: v, threshold: hi, message: "\(g.metric)=\(fmt(v)) > max \(hi)")
            }
            let bounds = [g.min.map { ">= \($0)" }, g.max.map { "<= \($0)" }].compactMap { $0 }.joined(separator: ", ")
            return GateResult(name: name, passed: true, value: v, threshold: g.min ?? g.max, message: "\(g.metric)=\(fmt(v)) \(bounds)")
        }
    }

    /// AUC disparity (max - min group AUC) across the groups of each protected attribute on the
    /// test rows. Groups smaller than `minGroupSize` or with a single class are skipped and named.
    public static func fairness(_ gate: TrainingConfig.FairnessGate, attributes: [String: CategoricalColumn],
                                labels: [Double], probabilities: [Double]) -> [GateResult] {
        let minSize = gate.minGroupSize ?? Int(TrainingContract.gateDefault("fairness", "minGroupSize") ?? 100)
        return (gate.protectedAttributes ?? attributes.keys.sorted()).map { attr in
            let name = "fairness.\(attr)"
            guard let column = attributes[attr] else {
                return GateResult(name: name, passed: false, value: nil, threshold: gate.maxDisparity,
                                  message: "protected attribute '\(attr)' is not in the data")
            }
            var aucs: [(String, Double)] = [], skipped: [String] = []
            for (code, level) in column.levels.enumerated() {
                var y: [Double] = [], p: [Double] = []
                for i in 0..<min(column.codes.count, labels.count) where Int(column.codes[i]) == code {
                    y.append(labels[i]); p.append(probabilities[i])
                }
                let auc = y.count >= minSize ? Metrics.auc(labels: y, scores: p) : .nan
                if auc.isNaN { skipped.append("\(level) (n=\(y.count))") } else { aucs.append((level, auc)) }
            }
            let skippedText = skipped.isEmpty ? "" : "; skipped: \(skipped.joined(separator: ", "))"
            guard aucs.count >= 2, let lo = aucs.min(by: { $0.1 < $1.1 }), let hi = aucs.max(by: { $0.1 < $1.1 }) else {
                return GateResult(name: name, passed: true, value: nil, threshold: gate.maxDisparity,
                                  message: "fewer than two groups with >= \(minSize) rows and both classes; nothing compared\(skippedText)")
            }
            let disparity = hi.1 - lo.1
            let passed = disparity <= gate.maxDisparity
            return GateResult(name: name, passed: passed, value: disparity, threshold: gate.maxDisparity,
                              message: "AUC disparity \(fmt(disparity)) \(passed ? "<=" : ">") \(gate.maxDisparity) (\(hi.0)=\(fmt(hi.1)), \(lo.0)=\(fmt(lo.1)))\(skippedText)")
        }
    }

    /// AUC degradation when Gaussian noise with standard deviation `level` x (the feature's
    /// training standard deviation) is added to every numeric feature of the test rows.
    public static func robustness(_ gate: TrainingConfig.RobustnessGate, predictor: Predictor, columns: [[Double]],
                                  isCategorical: [Bool], stddev: [Double], labels: [Double], baselineAUC: Double,
                                  seed: UInt64, threads: Int) -> [GateResult] {
        gate.noiseLevels.enumerated().map { (k, level) in
            var rng = SplitMix64(seed: seed &+ UInt64(k) &* 0x9E37_79B9)
            let noisy = columns.enumerated().map { j, column -> [Double] in
                if isCategorical[j] || stddev[j] == 0 { return column }
                let s = level * stddev[j]
                return column.map { $0.isNaN ? $0 : $0 + s * rng.nextGaussian() }
            }
            let auc = Metrics.auc(labels: labels, scores: predictor.probabilities(columns: noisy, threads: threads))
            let degradation = baselineAUC - auc
            let passed = degradation <= gate.maxDegradation
            return GateResult(name: "robustness.noise=\(level)", passed: passed, value: degradation, threshold: gate.maxDegradation,
                              message: "AUC \(fmt(baselineAUC)) -> \(fmt(auc)) under noise \(level) sd: degradation \(fmt(degradation)) \(passed ? "<=" : ">") \(gate.maxDegradation)")
        }
    }

    /// Data-quality checks on the whole data set, before training.
    public static func dataQuality(_ gate: TrainingConfig.DataQualityGate, profile: ReferenceProfile) -> [GateResult] {
        var results: [GateResult] = []
        if let maxNull = gate.maxNullRatio {
            let worst = profile.columns.max { $0.nullRatio < $1.nullRatio }
            let v = worst?.nullRatio ?? 0
            let passed = v <= maxNull
            results.append(GateResult(name: "dataQuality.nullRatio", passed: passed, value: v, threshold: maxNull,
                                      message: "highest null ratio \(fmt(v)) (column '\(worst?.name ?? "-")') \(passed ? "<=" : ">") \(maxNull)"))
        }
        if let minVar = gate.minFeatureVariance {
            let numeric = profile.columns.filter { $0.type == .numeric }
            let worst = numeric.min { ($0.variance ?? 0) < ($1.variance ?? 0) }
            let v = worst?.variance ?? 0
            let passed = worst == nil || v >= minVar
            results.append(GateResult(name: "dataQuality.featureVariance", passed: passed, value: v, threshold: minVar,
                                      message: "lowest feature variance \(v) (column '\(worst?.name ?? "-")') \(passed ? ">=" : "<") \(minVar)"))
        }
        if let balance = gate.classBalance {
            let v = profile.positiveRate
            let passed = v >= (balance.min ?? 0) && v <= (balance.max ?? 1)
            results.append(GateResult(name: "dataQuality.classBalance", passed: passed, value: v, threshold: passed ? balance.min : (v < (balance.min ?? 0) ? balance.min : balance.max),
                                      message: "positive rate \(fmt(v)) \(passed ? "within" : "outside") [\(balance.min ?? 0), \(balance.max ?? 1)]"))
        }
        return results
    }
}
