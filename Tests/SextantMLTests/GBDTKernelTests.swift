import Foundation
import Testing
@testable import SextantML

/// The fast paths of the tree builder (SIMD histogram kernel, histogram subtraction, skipped
/// last-level histograms, empty-bin skipping, interleaved binning) against plain reference code.
@Suite struct GBDTKernelTests {
    /// Random bins (some missing, many empty bins) and random gradient pairs in a RowStore.
    static func store(rows: Int, features: Int, seed: UInt64) -> (RowStore, BinCuts) {
        var rng = SplitMix64(seed: seed)
        var bins = [UInt8](repeating: 0, count: rows * features)
        for i in 0..<bins.count {
            let u = rng.nextUnit()
            // Feature-dependent number of used bins, 10% missing.
            bins[i] = u < 0.1 ? 0 : UInt8(1 + Int(rng.next() % UInt64(1 + (i % features) * 9)))
        }
        let x = BinnedMatrix(rows: rows, features: features, bins: bins)
        let s = RowStore(x)
        for r in 0..<rows {
            s.gh[2 * r] = Float(rng.nextGaussian())
            s.gh[2 * r + 1] = Float(0.01 + rng.nextUnit())
        }
        let q = quantiser(s)
        for r in 0..<rows { s.ghq[2 * r] = q.fixed(g: s.gh[2 * r]); s.ghq[2 * r + 1] = q.fixed(h: s.gh[2 * r + 1]) }
        let cuts = BinCuts(cuts: (0..<features).map { j in (0..<(j * 9)).map(Double.init) },
                           isCategorical: [Bool](repeating: false, count: features),
                           binCount: (0..<features).map { $0 * 9 + 1 })
        return (s, cuts)
    }

    static func quantiser(_ s: RowStore) -> GradientQuantiser {
        var mg = 0.0, mh = 0.0
        for r in 0..<s.rows { mg = max(mg, abs(Double(s.gh[2 * r]))); mh = max(mh, Double(s.gh[2 * r + 1])) }
        return GradientQuantiser(maxAbsG: mg, maxH: mh)
    }

    /// Plain integer sums of the fixed-point pairs: exactly what the kernel must produce.
    static func fixedReference(_ s: RowStore, positions: Range<Int>, features: [Int]) -> [Int64] {
        var h = [Int64](repeating: 0, count: s.features * histogramStride * 2)
        for i in positions {
            let r = Int(s.rowIndex[i])
            for j in features {
                let idx = (j * histogramStride + Int(s.rowBins[r * s.stride + j])) * 2
                h[idx] += Int64(s.ghq[2 * r]); h[idx + 1] += Int64(s.ghq[2 * r + 1])
            }
        }
        return h
    }

    /// Scalar sums in row order of the floating-point pairs (for the split search).
    static func reference(_ s: RowStore, positions: Range<Int>, features: [Int]) -> [Double] {
        var h = [Double](repeating: 0, count: s.features * histogramStride * 2)
        for i in positions {
            let r = Int(s.rowIndex[i])
            for j in features {
                let idx = (j * histogramStride + Int(s.rowBins[r * s.stride + j])) * 2
                h[idx] += Double(s.gh[2 * r]); h[idx + 1] += Double(s.gh[2 * r + 1])
            }
        }
        return h
    }

    @Test(arguments: [1, 2, 3])
    func histogramKernelMatchesScalarSumsExactly(threads: Int) {
        let (s, cuts) = Self.store(rows: 5_000, features: 13, seed: 3)
        var p = GBDTParameters(); p.threads = threads
        let builder = TreeBuilder(store: s, cuts: cuts, params: p, threads: threads)
        // A shuffled subset of rows in positions 0..<3000, like a node after partitioning.
        var rng = SplitMix64(seed: 8)
        var order = Array(0..<5_000)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for i in 0..<5_000 { s.rowIndex[i] = Int32(order[i]) }
        for features in [Array(0..<13), [0, 2, 3, 7, 12]] {
            let a = UnsafeMutablePointer<Int64>.allocate(capacity: builder.histSize)
            let b = UnsafeMutablePointer<Int64>.allocate(capacity: builder.histSize)
            defer { a.deallocate(); b.deallocate() }
            a.initialize(repeating: 0, count: builder.histSize); b.initialize(repeating: 0, count: builder.histSize)
            builder.buildHistograms([(0, 1_200, a), (1_200, 3_000, b)], features: features)
            let ra = Self.fixedReference(s, positions: 0..<1_200, features: features)
            let rb = Self.fixedReference(s, positions: 1_200..<3_000, features: features)
            #expect(Array(UnsafeBufferPointer(start: a, count: builder.histSize)) == ra)
            #expect(Array(UnsafeBufferPointer(start: b, count: builder.histSize)) == rb)
        }
    }

    /// Nodes of 32K rows or more are summed in row shares (one per worker, added after), smaller
    /// ones by feature blocks, the root in place: all equal to the plain sums, whatever the
    /// histograms held before (they are overwritten, not added to).
    @Test(arguments: [1, 2, 3])
    func largeNodesSummedInRowSharesExactly(threads: Int) {
        let rows = 90_000
        let (s, cuts) = Self.store(rows: rows, features: 11, seed: 21)
        var p = GBDTParameters(); p.threads = threads
        let builder = TreeBuilder(store: s, cuts: cuts, params: p, threads: threads)
        for features in [Array(0..<11), [1, 4, 5, 6, 10]] {
            for i in 0..<rows { s.rowIndex[i] = Int32(i) }
            let root = UnsafeMutablePointer<Int64>.allocate(capacity: builder.histSize)
            defer { root.deallocate() }
            root.initialize(repeating: 7, count: builder.histSize)
            let placedRoot = builder.buildHistograms([(0, rows, root)], features: features)
            #expect(placedRoot.map(\.inPlace) == [true])
            #expect(Array(UnsafeBufferPointer(start: root, count: builder.histSize)) == Self.fixedReference(s, positions: 0..<rows, features: features))

            var rng = SplitMix64(seed: 22)
            var order = Array(0..<rows)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            for i in 0..<rows { s.rowIndex[i] = Int32(order[i]) }
            let ranges = [0..<40_000, 40_000..<45_000, 50_000..<rows]
            let hists = ranges.map { _ in UnsafeMutablePointer<Int64>.allocate(capacity: builder.histSize) }
            defer { for h in hists { h.deallocate() } }
            for h in hists { h.initialize(repeating: -3, count: builder.histSize) }
            let placed = builder.buildHistograms(zip(ranges, hists).map { ($0.lowerBound, $0.upperBound, $1) }, features: features)
            for (range, h) in zip(ranges, hists) {
                #expect(Array(UnsafeBufferPointer(start: h, count: builder.histSize)) == Self.fixedReference(s, positions: range, features: features))
            }
            // The gathered rows are the node's rows in position order.
            for (range, rowsOfNode) in zip(ranges, placed) {
                #expect(!rowsOfNode.inPlace)
                for i in [range.lowerBound, range.lowerBound + 1, range.upperBound - 1] {
                    let r = Int(s.rowIndex[i]), j = i - range.lowerBound
                    #expect((0..<s.stride).allSatisfy { rowsOfNode.bins[j * s.stride + $0] == s.rowBins[r * s.stride + $0] })
                    #expect(rowsOfNode.gh[2 * j] == s.ghq[2 * r] && rowsOfNode.gh[2 * j + 1] == s.ghq[2 * r + 1])
                }
            }
        }
    }

    /// A node whose rows were gathered for its histogram is partitioned from them: the same row
    /// index and mids as the partition that reads the split's column.
    @Test(arguments: [1, 2])
    func partitionFromGatheredRowsMatchesColumnPartition(threads: Int) {
        let rows = 80_000
        let (s, cuts) = Self.store(rows: rows, features: 13, seed: 31)
        let builder = TreeBuilder(store: s, cuts: cuts, params: GBDTParameters(), threads: threads)
        var rng = SplitMix64(seed: 32)
        var order = Array(0..<rows)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var mask = CategoryMask(); mask.insert(2); mask.insert(9)
        let splits: [(Int, Int, SplitCandidate)] = [
            (0, 45_000, SplitCandidate(gain: 1, feature: 12, bin: 40, defaultLeft: false)),
            (45_000, 60_000, SplitCandidate(gain: 1, feature: 3, bin: 0, defaultLeft: true, isCategorical: true, mask: mask)),
            (61_000, rows, SplitCandidate(gain: 1, feature: 8, bin: 30, defaultLeft: true)),
        ]
        for i in 0..<rows { s.rowIndex[i] = Int32(order[i]) }
        let expectedMids = builder.partition(splits, count: rows)
        let expected = (0..<rows).map { s.rowIndex[$0] }

        for i in 0..<rows { s.rowIndex[i] = Int32(order[i]) }
        let hists = splits.map { _ in UnsafeMutablePointer<Int64>.allocate(capacity: builder.histSize) }
        defer { for h in hists { h.deallocate() } }
        let placed = builder.buildHistograms(zip(splits, hists).map { ($0.0, $0.1, $1) }, features: Array(0..<13))
        let mids = builder.partition(zip(splits, placed).map { (begin: $0.0, end: $0.1, split: $0.2, rows: $1) }, count: rows)
        #expect(mids == expectedMids)
        #expect((0..<rows).map { s.rowIndex[$0] } == expected)
    }

    /// Every row at the largest magnitudes the quantiser gives, in one bin, long runs of one sign:
    /// the Int64 sums must still be exact.
    @Test(arguments: [1, 2])
    func sumsAtTheQuantiserLimitsAreExact(threads: Int) {
        let block = 8_192
        let rows = 3 * block + 77
        let (s, cuts) = Self.store(rows: rows, features: 5, seed: 13)
        var p = GBDTParameters(); p.threads = threads
        let builder = TreeBuilder(store: s, cuts: cuts, params: p, threads: threads)
        let gMax = Int32(1 << GradientQuantiser.gBits), hMax = Int32(1 << GradientQuantiser.hBits)
        for r in 0..<rows {
            // Same sign runs, then mixed.
            s.ghq[2 * r] = r < 2 * block ? (r < block + 5 ? gMax : -gMax) : (r % 3 == 0 ? gMax : -gMax)
            s.ghq[2 * r + 1] = r % 7 == 0 ? 1 : hMax
            s.rowBins[r * s.stride + 1] = 1  // feature 1: every row in one bin
        }
        for i in 0..<rows { s.rowIndex[i] = Int32(rows - 1 - i) }  // not the identity: gathered
        let features = Array(0..<5)
        let a = UnsafeMutablePointer<Int64>.allocate(capacity: builder.histSize)
        defer { a.deallocate() }
        a.initialize(repeating: 0, count: builder.histSize)
        builder.buildHistograms([(0, rows, a)], features: features)
        #expect(Array(UnsafeBufferPointer(start: a, count: builder.histSize)) == Self.fixedReference(s, positions: 0..<rows, features: features))
    }

    @Test func subtractionMatchesDirectBuild() {
        let (s, cuts) = Self.store(rows: 6_000, features: 9, seed: 11)
        let builder = TreeBuilder(store: s, cuts: cuts, params: GBDTParameters(), threads: 2)
        for i in 0..<6_000 { s.rowIndex[i] = Int32(i) }
        let all = Array(0..<9)
        let parent = Self.fixedReference(s, positions: 0..<6_000, features: all)
        let child = Self.fixedReference(s, positions: 0..<2_500, features: all)
        let sibling = Self.fixedReference(s, positions: 2_500..<6_000, features: all)
        // Fixed-point sums: parent - child is the sibling exactly (no rounding to tolerate).
        #expect(zip(parent, child).map { $0 - $1 } == sibling)
        #expect(parent.contains { $0 != 0 })
        _ = builder
    }

    /// The branch-free in-place partition against a plain stable partition, for numeric splits
    /// (missing left and right, split at bin 0 = missing against present) and a categorical one.
    @Test(arguments: [1, 2, 3])
    func partitionMatchesPlainStablePartition(threads: Int) {
        let rows = 70_000  // more than two 32K blocks in the first node
        let (s, cuts) = Self.store(rows: rows, features: 13, seed: 5)
        let builder = TreeBuilder(store: s, cuts: cuts, params: GBDTParameters(), threads: threads)
        var rng = SplitMix64(seed: 9)
        var order = Array(0..<rows)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for i in 0..<rows { s.rowIndex[i] = Int32(order[i]) }
        var mask = CategoryMask(); mask.insert(1); mask.insert(3); mask.insert(40)
        let splits: [(Int, Int, SplitCandidate)] = [
            (0, 40_000, SplitCandidate(gain: 1, feature: 12, bin: 50, defaultLeft: true)),
            (41_000, 50_000, SplitCandidate(gain: 1, feature: 7, bin: 20, defaultLeft: false)),
            (50_000, 60_000, SplitCandidate(gain: 1, feature: 5, bin: 0, defaultLeft: true)),
            (60_000, rows, SplitCandidate(gain: 1, feature: 11, bin: 0, defaultLeft: false, isCategorical: true, mask: mask)),
        ]
        var expected = order
        var expectedMids: [Int] = []
        for (b, e, sp) in splits {
            func left(_ r: Int) -> Bool {
                let bin = s.colBins[sp.feature * rows + r]
                if bin == 0 { return sp.defaultLeft }
                return sp.isCategorical ? sp.mask.contains(bin) : bin <= sp.bin
            }
            let part = Array(order[b..<e])
            let l = part.filter(left), r = part.filter { !left($0) }
            expected.replaceSubrange(b..<e, with: l + r)
            expectedMids.append(b + l.count)
        }
        let mids = builder.partition(splits, count: rows)
        #expect(mids == expectedMids)
        #expect((0..<rows).map { Int(s.rowIndex[$0]) } == expected)
        #expect(expectedMids.enumerated().allSatisfy { $1 > splits[$0].0 && $1 < splits[$0].1 })
    }

    /// The quantiser's inline rounding is `rounded()` (halves away from zero) on the values it sees:
    /// Floats times a power of two, up to 2^30 in magnitude.
    @Test func fixedPointRoundingMatchesRounded() {
        var rng = SplitMix64(seed: 4)
        var floats: [Float] = [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, Float(0.5).nextDown, -Float(0.5).nextDown, Float(0.5).nextUp,
                               Float(1).nextDown, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                               8_388_607.5, -8_388_607.5, 16_777_215, 16_777_216]
        for _ in 0..<100_000 { floats.append(Float((rng.nextUnit() * 2 - 1) * 2)) }
        for _ in 0..<10_000 { floats.append(Float(Int(rng.next() % (1 << 24)) - (1 << 23)) + 0.5) }
        for f in floats {
            for k in [-60, -24, -1, 0, 1, 6, 29] {
                let x = Double(f) * Double(sign: .plus, exponent: k, significand: 1)
                guard abs(x) <= Double(1 << 30) else { continue }
                #expect(GradientQuantiser.round(x) == Int64(x.rounded()), "\(f) · 2^\(k)")
            }
        }
    }

    /// Best split by a plain scan over every bin (no empty-bin skipping).
    static func referenceSplit(_ hist: [Double], g: Double, h: Double, features: [Int], cuts: BinCuts, lambda: Double,
                               mcw: Double, alpha: Double = 0) -> (gain: Double, feature: Int, bin: Int, left: Bool)? {
        func score(_ g: Double, _ h: Double) -> Double {
            let t = g > alpha ? g - alpha : (g < -alpha ? g + alpha : 0)
            return t * t / (h + lambda)
        }
        var best: (gain: Double, feature: Int, bin: Int, left: Bool)?
        var bestGain = 1e-6
        for j in features {
            let base = j * histogramStride * 2
            let mg = hist[base], mh = hist[base + 1]
            var gl = 0.0, hl = 0.0
            guard cuts.binCount[j] >= 2 else { continue }
            for b in 1..<cuts.binCount[j] {
                gl += hist[base + 2 * b]; hl += hist[base + 2 * b + 1]
                for left in [true, false] where left || mh > 0 {
                    let lg = left ? gl + mg : gl, lh = left ? hl + mh : hl
                    guard lh >= mcw, h - lh >= mcw else { continue }
                    let gain = score(lg, lh) + score(g - lg, h - lh) - score(g, h)
                    if gain > bestGain { bestGain = gain; best = (gain, j, b, left) }
                }
            }
            // Missing against present: every present value right.
            if mh > 0, mh >= mcw, h - mh >= mcw {
                let gain = score(mg, mh) + score(g - mg, h - mh) - score(g, h)
                if gain > bestGain { bestGain = gain; best = (gain, j, 0, true) }
            }
        }
        return best
    }

    /// The split search (empty bins skipped, gains four bins at a time) against the plain scalar
    /// scan: same split and the same gain to the bit, with and without alpha's soft threshold.
    @Test(arguments: [0, 0.05, 0.5])
    func splitSearchSkippingEmptyBinsMatchesPlainScan(alpha: Double) {
        let (s, cuts) = Self.store(rows: 4_000, features: 12, seed: 21)
        var p = GBDTParameters(); p.minChildWeight = 0.5; p.regAlpha = alpha
        let builder = TreeBuilder(store: s, cuts: cuts, params: p, threads: 1)
        for i in 0..<4_000 { s.rowIndex[i] = Int32(i) }
        // Small nodes leave most bins empty.
        for (lo, hi) in [(0, 4_000), (100, 160), (2_000, 2_030), (7, 400)] {
            let all = Array(0..<12)
            var ref = Self.reference(s, positions: lo..<hi, features: all)
            var g = 0.0, h = 0.0
            for i in lo..<hi { g += Double(s.gh[2 * i]); h += Double(s.gh[2 * i + 1]) }
            let expected = Self.referenceSplit(ref, g: g, h: h, features: all, cuts: cuts, lambda: 1, mcw: 0.5, alpha: alpha)
            let got = ref.withUnsafeMutableBufferPointer { b in
                b.baseAddress.flatMap { builder.bestSplit(hist: $0, g: g, h: h, features: all) }
            }
            #expect(got?.feature == expected?.feature)
            #expect(got.map { Int($0.bin) } == expected?.bin)
            #expect(got?.defaultLeft == expected?.left)
            #expect(got?.gain == expected?.gain)
        }
    }

    @Test(arguments: [0, 1, 2, 3])
    func shallowTreesAndThreadCounts(maxDepth: Int) throws {
        // maxDepth 0 and 1 exercise the "no histogram for the last level" path at its edges.
        let data = Synthetic(rows: 6_000, seed: 31, missingRate: 0.05)
        var p = GBDTParameters(); p.nEstimators = 8; p.maxDepth = maxDepth; p.learningRate = 0.3
        p.threads = 1
        let (r1, c1) = trainGBDT(data.matrix, labels: data.labels, params: p)
        p.threads = 2
        let (r2, c2) = trainGBDT(data.matrix, labels: data.labels, params: p)
        let a1 = try artifact(from: r1, cuts: c1, x: data.matrix).encoded()
        #expect(a1 == (try artifact(from: r2, cuts: c2, x: data.matrix).encoded()))
        for t in r1.trees {
            #expect(t.nodes.count <= (1 << (maxDepth + 1)) - 1)
            if maxDepth == 0 { #expect(t.nodes.count == 1) }
        }
    }

    @Test func interleavedBinningMatchesScalarBinning() {
        var rng = SplitMix64(seed: 5)
        let rows = 1_003
        let col = (0..<rows).map { i in i % 17 == 0 ? Double.nan : rng.nextGaussian() }
        let col2 = (0..<rows).map { _ in Double(Int(rng.next() % 7)) }
        let x = FeatureMatrix(names: ["a", "b"], columns: [col, col2], isCategorical: [false, false], levels: [[], []])
        let idx = Array(stride(from: 0, to: rows, by: 1)).filter { $0 % 5 != 3 }
        let cuts = BinCuts.fit(x, rows: idx, maxBin: 32, threads: 1)
        for threads in [1, 3] {
            let m = BinnedMatrix(x, rows: idx, cuts: cuts, threads: threads)
            for (i, r) in idx.enumerated() {
                #expect(m.bins[i * 2] == cuts.bin(col[r], feature: 0))
                #expect(m.bins[i * 2 + 1] == cuts.bin(col2[r], feature: 1))
            }
        }
    }

    /// Binning by lookup table (from 32,768 rows on) against the plain binary search, on values
    /// with signed zeros, infinities, ties with cuts, huge and tiny magnitudes and NaN.
    @Test func tableBinningMatchesBinarySearch() {
        var rng = SplitMix64(seed: 17)
        let rows = 40_000
        let special: [Double] = [0, -0.0, .infinity, -.infinity, 1e300, -1e300, 1e-300, -1e-300, .nan, 1, -1, 1.0000001]
        let col = (0..<rows).map { i in i % 13 == 0 ? special[i / 13 % special.count] : rng.nextGaussian() * (i % 3 == 0 ? 1e6 : 1) }
        let col2 = (0..<rows).map { _ in Double(Int(rng.next() % 5)) - 2 }  // few distinct values: a cut per value
        let x = FeatureMatrix(names: ["a", "b"], columns: [col, col2], isCategorical: [false, false], levels: [[], []])
        let idx = Array(0..<rows)
        let cuts = BinCuts.fit(x, rows: idx, maxBin: 255, threads: 2)
        let m = BinnedMatrix(x, rows: idx, cuts: cuts, threads: 2)
        var mismatches = 0
        for r in 0..<rows {
            if m.bins[r * 2] != cuts.bin(col[r], feature: 0) { mismatches += 1 }
            if m.bins[r * 2 + 1] != cuts.bin(col2[r], feature: 1) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(cuts.cuts[0].count > 200)
    }

    /// The radix sort of the cut samples is `sorted()`: same values in the same places, signed
    /// zeros in their original order (they are equal under `<`, and `sorted()` is stable).
    @Test func radixSortMatchesSorted() {
        var rng = SplitMix64(seed: 23)
        for n in [10, 5_000, 70_000] {
            let values = (0..<n).map { i -> Double in
                switch i % 11 {
                case 0: return i % 2 == 0 ? 0 : -0.0
                case 1: return Double(Int(rng.next() % 9)) - 4
                case 2: return i % 4 == 0 ? .infinity : -.infinity
                default: return rng.nextGaussian() * pow(10, Double(Int(rng.next() % 12)) - 6)
                }
            }
            let expected = values.sorted(), got = orderKeySorted(values)
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "n = \(n)")
        }
    }
}
