// The numeric split scan of `TreeBuilder.bestSplit`. Without monotone constraints the gains of
// four bins are computed at once (the two divisions per candidate are most of the search).

extension TreeBuilder {
    /// Scans feature `j`'s bins: prefix sums in bin order, empty bins after the first skipped
    /// (their sums, hence gains, repeat the bin before, and only a strictly larger gain wins), each
    /// bin tried with missing values left then right (ties default left), then missing against
    /// present (bin 0 is the missing bin, so "bin <= 0" sends no present value left: XGBoost's
    /// backward scan reaches it last, LightGBM as its NaN-as-a-bin split). Candidates need
    /// `minChildWeight` of hessian on both sides. Gains are `constrainedGain`'s when given,
    /// otherwise the closed form four lanes at a time (IEEE lanes round like scalar code, so the
    /// same split wins, bit for bit, as in a scalar scan).
    func scanNumeric<Sums: HistogramSums>(_ hist: Sums, feature j: Int, g: Double, h: Double, parentScore: Double,
                                          best: inout SplitCandidate, found: inout Bool,
                                          constrainedGain: ((Double, Double) -> Double)? = nil) {
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
                if let constrainedGain {
                    @inline(__always) func gainAt(_ x: Double, _ y: Double) -> Double {
                        y >= mcw && h - y >= mcw ? constrainedGain(x, y) : -.infinity
                    }
                    for i in 0..<m {
                        gainLeft[i] = gainAt(lg[i] + missingG, lh[i] + missingH)
                        if missingH > 0 { gainRight[i] = gainAt(lg[i], lh[i]) }
                    }
                } else {
                    for i in stride(from: 0, to: padded, by: 4) {
                        let x = UnsafeRawPointer(lg + i).loadUnaligned(as: SIMD4<Double>.self)
                        let y = UnsafeRawPointer(lh + i).loadUnaligned(as: SIMD4<Double>.self)
                        UnsafeMutableRawPointer(gainLeft + i).storeBytes(of: gains(x + missingG, y + missingH), as: SIMD4<Double>.self)
                        if missingH > 0 {
                            UnsafeMutableRawPointer(gainRight + i).storeBytes(of: gains(x, y), as: SIMD4<Double>.self)
                        }
                    }
                }
                // Missing values left first, so ties (and no missing values) default left.
                for i in 0..<m {
                    keep(gainLeft[i], lg[i] + missingG, lh[i] + missingH, bin: Int(binOf[i]), defaultLeft: true)
                    if missingH > 0 { keep(gainRight[i], lg[i], lh[i], bin: Int(binOf[i]), defaultLeft: false) }
                }
            }
        }
        // Missing against present: tried last, so without missing values nothing changes.
        if missingH > 0, missingH >= mcw, h - missingH >= mcw {
            let gain = constrainedGain?(missingG, missingH) ?? score(missingG, missingH) + score(g - missingG, h - missingH) - parentScore
            keep(gain, missingG, missingH, bin: 0, defaultLeft: true)
        }
    }
}
