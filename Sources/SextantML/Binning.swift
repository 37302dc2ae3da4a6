// Quantile binning: every feature value becomes a one-byte bin so histograms are small and dense.
//
// Bin 0 holds missing values. Numeric bins 1...k follow the cut points c[0] < ... < c[k-2]:
// a value v lands in bin 1 + (number of cuts <= v), so "bin <= j" is exactly "v < c[j-1]" and a
// split learned on bins is the same split on raw values. Categorical features use bin = code + 1.
import Foundation

public struct BinCuts: Sendable, Equatable, Codable {
    /// Cut points per feature (empty for categorical features).
    public var cuts: [[Double]]
    public var isCategorical: [Bool]
    /// Real (non-missing) bins per feature.
    public var binCount: [Int]

    /// Computes cuts from the rows at `rows` (training rows only, so test data never leaks in).
    /// Quantiles come from a systematic sample of at most `sampleSize` values per feature.
    public static func fit(_ x: FeatureMatrix, rows: [Int], maxBin: Int, threads: Int,
                           sampleSize: Int = 1 << 18) -> BinCuts {
        let f = x.featureCount
        let slots = ResultSlots<[Double]>(count: f)
        let stride = max(1, rows.count / sampleSize)
        parallelFor(f, threads: threads) { j in
            if x.isCategorical[j] { slots.set(j, []); return }
            let column = x.columns[j]
            var sample: [Double] = []
            sample.reserveCapacity(rows.count / stride + 1)
            var i = 0
            while i < rows.count {
                let v = column[rows[i]]
                if !v.isNaN { sample.append(v) }
                i += stride
            }
            slots.set(j, cutPoints(sortedValues: orderKeySorted(sample), maxBin: maxBin))
        }
        let cuts = slots.all.map { $0 ?? [] }
        var counts: [Int] = []
        for j in 0..<f {
            if x.isCategorical[j] { counts.append(max(1, x.levels[j].count)) } else { counts.append(cuts[j].count + 1) }
        }
        return BinCuts(cuts: cuts, isCategorical: x.isCategorical, binCount: counts)
    }

    /// Cut points for sorted values: each distinct value gets its own bin when there are at most
    /// `maxBin` of them, otherwise equal-frequency quantiles.
    static func cutPoints(sortedValues v: [Double], maxBin: Int) -> [Double] {
        guard !v.isEmpty else { return [] }
        var distinct: [Double] = []
        distinct.reserveCapacity(min(v.count, maxBin + 1))
        for x in v where distinct.last != x {
            distinct.append(x)
            if distinct.count > maxBin { break }
        }
        if distinct.count <= maxBin { return Array(distinct.dropFirst()) }
        var cuts: [Double] = []
        let n = v.count
        for i in 1..<maxBin {
            let c = v[min(n - 1, i * n / maxBin)]
            if c > v[0], cuts.last.map({ c > $0 }) ?? true { cuts.append(c) }
        }
        return cuts
    }

    /// Bin of one raw value of feature `j`.
    @inline(__always)
    public func bin(_ value: Double, feature j: Int) -> UInt8 {
        if value.isNaN { return 0 }
        if isCategorical[j] {
            let code = Int(value)
            return (code >= 0 && code < binCount[j]) ? UInt8(code + 1) : 0
        }
        return cuts[j].withUnsafeBufferPointer { c in Self.numericBin(value, c) }
    }

    /// 1 + the number of cuts <= v (branch-free binary search; v is not NaN).
    @inline(__always)
    static func numericBin(_ v: Double, _ c: UnsafeBufferPointer<Double>) -> UInt8 {
        var n = c.count
        guard n > 0, let p = c.baseAddress else { return 1 }
        var base = 0
        while n > 1 {
            let half = n >> 1
            // Mask arithmetic instead of a conditional: quantile comparisons are unpredictable.
            let le = Int(unsafeBitCast(p[base &+ half] <= v, to: UInt8.self))
            base &+= half & (0 &- le)
            n &-= half
        }
        return UInt8(truncatingIfNeeded: base &+ 1 &+ Int(unsafeBitCast(p[base] <= v, to: UInt8.self)))
    }
}

extension BinCuts {
    /// `numericBin` of four values at once (same search, interleaved). A NaN gives an arbitrary
    /// bin here; callers map NaN to 0 themselves.
    @inline(__always)
    static func numericBins4(_ v0: Double, _ v1: Double, _ v2: Double, _ v3: Double,
                             _ c: UnsafeBufferPointer<Double>) -> (UInt8, UInt8, UInt8, UInt8) {
        var n = c.count
        guard n > 0, let p = c.baseAddress else { return (1, 1, 1, 1) }
        var b0 = 0, b1 = 0, b2 = 0, b3 = 0
        @inline(__always) func le(_ x: Double, _ v: Double) -> Int { Int(unsafeBitCast(x <= v, to: UInt8.self)) }
        while n > 1 {
            let half = n >> 1
            b0 &+= half & (0 &- le(p[b0 &+ half], v0))
            b1 &+= half & (0 &- le(p[b1 &+ half], v1))
            b2 &+= half & (0 &- le(p[b2 &+ half], v2))
            b3 &+= half & (0 &- le(p[b3 &+ half], v3))
            n &-= half
        }
        return (UInt8(truncatingIfNeeded: b0 &+ 1 &+ le(p[b0], v0)), UInt8(truncatingIfNeeded: b1 &+ 1 &+ le(p[b1], v1)),
                UInt8(truncatingIfNeeded: b2 &+ 1 &+ le(p[b2], v2)), UInt8(truncatingIfNeeded: b3 &+ 1 &+ le(p[b3], v3)))
    }
}

/// An unsigned key with the order of `<` on doubles that are not NaN (-0.0 and +0.0 equal).
@inline(__always) func orderKey(_ v: Double) -> UInt64 {
    let b = (v == 0 ? 0.0 : v).bitPattern
    return b >> 63 == 0 ? b | (1 << 63) : ~b
}

/// `values.sorted()` (values not NaN) by an LSD radix sort of `orderKey`, 11 bits a pass: the
/// same array, -0.0 and +0.0 included (equal under `<`, they keep their order, as in the stable
/// `sorted()`), at a fraction of the comparisons for the 262,144-value samples of `BinCuts.fit`.
func orderKeySorted(_ values: [Double]) -> [Double] {
    let n = values.count
    if n < 4_096 { return values.sorted() }
    var keys = values.map(orderKey)
    var tmp = [UInt64](repeating: 0, count: n)
    var counts = [Int](repeating: 0, count: 2_048)
    var shift: UInt64 = 0
    while shift < 64 {
        for i in 0..<2_048 { counts[i] = 0 }
        for k in keys { counts[Int((k >> shift) & 2_047)] &+= 1 }
        // A digit shared by every key moves nothing.
        if counts[Int((keys[0] >> shift) & 2_047)] != n {
            var sum = 0
            for i in 0..<2_048 { let c = counts[i]; counts[i] = sum; sum &+= c }
            for k in keys {
                let d = Int((k >> shift) & 2_047)
                tmp[counts[d]] = k
                counts[d] &+= 1
            }
            swap(&keys, &tmp)
        }
        shift &+= 11
    }
    let zeroKey = orderKey(0)
    var out = keys.map { k in Double(bitPattern: k >> 63 == 1 ? k & ~(1 << 63) : ~k) }
    // Zeros came back as +0.0; put their signs back in their original order.
    if let first = keys.firstIndex(of: zeroKey) {
        var i = first
        for v in values where v == 0 { out[i] = v; i &+= 1 }
    }
    return out
}

/// Bins by table: the top 16 bits of a value's `orderKey` pick one of 65,536 buckets, and only
/// the cuts inside that bucket are searched (usually a few, instead of 8 steps over 255).
/// `bin` is exactly `BinCuts.numericBin`.
struct CutTable {
    /// `start[u]`: number of cuts whose key's top 16 bits are below u (65,537 entries).
    let start: [UInt16]

    init(_ cuts: UnsafeBufferPointer<Double>) {
        var s = [UInt16](repeating: 0, count: 65_537)
        var c = 0
        for u in 0..<65_537 {
            while c < cuts.count, Int(orderKey(cuts[c]) >> 48) < u { c += 1 }
            s[u] = UInt16(c)
        }
        start = s
    }

    /// 1 + the number of cuts <= v (v not NaN).
    @inline(__always)
    static func bin(_ v: Double, _ start: UnsafePointer<UInt16>, _ cuts: UnsafePointer<Double>) -> UInt8 {
        let u = Int(orderKey(v) >> 48)
        let lo = Int(start[u]), hi = Int(start[u &+ 1])
        // Cuts below the bucket are all <= v, cuts above all > v; search the bucket's own.
        var count = lo
        var n = hi &- lo
        if n > 0 {
            var base = lo
            while n > 1 {
                let half = n >> 1
                base &+= half & (0 &- Int(unsafeBitCast(cuts[base &+ half] <= v, to: UInt8.self)))
                n &-= half
            }
            count = base &+ Int(unsafeBitCast(cuts[base] <= v, to: UInt8.self))
        }
        return UInt8(truncatingIfNeeded: count &+ 1)
    }
}

/// Row-major bin matrix: the bins of one row are adjacent, so building a node's histogram reads
/// one cache line per row. Threads split the work by feature, never by row, which keeps every
/// histogram sum in the same order whatever the thread count.
public struct BinnedMatrix: Sendable {
    public static let maxCategories = 254
    public let rows: Int
    public let features: Int
    public var bins: [UInt8]

    init(rows: Int, features: Int, bins: [UInt8]) {
        self.rows = rows; self.features = features; self.bins = bins
    }

    public init(_ x: FeatureMatrix, rows indices: [Int], cuts: BinCuts, threads: Int) {
        let f = x.featureCount
        rows = indices.count
        features = f
        var out = [UInt8](repeating: 0, count: indices.count * f)
        out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let dst = SharedMutablePointer(base)
            // Tiles of 512 rows, all features of a tile before the next: the tile's output (a few
            // KB, row-major) stays in L1 while every feature writes its byte into it. Whole blocks
            // per feature instead wrote each output cache line once per feature from far caches.
            let tiles = evenRanges(indices.count, parts: max(1, (indices.count + 511) / 512))
            // Lookup tables pay for their 65,536 steps from a few ten thousand rows on.
            let tables: [CutTable?] = (0..<f).map { j in
                guard indices.count >= 1 << 15, !cuts.isCategorical[j], cuts.cuts[j].count > 1 else { return nil }
                return cuts.cuts[j].withUnsafeBufferPointer { CutTable($0) }
            }
            parallelFor(tiles.count, threads: threads) { b in
                let block = tiles[b]
                for j in 0..<f {
                    x.columns[j].withUnsafeBufferPointer { column in
                        guard let col = column.baseAddress else { return }
                        if cuts.isCategorical[j] {
                            for i in block { dst[i &* f &+ j] = cuts.bin(col[indices[i]], feature: j) }
                            return
                        }
                        cuts.cuts[j].withUnsafeBufferPointer { c in
                            if let table = tables[j], let cb = c.baseAddress {
                                table.start.withUnsafeBufferPointer { sb in
                                    guard let st = sb.baseAddress else { return }
                                    for i in block {
                                        let v = col[indices[i]]
                                        dst[i &* f &+ j] = v.isNaN ? 0 : CutTable.bin(v, st, cb)
                                    }
                                }
                                return
                            }
                            // Four rows at a time: their binary searches are independent, so the
                            // dependent loads of one search overlap with those of the others.
                            var i = block.lowerBound
                            while i &+ 4 <= block.upperBound {
                                let v0 = col[indices[i]], v1 = col[indices[i &+ 1]]
                                let v2 = col[indices[i &+ 2]], v3 = col[indices[i &+ 3]]
                                let (b0, b1, b2, b3) = BinCuts.numericBins4(v0, v1, v2, v3, c)
                                dst[i &* f &+ j] = v0.isNaN ? 0 : b0
                                dst[(i &+ 1) &* f &+ j] = v1.isNaN ? 0 : b1
                                dst[(i &+ 2) &* f &+ j] = v2.isNaN ? 0 : b2
                                dst[(i &+ 3) &* f &+ j] = v3.isNaN ? 0 : b3
                                i &+= 4
                            }
                            while i < block.upperBound {
                                let v = col[indices[i]]
                                dst[i &* f &+ j] = v.isNaN ? 0 : BinCuts.numericBin(v, c)
                                i &+= 1
                            }
                        }
                    }
                }
            }
        }
        bins = out
    }
}
