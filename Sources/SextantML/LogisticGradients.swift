// binary:logistic gradients straight into fixed point, eight rows at a time.
//
// The per-row path (`Objective.gradient`, then `GradientQuantiser.fixed`) costs about 20 ns a
// row: a libm `exp` in Double and scalar conversions with their checks. That was a seventh of the
// training time on the 1M benchmark. Here the sigmoid is computed in Float, as XGBoost's
// `common::Sigmoid` does, with Cephes' `expf` (range reduction by ln 2, then a degree-6
// polynomial; relative error below 2e-7) written on SIMD8 so the loop vectorises on baseline
// x86-64. Every lane runs the same operations and the tail is padded into a full vector, so a
// row's result does not depend on the block or thread that computes it.
enum LogisticGradients {
    /// The round's gradients of every training row into `store.ghq`, block by block of `blocks`.
    static func fill(store: RowStore, margins: [Double], labels: [Double], weights: [Double]?, blocks: [Range<Int>],
                     quantiser q: GradientQuantiser, threads: Int) {
        margins.withUnsafeBufferPointer { mp in
            labels.withUnsafeBufferPointer { lp in
                (weights ?? []).withUnsafeBufferPointer { wp in
                    guard let mBase = mp.baseAddress, let lBase = lp.baseAddress else { return }
                    let m = SharedPointer(mBase), l = SharedPointer(lBase), out = SharedMutablePointer(store.ghq)
                    let w = weights == nil ? nil : wp.baseAddress.map { SharedPointer($0) }
                    parallelFor(blocks.count, threads: threads) { b in
                        fill(margins: m.base, labels: l.base, weights: w?.base, range: blocks[b], quantiser: q, out: out.base)
                    }
                }
            }
        }
    }

    /// Rows `range`: g = w (p − y) and h = w max(p (1 − p), 1e−16), p = sigmoid(margin), all in
    /// Float, stored as `q`'s fixed point (row r at `out[2r]`, `out[2r + 1]`). The conversion
    /// rounds to nearest (ties to even; the per-row path rounds ties away from zero).
    static func fill(margins: UnsafePointer<Double>, labels: UnsafePointer<Double>, weights: UnsafePointer<Double>?,
                     range: Range<Int>, quantiser q: GradientQuantiser, out: UnsafeMutablePointer<Int32>) {
        var r = range.lowerBound
        while r + 8 <= range.upperBound {
            let m = UnsafeRawPointer(margins + r).loadUnaligned(as: SIMD8<Double>.self)
            let y = UnsafeRawPointer(labels + r).loadUnaligned(as: SIMD8<Double>.self)
            let w = weights.map { UnsafeRawPointer($0 + r).loadUnaligned(as: SIMD8<Double>.self) }
            store(rows(m, y, w, q), to: out + 2 &* r, count: 8)
            r += 8
        }
        let left = range.upperBound - r
        guard left > 0 else { return }
        var m = SIMD8<Double>(), y = SIMD8<Double>(), w = SIMD8<Double>()
        for i in 0..<left { m[i] = margins[r + i]; y[i] = labels[r + i]; w[i] = weights?[r + i] ?? 1 }
        store(rows(m, y, weights == nil ? nil : w, q), to: out + 2 &* r, count: left)
    }

    @inline(__always)
    static func rows(_ m: SIMD8<Double>, _ y: SIMD8<Double>, _ w: SIMD8<Double>?, _ q: GradientQuantiser)
        -> (g: SIMD8<Int32>, h: SIMD8<Int32>) {
        let p = 1 / (1 + exp(-SIMD8<Float>(m)))
        var g = p - SIMD8<Float>(y)
        var h = p * (1 - p)
        h.replace(with: 1e-16, where: h .< 1e-16)
        if let w {
            let wf = SIMD8<Float>(w)
            g *= wf; h *= wf
        }
        // NaN margins and non-positive hessians count for nothing, as in `fixed(g:)`, `fixed(h:)`.
        // (One comparison per `replace`: combining masks with .& or .! compiles to a lane loop.)
        g.replace(with: 0, where: g .!= g)
        h.replace(with: 0, where: h .!= h); h.replace(with: 0, where: h .< 0)
        let limitG = GradientQuantiser.gLimit, limitH = GradientQuantiser.hLimit
        var gd = SIMD8<Double>(g) * q.toFixedG, hd = SIMD8<Double>(h) * q.toFixedH
        gd.replace(with: -limitG, where: gd .< -limitG); gd.replace(with: limitG, where: gd .> limitG)
        // A positive hessian never rounds to nothing: at least 1.
        let none = hd .== 0
        hd.replace(with: limitH, where: hd .> limitH); hd.replace(with: 1, where: hd .< 1); hd.replace(with: 0, where: none)
        return (nearest(gd), nearest(hd))
    }

    /// Cephes' expf on eight lanes, for x in [−87, 88] (clamped): e^x = 2^k e^r, k = round(x / ln 2).
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // (`clamped` is not inlined: a call per vector.)
        var x = x
        x.replace(with: -87, where: x .< -87); x.replace(with: 88, where: x .> 88)
        // 1.5 · 2^23: adding it leaves round(x / ln 2) in the low mantissa bits.
        let shifter = SIMD8<Float>(repeating: 12_582_912)
        let t = x * 1.442_695_04 + shifter
        let k = t - shifter
        // ln 2 in two parts, so r = x − k ln 2 keeps its low bits.
        let r = x - k * 0.693_359_375 + k * 2.121_944_40e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_91e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let e = p * (r * r) + r + 1
        let exponent = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(shifter, to: SIMD8<Int32>.self) &+ 127) &<< 23
        return e * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    }

    /// Round to nearest, ties to even, for |x| ≤ 2^31: adding 1.5 · 2^52 leaves the integer in the
    /// low bits (no libm call, no per-lane checks).
    @inline(__always)
    static func nearest(_ x: SIMD8<Double>) -> SIMD8<Int32> {
        let shifter = SIMD8<Double>(repeating: 6_755_399_441_055_744)
        let bits = unsafeBitCast(x + shifter, to: SIMD8<Int64>.self) &- unsafeBitCast(shifter, to: SIMD8<Int64>.self)
        return SIMD8<Int32>(truncatingIfNeeded: bits)
    }

    @inline(__always)
    static func store(_ v: (g: SIMD8<Int32>, h: SIMD8<Int32>), to out: UnsafeMutablePointer<Int32>, count: Int) {
        if count == 8 {
            let a = SIMD8<Int32>(v.g[0], v.h[0], v.g[1], v.h[1], v.g[2], v.h[2], v.g[3], v.h[3])
            let b = SIMD8<Int32>(v.g[4], v.h[4], v.g[5], v.h[5], v.g[6], v.h[6], v.g[7], v.h[7])
            UnsafeMutableRawPointer(out).storeBytes(of: a, as: SIMD8<Int32>.self)
            UnsafeMutableRawPointer(out + 8).storeBytes(of: b, as: SIMD8<Int32>.self)
            return
        }
        for i in 0..<count { out[2 &* i] = v.g[i]; out[2 &* i &+ 1] = v.h[i] }
    }
}
