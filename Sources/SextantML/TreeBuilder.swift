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
    /// The row store's gather buffer the next `buildHistograms` writes (they alternate by level).
    var gatherBuffer = 0

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
        /// The node's rows in contiguous scratch when its histogram was built from them.
        var gathered: GatheredRows?
    }

    /// Histogram storage from the pool (contents undefined), or new.
    func takeHist() -> UnsafeMutablePointer<Int64> {
        if let p = pool.popLast() { return p }
        let p = UnsafeMutablePointer<Int64>.allocate(capacity: histSize)
        p.initialize(repeating: 0, count: histSize)
        return p
    }

    /// Returns histogram storage to the pool.
    func releaseHist(_ p: UnsafeMutablePointer<Int64>) { pool.append(p) }

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
        var rootRows: GatheredRows?
        if params.maxDepth > 0, let first = features.first {
            let hist = takeHist()
            rootRows = buildHistograms([(0, count, hist)], features: features).first
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
        level[0].gathered = rootRows
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

            let mids = partition(toSplit.map { (begin: $0.0.begin, end: $0.0.end, split: $0.1, rows: $0.0.gathered) }, count: count)
            // Rows sent left over all ranks: which child is smaller, and row counts for the search.
            var leftRows = toSplit.enumerated().map { Int64(mids[$0.offset] - $0.element.0.begin) }
            try leftRows.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { try allreduce(p, count: b.count) } }

            // Histograms: build the smaller child now; the larger one is parent - smaller, derived
            // at the start of the next level's split search. Children at maxDepth are leaves and
            // need no histogram at all.
            let childrenSearched = depth + 1 < params.maxDepth
            var builds: [(Int, Int, UnsafeMutablePointer<Int64>)] = []
            var built: [Int] = []  // the position in `next` of each child built
            var next: [Pending] = []
            for (k, (p, s, left)) in toSplit.enumerated() {
                let mid = mids[k]
                let nl = Int(leftRows[k])
                let bounds = childBounds(p, s)
                var leftChild = Pending(node: left, begin: p.begin, end: mid, g: s.leftG, h: s.leftH, rows: nl, hist: nil,
                                        lower: bounds.left.lower, upper: bounds.left.upper)
                var rightChild = Pending(node: left + 1, begin: mid, end: p.end, g: p.g - s.leftG, h: p.h - s.leftH, rows: p.rows - nl,
                                         hist: nil, lower: bounds.right.lower, upper: bounds.right.upper)
                if childrenSearched, let parentHist = p.hist {
                    let lh = takeHist(), rh = takeHist()
                    leftChild.hist = lh; rightChild.hist = rh
                    let buildLeft = nl <= p.rows - nl
                    if buildLeft {
                        builds.append((p.begin, mid, lh)); rightChild.derivedFrom = (parentHist, lh)
                    } else {
                        builds.append((mid, p.end, rh)); leftChild.derivedFrom = (parentHist, rh)
                    }
                    built.append(next.count + (buildLeft ? 0 : 1))
                }
                next.append(leftChild)
                next.append(rightChild)
                if let hist = p.hist { releaseAfterSearch.append(hist) }
            }
            let placed = buildHistograms(builds, features: features)
            for (b, position) in built.enumerated() { next[position].gathered = placed[b] }
            try allreduce(builds.map(\.2))
            level = next
        }
        pool.append(contentsOf: releaseAfterSearch)
        return (tree, leafRanges)
    }

    /// The bounds of a split's children's weights. XGBoost's TreeEvaluator::AddSplit: a monotone
    /// split caps the lower side's weights and floors the upper side's at the mean of the two
    /// child weights; otherwise both keep the parent's.
    private func childBounds(_ p: Pending, _ s: SplitCandidate)
        -> (left: (lower: Double, upper: Double), right: (lower: Double, upper: Double)) {
        var left = (lower: p.lower, upper: p.upper), right = left
        let c = params.monotone.isEmpty || s.isCategorical ? 0 : params.monotone[s.feature]
        if c != 0 {
            let wl = weight(s.leftG, s.leftH, lower: p.lower, upper: p.upper)
            let wr = weight(p.g - s.leftG, p.h - s.leftH, lower: p.lower, upper: p.upper)
            let middle = (wl + wr) / 2
            if c > 0 { left.upper = middle; right.lower = middle } else { left.lower = middle; right.upper = middle }
        }
        return (left, right)
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
