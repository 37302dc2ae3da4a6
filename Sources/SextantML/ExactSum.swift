// An order-independent sum of doubles: every value is added exactly into 32-bit limbs of a fixed
// binary point spanning the whole double range (a "superaccumulator"), so the sum of the same values
// is the same bits in any order and in any split across threads or ranks. Means, variances and
// start margins use it; the distributed trainer allreduces the limbs.
import Foundation

public struct ExactSum: Sendable, Equatable {
    /// Limb i holds bits 32i ..< 32i + 32 above 2^-1074; signed, normalised lazily.
    static let limbCount = 68
    public private(set) var limbs = [Int64](repeating: 0, count: ExactSum.limbCount)
    private var pending = 0

    public init() {}

    public mutating func add(_ v: Double) {
        guard v != 0, v.isFinite else { return }
        limbs.withUnsafeMutableBufferPointer { p in if let base = p.baseAddress { Self.accumulate(v, into: base) } }
        pending += 1
        if pending >= 1 << 29 { normalize() }
    }

    /// Adds `f(v)` for every value of `values` that is not NaN: one pass over raw limbs (the
    /// profile's hot loop; `add` per value pays an array uniqueness check each time).
    public mutating func addPresent(_ values: [Double], _ f: (Double) -> Double = { $0 }) {
        var start = 0
        while start < values.count {
            let end = min(values.count, start + (1 << 28))
            limbs.withUnsafeMutableBufferPointer { p in
                guard let base = p.baseAddress else { return }
                for i in start..<end where !values[i].isNaN {
                    let x = f(values[i])
                    if x != 0, x.isFinite { Self.accumulate(x, into: base) }
                }
            }
            pending += end - start
            if pending >= 1 << 28 { normalize() }
            start = end
        }
    }

    @inline(__always)
    static func accumulate(_ v: Double, into limbs: UnsafeMutablePointer<Int64>) {
        let bits = v.bitPattern
        let biased = Int((bits >> 52) & 0x7FF)
        var mantissa = Int64(bits & 0x000F_FFFF_FFFF_FFFF)
        // value = mantissa * 2^(position - 1074); subnormals have position 0 and no hidden bit.
        let position = biased == 0 ? 1 : biased
        if biased != 0 { mantissa |= 1 << 52 }
        let shift = (position - 1) & 31, word = (position - 1) >> 5
        // mantissa << shift has at most 84 bits: three limbs.
        let low = (mantissa << shift) & 0xFFFF_FFFF
        let mid = (mantissa >> (32 - shift)) & 0xFFFF_FFFF
        let high = shift == 0 ? 0 : mantissa >> (64 - shift)
        let parts = shift == 0 ? (low, (mantissa >> 32) & 0xFFFF_FFFF, Int64(0)) : (low, mid, high)
        if v < 0 {
            limbs[word] &-= parts.0; limbs[word &+ 1] &-= parts.1; limbs[word &+ 2] &-= parts.2
        } else {
            limbs[word] &+= parts.0; limbs[word &+ 1] &+= parts.1; limbs[word &+ 2] &+= parts.2
        }
    }

    public mutating func add(_ other: ExactSum) {
        for i in 0..<Self.limbCount { limbs[i] += other.limbs[i] }
        pending += other.pending + 1
        if pending >= 1 << 29 { normalize() }
    }

    /// Carries so that every limb but the last is in 0..<2^32: one representation per value.
    public mutating func normalize() {
        var carry: Int64 = 0
        for i in 0..<(Self.limbCount - 1) {
            let v = limbs[i] + carry
            carry = v >> 32  // arithmetic shift: floor division
            limbs[i] = v & 0xFFFF_FFFF
        }
        limbs[Self.limbCount - 1] += carry
        pending = 0
    }

    /// The sum, rounded to a double (from the normalised limbs, most significant first, so equal
    /// sums give equal doubles).
    public var value: Double {
        var s = self
        s.normalize()
        // A negative sum is two's complement up to the top limb: take the value of its negation.
        let negative = s.limbs[Self.limbCount - 1] < 0
        if negative {
            for i in 0..<Self.limbCount { s.limbs[i] = -s.limbs[i] }
            s.normalize()
        }
        var result = 0.0
        for i in stride(from: Self.limbCount - 1, through: 0, by: -1) where s.limbs[i] != 0 {
            result += Double(s.limbs[i]) * Self.scale(i)
        }
        return negative ? -result : result
    }

    static func scale(_ limb: Int) -> Double {
        // 2^(32 limb - 1074) without overflowing an exponent in between.
        let e = 32 * limb - 1074
        return e < -1022 ? Double(sign: .plus, exponent: e + 200, significand: 1) * 0x1p-200 : Double(sign: .plus, exponent: e, significand: 1)
    }

    /// The limbs after normalising, for an allreduce (sum of limbs = limbs of the sum).
    public var normalizedLimbs: [Int64] {
        var s = self
        s.normalize()
        return s.limbs
    }

    public init(limbs: [Int64]) {
        self.limbs = limbs
        pending = 1
    }

    /// Exact sums of several quantities over all ranks, in one allreduce.
    public static func allreduce(_ sums: [ExactSum], _ collective: any Collective) throws -> [ExactSum] {
        if collective.size == 1 { return sums }
        let flat = try collective.allreduceSum(sums.flatMap(\.normalizedLimbs))
        return (0..<sums.count).map { ExactSum(limbs: Array(flat[($0 * limbCount)..<(($0 + 1) * limbCount)])) }
    }
}
