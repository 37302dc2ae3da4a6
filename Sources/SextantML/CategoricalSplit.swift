// The categorical split search of `TreeBuilder` (XGBoost's partition rule with LightGBM's
// regularisation; see docs/trainer.md "Categorical features").
import Foundation

extension TreeBuilder {
    /// Categorical split of feature `j` with `categories` levels (bins 1...categories) into `best`.
    ///
    /// Fewer than `maxCatToOnehot` levels: one level against the rest (XGBoost's one-hot split).
    /// Otherwise XGBoost's partition rule (src/tree/hist/evaluate_splits.h, v3.2): levels sorted
    /// (stably) by their optimal weight -soft(G)/(H+lambda), where a level whose hessian is below
    /// `minChildWeight` gets weight 0 (CalcWeight), so a rare level cannot sit at either end of
    /// the order on the strength of a few rows; then the first and the last k levels of that order
    /// go left, k < min(maxCatThreshold, levels). Missing values are tried on both sides, and all
    /// present levels against missing is tried too.
    func categoricalSplit(base: UnsafeMutablePointer<Double>, feature j: Int, categories: Int, g: Double, h: Double, rows: Int,
                          parentScore: Double, bounds: (lower: Double, upper: Double)? = nil,
                          best: inout SplitCandidate, found: inout Bool) {
        let mcw = params.minChildWeight
        let missingG = base[0], missingH = base[1]
        let levels = min(categories, histogramStride - 1)
        // Rows per unit of hessian in this node: level row counts are estimated from hessians (as
        // LightGBM does with its cnt_factor), the histograms hold no counts.
        let rowsPerHessian = h > 0 ? Double(rows) / h : 0
        let extraL2 = params.catL2
        @inline(__always) func catScore(_ g: Double, _ h: Double) -> Double {
            let a = params.regAlpha
            let t = g > a ? g - a : (g < -a ? g + a : 0)
            return t * t / (h + params.regLambda + extraL2)
        }
        @inline(__always) func consider(_ lg: Double, _ lh: Double, defaultLeft: Bool, mask: () -> CategoryMask) {
            let rh = h - lh
            guard lh >= mcw, rh >= mcw, lh > 0, rh > 0 else { return }
            var gain = catScore(lg, lh) + catScore(g - lg, rh) - parentScore
            if let (lower, upper) = bounds {
                // Under monotone bounds from above (categorical features take no constraint of
                // their own): gains at the bounded weights, as for numeric splits.
                let wl = weight(lg, lh, lower: lower, upper: upper), wr = weight(g - lg, rh, lower: lower, upper: upper)
                gain = self.gain(lg, lh, weight: wl, extraL2: extraL2) + self.gain(g - lg, rh, weight: wr, extraL2: extraL2) - parentScore
            }
            if gain > best.gain {
                best = SplitCandidate(gain: gain, feature: j, bin: 0, defaultLeft: defaultLeft, isCategorical: true,
                                      mask: mask(), leftG: lg, leftH: lh)
                found = true
            }
        }
        if levels < max(params.maxCatToOnehot, 1) {
            for b in 1...max(1, levels) where base[2 * b + 1] > 0 {
                let bg = base[2 * b], bh = base[2 * b + 1]
                var mask = CategoryMask()
                mask.insert(UInt8(b))
                consider(bg, bh, defaultLeft: false) { mask }
                if missingH > 0 { consider(bg + missingG, bh + missingH, defaultLeft: true) { mask } }
            }
        } else {
            let smooth = params.catSmooth
            var order: [(bin: Int, w: Double)] = []
            order.reserveCapacity(levels)
            for b in 1...levels {
                let bh = base[2 * b + 1]
                // LightGBM: a level with fewer than catSmooth rows is left out of the order (it
                // stays on the right with the other left-out levels).
                if smooth > 0, (bh * rowsPerHessian).rounded() < smooth { continue }
                let a = params.regAlpha, bg = base[2 * b]
                let t = bg > a ? bg - a : (bg < -a ? bg + a : 0)
                order.append((b, bh < mcw || bh <= 0 ? 0 : -t / (bh + params.regLambda + smooth)))
            }
            order.sort { $0.w != $1.w ? $0.w < $1.w : $0.bin < $1.bin }  // stable: ties keep level order
            let used = order.count
            var limit = min(params.maxCatThreshold, used)
            if smooth > 0 { limit = min(limit, (used + 1) / 2 + 1) }  // LightGBM: at most (used + 1) / 2 levels on one side
            let minGroup = Double(params.minDataPerGroup)
            for fromEnd in [false, true] {
                var gl = 0.0, hl = 0.0, group = 0.0
                for k in 0..<max(0, limit - 1) {
                    let b = order[fromEnd ? used - 1 - k : k].bin
                    let bg = base[2 * b], bh = base[2 * b + 1]
                    if bh == 0, bg == 0 { continue }  // an empty level changes no sum, hence no gain
                    gl += bg; hl += bh
                    group += bh * rowsPerHessian
                    // LightGBM's min_data_per_group: the right side keeps that many rows, and a
                    // new threshold is tried only after that many more rows joined the left side.
                    if minGroup > 0 {
                        if (h - hl) * rowsPerHessian < minGroup { break }
                        if group < minGroup { continue }
                        group = 0
                    }
                    let makeMask = { () -> CategoryMask in
                        var mask = CategoryMask()
                        for t in 0...k { mask.insert(UInt8(order[fromEnd ? used - 1 - t : t].bin)) }
                        return mask
                    }
                    consider(gl, hl, defaultLeft: false, mask: makeMask)
                    if missingH > 0 { consider(gl + missingG, hl + missingH, defaultLeft: true, mask: makeMask) }
                }
            }
        }
        // Every present level against missing.
        if missingH > 0 {
            consider(g - missingG, h - missingH, defaultLeft: false) {
                var mask = CategoryMask()
                for b in 1...max(1, levels) { mask.insert(UInt8(b)) }
                return mask
            }
        }
    }
}
