// Learning objectives: the loss whose gradients the trees fit, the start margin, the link from
// margin to prediction and the metric watched for early stopping. Names, gradients and hessians
// are XGBoost's (src/objective/regression_loss.h, regression_obj.cu, multiclass_obj.cu, v3.2), so
// a model trained with the same hyperparameters answers like XGBoost's.
import Foundation
import SextantTrainingContract

public enum Objective: String, Codable, Sendable, CaseIterable {
    /// Binary classification: probability = sigmoid(margin); labels 0/1.
    case binaryLogistic = "binary:logistic"
    /// Regression with squared error: prediction = margin.
    case squaredError = "reg:squarederror"
    /// Counts with Poisson loss: prediction = exp(margin); labels >= 0.
    case poisson = "count:poisson"
    /// Regression with absolute error: prediction = margin. Gradient sign(margin - y), hessian 1;
    /// after each tree every leaf is set to the median of its rows' residuals (`refreshesLeaves`).
    case absoluteError = "reg:absoluteerror"
    /// Tweedie regression (log link): prediction = exp(margin); labels >= 0. Variance power
    /// `tweedieVariancePower` (1, 2).
    case tweedie = "reg:tweedie"
    /// Quantile regression (pinball loss) at `quantileAlpha`: prediction = margin. Gradient
    /// 1 - alpha above the label, -alpha below, hessian 1; leaves refitted like absolute error.
    case quantileError = "reg:quantileerror"
    /// K classes with softmax: K trees per round (tree t belongs to class t mod K), prediction = the
    /// K class probabilities; labels 0..<K.
    case multiSoftprob = "multi:softprob"

    public var isClassification: Bool { self == .binaryLogistic || self == .multiSoftprob }
    public var isRegression: Bool { !isClassification }

    /// Objectives whose leaves are refitted after the tree is grown: the quantile of the residuals
    /// (label - margin) of each leaf's rows, times the learning rate (XGBoost's `UpdateTreeLeaf`,
    /// src/objective/adaptive.{h,cc}). The value is that quantile's alpha.
    func leafQuantile(_ params: GBDTParameters) -> Double? {
        switch self {
        case .absoluteError: 0.5
        case .quantileError: params.quantileAlpha
        default: nil
        }
    }

    /// Metric names reported for the objective (in `metrics.json`, the result summary and the
    /// ModelVersion) and usable in performance gates: the training contract's list
    /// (TrainingContractDriftTests check that each is a value the objective's metrics report).
    public var metricNames: [String] { TrainingContract.objective(rawValue)?.metrics ?? [] }

    /// Every metric name any objective reports.
    public static var allMetricNames: Set<String> { Set(allCases.flatMap(\.metricNames)) }

    /// XGBoost's `max_delta_step` of the Poisson objective (default 0.7): the hessian is
    /// exp(margin + 0.7), which keeps the first Newton steps small.
    static let poissonMaxDeltaStep = 0.7

    /// Start margins (one per output): the loss-minimising constant, as XGBoost 3 estimates its
    /// intercept: log-odds of the (weighted) positive rate, the mean label, log of the mean count;
    /// for softmax, the log of each class's share.
    /// The sums are exact (`ExactSum`), so they are the same over any split of the rows into ranks.
    /// Absolute and quantile error (`alpha`: their leaf quantile) start from the (weighted)
    /// alpha-quantile of the labels, XGBoost's `Median` / `Quantile`, over the rows of every rank
    /// (`groupQuantiles`).
    func baseMargins(labels: [Double], weights: [Double]?, classes: Int, collective: any Collective = SingleProcess(),
                     alpha: Double? = nil) throws -> [Double] {
        if let alpha {
            let q = try groupQuantiles([labels], weights: weights.map { [$0] }, alpha: alpha, collective: collective)
            return [q.quantiles[0] ?? .nan]
        }
        let n = labels.count
        var sums = [ExactSum](repeating: ExactSum(), count: 2 + (self == .multiSoftprob ? max(classes, 1) : 0))
        for i in 0..<n {
            let w = weights?[i] ?? 1
            sums[0].add(w)
            sums[1].add(w * labels[i])
            if self == .multiSoftprob, Int(labels[i]) < classes { sums[2 + Int(labels[i])].add(w) }
        }
        sums = try ExactSum.allreduce(sums, collective)
        let total = sums[0].value, sum = sums[1].value
        let perClass = self == .multiSoftprob ? sums[2...].map(\.value) : [Double](repeating: 0, count: max(classes, 1))
        let mean = total > 0 ? sum / total : 0
        switch self {
        case .binaryLogistic:
            let rate = min(max(mean, 1e-6), 1 - 1e-6)
            return [log(rate / (1 - rate))]
        case .squaredError: return [mean]
        case .poisson, .tweedie: return [log(max(mean, 1e-6))]
        case .absoluteError, .quantileError: return [mean]  // not reached with an alpha: the quantile above
        case .multiSoftprob:
            let shares = perClass.map { log(max($0 / max(total, 1e-300), 1e-6)) }
            let centre = shares.reduce(0, +) / Double(shares.count)
            return shares.map { $0 - centre }
        }
    }

    /// Bounds on |gradient| and on the hessian of one row of unit weight, for the objectives that
    /// have them: the fixed-point scale (`GradientQuantiser`) is then known before the gradients
    /// are computed, and they are converted as they are computed. Nil where they grow with the
    /// margin. A bound reached only at the limit (a probability of exactly 0, 1 or 1/2) is taken
    /// just below its power of two, so the scale is the one the largest observed value gives;
    /// the bound itself still converts without clipping (`GradientQuantiser.gLimit`).
    /// `power`: the quantile alpha for reg:quantileerror.
    func gradientBounds(power: Double) -> (g: Double, h: Double)? {
        switch self {
        case .binaryLogistic: (Double(1).nextDown, Double(0.25).nextDown)
        case .multiSoftprob: (Double(1).nextDown, Double(0.5).nextDown)
        case .absoluteError: (1, 1)
        case .quantileError: (max(power, 1 - power), 1)
        case .squaredError, .poisson, .tweedie: nil
        }
    }

    /// Gradient and hessian of row `r` for output `k` (K outputs per row, margins row-major).
    @inline(__always)
    /// `power`: the Tweedie variance power (reg:tweedie), the quantile alpha (reg:quantileerror).
    func gradient(margins m: UnsafePointer<Double>, label y: Double, output k: Int, outputs: Int, power: Double = 1.5) -> (Double, Double) {
        switch self {
        case .binaryLogistic:
            let p = 1 / (1 + exp(-m[0]))
            return (p - y, max(p * (1 - p), 1e-16))
        case .squaredError:
            return (m[0] - y, 1)
        case .poisson:
            return (exp(m[0]) - y, exp(m[0] + Self.poissonMaxDeltaStep))
        case .absoluteError:
            let d = m[0] - y
            return (d > 0 ? 1 : (d < 0 ? -1 : 0), 1)
        case .quantileError:
            return (m[0] - y >= 0 ? 1 - power : -power, 1)
        case .tweedie:
            // XGBoost's TweedieRegression: d/dm of -y e^((1-p)m)/(1-p) + e^((2-p)m)/(2-p).
            let a = exp((1 - power) * m[0]), b = exp((2 - power) * m[0])
            return (-y * a + b, -y * (1 - power) * a + (2 - power) * b)
        case .multiSoftprob:
            var top = m[0]
            for c in 1..<outputs where m[c] > top { top = m[c] }
            var z = 0.0
            for c in 0..<outputs { z += exp(m[c] - top) }
            return Self.softmaxGradient(probability: exp(m[k] - top) / z, isLabel: Int(y) == k)
        }
    }

    /// multi:softprob's gradient and hessian for one class from its probability (`softmax` of the
    /// row's margins): XGBoost's SoftmaxMultiClassObj.
    @inline(__always)
    static func softmaxGradient(probability p: Double, isLabel: Bool) -> (Double, Double) {
        (p - (isLabel ? 1 : 0), max(2 * p * (1 - p), 1e-16))
    }

    /// Predictions from margins (in place, row-major, `outputs` per row).
    func transform(_ m: inout [Double], outputs: Int) {
        switch self {
        case .binaryLogistic: for i in m.indices { m[i] = 1 / (1 + exp(-m[i])) }
        case .squaredError, .absoluteError, .quantileError: break
        case .poisson, .tweedie: for i in m.indices { m[i] = exp(m[i]) }
        case .multiSoftprob:
            m.withUnsafeMutableBufferPointer { b in
                guard let base = b.baseAddress, outputs > 0 else { return }
                for r in 0..<(b.count / outputs) { softmax(base + r * outputs, outputs) }
            }
        }
    }

    /// The early-stopping loss of predictions `p` (after `transform`): log loss, RMSE, Poisson
    /// negative log-likelihood (without the constant log(y!)), MAE, Tweedie negative log-likelihood
    /// (XGBoost's `tweedie-nloglik`: -y p^(1-ρ)/(1-ρ) + p^(2-ρ)/(2-ρ)), pinball loss at alpha =
    /// `power` (XGBoost's `quantile`), multiclass log loss. Lower is better.
    func evaluationLoss(labels: [Double], predictions p: [Double], weights: [Double]?, outputs: Int, power: Double = 1.5) -> Double {
        var sum = 0.0, total = 0.0
        for i in labels.indices {
            let w = weights?[i] ?? 1, y = labels[i]
            total += w
            switch self {
            case .binaryLogistic:
                let q = min(max(p[i], 1e-15), 1 - 1e-15)
                sum -= w * (y > 0.5 ? log(q) : log(1 - q))
            case .squaredError: sum += w * (p[i] - y) * (p[i] - y)
            case .poisson: sum += w * (p[i] - y * log(max(p[i], 1e-300)))
            case .absoluteError: sum += w * abs(p[i] - y)
            case .quantileError: sum += w * (y >= p[i] ? power * (y - p[i]) : (1 - power) * (p[i] - y))
            case .tweedie:
                let q = max(p[i], 1e-300)
                sum += w * (-y * pow(q, 1 - power) / (1 - power) + pow(q, 2 - power) / (2 - power))
            case .multiSoftprob: sum -= w * log(min(max(p[i * outputs + Int(y)], 1e-15), 1))
            }
        }
        let mean = total > 0 ? sum / total : .nan
        return self == .squaredError ? mean.squareRoot() : mean
    }

    /// Short name of `evaluationLoss` for logs (XGBoost's eval_metric names), from the training contract.
    var evaluationLossName: String { TrainingContract.objective(rawValue)?.evaluationLoss ?? rawValue }
}

/// The alpha-quantile of `values` as XGBoost computes leaf and start values (src/common/stats.h):
/// unweighted, linear interpolation between order statistics at position alpha (n + 1) (the
/// ends below 1/(n+1) and above n/(n+1) are the minimum and maximum); weighted, the first value
/// (in sorted order, ties kept in input order) whose cumulative weight reaches alpha times the
/// total. NaN for no values.
func residualQuantile(_ values: [Double], weights: [Double]?, alpha: Double) -> Double {
    let n = values.count
    guard n > 0 else { return .nan }
    let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
    if let weights {
        var cumulative = [Double](repeating: 0, count: n)
        var total = 0.0
        for (i, r) in order.enumerated() { total += weights[r]; cumulative[i] = total }
        let threshold = total * alpha
        var i = 0
        while i < n - 1, cumulative[i] < threshold { i += 1 }
        return values[order[i]]
    }
    let count = Double(n)
    if alpha <= 1 / (count + 1) { return values[order[0]] }
    if alpha >= count / (count + 1) { return values[order[n - 1]] }
    let x = alpha * (count + 1)
    let k = Int(x.rounded(.down)) - 1
    let d = (x - 1) - Double(k)
    let v0 = values[order[k]], v1 = values[order[k + 1]]
    return v0 + d * (v1 - v0)
}

/// The `alpha`-quantile (`residualQuantile`) of every group of values (the residuals of each leaf
/// of a tree, or the labels as one group) over the rows of all ranks of `collective`: the single-
/// process code and the distributed code are this one function. One process computes it on its
/// own arrays. On several ranks every rank sends its values (and weights) of every group to every
/// rank in one allgather and concatenates them in rank order; each rank holds the next block of one
/// process's rows, in that process's order (contiguous shards of the file, the training rows
/// sorted), so the concatenation is one process's array and `residualQuantile` sorts and sums it
/// in the same order: the same bits for any rank count. Exact, unlike XGBoost's distributed
/// quantile (an average of the workers' own quantiles). The price: every rank receives 8 bytes
/// (16 with weights) per row of all ranks, once per tree (`gatheredBytes`).
/// A group with no rows on any rank gives nil. Above `maxMessageBytes` in all (one MPI message
/// holds at most 2 GiB) every rank stops with the same bad-input error before sending anything;
/// the labels are gathered first (start margin), so a run too large fails before its first tree.
func groupQuantiles(_ values: [[Double]], weights: [[Double]]?, alpha: Double, collective: any Collective,
                    threads: Int = 1, maxMessageBytes: Int = Int(Int32.max)) throws -> (quantiles: [Double?], gatheredBytes: Int) {
    var all = values, allWeights = weights
    var gathered = 0
    if collective.isDistributed {
        var parts = values.map(Wire.bytes)
        if let weights { parts += weights.map(Wire.bytes) }
        let mine = Wire.pack(parts)
        let total = try collective.counts(mine.count).all.reduce(8 * collective.size, +)
        if total > maxMessageBytes {
            let rows = try collective.counts(values.reduce(0) { $0 + $1.count }).all.reduce(0, +)
            throw TrainerError.badInput("objective reg:absoluteerror/reg:quantileerror on \(collective.size) ranks gathers every training row's residual\(weights == nil ? "" : " and weight") to every rank: \(rows) rows need \(total) bytes, more than one MPI message holds (\(maxMessageBytes) bytes); train on fewer rows, or another objective")
        }
        let ranks = try collective.allgather(mine)
        gathered = ranks.reduce(0) { $0 + $1.count }
        let unpacked = try ranks.map { try Wire.unpack($0) }
        // The same config on every rank gives the same groups; a rank that differs is a bug that
        // must not become a different model.
        if let other = unpacked.firstIndex(where: { $0.count != parts.count }) {
            throw TrainerError.io("collective: rank \(other) sent \(unpacked[other].count) quantile groups, rank \(collective.rank) \(parts.count)")
        }
        let g = values.count
        all = (0..<g).map { k in unpacked.flatMap { Wire.doubles($0[k]) } }
        if weights != nil { allWeights = (0..<g).map { k in unpacked.flatMap { Wire.doubles($0[g + k]) } } }
    }
    let out = ResultSlots<Double>(count: all.count)
    let groups = all, groupWeights = allWeights
    parallelFor(groups.count, threads: threads) { k in
        guard !groups[k].isEmpty else { return }
        out.set(k, residualQuantile(groups[k], weights: groupWeights?[k], alpha: alpha))
    }
    return (out.all, gathered)
}

/// In-place softmax of `n` values, shifted by their maximum so exp never overflows.
@inline(__always) func softmax(_ v: UnsafeMutablePointer<Double>, _ n: Int) {
    var top = v[0]
    for c in 1..<n where v[c] > top { top = v[c] }
    var z = 0.0
    for c in 0..<n { v[c] = exp(v[c] - top); z += v[c] }
    for c in 0..<n { v[c] /= z }
}
