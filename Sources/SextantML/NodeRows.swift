// The rows of one level's nodes: the stable partition of the row index by the level's splits, the
// rows of the children to build gathered into contiguous scratch, and the histogram kernel over
// them. A node whose rows were gathered for its own histogram is partitioned from them in sequence.
import CCPUHints

/// A node's rows gathered contiguously: the row at position `begin + j` of the node has its
/// row-major bins at `bins + j · stride` and its fixed-point pair at `gh + 2j`.
struct GatheredRows: @unchecked Sendable {
    // @unchecked: scratch written by one level's gather (disjoint slots per task), read by the next.
    let bins: UnsafeMutablePointer<UInt8>
    let gh: UnsafeMutablePointer<Int32>
    /// The row store's own arrays (every row in row order: the root without sampling). The
    /// partition then reads the split's column (one byte a row) rather than whole rows.
    let inPlace: Bool
}

/// Which way a split sends a bin: 1 left, 0 right.
struct SplitRule: Sendable {
    let categorical: Bool, defaultLeft: Bool, bin: UInt8, missingLeft: UInt8, mask: CategoryMask

    init(_ s: SplitCandidate) {
        categorical = s.isCategorical; defaultLeft = s.defaultLeft; bin = s.bin; mask = s.mask
        missingLeft = unsafeBitCast(s.defaultLeft, to: UInt8.self)
    }

    /// Present values (bin >= 1) go left when bin <= split bin: b - 1 < split bin, where b = 0
    /// wraps to 255 and never passes; missing values (bin 0) go the default way. No branch.
    @inline(__always) func numericLeft(_ b: UInt8) -> UInt8 {
        unsafeBitCast(b &- 1 < bin, to: UInt8.self) | (unsafeBitCast(b == 0, to: UInt8.self) & missingLeft)
    }

    @inline(__always) func categoricalLeft(_ b: UInt8) -> UInt8 {
        unsafeBitCast(b == 0 ? defaultLeft : mask.contains(b), to: UInt8.self)
    }
}

extension TreeBuilder {
    /// Stable partition of each node's range by its split (tests and callers without gathered rows).
    func partition(_ nodes: [(Int, Int, SplitCandidate)], count: Int) -> [Int] {
        partition(nodes.map { (begin: $0.0, end: $0.1, split: $0.2, rows: GatheredRows?.none) }, count: count)
    }

    /// Stable partition of each node's range by its split, in place, in fixed-size blocks: each
    /// block writes its left rows and its right rows (in order) to its own slice of two scratch
    /// buffers, without a branch on the direction; then every block copies both slices to their
    /// final positions in the row index (rows outside split nodes stay where they are). A node
    /// with gathered rows reads the split's byte from them in sequence; the others read the
    /// split's column at the rows the index names. Returns the first right-child position of
    /// every node.
    func partition(_ nodes: [(begin: Int, end: Int, split: SplitCandidate, rows: GatheredRows?)], count: Int) -> [Int] {
        let blockSize = 1 << 15
        var taskList: [(node: Int, range: Range<Int>)] = []
        for (k, node) in nodes.enumerated() {
            var s = node.begin
            repeat { let t = min(node.end, s + blockSize); taskList.append((k, s..<t)); s = t } while s < node.end
        }
        let store = self.store, rows = store.rows, stride = store.stride, index = SharedMutablePointer(store.rowIndex)
        let rules = nodes.map { SplitRule($0.split) }
        let tasks = taskList  // immutable from here on: shared with the workers
        let leftCounts = ResultSlots<Int>(count: tasks.count)
        parallelFor(tasks.count, threads: threads) { t in
            let (k, range) = tasks[t]
            let rule = rules[k], feature = nodes[k].split.feature, begin = nodes[k].begin
            let leftOut = store.rowIndexTmp + range.lowerBound, rightOut = store.rightScratch + range.lowerBound
            var l = 0, r = 0
            @inline(__always) func put(_ row: Int32, _ goLeft: UInt8) {
                // Both slots are written; only the taken side's count moves on, so the other
                // write is overwritten by the next row of that side (or never read).
                leftOut[l] = row; rightOut[r] = row
                let x = Int(goLeft)
                l &+= x; r &+= 1 &- x
            }
            @inline(__always) func sweep(_ byte: (Int) -> UInt8) {
                if rule.categorical {
                    for i in range { put(index[i], rule.categoricalLeft(byte(i))) }
                } else {
                    for i in range { put(index[i], rule.numericLeft(byte(i))) }
                }
            }
            if let gathered = nodes[k].rows, !gathered.inPlace {
                let bins = gathered.bins
                sweep { i in bins[(i &- begin) &* stride &+ feature] }
            } else {
                // The rows `ahead` positions on are requested while this one is read (the index
                // says which; near the end of the range it points at rows of the next range).
                let column = store.colBins + feature &* rows, ahead = 32, last = count - 1
                sweep { i in
                    sextant_prefetch(column + Int(index[min(i &+ ahead, last)]))
                    return column[Int(index[i])]
                }
            }
            leftCounts.set(t, l)
        }
        let counts = leftCounts.all.map { $0 ?? 0 }
        var totalLeft = [Int](repeating: 0, count: nodes.count)
        for (t, task) in tasks.enumerated() { totalLeft[task.node] += counts[t] }
        var leftDst = [Int](repeating: 0, count: tasks.count), rightDst = leftDst
        var nextLeft = nodes.map(\.begin)
        var nextRight = nodes.enumerated().map { $1.begin + totalLeft[$0] }
        for (t, task) in tasks.enumerated() {
            leftDst[t] = nextLeft[task.node]; nextLeft[task.node] += counts[t]
            rightDst[t] = nextRight[task.node]; nextRight[task.node] += task.range.count - counts[t]
        }
        let (ld, rd) = (leftDst, rightDst)
        parallelFor(tasks.count, threads: threads) { t in
            let range = tasks[t].range, l = counts[t]
            (index.base + ld[t]).update(from: store.rowIndexTmp + range.lowerBound, count: l)
            (index.base + rd[t]).update(from: store.rightScratch + range.lowerBound, count: range.count - l)
        }
        return nodes.enumerated().map { $1.begin + totalLeft[$0] }
    }

    /// Fills the histograms of `nodes` (ranges of `rowIndex`; what they held is overwritten). Rows
    /// are first gathered into contiguous scratch (all rows in order need no gather); then each
    /// worker owns a block of features across all nodes, so every bin is summed in row order
    /// whatever the thread count. Returns where each node's rows now sit, for the next level's
    /// partition.
    @discardableResult
    func buildHistograms(_ nodes: [(Int, Int, UnsafeMutablePointer<Int64>)], features: [Int]) -> [GatheredRows] {
        let store = self.store, stride = store.stride, index = SharedPointer(UnsafePointer(store.rowIndex))
        // The previous level's gathered rows are read while this level's are written: two buffers, in turn.
        let buffer = gatherBuffer
        gatherBuffer ^= 1
        let binsScratch = SharedMutablePointer(store.gatherBins[buffer]), ghScratch = SharedMutablePointer(store.gatherGH[buffer])
        var placed: [GatheredRows] = []
        var taskList: [(range: Range<Int>, to: Int)] = []
        var offset = 0
        for (begin, end, _) in nodes {
            let count = end - begin
            if begin == 0, count == store.rows {
                // The whole data set in row order (the root without sampling): read it in place.
                placed.append(GatheredRows(bins: store.rowBins, gh: store.ghq, inPlace: true))
                continue
            }
            placed.append(GatheredRows(bins: binsScratch.base + offset * stride, gh: ghScratch.base + 2 * offset, inPlace: false))
            var s = begin
            while s < end {
                let t = min(end, s + (1 << 14))
                taskList.append((s..<t, offset + (s - begin)))
                s = t
            }
            offset += count
        }
        let gathers = taskList
        parallelFor(gathers.count, threads: threads) { t in
            let (range, to) = gathers[t]
            var dst = to
            let last = range.upperBound - 1
            for i in range {
                let next = Int(index[min(i &+ 16, last)])
                sextant_prefetch(store.rowBins + next &* stride); sextant_prefetch(store.ghq + 2 &* next)
                let row = Int(index[i])
                copyRow(from: store.rowBins + row &* stride, store.ghq + 2 &* row,
                        to: binsScratch.base + dst &* stride, ghScratch.base + 2 &* dst, stride: stride)
                dst &+= 1
            }
        }
        if features.count < store.features {
            // Bins of features not sampled for this tree are never summed: cleared here, once.
            let sampled = Set(features)
            for (_, _, hist) in nodes {
                for j in 0..<store.features where !sampled.contains(j) {
                    (hist + j * histogramStride * 2).update(repeating: 0, count: histogramStride * 2)
                }
            }
        }
        let sources = zip(nodes, placed).map { node, rows in
            RowSource(bins: SharedPointer(UnsafePointer(rows.bins)), gh: SharedPointer(UnsafePointer(rows.gh)), count: node.1 - node.0,
                      hist: SharedMutablePointer(node.2))
        }
        accumulate(sources, features: features)
        return placed
    }

    /// Rows whose bins (row-major) and fixed-point pairs sit contiguously, and the histogram they sum into.
    typealias RowSource = (bins: SharedPointer<UInt8>, gh: SharedPointer<Int32>, count: Int, hist: SharedMutablePointer<Int64>)

    /// Sets the bins of `features` of every source's histogram to the sums of its rows' pairs.
    /// Sources of `rowParallelRows` rows or more are cut into one share of rows per worker, each
    /// summed over every feature into its own histogram and the shares added together after
    /// (each worker streams only its share of a large node); smaller sources are summed by
    /// feature blocks, one per worker, over all their rows. Integer sums: the same result
    /// however the rows are cut.
    private func accumulate(_ work: [RowSource], features: [Int]) {
        let rowParallelRows = 1 << 15
        var tasks: [(source: Int, rows: Range<Int>, features: [Int], into: SharedMutablePointer<Int64>)] = []
        var shares: [(into: SharedMutablePointer<Int64>, from: [SharedMutablePointer<Int64>])] = []
        for (n, source) in work.enumerated() where source.count >= rowParallelRows && threads > 1 {
            var extra: [SharedMutablePointer<Int64>] = []
            for (part, rows) in evenRanges(source.count, parts: threads).enumerated() {
                let into = part == 0 ? source.hist : SharedMutablePointer(takeHist())
                if part > 0 { extra.append(into) }
                tasks.append((n, rows, features, into))
            }
            shares.append((source.hist, extra))
        }
        let blocks = evenRanges(features.count, parts: threads).map { Array(features[$0]) }
        for (n, source) in work.enumerated() where source.count < rowParallelRows || threads <= 1 {
            for block in blocks { tasks.append((n, 0..<source.count, block, source.hist)) }
        }
        let stride = store.stride, all = tasks
        parallelFor(all.count, threads: threads) { t in
            let task = all[t]
            let source = work[task.source]
            // The worker clears the bins it sums: in parallel, and into its own cache.
            for j in task.features { (task.into.base + j &* histogramStride &* 2).update(repeating: 0, count: histogramStride &* 2) }
            sumRows(bins: source.bins.base, gh: source.gh.base, stride: stride, rows: task.rows, features: task.features, into: task.into.base)
        }
        if shares.isEmpty { return }
        // Each worker adds every extra share's bins of one slice of the features.
        let add = shares
        parallelFor(blocks.count, threads: threads) { b in
            for (into, from) in add {
                for j in blocks[b] {
                    let first = j &* histogramStride &* 2
                    for share in from {
                        for i in first..<(first &+ histogramStride &* 2) { into[i] = into[i] &+ share[i] }
                    }
                }
            }
        }
        for (_, from) in shares { for share in from { releaseHist(share.base) } }
    }
}

/// Adds the pairs of `rows` to the bins of `features` in `into`. Features go in groups of 5
/// (5 × 256 bins × 16 bytes = 20 KiB of histogram: inside a 32 KiB first-level data cache with the
/// rows streaming through), each group swept over a chunk of 4,096 rows (160 KiB with 28
/// features) while the chunk stays in the second level for the next group.
private func sumRows(bins: UnsafePointer<UInt8>, gh: UnsafePointer<Int32>, stride: Int, rows: Range<Int>, features: [Int],
                     into: UnsafeMutablePointer<Int64>) {
    let groupFeatures = 5, chunk = 4_096
    let groups = evenRanges(features.count, parts: (features.count + groupFeatures - 1) / groupFeatures).map { Array(features[$0]) }
    let hist = UnsafeMutableRawPointer(into), pairs = UnsafeRawPointer(gh)
    // (g, h) is added to a bin as one SIMD2<Int64>: one load, one add, one store per feature and row.
    @inline(__always) func add(_ j: Int, _ rowBins: UnsafePointer<UInt8>, _ v: SIMD2<Int64>) {
        let offset = (j &* histogramStride &+ Int(rowBins[j])) &* 16
        hist.storeBytes(of: hist.loadUnaligned(fromByteOffset: offset, as: SIMD2<Int64>.self) &+ v,
                        toByteOffset: offset, as: SIMD2<Int64>.self)
    }
    var start = rows.lowerBound
    while start < rows.upperBound {
        let end = min(rows.upperBound, start &+ chunk)
        for group in groups {
            group.withUnsafeBufferPointer { fb in
                guard let fl = fb.baseAddress, fb.count > 0 else { return }
                let nf = fb.count
                let contiguous = fl[nf - 1] - fl[0] == nf - 1
                let f0 = fl[0], f1 = fl[0] + nf
                for pos in start..<end {
                    let pair = pairs.loadUnaligned(fromByteOffset: pos &* 8, as: SIMD2<Int32>.self)
                    let v = SIMD2<Int64>(Int64(pair.x), Int64(pair.y))
                    let rowBins = bins + pos &* stride
                    if contiguous {
                        var j = f0
                        while j < f1 { add(j, rowBins, v); j &+= 1 }
                    } else {
                        for t in 0..<nf { add(fl[t], rowBins, v) }
                    }
                }
            }
        }
        start = end
    }
}

/// Copies one row's bins (`stride` bytes, a multiple of 8) and its fixed-point pair.
@inline(__always)
private func copyRow(from bins: UnsafePointer<UInt8>, _ gh: UnsafePointer<Int32>,
                     to outBins: UnsafeMutablePointer<UInt8>, _ outGH: UnsafeMutablePointer<Int32>, stride: Int) {
    let src = UnsafeRawPointer(bins), dst = UnsafeMutableRawPointer(outBins)
    var o = 0
    while o < stride {
        dst.storeBytes(of: src.load(fromByteOffset: o, as: UInt64.self), toByteOffset: o, as: UInt64.self)
        o &+= 8
    }
    UnsafeMutableRawPointer(outGH).storeBytes(of: UnsafeRawPointer(gh).load(as: UInt64.self), as: UInt64.self)
}
