// Test-set metrics of regression and multiclass models, and the one type `metrics.json`, the
// artifact and the gates use for all objectives. Definitions (also in docs/trainer.md):
// - RMSE: sqrt(sum w (p - y)^2 / sum w); MAE: sum w |p - y| / sum w.
// - R²: 1 - sum w (p - y)^2 / sum w (y - mean_w(y))^2 (scikit-learn's r2_score with weights;
//   constant labels give 1 for a perfect fit, else 0, as its force_finite).
// - Poisson deviance: 2 sum w (y log(y / p) - (y - p)) / sum w (y log y = 0 for y = 0), as
//   scikit-learn's mean_poisson_deviance.
// - Tweedie deviance (power ρ in (1, 2)): 2 sum w (y^(2-ρ) / ((1-ρ)(2-ρ)) - y p^(1-ρ) / (1-ρ)
//   + p^(2-ρ) / (2-ρ)) / sum w, as scikit-learn's mean_tweedie_deviance(power=ρ).
// - Pinball loss at alpha: sum w (alpha max(y - p, 0) + (1 - alpha) max(p - y, 0)) / sum w, as
//   scikit-learn's mean_pinball_loss(alpha=alpha).
// - Multiclass accuracy: share (weighted) of rows whose most probable class is the label.
// - Multiclass log loss: mean of -log p[label], p clipped to [1e-15, 1].
// - Macro-F1: unweighted mean over classes of the per-class F1 (a class never predicted nor
//   present counts F1 0 only if it is present; absent and never predicted classes are skipped,
//   as scikit-learn's f1_score(average="macro") over the labels that occur).
import Foundation

public struct RegressionMetrics: Codable, Sendable, Equatable {
    public var rmse: Double
    public var mae: Double
    public var r2: Double
    /// Mean Poisson deviance (count:poisson only).
    public var poissonDeviance: Double?
    /// Mean Tweedie deviance at the model's variance power (reg:tweedie only).
    public var tweedieDeviance: Double?
    /// Mean pinball loss at the model's quantile (reg:quantileerror only).
    public var pinballLoss: Double?
    public var rows: Int

    public static var metricNames: [String] { Objective.squaredError.metricNames }

    /// `tweediePower`: report the Tweedie deviance at this variance power; `quantileAlpha`: the
    /// pinball loss at this quantile.
    public init(labels y: [Double], predictions p: [Double], weights: [Double]? = nil, poisson: Bool = false, tweediePower: Double? = nil,
                quantileAlpha: Double? = nil) {
        rows = y.count
        var sw = 0.0, swy = 0.0
        for i in y.indices { let w = weights?[i] ?? 1; sw += w; swy += w * y[i] }
        let mean = sw > 0 ? swy / sw : 0
        var se = 0.0, ae = 0.0, st = 0.0, dev = 0.0, tdev = 0.0, pin = 0.0
        for i in y.indices {
            let w = weights?[i] ?? 1, e = p[i] - y[i]
            se += w * e * e; ae += w * abs(e); st += w * (y[i] - mean) * (y[i] - mean)
            if poisson {
                let q = max(p[i], 1e-300)
                dev += w * 2 * ((y[i] > 0 ? y[i] * log(y[i] / q) : 0) - (y[i] - q))
            }
            if let r = tweediePower {
                let q = max(p[i], 1e-300), t = max(y[i], 0)
                tdev += w * 2 * (pow(t, 2 - r) / ((1 - r) * (2 - r)) - y[i] * pow(q, 1 - r) / (1 - r) + pow(q, 2 - r) / (2 - r))
            }
            if let a = quantileAlpha { pin += w * (e <= 0 ? a * -e : (1 - a) * e) }
        }
        rmse = sw > 0 ? (se / sw).squareRoot() : .nan
        mae = sw > 0 ? ae / sw : .nan
        // Constant labels: scikit-learn's force_finite rule (1 for a perfect fit, else 0).
        r2 = st > 0 ? 1 - se / st : (se == 0 ? 1 : 0)
        poissonDeviance = poisson ? (sw > 0 ? dev / sw : .nan) : nil
        tweedieDeviance = tweediePower != nil ? (sw > 0 ? tdev / sw : .nan) : nil
        pinballLoss = quantileAlpha != nil ? (sw > 0 ? pin / sw : .nan) : nil
    }

    public func value(named name: String) -> Double? {
        switch name {
        case "rmse": rmse
        case "mae": mae
        case "r2": r2
        case "poissonDeviance": poissonDeviance
        case "tweedieDeviance": tweedieDeviance
        case "pinballLoss": pinballLoss
        default: nil
        }
    }
}

public struct MulticlassMetrics: Codable, Sendable, Equatable {
    public var accuracy: Double
    public var logLoss: Double
    public var macroF1: Double
    public var classes: Int
    public var rows: Int
    /// Rows per (label, predicted class): `confusionMatrix[label][predicted]`.
    public var confusionMatrix: [[Int]]

    public static var metricNames: [String] { Objective.multiSoftprob.metricNames }

    /// `probabilities` is row-major, `classes` per row.
    public init(labels y: [Double], probabilities p: [Double], classes k: Int, weights: [Double]? = nil) {
        classes = k
        rows = y.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var sw = 0.0, correct = 0.0, loss = 0.0
        for i in y.indices {
            let w = weights?[i] ?? 1, label = Int(y[i])
            var best = 0
            for c in 1..<k where p[i * k + c] > p[i * k + best] { best = c }
            sw += w
            if best == label { correct += w }
            loss -= w * log(min(max(p[i * k + label], 1e-15), 1))
            if label >= 0, label < k { confusion[label][best] += 1 }
        }
        accuracy = sw > 0 ? correct / sw : .nan
        logLoss = sw > 0 ? loss / sw : .nan
        var f1s: [Double] = []
        for c in 0..<k {
            let tp = Double(confusion[c][c])
            let actual = Double(confusion[c].reduce(0, +))
            let predicted = Double((0..<k).reduce(0) { $0 + confusion[$1][c] })
            if actual == 0, predicted == 0 { continue }
            f1s.append(tp == 0 ? 0 : 2 * tp / (actual + predicted))
        }
        macroF1 = f1s.isEmpty ? .nan : f1s.reduce(0, +) / Double(f1s.count)
        confusionMatrix = confusion
    }

    public func value(named name: String) -> Double? {
        switch name {
        case "accuracy": accuracy
        case "logLoss": logLoss
        case "macroF1": macroF1
        default: nil
        }
    }
}

/// The test metrics of one model, by objective. Encoded as the inner metrics object alone, so a
/// binary model's `metrics.json` reads as it always did; decoding tells the kinds apart by their
/// keys (`aucRoc`, `rmse`, `macroF1`).
public enum ObjectiveMetrics: Codable, Sendable, Equatable {
    case binary(EvaluationMetrics)
    case regression(RegressionMetrics)
    case multiclass(MulticlassMetrics)

    public func value(named name: String) -> Double? {
        switch self {
        case .binary(let m): m.value(named: name)
        case .regression(let m): m.value(named: name)
        case .multiclass(let m): m.value(named: name)
        }
    }

    /// Every reported metric with a finite value, by name.
    public func values(names: [String]) -> [String: Double] {
        var out: [String: Double] = [:]
        for name in names { if let v = value(named: name), v.isFinite { out[name] = v } }
        return out
    }

    public var binary: EvaluationMetrics? { if case .binary(let m) = self { m } else { nil } }

    enum Probe: String, CodingKey { case aucRoc, rmse, macroF1 }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: Probe.self)
        if keys.contains(.aucRoc) { self = .binary(try EvaluationMetrics(from: decoder)) }
        else if keys.contains(.rmse) { self = .regression(try RegressionMetrics(from: decoder)) }
        else { self = .multiclass(try MulticlassMetrics(from: decoder)) }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .binary(let m): try m.encode(to: encoder)
        case .regression(let m): try m.encode(to: encoder)
        case .multiclass(let m): try m.encode(to: encoder)
        }
    }
}
