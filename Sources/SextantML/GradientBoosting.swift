// Histogram-based gradient-boosted decision trees for binary classification (logistic loss),
// grown depthwise like XGBoost's `tree_method="hist"`.
//
// Per tree: gradients/hessians (Float) for every training row; the row indices of each node are a
// contiguous range of one index array, partitioned in place (stable) at every split; the node
// histograms (Double sums of gradient and hessian per feature and bin) are built for the smaller
// child only and the sibling is derived as parent - smaller. Threads own whole features while
// building histograms, so every sum is accumulated in the same order for any thread count and
// the model is bit-identical with 1 or N threads.
import Foundation

public struct GBDTParameters: Sendable, Codable, Equatable {
    public var nEstimators = 100
    public var maxDepth = 6
    public var learningRate = 0.3
    public var subsample = 1.0
    public var colsampleBytree = 1.0
    public var minChildWeight = 1.0
    public var gamma = 0.0
    public var regAlpha = 0.0
    public var regLambda = 1.0
    public var maxBin = 255
    /// Categorical features with fewer levels split one level against the rest (XGBoost's
    /// `max_cat_to_onehot`, default 4).
    public var maxCatToOnehot = 4
    /// At most this many levels from either end of the weight order form a partition split
    /// (XGBoost's `max_cat_threshold`, default 64).
    public var maxCatThreshold = 64
    /// LightGBM's categorical regularisation (same names, same defaults): levels with fewer rows
    /// are left out of the partition order and the value is added to the hessian when sorting.
    public var catSmooth = 10.0
    /// L2 added to `regLambda` in the gain of categorical splits (LightGBM `cat_l2`).
    public var catL2 = 10.0
    /// Rows per group of levels between two tried partitions (LightGBM `min_data_per_group`).
    public var minDataPerGroup = 100
    public var earlyStoppingRounds: Int?
    public var seed: UInt64 = 0
    public var threads = 1

    public init() {}

    public init(_ h: TrainingConfig.Hyperparameters?, threads: Int) {
        if let h {
            if let v = h.nEstimators { nEstimators = v }
            if let v = h.maxDepth { maxDepth = v }
            if let v = h.learningRate { learningRate = v }
            if let v = h.subsample { subsample = v }
            if let v = h.colsampleBytree { colsampleBytree = v }
            if let v = h.minChildWeight { minChildWeight = v }
            if let v = h.gamma { gamma = v }
            if let v = h.regAlpha { regAlpha = v }
            if let v = h.regLambda { regLambda = v }
            if let v = h.maxBin { maxBin = v }
            if let v = h.maxCatToOnehot { maxCatToOnehot = v }
            if let v = h.maxCatThreshold { maxCatThreshold = v }
            if let v = h.catSmooth { catSmooth = v }
            if let v = h.catL2 { catL2 = v }
            if let v = h.minDataPerGroup { minDataPerGroup = v }
            earlyStoppingRounds = h.earlyStoppingRounds
            if let v = h.seed { seed = v }
        }
        self.threads = threads
    }
}

/// Progress of one boosting round (for stderr and tests).
public struct RoundProgress: Sendable {
    public var round: Int
    public var validationLogLoss: Double?
    public var elapsedSeconds: Double
}

/// A tree while training: nodes address bins; converted to raw thresholds for the artifact.
struct BinnedTree: Sendable {
    struct Node: Sendable {
        var feature: Int32 = -1
        var bin: UInt8 = 0            // numeric: left when 1 <= bin <= this
        var defaultLeft = true        // where missing values (bin 0) go
        var isCategorical = false
        var categoryMask = CategoryMask()  // categorical: left when the bin's bit is set
        var left: Int32 = -1
        var right: Int32 = -1
        var value = 0.0               // leaf value (learning rate applied)
        var gain = 0.0
        var hessian = 0.0
    }
    var nodes: [Node] = []

    @inline(__always)
    func leafValue(rowBins: UnsafePointer<UInt8>) -> Double {
        var n = 0
        while true {
            let node = nodes[n]
            if node.feature < 0 { return node.value }
            let b = rowBins[Int(node.feature)]
            let goLeft: Bool
            if b == 0 { goLeft = node.defaultLeft } else if node.isCategorical { goLeft = node.categoryMask.contains(b) } else { goLeft = b <= node.bin }
            n = Int(goLeft ? node.left : node.right)
        }
    }
}

struct CategoryMask: Sendable, Equatable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    @inline(__always) func contains(_ bin: UInt8) -> Bool {
        let w: UInt64
        switch bin >> 6 { case 0: w = words.0; case 1: w = words.1; case 2: w = words.2; default: w = words.3 }
        return (w >> UInt64(bin & 63)) & 1 == 1
    }
    mutating func insert(_ bin: UInt8) {
        let bit = UInt64(1) << UInt64(bin & 63)
        switch bin >> 6 { case 0: words.0 |= bit; case 1: words.1 |= bit; case 2: words.2 |= bit; default: words.3 |= bit }
    }
    static func == (a: CategoryMask, b: CategoryMask) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }
}

struct SplitCandidate: Sendable {
    var gain = 0.0
    var feature = -1
    var bin: UInt8 = 0
    var defaultLeft = true
    var isCategorical = false
    var mask = CategoryMask()
    var leftG = 0.0, leftH = 0.0
}

/// Deterministic pseudo-random numbers (SplitMix64): same seed, same sample, on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
    /// Standard normal (Box-Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUnit(), 1e-300), u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

struct GBDTResult: Sendable {
    var trees: [BinnedTree]
    var baseScore: Double
    var bestIteration: Int
    var validationLogLoss: [Double]
}

/// Bins per feature reserved in a histogram (bin 0 = missing, up to 255 real bins).
let histogramStride = 256

enum GradientBoosting {
    static func train(_ x: BinnedMatrix, labels: [Double], cuts: BinCuts, params: GBDTParameters,
                      validation: (x: BinnedMatrix, labels: [Double])? = nil,
                      progress: ((RoundProgress) -> Void)? = nil) -> GBDTResult
    {
        let n = x.rows, f = x.features, threads = max(1, params.threads)
        let started = Date()
        // Base score: the log-odds of the training positive rate (an intercept fit).
        let positives = labels.reduce(0, +)
        let rate = min(max(positives / Double(max(n, 1)), 1e-6), 1 - 1e-6)
        let baseScore = log(rate / (1 - rate))

        var margin = [Double](repeating: baseScore, count: n)
        var validMargin = [Double](repeating: baseScore, count: validation?.x.rows ?? 0)
        var trees: [BinnedTree] = []
        var history: [Double] = []
        var best = (iteration: -1, loss: Double.infinity)
        var rng = SplitMix64(seed: params.seed)
        let store = RowStore(x)
        let builder = TreeBuilder(store: store, cuts: cuts, params: params, threads: threads)
        let rowBlocks = evenRanges(n, parts: 64)  // fixed blocks: elementwise work, any thread count

        for round in 0..<params.nEstimators {
            // Gradients and hessians of the logistic loss at the current margins.
            margin.withUnsafeBufferPointer { mp in
                labels.withUnsafeBufferPointer { lp in
                    guard let mBase = mp.baseAddress, let lBase = lp.baseAddress else { return }
                    let m = SharedPointer(mBase), l = SharedPointer(lBase), gh = SharedMutablePointer(store.gh)
                    parallelFor(rowBlocks.count, threads: threads) { b in
                        for r in rowBlocks[b] {
                            let p = 1 / (1 + exp(-m[r]))
                            gh[2 &* r] = Float(p - l[r])
                            gh[2 &* r &+ 1] = Float(max(p * (1 - p), 1e-16))
                        }
                    }
                }
            }
            // Row sampling (Bernoulli per row) and feature sampling for this tree.
            var sampledCount = n
            if params.subsample < 1 {
                sampledCount = 0
                for r in 0..<n where rng.nextUnit() < params.subsample { store.rowIndex[sampledCount] = Int32(r); sampledCount += 1 }
                if sampledCount == 0, n > 0 { store.rowIndex[0] = Int32(Int(rng.next() % UInt64(n))); sampledCount = 1 }
            } else {
                for r in 0..<n { store.rowIndex[r] = Int32(r) }
            }
            var featureList = Array(0..<f)
            if params.colsampleBytree < 1 {
                let k = max(1, Int((params.colsampleBytree * Double(f)).rounded()))
                for i in 0..<k { featureList.swapAt(i, i + Int(rng.next() % UInt64(f - i))) }
                featureList = Array(featureList[0..<k]).sorted()
            }
            let (tree, leafRanges) = builder.build(count: sampledCount, features: featureList)
            trees.append(tree)

            // Margins: sampled rows get their leaf from the partition; the others walk the tree.
            margin.withUnsafeMutableBufferPointer { mp in
                guard let mBase = mp.baseAddress else { return }
                let m = SharedMutablePointer(mBase), rowIndex = SharedPointer(UnsafePointer(store.rowIndex))
                parallelFor(leafRanges.count, threads: threads) { k in
                    let (range, value) = leafRanges[k]
                    for i in range { m[Int(rowIndex[i])] += value }
                }
                if sampledCount < n {
                    var inSample = [Bool](repeating: false, count: n)
                    for i in 0..<sampledCount { inSample[Int(store.rowIndex[i])] = true }
                    for r in 0..<n where !inSample[r] {
                        m[r] += tree.leafValue(rowBins: store.rowBins + r * store.stride)
                    }
                }
            }
            var validLoss: Double?
            if let validation {
                let vf = validation.x.features, vBlocks = evenRanges(validation.x.rows, parts: 16)
                validMargin.withUnsafeMutableBufferPointer { mp in
                    validation.x.bins.withUnsafeBufferPointer { bp in
                        guard let mBase = mp.baseAddress, let bBase = bp.baseAddress else { return }
                        let m = SharedMutablePointer(mBase), bins = SharedPointer(bBase)
                        parallelFor(vBlocks.count, threads: threads) { b in
                            for i in vBlocks[b] { m[i] += tree.leafValue(rowBins: bins.base + i * vf) }
                        }
                    }
                }
                let loss = Metrics.logLoss(labels: validation.labels, probabilities: validMargin.map(sigmoid))
                validLoss = loss
                history.append(loss)
                if loss < best.loss - 1e-12 { best = (round, loss) }
            }
            progress?(RoundProgress(round: round + 1, validationLogLoss: validLoss,
                                    elapsedSeconds: Date().timeIntervalSince(started)))
            if let esr = params.earlyStoppingRounds, validation != nil, round - best.iteration >= esr { break }
        }
        var bestIteration = trees.count - 1
        if validation != nil, params.earlyStoppingRounds != nil, best.iteration >= 0 {
            bestIteration = best.iteration
            trees = Array(trees.prefix(best.iteration + 1))
        }
        return GBDTResult(trees: trees, baseScore: baseScore, bestIteration: bestIteration, validationLogLoss: history)
    }
}

@inline(__always) func sigmoid(_ m: Double) -> Double { 1 / (1 + exp(-m)) }

/// The training bins in two layouts plus per-row gradients and the node-partitioned row index.
/// Row-major bins (rows padded to 8 bytes) feed the histograms; column-major bins make the
/// partition read one byte column in increasing row order. Before a child's histogram is built its
/// rows are gathered into contiguous scratch, so the histogram kernel streams memory.
final class RowStore: @unchecked Sendable {
    // @unchecked: raw buffers; every parallel phase writes disjoint ranges (see TreeBuilder).
    let rows: Int
    let features: Int
    let stride: Int
    let rowBins: UnsafeMutablePointer<UInt8>
    let colBins: UnsafeMutablePointer<UInt8>
    let gh: UnsafeMutablePointer<Float>
    /// Swapped after each partition (ping-pong), never while workers run.
    var rowIndex: UnsafeMutablePointer<Int32>
    var rowIndexTmp: UnsafeMutablePointer<Int32>
    let goLeft: UnsafeMutablePointer<Bool>
    let gatherBins: UnsafeMutablePointer<UInt8>
    let gatherGH: UnsafeMutablePointer<Float>

    init(_ x: BinnedMatrix) {
        rows = x.rows; features = x.features
        stride = (x.features + 7) & ~7
        let n = max(rows, 1)
        rowBins = .allocate(capacity: n * stride); rowBins.initialize(repeating: 0, count: n * stride)
        colBins = .allocate(capacity: n * max(features, 1)); colBins.initialize(repeating: 0, count: n * max(features, 1))
        gh = .allocate(capacity: 2 * n); gh.initialize(repeating: 0, count: 2 * n)
        rowIndex = .allocate(capacity: n); rowIndex.initialize(repeating: 0, count: n)
        rowIndexTmp = .allocate(capacity: n); rowIndexTmp.initialize(repeating: 0, count: n)
        goLeft = .allocate(capacity: n); goLeft.initialize(repeating: false, count: n)
        gatherBins = .allocate(capacity: n * stride); gatherBins.initialize(repeating: 0, count: n * stride)
        gatherGH = .allocate(capacity: 2 * n); gatherGH.initialize(repeating: 0, count: 2 * n)
        x.bins.withUnsafeBufferPointer { src in
            guard let s = src.baseAddress else { return }
            for r in 0..<rows {
                (rowBins + r * stride).update(from: s + r * features, count: features)
                for j in 0..<features { colBins[j * rows + r] = s[r * features + j] }
            }
        }
    }

    deinit {
        rowBins.deallocate(); colBins.deallocate(); gh.deallocate(); rowIndex.deallocate()
        rowIndexTmp.deallocate(); goLeft.deallocate(); gatherBins.deallocate(); gatherGH.deallocate()
    }

    /// Copies the bins and gradient pair of row `row` to scratch slot `to`.
    @inline(__always)
    func gather(_ row: Int, _ to: Int) {
        let src = UnsafeRawPointer(rowBins + row &* stride), dst = UnsafeMutableRawPointer(gatherBins + to &* stride)
        var o = 0
        while o < stride {
            dst.storeBytes(of: src.load(fromByteOffset: o, as: UInt64.self), toByteOffset: o, as: UInt64.self)
            o &+= 8
        }
        UnsafeMutableRawPointer(gatherGH + 2 &* to).storeBytes(of: UnsafeRawPointer(gh + 2 &* row).load(as: UInt64.self), as: UInt64.self)
    }
}

/// Grows one tree depthwise over a `RowStore`.
final class TreeBuilder: @unchecked Sendable {
    // @unchecked: `build` is the only mutator and runs once at a time; its parallel phases touch
    // disjoint row ranges, disjoint features or disjoint histograms.
    let store: RowStore
    let cuts: BinCuts
    let params: GBDTParameters
    let threads: Int
    let histSize: Int
    private var pool: [UnsafeMutablePointer<Double>] = []

    init(store: RowStore, cuts: BinCuts, params: GBDTParameters, threads: Int) {
        self.store = store; self.cuts = cuts; self.params = params; self.threads = threads
        histSize = store.features * histogramStride * 2
    }

    deinit { for p in pool { p.deallocate() } }

    struct Pending {
        var node: Int
        var begin: Int
        var end: Int
        var g: Double
        var h: Double
        /// Nil for nodes at `maxDepth`: they are never searched, so no histogram is built or derived.
        var hist: UnsafeMutablePointer<Double>?
        /// When set, `hist` is still to be computed as parent - sibling (done with the split search).
        var derivedFrom: (parent: UnsafeMutablePointer<Double>, sibling: UnsafeMutablePointer<Double>)?
    }

    private func takeHist() -> UnsafeMutablePointer<Double> {
        if let p = pool.popLast() { return p }
        let p = UnsafeMutablePointer<Double>.allocate(capacity: histSize)
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

    /// Builds a tree on positions 0..<count; returns it and its leaves' position ranges and values.
    func build(count: Int, features: [Int]) -> (BinnedTree, [(Range<Int>, Double)]) {
        var tree = BinnedTree()
        var leafRanges: [(Range<Int>, Double)] = []
        var g = 0.0, h = 0.0
        for i in 0..<count {
            let r = Int(store.rowIndex[i])
            g += Double(store.gh[2 * r]); h += Double(store.gh[2 * r + 1])
        }
        tree.nodes.append(BinnedTree.Node(hessian: h))
        var rootHist: UnsafeMutablePointer<Double>?
        if params.maxDepth > 0 {
            let hist = takeHist()
            zero(hist)
            buildHistograms([(0, count, hist)], features: features)
            rootHist = hist
        }
        var level = [Pending(node: 0, begin: 0, end: count, g: g, h: h, hist: rootHist)]
        var releaseAfterSearch: [UnsafeMutablePointer<Double>] = []

        for depth in 0...params.maxDepth {
            var splits = [SplitCandidate?](repeating: nil, count: level.count)
            // Derive the larger children's histograms (parent - smaller sibling) and search the
            // best split of every node on this level, in one parallel pass over the nodes.
            let slots = ResultSlots<SplitCandidate>(count: level.count)
            let work = level.map { p in
                (p.g, p.h, p.hist.map { SharedMutablePointer($0) }, p.derivedFrom.map { (SharedMutablePointer($0.parent), SharedMutablePointer($0.sibling)) }, p.end - p.begin)
            }
            let size = histSize
            parallelFor(work.count, threads: threads) { k in
                let (g, h, hist, derived, rows) = work[k]
                guard let hist else { return }  // nodes at maxDepth: leaves, nothing to search
                if let (parent, sibling) = derived {
                    for i in 0..<size { hist[i] = parent[i] - sibling[i] }
                }
                if let s = self.bestSplit(hist: hist.base, g: g, h: h, features: features, rows: rows) { slots.set(k, s) }
            }
            splits = slots.all
            pool.append(contentsOf: releaseAfterSearch)
            releaseAfterSearch.removeAll()
            var toSplit: [(Pending, SplitCandidate, Int)] = []
            for (k, p) in level.enumerated() {
                guard let s = splits[k] else {
                    tree.nodes[p.node].value = weight(p.g, p.h) * params.learningRate
                    leafRanges.append((p.begin..<p.end, tree.nodes[p.node].value))
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

            // Histograms: build the smaller child now; the larger one is parent - smaller, derived
            // at the start of the next level's split search. Children at maxDepth are leaves and
            // need no histogram at all.
            let childrenSearched = depth + 1 < params.maxDepth
            var builds: [(Int, Int, UnsafeMutablePointer<Double>)] = []
            var next: [Pending] = []
            for (k, (p, s, left)) in toSplit.enumerated() {
                let mid = mids[k]
                var leftChild = Pending(node: left, begin: p.begin, end: mid, g: s.leftG, h: s.leftH, hist: nil)
                var rightChild = Pending(node: left + 1, begin: mid, end: p.end, g: p.g - s.leftG, h: p.h - s.leftH, hist: nil)
                if childrenSearched, let parentHist = p.hist {
                    let lh = takeHist(), rh = takeHist()
                    leftChild.hist = lh; rightChild.hist = rh
                    if (mid - p.begin) <= (p.end - mid) {
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
            level = next
        }
        pool.append(contentsOf: releaseAfterSearch)
        return (tree, leafRanges)
    }

    private func zero(_ p: UnsafeMutablePointer<Double>) { p.update(repeating: 0, count: histSize) }

    /// Stable partition of each node's range by its split, in fixed-size blocks: count, then
    /// scatter into the other index buffer (rows outside split nodes are copied) and swap.
    /// Returns the first right-child position of every node.
    func partition(_ nodes: [(Int, Int, SplitCandidate)], count: Int) -> [Int] {
        let blockSize = 1 << 15
        var taskList: [(node: Int, range: Range<Int>)] = []
        var copies: [Range<Int>] = []
        var covered = 0
        for (k, (b, e, _)) in nodes.enumerated() {
            if b > covered { copies.append(covered..<b) }
            var s = b
            repeat { let t = min(e, s + blockSize); taskList.append((k, s..<t)); s = t } while s < e
            covered = e
        }
        if covered < count { copies.append(covered..<count) }
        let store = self.store, rows = store.rows
        let tasks = taskList  // immutable from here on: shared with the workers
        let leftCounts = ResultSlots<Int>(count: tasks.count)
        parallelFor(tasks.count, threads: threads) { t in
            let (k, range) = tasks[t]
            let s = nodes[k].2
            let column = store.colBins + s.feature &* rows
            var l = 0
            for i in range {
                let b = column[Int(store.rowIndex[i])]
                let goLeft: Bool
                if b == 0 { goLeft = s.defaultLeft } else if s.isCategorical { goLeft = s.mask.contains(b) } else { goLeft = b <= s.bin }
                store.goLeft[i] = goLeft
                if goLeft { l &+= 1 }
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
        let copyRanges = copies
        parallelFor(tasks.count + copyRanges.count, threads: threads) { t in
            if t < tasks.count {
                var l = ld[t], r = rd[t]
                for i in tasks[t].range {
                    let row = store.rowIndex[i]
                    if store.goLeft[i] { store.rowIndexTmp[l] = row; l &+= 1 } else { store.rowIndexTmp[r] = row; r &+= 1 }
                }
            } else {
                let range = copyRanges[t - tasks.count]
                (store.rowIndexTmp + range.lowerBound).update(from: store.rowIndex + range.lowerBound, count: range.count)
            }
        }
        swap(&store.rowIndex, &store.rowIndexTmp)
        return nodes.enumerated().map { $1.0 + totalLeft[$0] }
    }

    /// Fills the histograms of `nodes` (ranges of `rowIndex`). Rows are first gathered into
    /// contiguous scratch (all rows in order need no gather); then each worker owns a block of
    /// features across all nodes, so every bin is summed in row order whatever the thread count.
    func buildHistograms(_ nodes: [(Int, Int, UnsafeMutablePointer<Double>)], features: [Int]) {
        let store = self.store, stride = store.stride
        var sources: [(bins: SharedPointer<UInt8>, gh: SharedPointer<Float>, count: Int, hist: SharedMutablePointer<Double>)] = []
        var gatherTasks: [(range: Range<Int>, to: Int)] = []
        var offset = 0
        for (begin, end, hist) in nodes {
            let count = end - begin
            if begin == 0, count == store.rows {
                // The whole data set in row order (the root without sampling): read it in place.
                sources.append((SharedPointer(store.rowBins), SharedPointer(store.gh), count, SharedMutablePointer(hist)))
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
            for i in range { store.gather(Int(store.rowIndex[i]), dst); dst &+= 1 }
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
                    // (g, h) is added to a bin as one SIMD2<Double>: one load, one add, one store
                    // per feature and row (the same two IEEE additions as scalar code).
                    let hist = UnsafeMutableRawPointer(source.hist.base), bins = source.bins.base
                    let gh = UnsafeRawPointer(source.gh.base)
                    @inline(__always) func add(_ j: Int, _ rowBins: UnsafePointer<UInt8>, _ v: SIMD2<Double>) {
                        let offset = (j &* histogramStride &+ Int(rowBins[j])) &* 16
                        hist.storeBytes(of: hist.loadUnaligned(fromByteOffset: offset, as: SIMD2<Double>.self) + v,
                                        toByteOffset: offset, as: SIMD2<Double>.self)
                    }
                    for pos in 0..<source.count {
                        let pair = gh.loadUnaligned(fromByteOffset: pos &* 8, as: SIMD2<Float>.self)
                        let v = SIMD2<Double>(Double(pair.x), Double(pair.y))
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

    /// Best split of one node over `features`, or nil when no split gains more than `gamma`.
    func bestSplit(hist: UnsafeMutablePointer<Double>, g: Double, h: Double, features: [Int], rows: Int = 0) -> SplitCandidate? {
        let parentScore = score(g, h)
        let mcw = params.minChildWeight
        var best = SplitCandidate()
        best.gain = max(params.gamma, 1e-6)  // XGBoost's kRtEps: ignore numerically empty gains
        var found = false
        for j in features {
            let base = hist + j * histogramStride * 2
            let missingG = base[0], missingH = base[1]
            let bins = cuts.binCount[j]
            if cuts.isCategorical[j] {
                categoricalSplit(base: base, feature: j, categories: bins, g: g, h: h, rows: rows, parentScore: parentScore,
                                 best: &best, found: &found)
                continue
            }
            if bins < 2 { continue }
            var gl = 0.0, hl = 0.0
            for b in 1..<bins {
                let bg = base[2 * b], bh = base[2 * b + 1]
                // An empty bin leaves the sums, hence every gain, as they were for bin b - 1, and a
                // gain only replaces the best when strictly larger: skipping it changes nothing.
                if b > 1, bg == 0, bh == 0 { continue }
                gl += bg; hl += bh
                // Missing values left first, so ties (and no missing values) default left.
                var lg = gl + missingG, lh = hl + missingH
                if lh >= mcw, h - lh >= mcw {
                    let gain = score(lg, lh) + score(g - lg, h - lh) - parentScore
                    if gain > best.gain {
                        best = SplitCandidate(gain: gain, feature: j, bin: UInt8(b), defaultLeft: true,
                                              isCategorical: false, leftG: lg, leftH: lh)
                        found = true
                    }
                }
                if missingH > 0 {
                    lg = gl; lh = hl
                    if lh >= mcw, h - lh >= mcw {
                        let gain = score(lg, lh) + score(g - lg, h - lh) - parentScore
                        if gain > best.gain {
                            best = SplitCandidate(gain: gain, feature: j, bin: UInt8(b), defaultLeft: false,
                                                  isCategorical: false, leftG: lg, leftH: lh)
                            found = true
                        }
                    }
                }
            }
            // Missing against present: missing values left, every present value right (bin 0 is
            // the missing bin, so "bin <= 0" sends no present value left). XGBoost reaches it as
            // the backward scan's last split (threshold = the feature's minimum), LightGBM as its
            // NaN-as-a-bin split. Tried last, so without missing values nothing changes.
            if missingH > 0, missingH >= mcw, h - missingH >= mcw {
                let gain = score(missingG, missingH) + score(g - missingG, h - missingH) - parentScore
                if gain > best.gain {
                    best = SplitCandidate(gain: gain, feature: j, bin: 0, defaultLeft: true,
                                          isCategorical: false, leftG: missingG, leftH: missingH)
                    found = true
                }
            }
        }
        return found ? best : nil
    }

    /// Categorical split of feature `j` with `categories` levels (bins 1...categories) into `best`.
    ///
    /// Fewer than `maxCatToOnehot` levels: one level against the rest (XGBoost's one-hot split).
    /// Otherwise XGBoost's partition rule (src/tree/hist/evaluate_splits.h, v3.2): levels sorted
    /// (stably) by their optimal weight -soft(G)/(H+lambda), where a level whose hessian is below
    /// `minChildWeight` gets weight 0 (CalcWeight), so a rare level cannot sit at either end of
    /// the order on the strength of a few rows; then the first and the last k levels of that order
    /// go left, k < min(maxCatThreshold, levels). Missing values are tried on both sides, and all
    /// present levels against missing is tried too.
    func categoricalSplit(base: UnsafeMutablePointer<Double>, feature j: Int, categories: Int, g: Double, h: Double, rows: Int,
                          parentScore: Double, best: inout SplitCandidate, found: inout Bool) {
        let mcw = params.minChildWeight
        let missingG = base[0], missingH = base[1]
        let levels = min(categories, histogramStride - 1)
        // Rows per unit of hessian in this node: level row counts are estimated from hessians (as
        // LightGBM does with its cnt_factor), the histograms hold no counts.
        let rowsPerHessian = h > 0 ? Double(rows) / h : 0
        let extraL2 = params.catL2
        @inline(__always) func catScore(_ g: Double, _ h: Double) -> Double {
            let a = params.regAlpha
            let t = g > a ? g - a : (g < -a ? g + a : 0)
            return t * t / (h + params.regLambda + extraL2)
        }
        @inline(__always) func consider(_ lg: Double, _ lh: Double, defaultLeft: Bool, mask: () -> CategoryMask) {
            let rh = h - lh
            guard lh >= mcw, rh >= mcw, lh > 0, rh > 0 else { return }
            let gain = catScore(lg, lh) + catScore(g - lg, rh) - parentScore
            if gain > best.gain {
                best = SplitCandidate(gain: gain, feature: j, bin: 0, defaultLeft: defaultLeft, isCategorical: true,
                                      mask: mask(), leftG: lg, leftH: lh)
                found = true
            }
        }
        if levels < max(params.maxCatToOnehot, 1) {
            for b in 1...max(1, levels) where base[2 * b + 1] > 0 {
                let bg = base[2 * b], bh = base[2 * b + 1]
                var mask = CategoryMask()
                mask.insert(UInt8(b))
                consider(bg, bh, defaultLeft: false) { mask }
                if missingH > 0 { consider(bg + missingG, bh + missingH, defaultLeft: true) { mask } }
            }
        } else {
            let smooth = params.catSmooth
            var order: [(bin: Int, w: Double)] = []
            order.reserveCapacity(levels)
            for b in 1...levels {
                let bh = base[2 * b + 1]
                // LightGBM: a level with fewer than catSmooth rows is left out of the order (it
                // stays on the right with the other left-out levels).
                if smooth > 0, (bh * rowsPerHessian).rounded() < smooth { continue }
                let a = params.regAlpha, bg = base[2 * b]
                let t = bg > a ? bg - a : (bg < -a ? bg + a : 0)
                order.append((b, bh < mcw || bh <= 0 ? 0 : -t / (bh + params.regLambda + smooth)))
            }
            order.sort { $0.w != $1.w ? $0.w < $1.w : $0.bin < $1.bin }  // stable: ties keep level order
            let used = order.count
            var limit = min(params.maxCatThreshold, used)
            if smooth > 0 { limit = min(limit, (used + 1) / 2 + 1) }  // LightGBM: at most (used + 1) / 2 levels on one side
            let minGroup = Double(params.minDataPerGroup)
            for fromEnd in [false, true] {
                var gl = 0.0, hl = 0.0, group = 0.0
                for k in 0..<max(0, limit - 1) {
                    let b = order[fromEnd ? used - 1 - k : k].bin
                    let bg = base[2 * b], bh = base[2 * b + 1]
                    if bh == 0, bg == 0 { continue }  // an empty level changes no sum, hence no gain
                    gl += bg; hl += bh
                    group += bh * rowsPerHessian
                    // LightGBM's min_data_per_group: the right side keeps that many rows, and a
                    // new threshold is tried only after that many more rows joined the left side.
                    if minGroup > 0 {
                        if (h - hl) * rowsPerHessian < minGroup { break }
                        if group < minGroup { continue }
                        group = 0
                    }
                    let makeMask = { () -> CategoryMask in
                        var mask = CategoryMask()
                        for t in 0...k { mask.insert(UInt8(order[fromEnd ? used - 1 - t : t].bin)) }
                        return mask
                    }
                    consider(gl, hl, defaultLeft: false, mask: makeMask)
                    if missingH > 0 { consider(gl + missingG, hl + missingH, defaultLeft: true, mask: makeMask) }
                }
            }
        }
        // Every present level against missing.
        if missingH > 0 {
            consider(g - missingG, h - missingH, defaultLeft: false) {
                var mask = CategoryMask()
                for b in 1...max(1, levels) { mask.insert(UInt8(b)) }
                return mask
            }
        }
    }
}

