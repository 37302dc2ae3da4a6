// Logistic regression baseline: Newton's method (IRLS) with an L2 penalty (regLambda) on
// standardized numeric features (missing = mean) and one-hot categorical features.
// Per-block partial sums are added in block order, so the result does not depend on threads.
import Foundation

enum LogisticRegression {
    static func train(_ x: FeatureMatrix, rows: [Int], labels: [Double], lambda: Double, threads: Int,
                      maxIterations: Int = 25) throws -> LinearModel
    {
        let nf = x.featureCount
        // Immutable after this block, so the parallel workers can share them.
        let (d, offsets, means, scales) = standardization(x, rows: rows)
        var beta = [Double](repeating: 0, count: d)
        let positives = rows.reduce(0.0) { $0 + labels[$1] }
        let rate = min(max(positives / Double(max(rows.count, 1)), 1e-6), 1 - 1e-6)
        beta[0] = log(rate / (1 - rate))
        let blocks = evenRanges(rows.count, parts: 64)
        let lam = max(lambda, 1e-8)
        for _ in 0..<maxIterations {
            let current = beta
            let slots = ResultSlots<([Double], [Double])>(count: blocks.count)
            parallelFor(blocks.count, threads: threads) { b in
                var hess = [Double](repeating: 0, count: d * d), grad = [Double](repeating: 0, count: d)
                var idx = [Int](), val = [Double]()
                for i in blocks[b] {
                    let r = rows[i]
                    idx.removeAll(keepingCapacity: true); val.removeAll(keepingCapacity: true)
                    idx.append(0); val.append(1)
                    for j in 0..<nf {
                        let v = x.columns[j][r]
                        if v.isNaN { continue }
                        if x.isCategorical[j] {
                            idx.append(offsets[j] + Int(v)); val.append(1)
                        } else {
                            idx.append(offsets[j]); val.append((v - means[j]) / scales[j])
                        }
                    }
                    var m = 0.0
                    for t in 0..<idx.count { m += current[idx[t]] * val[t] }
                    let p = 1 / (1 + exp(-m))
                    let w = max(p * (1 - p), 1e-12), e = labels[r] - p
                    for a in 0..<idx.count {
                        grad[idx[a]] += e * val[a]
                        let wa = w * val[a], base = idx[a] * d
                        for c in 0...a { hess[base + idx[c]] += wa * val[c] }
                    }
                }
                slots.set(b, (hess, grad))
            }
            var hess = [Double](repeating: 0, count: d * d), grad = [Double](repeating: 0, count: d)
            for case let (h, g)? in slots.all {
                for i in 0..<(d * d) { hess[i] += h[i] }
                for i in 0..<d { grad[i] += g[i] }
            }
            // Symmetrize (only one triangle was accumulated) and add the penalty (not on the intercept).
            for a in 0..<d { for c in 0..<a { let v = hess[a * d + c] + hess[c * d + a]; hess[a * d + c] = v; hess[c * d + a] = v } }
            for a in 1..<max(d, 1) { hess[a * d + a] += lam; grad[a] -= lam * beta[a] }
            guard let step = choleskySolve(hess, grad, d) else {
                throw TrainerError.badInput("logistic regression: the design matrix is singular (constant or duplicated features?)")
            }
            var maxStep = 0.0
            for i in 0..<d { beta[i] += step[i]; maxStep = max(maxStep, abs(step[i])) }
            if maxStep < 1e-8 { break }
        }
        var weights: [[Double]] = []
        for j in 0..<nf {
            if x.isCategorical[j] {
                weights.append(Array(beta[offsets[j]..<(offsets[j] + x.levels[j].count)]))
            } else {
                weights.append([beta[offsets[j]]])
            }
        }
        return LinearModel(intercept: beta[0], weights: weights, means: means, scales: scales)
    }

    /// Design layout and standardization: (columns, first column per feature, means, scales).
    static func standardization(_ x: FeatureMatrix, rows: [Int]) -> (Int, [Int], [Double], [Double]) {
        let nf = x.featureCount
        var means = [Double](repeating: 0, count: nf), scales = [Double](repeating: 1, count: nf)
        var offsets: [Int] = []  // first design column of each feature (column 0 = intercept)
        var d = 1
        for j in 0..<nf {
            offsets.append(d)
            if x.isCategorical[j] {
                d += x.levels[j].count
            } else {
                var s = 0.0, s2 = 0.0, k = 0.0
                for r in rows { let v = x.columns[j][r]; if !v.isNaN { s += v; s2 += v * v; k += 1 } }
                let mean = k > 0 ? s / k : 0
                let variance = k > 1 ? max(0, (s2 - k * mean * mean) / (k - 1)) : 0
                means[j] = mean
                scales[j] = variance > 1e-24 ? variance.squareRoot() : 1
                d += 1
            }
        }
        return (d, offsets, means, scales)
    }

    /// Solves A x = b for symmetric positive definite A (row-major d x d); nil if not SPD.
    static func choleskySolve(_ a: [Double], _ b: [Double], _ d: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var s = a[i * d + j]
                for k in 0..<j { s -= l[i * d + k] * l[j * d + k] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * d + i] = s.squareRoot()
                } else {
                    l[i * d + j] = s / l[j * d + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: d)
        for i in 0..<d {
            var s = b[i]
            for k in 0..<i { s -= l[i * d + k] * y[k] }
            y[i] = s / l[i * d + i]
        }
        var x = [Double](repeating: 0, count: d)
        for i in stride(from: d - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<d { s -= l[k * d + i] * x[k] }
            x[i] = s / l[i * d + i]
        }
        return x
    }
}
