// One tree of `GradientBoosting`, grown depthwise: split search per level, stable partition of the
// node's row range, fixed-point histograms (the smaller child built, the larger derived as parent -
// smaller), allreduced over the ranks of a `Collective`.
import CCPUHints
import Foundation

/// Grows one tree depthwise over a `RowStore`.
final class TreeBuilder: @unchecked Sendable {
    // @unchecked: `build` is the only mutator and runs once at a time; its parallel phases touch
    // disjoint row ranges, disjoint features or disjoint histograms.
    let store: RowStore
    let cuts: BinCuts
    let params: GBDTParameters
    let threads: Int
    let histSize: Int
    let collective: any Collective
    /// The fixed-point scale of the current tree's gradient pairs (set by `GradientBoosting.quantise`).
    var quantiser = GradientQuantiser(maxAbsG: 0, maxH: 0)
    /// Bytes passed to allreduce since the caller last reset it.
    var allreduceBytes = 0
    /// Bytes of leaf residuals this rank received from the allgather of the leaf refit
    /// (`groupQuantiles`) since the caller last reset it.
    var gatheredBytes = 0
    private var pool: [UnsafeMutablePointer<Int64>] = []

    init(store: RowStore, cuts: BinCuts, params: GBDTParameters, threads: Int, collective: any Collective = SingleProcess()) {
        self.store = store; self.cuts = cuts; self.params = params; self.threads = threads; self.collective = collective
        histSize = store.features * histogramStride * 2
    }

    /// Sums over every rank, in place (the identity for one process).
    private func allreduce(_ p: UnsafeMutablePointer<Int64>, count: Int) throws {
        if collective.size == 1 { return }
        try collective.allreduceSum(UnsafeMutableBufferPointer(start: p, count: count))
        allreduceBytes += count * 8
    }

    /// The histograms of one level in a single allreduce (one round trip per level, not per node).
    private func allreduce(_ hists: [UnsafeMutablePointer<Int64>]) throws {
        if collective.size == 1 || hists.isEmpty { return }
        if hists.count == 1 { return try allreduce(hists[0], count: histSize) }
        let size = histSize
        var packed = [Int64](repeating: 0, count: hists.count * size)
        try packed.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            for (k, h) in hists.enumerated() { (base + k * size).update(from: h, count: size) }
            try allreduce(base, count: b.count)
            for (k, h) in hists.enumerated() { h.update(from: base + k * size, count: size) }
        }
    }

    deinit { for p in pool { p.deallocate() } }

    struct Pending {
        var node: Int
        var begin: Int
        var end: Int
        var g: Double
        var h: Double
        /// Rows in the node over all ranks.
        var rows: Int
        /// Nil for nodes at `maxDepth`: they are never searched, so no histogram is built or derived.
        var hist: UnsafeMutablePointer<Int64>?
        /// Bounds of the node's leaf weights from monotone splits above it (XGBoost's
        /// TreeEvaluator); infinite without constraints, so clamping changes nothing.
        var lower = -Double.infinity
        var upper = Double.infinity
        /// When set, `hist` is still to be computed as parent - sibling (done with the split search).
        var derivedFrom: (parent: UnsafeMutablePointer<Int64>, sibling: UnsafeMutablePointer<Int64>)?
    }

    private func takeHist() -> UnsafeMutablePointer<Int64> {
        if let p = pool.popLast() { return p }
        let p = UnsafeMutablePointer<Int64>.allocate(capacity: histSize)
        p.initialize(repeating: 0, count: histSize)
        return p
    }

    @inline(__always)
    func score(_ g: Double, _ h: Double) -> Double {
        let a = params.regAlpha
        let t = g > a ? g - a : (g < -a ? g + a : 0)
        return t * t / (h + params.regLambda)
    }

    @inline(__always)
    func weight(_ g: Double, _ h: Double) -> Double {
        let a = params.regAlpha
        let t = g > a ? g - a : (g < -a ? g + a : 0)
        return -t / (h + params.regLambda)
    }

    /// `weight` limited to a node's bounds.
    @inline(__always)
    func weight(_ g: Double, _ h: Double, lower: Double, upper: Double) -> Double {
        min(max(weight(g, h), lower), upper)
    }

    /// XGBoost's CalcGainGivenWeight: the loss reduction of weight `w` for sums (g, h); equal to
    /// `score` at the unconstrained optimum, used when monotone bounds may move the weight.
    @inline(__always)
    func gain(_ g: Double, _ h: Double, weight w: Double, extraL2: Double = 0) -> Double {
        let a = params.regAlpha
        let t = g > a ? g - a : (g < -a ? g + a : 0)
        return -(2 * t * w + (h + params.regLambda + extraL2) * w * w)
    }

    /// Builds a tree on positions 0..<count; returns it and its leaves' position ranges, values
    /// and node indices (leaves in the same order on every rank, whatever rows each holds).
    func build(count: Int, features: [Int]) throws -> (BinnedTree, [(Range<Int>, Double, node: Int)]) {
        var tree = BinnedTree()
        var leafRanges: [(Range<Int>, Double, node: Int)] = []
        var sums: [Int64] = [0, 0, Int64(count)]
        var rootHist: UnsafeMutablePointer<Int64>?
        if params.maxDepth > 0, let first = features.first {
            let hist = takeHist()
            zero(hist)
            buildHistograms([(0, count, hist)], features: features)
            // Every row sits in exactly one bin of each feature (bin 0: missing), so one
            // feature's bins add up to the root's sums, exactly: no pass over the rows.
            for b in first * histogramStride..<(first + 1) * histogramStride { sums[0] &+= hist[2 * b]; sums[1] &+= hist[2 * b + 1] }
            try allreduce(hist, count: histSize)
            rootHist = hist
        } else {
            for i in 0..<count {
                let r = Int(store.rowIndex[i])
                sums[0] &+= Int64(store.ghq[2 * r]); sums[1] &+= Int64(store.ghq[2 * r + 1])
            }
        }
        try sums.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { try allreduce(p, count: 3) } }
        let q = quantiser
        let g = Double(sums[0]) * q.toFloatG, h = Double(sums[1]) * q.toFloatH
        tree.nodes.append(BinnedTree.Node(hessian: h))
        var level = [Pending(node: 0, begin: 0, end: count, g: g, h: h, rows: Int(sums[2]), hist: rootHist)]
        var releaseAfterSearch: [UnsafeMutablePointer<Int64>] = []

        for depth in 0...params.maxDepth {
            var splits = [SplitCandidate?](repeating: nil, count: level.count)
            // Derive the larger children's histograms (parent - smaller sibling) and search the
            // best split of every node on this level, in one parallel pass over the nodes.
            let slots = ResultSlots<SplitCandidate>(count: level.count)
            let work = level.map { p in
                (p.g, p.h, p.hist.map { SharedMutablePointer($0) }, p.derivedFrom.map { (SharedMutablePointer($0.parent), SharedMutablePointer($0.sibling)) }, p.rows,
                 p.lower, p.upper)
            }
            let size = histSize
            parallelFor(work.count, threads: threads) { k in
                let (g, h, hist, derived, rows, lower, upper) = work[k]
                guard let hist else { return }  // nodes at maxDepth: leaves, nothing to search
                if let (parent, sibling) = derived {
                    for i in 0..<size { hist[i] = parent[i] &- sibling[i] }
                }
                // The split search reads the sums in floating point (exact multiples of the scale),
                // converting each bin as it scans instead of in a separate pass.
                let sums = FixedPointSums(p: UnsafePointer(hist.base), toFloatG: self.quantiser.toFloatG, toFloatH: self.quantiser.toFloatH)
                if let s = self.bestSplit(sums: sums, g: g, h: h, features: features, rows: rows, lower: lower, upper: upper) {
                    slots.set(k, s)
                }
            }
            splits = slots.all
            pool.append(contentsOf: releaseAfterSearch)
            releaseAfterSearch.removeAll()
            var toSplit: [(Pending, SplitCandidate, Int)] = []
            for (k, p) in level.enumerated() {
                guard let s = splits[k] else {
                    tree.nodes[p.node].value = weight(p.g, p.h, lower: p.lower, upper: p.upper) * params.learningRate
                    leafRanges.append((p.begin..<p.end, tree.nodes[p.node].value, p.node))
                    if let hist = p.hist { pool.append(hist) }
                    continue
                }
                let left = tree.nodes.count
                tree.nodes.append(BinnedTree.Node(hessian: s.leftH))
                tree.nodes.append(BinnedTree.Node(hessian: p.h - s.leftH))
                tree.nodes[p.node].feature = Int32(s.feature)
                tree.nodes[p.node].bin = s.bin
                tree.nodes[p.node].defaultLeft = s.defaultLeft
                tree.nodes[p.node].isCategorical = s.isCategorical
                tree.nodes[p.node].categoryMask = s.mask
                tree.nodes[p.node].left = Int32(left)
                tree.nodes[p.node].right = Int32(left + 1)
                tree.nodes[p.node].gain = s.gain
                toSplit.append((p, s, left))
            }
            if toSplit.isEmpty { break }

            let mids = partition(toSplit.map { ($0.0.begin, $0.0.end, $0.1) }, count: count)
            // Rows sent left over all ranks: which child is smaller, and row counts for the search.
            var leftRows = toSplit.enumerated().map { Int64(mids[$0.offset] - $0.element.0.begin) }
            try leftRows.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { try allreduce(p, count: b.count) } }

            // Histograms: build the smaller child now; the larger one is parent - smaller, derived
            // at the start of the next level's split search. Children at maxDepth are leaves and
            // need no histogram at all.
            let childrenSearched = depth + 1 < params.maxDepth
            var builds: [(Int, Int, UnsafeMutablePointer<Int64>)] = []
            var next: [Pending] = []
            for (k, (p, s, left)) in toSplit.enumerated() {
                let mid = mids[k]
                let nl = Int(leftRows[k])
                var leftChild = Pending(node: left, begin: p.begin, end: mid, g: s.leftG, h: s.leftH, rows: nl, hist: nil,
                                        lower: p.lower, upper: p.upper)
                var rightChild = Pending(node: left + 1, begin: mid, end: p.end, g: p.g - s.leftG, h: p.h - s.leftH, rows: p.rows - nl,
                                         hist: nil, lower: p.lower, upper: p.upper)
                // XGBoost's TreeEvaluator::AddSplit: a monotone split caps the lower side's
                // weights and floors the upper side's at the mean of the two child weights.
                let c = params.monotone.isEmpty || s.isCategorical ? 0 : params.monotone[s.feature]
                if c != 0 {
                    let wl = weight(s.leftG, s.leftH, lower: p.lower, upper: p.upper)
                    let wr = weight(p.g - s.leftG, p.h - s.leftH, lower: p.lower, upper: p.upper)
                    let middle = (wl + wr) / 2
                    if c > 0 { leftChild.upper = middle; rightChild.lower = middle } else { leftChild.lower = middle; rightChild.upper = middle }
                }
                if childrenSearched, let parentHist = p.hist {
                    let lh = takeHist(), rh = takeHist()
                    leftChild.hist = lh; rightChild.hist = rh
                    if nl <= p.rows - nl {
                        zero(lh); builds.append((p.begin, mid, lh)); rightChild.derivedFrom = (parentHist, lh)
                    } else {
                        zero(rh); builds.append((mid, p.end, rh)); leftChild.derivedFrom = (parentHist, rh)
                    }
                }
                next.append(leftChild)
                next.append(rightChild)
                if let hist = p.hist { releaseAfterSearch.append(hist) }
            }
            buildHistograms(builds, features: features)
            try allreduce(builds.map(\.2))
            level = next
        }
        pool.append(contentsOf: releaseAfterSearch)
        return (tree, leafRanges)
    }

    private func zero(_ p: UnsafeMutablePointer<Int64>) { p.update(repeating: 0, count: histSize) }

    /// Stable partition of each node's range by its split, in place, in fixed-size blocks: each
    /// block writes its left rows and its right rows (in order) to its own slice of two scratch
    /// buffers, without a branch on the direction; then every block copies both slices to their
    /// final positions in the row index (rows outside split nodes stay where they are).
    /// Returns the first right-child position of every node.
    func partition(_ nodes: [(Int, Int, SplitCandidate)], count: Int) -> [Int] {
        let blockSize = 1 << 15
        var taskList: [(node: Int, range: Range<Int>)] = []
        for (k, (b, e, _)) in nodes.enumerated() {
            var s = b
            repeat { let t = min(e, s + blockSize); taskList.append((k, s..<t)); s = t } while s < e
        }
        let store = self.store, rows = store.rows
        let tasks = taskList  // immutable from here on: shared with the workers
        let leftCounts = ResultSlots<Int>(count: tasks.count)
        parallelFor(tasks.count, threads: threads) { t in
            let (k, range) = tasks[t]
            let s = nodes[k].2
            let column = store.colBins + s.feature &* rows
            let leftOut = store.rowIndexTmp + range.lowerBound, rightOut = store.rightScratch + range.lowerBound
            var l = 0, r = 0
            @inline(__always) func put(_ row: Int32, _ goLeft: UInt8) {
                // Both slots are written; only the taken side's count moves on, so the other
                // write is overwritten by the next row of that side (or never read).
                leftOut[l] = row; rightOut[r] = row
                let x = Int(goLeft)
                l &+= x; r &+= 1 &- x
            }
            // The rows `ahead` positions on are requested while this one is read (the index says
            // which; near the end of the range it points at rows of the next range, harmless).
            let ahead = 32, last = count - 1
            if s.isCategorical {
                for i in range {
                    sextant_prefetch(column + Int(store.rowIndex[min(i &+ ahead, last)]))
                    let row = store.rowIndex[i]
                    let b = column[Int(row)]
                    put(row, unsafeBitCast(b == 0 ? s.defaultLeft : s.mask.contains(b), to: UInt8.self))
                }
            } else {
                // Present values (bin >= 1) go left when bin <= split bin: b - 1 < split bin, where
                // b = 0 wraps to 255 and never passes; missing values (bin 0) go the default way.
                let bin = s.bin, missingLeft = unsafeBitCast(s.defaultLeft, to: UInt8.self)
                for i in range {
                    sextant_prefetch(column + Int(store.rowIndex[min(i &+ ahead, last)]))
                    let row = store.rowIndex[i]
                    let b = column[Int(row)]
                    put(row, unsafeBitCast(b &- 1 < bin, to: UInt8.self) | (unsafeBitCast(b == 0, to: UInt8.self) & missingLeft))
                }
            }
            leftCounts.set(t, l)
        }
        let counts = leftCounts.all.map { $0 ?? 0 }
        var totalLeft = [Int](repeating: 0, count: nodes.count)
        for (t, task) in tasks.enumerated() { totalLeft[task.node] += counts[t] }
        var leftDst = [Int](repeating: 0, count: tasks.count), rightDst = leftDst
        var nextLeft = nodes.map { $0.0 }
        var nextRight = nodes.enumerated().map { $1.0 + totalLeft[$0] }
        for (t, task) in tasks.enumerated() {
            leftDst[t] = nextLeft[task.node]; nextLeft[task.node] += counts[t]
            rightDst[t] = nextRight[task.node]; nextRight[task.node] += task.range.count - counts[t]
        }
        let (ld, rd) = (leftDst, rightDst)
        parallelFor(tasks.count, threads: threads) { t in
            let range = tasks[t].range, l = counts[t]
            (store.rowIndex + ld[t]).update(from: store.rowIndexTmp + range.lowerBound, count: l)
            (store.rowIndex + rd[t]).update(from: store.rightScratch + range.lowerBound, count: range.count - l)
        }
        return nodes.enumerated().map { $1.0 + totalLeft[$0] }
    }

    /// Fills the histograms of `nodes` (ranges of `rowIndex`). Rows are first gathered into
    /// contiguous scratch (all rows in order need no gather); then each worker owns a block of
    /// features across all nodes, so every bin is summed in row order whatever the thread count.
    func buildHistograms(_ nodes: [(Int, Int, UnsafeMutablePointer<Int64>)], features: [Int]) {
        let store = self.store, stride = store.stride
        var sources: [(bins: SharedPointer<UInt8>, gh: SharedPointer<Int32>, count: Int, hist: SharedMutablePointer<Int64>)] = []
        var gatherTasks: [(range: Range<Int>, to: Int)] = []
        var offset = 0
        for (begin, end, hist) in nodes {
            let count = end - begin
            if begin == 0, count == store.rows {
                // The whole data set in row order (the root without sampling): read it in place.
                sources.append((SharedPointer(store.rowBins), SharedPointer(store.ghq), count, SharedMutablePointer(hist)))
                continue
            }
            sources.append((SharedPointer(store.gatherBins + offset * stride), SharedPointer(store.gatherGH + 2 * offset),
                            count, SharedMutablePointer(hist)))
            var s = begin
            while s < end {
                let t = min(end, s + (1 << 14))
                gatherTasks.append((s..<t, offset + (s - begin)))
                s = t
            }
            offset += count
        }
        let gathers = gatherTasks
        parallelFor(gathers.count, threads: threads) { t in
            let (range, to) = gathers[t]
            var dst = to
            let last = range.upperBound - 1
            for i in range {
                let next = Int(store.rowIndex[min(i &+ 16, last)])
                sextant_prefetch(store.rowBins + next &* stride); sextant_prefetch(store.ghq + 2 &* next)
                store.gather(Int(store.rowIndex[i]), dst); dst &+= 1
            }
        }
        let blocks = evenRanges(features.count, parts: threads).map { Array(features[$0]) }
        let work = sources
        parallelFor(blocks.count, threads: threads) { b in
            let block = blocks[b]
            block.withUnsafeBufferPointer { fb in
                guard let fl = fb.baseAddress, fb.count > 0 else { return }
                let nf = fb.count
                let contiguous = fl[nf - 1] - fl[0] == nf - 1
                let f0 = fl[0], f1 = fl[0] + nf
                for source in work {
                    // (g, h) is added to a bin as one SIMD2<Int64>: one load, one add, one store
                    // per feature and row.
                    let hist = UnsafeMutableRawPointer(source.hist.base), bins = source.bins.base
                    let gh = UnsafeRawPointer(source.gh.base)
                    @inline(__always) func add(_ j: Int, _ rowBins: UnsafePointer<UInt8>, _ v: SIMD2<Int64>) {
                        let offset = (j &* histogramStride &+ Int(rowBins[j])) &* 16
                        hist.storeBytes(of: hist.loadUnaligned(fromByteOffset: offset, as: SIMD2<Int64>.self) &+ v,
                                        toByteOffset: offset, as: SIMD2<Int64>.self)
                    }
                    for pos in 0..<source.count {
                        let pair = gh.loadUnaligned(fromByteOffset: pos &* 8, as: SIMD2<Int32>.self)
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
        }
    }

    /// Best split of one node over `features` from floating-point sums (tests).
    func bestSplit(hist: UnsafeMutablePointer<Double>, g: Double, h: Double, features: [Int], rows: Int = 0,
                   lower: Double = -.infinity, upper: Double = .infinity) -> SplitCandidate? {
        bestSplit(sums: FloatSums(p: UnsafePointer(hist)), g: g, h: h, features: features, rows: rows, lower: lower, upper: upper)
    }

    /// Best split of one node over `features`, or nil when no split gains more than `gamma`.
    func bestSplit<Sums: HistogramSums>(sums hist: Sums, g: Double, h: Double, features: [Int], rows: Int = 0,
                                        lower: Double = -.infinity, upper: Double = .infinity) -> SplitCandidate? {
        let constrained = !params.monotone.isEmpty
        // With monotone constraints, gains are taken at the bounded weights (XGBoost's
        // CalcSplitGain); without, the closed form, bit for bit as before.
        let parentScore = constrained ? gain(g, h, weight: weight(g, h, lower: lower, upper: upper)) : score(g, h)
        var best = SplitCandidate()
        best.gain = max(params.gamma, 1e-6)  // XGBoost's kRtEps: ignore numerically empty gains
        var found = false
        for j in features {
            let base = j * histogramStride
            let bins = cuts.binCount[j]
            if cuts.isCategorical[j] {
                withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * histogramStride) { buffer in
                    guard let local = buffer.baseAddress else { return }
                    for b in 0..<histogramStride { local[2 * b] = hist.g(base + b); local[2 * b + 1] = hist.h(base + b) }
                    categoricalSplit(base: local, feature: j, categories: bins, g: g, h: h, rows: rows, parentScore: parentScore,
                                     bounds: constrained ? (lower, upper) : nil, best: &best, found: &found)
                }
                continue
            }
            // With monotone constraints, each candidate's gain is taken at its children's bounded
            // weights, -infinity when they break the constraint; without, the closed form.
            let c = constrained ? params.monotone[j] : 0
            scanNumeric(hist, feature: j, g: g, h: h, parentScore: parentScore, best: &best, found: &found,
                        constrainedGain: !constrained ? nil : { lg, lh in
                            let wl = self.weight(lg, lh, lower: lower, upper: upper)
                            let wr = self.weight(g - lg, h - lh, lower: lower, upper: upper)
                            if c > 0 ? wl > wr : (c < 0 && wl < wr) { return -.infinity }
                            return self.gain(lg, lh, weight: wl) + self.gain(g - lg, h - lh, weight: wr) - parentScore
                        })
        }
        return found ? best : nil
    }
}

/// The (g, h) sums of a node's histogram, read by bin (`feature * histogramStride + bin`).
protocol HistogramSums {
    func g(_ bin: Int) -> Double
    func h(_ bin: Int) -> Double
}

/// Floating-point sums, (g, h) interleaved.
struct FloatSums: HistogramSums {
    let p: UnsafePointer<Double>
    @inline(__always) func g(_ bin: Int) -> Double { p[2 &* bin] }
    @inline(__always) func h(_ bin: Int) -> Double { p[2 &* bin &+ 1] }
}

/// Fixed-point sums (`GradientQuantiser`) converted on reading: `q · 2^−k`, exact.
struct FixedPointSums: HistogramSums {
    let p: UnsafePointer<Int64>
    let toFloatG: Double, toFloatH: Double
    @inline(__always) func g(_ bin: Int) -> Double { Double(p[2 &* bin]) * toFloatG }
    @inline(__always) func h(_ bin: Int) -> Double { Double(p[2 &* bin &+ 1]) * toFloatH }
}
