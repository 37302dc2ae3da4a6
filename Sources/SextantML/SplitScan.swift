// The numeric split scan of `TreeBuilder.bestSplit` without monotone constraints, with the gains
// of four bins computed at once (the two divisions per candidate are most of the search).

extension TreeBuilder {
    /// Scans feature `j`'s bins as the scalar scan does: prefix sums in bin order, empty bins
    /// after the first skipped, each bin tried with missing values left then right, then missing
    /// against present. Same candidates, same order, same IEEE operations per candidate (SIMD
    /// lanes round like scalar ones), so the same split wins, bit for bit.
    func scanNumeric<Sums: HistogramSums>(_ hist: Sums, feature j: Int, g: Double, h: Double, parentScore: Double,
                                          best: inout SplitCandidate, found: inout Bool) {
        let base = j * histogramStride, bins = cuts.binCount[j]
        let missingG = hist.g(base), missingH = hist.h(base)
        let mcw = params.minChildWeight, alpha = params.regAlpha, lambda = params.regLambda
        @inline(__always) func keep(_ gain: Double, _ lg: Double, _ lh: Double, bin: Int, defaultLeft: Bool) {
            if gain > best.gain {
                best = SplitCandidate(gain: gain, feature: j, bin: UInt8(bin), defaultLeft: defaultLeft, isCategorical: false,
                                      leftG: lg, leftH: lh)
                found = true
            }
        }
        guard bins >= 2 else { return }  // no present value to split on
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 4 * histogramStride) { buffer in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: histogramStride) { binBuffer in
                guard let lg = buffer.baseAddress, let binOf = binBuffer.baseAddress else { return }
                let lh = lg + histogramStride, gainLeft = lh + histogramStride, gainRight = gainLeft + histogramStride
                // Prefix sums of the bins a candidate is tried at.
                var m = 0, gl = 0.0, hl = 0.0
                for b in 1..<bins {
                    let bg = hist.g(base + b), bh = hist.h(base + b)
                    if b > 1, bg == 0, bh == 0 { continue }  // same sums as the bin before: never strictly better
                    gl += bg; hl += bh
                    lg[m] = gl; lh[m] = hl; binOf[m] = UInt8(b)
                    m += 1
                }
                let padded = (m + 3) & ~3
                for i in m..<padded { lg[i] = 0; lh[i] = 0 }
                // XGBoost's soft threshold by alpha: (x − a) + 0 or 0 + (x + a) or 0 + 0, the
                // scalar `score`'s values (a sum with +0 changes no bit that is squared).
                @inline(__always) func score(_ x: SIMD4<Double>, _ y: SIMD4<Double>) -> SIMD4<Double> {
                    let t = (x - alpha).replacing(with: 0, where: x .<= alpha) + (x + alpha).replacing(with: 0, where: x .>= -alpha)
                    return t * t / (y + lambda)
                }
                @inline(__always) func gains(_ x: SIMD4<Double>, _ y: SIMD4<Double>) -> SIMD4<Double> {
                    let gain = score(x, y) + score(g - x, h - y) - parentScore
                    return gain.replacing(with: -.infinity, where: .!((y .>= mcw) .& ((h - y) .>= mcw)))
                }
                var i = 0
                while i < padded {
                    let x = UnsafeRawPointer(lg + i).loadUnaligned(as: SIMD4<Double>.self)
                    let y = UnsafeRawPointer(lh + i).loadUnaligned(as: SIMD4<Double>.self)
                    UnsafeMutableRawPointer(gainLeft + i).storeBytes(of: gains(x + missingG, y + missingH), as: SIMD4<Double>.self)
                    if missingH > 0 {
                        UnsafeMutableRawPointer(gainRight + i).storeBytes(of: gains(x, y), as: SIMD4<Double>.self)
                    }
                    i += 4
                }
                // Missing values left first, so ties (and no missing values) default left.
                for i in 0..<m {
                    keep(gainLeft[i], lg[i] + missingG, lh[i] + missingH, bin: Int(binOf[i]), defaultLeft: true)
                    if missingH > 0 { keep(gainRight[i], lg[i], lh[i], bin: Int(binOf[i]), defaultLeft: false) }
                }
            }
        }
        // Missing against present (see `bestSplit`): tried last.
        if missingH > 0, missingH >= mcw, h - missingH >= mcw {
            keep(score(missingG, missingH) + score(g - missingG, h - missingH) - parentScore, missingG, missingH, bin: 0, defaultLeft: true)
        }
    }
}
