import Foundation
import Testing
@testable import SextantML

/// The vectorised binary:logistic gradient pass (`LogisticGradients`): close to the exact
/// gradients, the same for a row whichever block or vector lane computes it, and safe at the
/// extremes (no overflow, no lost hessian, NaN margins count for nothing).
@Suite struct LogisticGradientsTests {
    static let bounds = (g: Double(1).nextDown, h: Double(0.25).nextDown)

    /// Fixed-point pairs of `margins` computed as one range, or as the given pieces.
    static func fixed(_ margins: [Double], labels: [Double], weights: [Double]? = nil, pieces: [Range<Int>]? = nil,
                      quantiser q: GradientQuantiser) -> [Int32] {
        var out = [Int32](repeating: -7, count: 2 * margins.count)
        margins.withUnsafeBufferPointer { m in
            labels.withUnsafeBufferPointer { l in
                (weights ?? []).withUnsafeBufferPointer { w in
                    out.withUnsafeMutableBufferPointer { o in
                        guard let mb = m.baseAddress, let lb = l.baseAddress, let ob = o.baseAddress else { return }
                        for range in pieces ?? [0..<margins.count] {
                            LogisticGradients.fill(margins: mb, labels: lb, weights: weights == nil ? nil : w.baseAddress,
                                                   range: range, quantiser: q, out: ob)
                        }
                    }
                }
            }
        }
        return out
    }

    @Test func expIsWithinTwoTenMillionthsOfLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x <= 87.9 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0137 })
            let e = LogisticGradients.exp(lanes)
            for i in 0..<8 {
                let exact = Foundation.exp(Double(lanes[i]))
                worst = max(worst, Float(abs(Double(e[i]) - exact) / exact))
            }
            x += 0.1
        }
        #expect(worst < 2e-7, "largest relative error \(worst)")
        // Beyond the range: clamped, finite, no overflow into infinity or a wrapped exponent.
        let far = LogisticGradients.exp(SIMD8<Float>(-1e4, -200, -88, 89, 200, 1e4, .greatestFiniteMagnitude, 0))
        for i in 0..<7 { #expect(far[i].isFinite && far[i] > 0, "lane \(i): \(far[i])") }
        #expect(far[7] == 1)
    }

    @Test func gradientsMatchTheExactOnesWithinFloatPrecision() {
        var rng = SplitMix64(seed: 7)
        let n = 1_003
        let margins = (0..<n).map { _ in (rng.nextUnit() * 2 - 1) * 12 }
        let labels = (0..<n).map { _ in rng.nextUnit() < 0.4 ? 1.0 : 0.0 }
        let weights = (0..<n).map { _ in 0.25 + rng.nextUnit() * 3 }
        for w in [nil, weights] {
            let maxW = w?.max() ?? 1
            let q = GradientQuantiser(maxAbsG: Self.bounds.g * maxW, maxH: Self.bounds.h * maxW)
            let out = Self.fixed(margins, labels: labels, weights: w, quantiser: q)
            for r in 0..<n {
                let p = 1 / (1 + Foundation.exp(-margins[r])), wr = w?[r] ?? 1
                let g = (p - labels[r]) * wr, h = max(p * (1 - p), 1e-16) * wr
                let gotG = Double(out[2 * r]) * q.toFloatG, gotH = Double(out[2 * r + 1]) * q.toFloatH
                #expect(abs(gotG - g) <= 1e-6 * wr, "row \(r) g: \(gotG) vs \(g)")
                #expect(abs(gotH - h) <= 1e-6 * wr, "row \(r) h: \(gotH) vs \(h)")
            }
        }
    }

    /// Rows computed in a full vector, in a padded tail, or in ranges starting anywhere give the
    /// same values: what makes models independent of thread counts and block sizes.
    @Test func aRowsValueDoesNotDependOnItsBlock() {
        var rng = SplitMix64(seed: 3)
        let n = 61
        let margins = (0..<n).map { _ in (rng.nextUnit() * 2 - 1) * 30 }
        let labels = (0..<n).map { _ in rng.nextUnit() < 0.5 ? 1.0 : 0.0 }
        let weights = (0..<n).map { _ in rng.nextUnit() * 2 }
        let q = GradientQuantiser(maxAbsG: Self.bounds.g * 2, maxH: Self.bounds.h * 2)
        let whole = Self.fixed(margins, labels: labels, weights: weights, quantiser: q)
        #expect(!whole.contains(-7), "every row written")
        for pieces in [[0..<5, 5..<13, 13..<61], [0..<1, 1..<60, 60..<61], (0..<61).map { $0..<($0 + 1) }] {
            #expect(Self.fixed(margins, labels: labels, weights: weights, pieces: pieces, quantiser: q) == whole, "\(pieces.count) pieces")
        }
    }

    @Test func extremesStayInRange() {
        let margins: [Double] = [1e6, -1e6, 200, -200, 0, .nan, 40, -40, 1e-300]
        let labels: [Double] = [0, 1, 1, 0, 1, 1, 0, 1, 0]
        let weights: [Double] = [1, 1, 1, 1, 1, 1, 0, 1, 1]
        let q = GradientQuantiser(maxAbsG: Self.bounds.g, maxH: Self.bounds.h)
        let out = Self.fixed(margins, labels: labels, weights: weights, quantiser: q)
        let limitG = Int32(1 << GradientQuantiser.gBits), limitH = Int32(1 << GradientQuantiser.hBits)
        for r in margins.indices {
            #expect(abs(out[2 * r]) <= limitG && out[2 * r + 1] <= limitH, "row \(r): \(out[2 * r]), \(out[2 * r + 1])")
        }
        #expect(out[0] == limitG && out[2] == -limitG, "certain and wrong: the whole gradient")
        #expect(out[1] == 1 && out[3] == 1, "a saturated row keeps a hessian of one unit")
        #expect(out[10] == 0 && out[11] == 0, "NaN margin: nothing")
        #expect(out[12] == 0 && out[13] == 0, "weight 0: nothing")
        #expect(out[9] == limitH, "p = 1/2: the largest hessian, exactly")
    }
}
