// Evaluation metrics for binary classifiers. Definitions (also in docs/trainer.md):
// - AUC-ROC: probability that a random positive scores above a random negative, ties counting
//   one half (trapezoidal ROC area over tied score groups).
// - AUC-PR: average precision, sum over distinct thresholds of (R_k - R_{k-1}) * P_k, as
//   scikit-learn's average_precision_score (no interpolation).
// - precision, recall, F1, accuracy, confusion matrix: positive prediction when p >= threshold.
// - log loss: mean of -[y log p + (1-y) log(1-p)], p clipped to [1e-15, 1 - 1e-15].
// - expected calibration error (ECE): 10 equal-width probability bins, sum over bins of
//   (bin size / n) * |mean label - mean probability|.
import Foundation
import SextantTrainingContract

public struct ConfusionMatrix: Codable, Sendable, Equatable {
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int
}

public struct EvaluationMetrics: Codable, Sendable, Equatable {
    public var aucRoc: Double
    public var aucPr: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var accuracy: Double
    public var logLoss: Double
    public var expectedCalibrationError: Double
    public var threshold: Double
    public var rows: Int
    public var positives: Int
    public var confusionMatrix: ConfusionMatrix

    /// Metric names of a binary classifier (reported and usable in performance gates).
    public static var binaryMetricNames: [String] { Objective.binaryLogistic.metricNames }
    /// Metric names of every objective.
    public static var gateMetricNames: Set<String> { Objective.allMetricNames }

    public func value(named name: String) -> Double? {
        switch name {
        case "aucRoc": aucRoc
        case "aucPr": aucPr
        case "precision": precision
        case "recall": recall
        case "f1": f1
        case "accuracy": accuracy
        case "logLoss": logLoss
        case "expectedCalibrationError": expectedCalibrationError
        default: nil
        }
    }

    public init(labels: [Double], probabilities p: [Double], threshold: Double = 0.5) {
        self.threshold = threshold
        rows = labels.count
        var tp = 0, fp = 0, tn = 0, fn = 0
        for (y, q) in zip(labels, p) {
            let predicted = q >= threshold
            if y > 0.5 { if predicted { tp += 1 } else { fn += 1 } } else { if predicted { fp += 1 } else { tn += 1 } }
        }
        positives = tp + fn
        confusionMatrix = ConfusionMatrix(truePositives: tp, falsePositives: fp, trueNegatives: tn, falseNegatives: fn)
        precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0
        recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        accuracy = rows > 0 ? Double(tp + tn) / Double(rows) : 0
        let (roc, pr) = Metrics.areas(labels: labels, scores: p)
        aucRoc = roc
        aucPr = pr
        logLoss = Metrics.logLoss(labels: labels, probabilities: p)
        expectedCalibrationError = Metrics.expectedCalibrationError(labels: labels, probabilities: p)
    }
}

public enum Metrics {
    public static func auc(labels: [Double], scores: [Double]) -> Double { areas(labels: labels, scores: scores).roc }

    /// ROC AUC and average precision in one sort. NaN when a class is absent.
    public static func areas(labels: [Double], scores: [Double]) -> (roc: Double, pr: Double) {
        let n = min(labels.count, scores.count)
        var order = Array(0..<n)
        order.sort { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let totalPositives = (0..<n).reduce(0.0) { $0 + (labels[$1] > 0.5 ? 1 : 0) }
        let totalNegatives = Double(n) - totalPositives
        guard totalPositives > 0, totalNegatives > 0 else { return (.nan, .nan) }
        var tp = 0.0, fp = 0.0, area = 0.0, ap = 0.0
        var i = 0
        while i < n {
            // One group of tied scores moves the ROC point diagonally (trapezoid).
            let s = scores[order[i]]
            var gp = 0.0, gn = 0.0
            while i < n, scores[order[i]] == s {
                if labels[order[i]] > 0.5 { gp += 1 } else { gn += 1 }
                i += 1
            }
            area += gn * (tp + gp / 2)
            tp += gp; fp += gn
            if gp > 0 { ap += (gp / totalPositives) * (tp / (tp + fp)) }
        }
        return (area / (totalPositives * totalNegatives), ap)
    }

    public static func logLoss(labels: [Double], probabilities p: [Double]) -> Double {
        let n = min(labels.count, p.count)
        guard n > 0 else { return .nan }
        var sum = 0.0
        for i in 0..<n {
            let q = min(max(p[i], 1e-15), 1 - 1e-15)
            sum -= labels[i] > 0.5 ? log(q) : log(1 - q)
        }
        return sum / Double(n)
    }

    public static func expectedCalibrationError(labels: [Double], probabilities p: [Double], bins: Int = 10) -> Double {
        let n = min(labels.count, p.count)
        guard n > 0 else { return .nan }
        var count = [Double](repeating: 0, count: bins), sumP = count, sumY = count
        for i in 0..<n {
            let b = min(bins - 1, max(0, Int(p[i] * Double(bins))))
            count[b] += 1; sumP[b] += p[i]; sumY[b] += labels[i] > 0.5 ? 1 : 0
        }
        var ece = 0.0
        for b in 0..<bins where count[b] > 0 {
            ece += count[b] / Double(n) * abs(sumY[b] / count[b] - sumP[b] / count[b])
        }
        return ece
    }
}
