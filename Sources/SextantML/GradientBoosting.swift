// Histogram-based gradient-boosted decision trees for every `Objective` (one tree per output and
// round), grown depthwise like XGBoost's `tree_method="hist"`.
//
// Per tree: gradients/hessians (Float) for every training row, then in fixed point (Int32, scaled
// by a power of two from the largest magnitude over all rows: `GradientQuantiser`); the row indices
// of each node are a contiguous range of one index array, partitioned in place (stable) at every
// split; the node histograms (Int64 sums of the fixed-point gradient and hessian per feature and
// bin) are built for the smaller child only and the sibling is derived as parent - smaller.
// Integer sums are exact in any order, so the model is bit-identical for any thread count and for
// any number of ranks (`Collective`: the ranks' histograms are allreduced per node).
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
    /// Monotone constraint per feature index (XGBoost's `monotone_constraints`): +1 the prediction
    /// may only rise with the feature, -1 only fall, 0 free. Empty: no constraints.
    public var monotone: [Int] = []

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
    /// Bytes this rank passed to allreduce in the round (histograms and node sums; 0 without ranks).
    public var allreduceBytes = 0
}

/// Gradient pairs in fixed point (as XGBoost's GPU `GradientQuantiser`): g · 2^k rounded to an
/// Int32, with k chosen per tree from the largest |g| (and h) over all rows and ranks so that every
/// value fits in 31 bits and a sum of up to 2^32 rows fits in an Int64. Histogram sums are then
/// exact integers: the same whatever the order of addition, the thread count or the rank count.
/// A positive hessian never rounds to 0 (at least one unit), so node hessians stay positive.
struct GradientQuantiser: Sendable, Equatable {
    var toFixedG = 1.0, toFixedH = 1.0
    var toFloatG = 1.0, toFloatH = 1.0

    init(maxAbsG: Double, maxH: Double) {
        func scale(_ m: Double) -> Double {
            guard m.isFinite, m > 0 else { return 1 }
            return Double(sign: .plus, exponent: 30 - (m.exponent + 1), significand: 1)
        }
        toFixedG = scale(maxAbsG); toFixedH = scale(maxH)
        toFloatG = 1 / toFixedG; toFloatH = 1 / toFixedH
    }

    @inline(__always) func fixed(g: Float) -> Int32 {
        guard g.isFinite else { return g.isNaN ? 0 : (g > 0 ? 1 << 30 : -(1 << 30)) }
        return Int32(max(-1_073_741_824, min(1_073_741_824, (Double(g) * toFixedG).rounded())))
    }

    @inline(__always) func fixed(h: Float) -> Int32 {
        guard h.isFinite else { return h.isNaN ? 0 : 1 << 30 }
        guard h > 0 else { return 0 }
        return Int32(max(1, min(1_073_741_824, (Double(h) * toFixedH).rounded())))
    }
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
    /// Round-major: the tree of round r for output k is `trees[r * outputs + k]`.
    var trees: [BinnedTree]
    /// Start margin of each output.
    var baseMargins: [Double]
    var bestIteration: Int
    /// The objective's early-stopping loss on the validation rows per round (`evaluationLoss`).
    var validationLoss: [Double]
    var baseScore: Double { baseMargins.first ?? 0 }
}

/// Bins per feature reserved in a histogram (bin 0 = missing, up to 255 real bins).
let histogramStride = 256

enum GradientBoosting {
    /// Trains `params.nEstimators` rounds of one tree per output (`classes` outputs for softmax,
    /// one otherwise). `weights` scale each row's gradient and hessian (XGBoost's sample weights).
    static func train(_ x: BinnedMatrix, labels: [Double], weights: [Double]? = nil, cuts: BinCuts, params: GBDTParameters,
                      objective: Objective = .binaryLogistic, classes: Int = 2,
                      validation: (x: BinnedMatrix, labels: [Double], weights: [Double]?)? = nil,
                      progress: ((RoundProgress) -> Void)? = nil) -> GBDTResult
    {
        // One process: the collective is the identity and cannot fail.
        (try? train(x, labels: labels, weights: weights, cuts: cuts, params: params, objective: objective, classes: classes,
                    validation: validation, collective: SingleProcess(), progress: progress))
            ?? GBDTResult(trees: [], baseMargins: [], bestIteration: -1, validationLoss: [])
    }

    /// `train` over the ranks of `collective`: each holds its shard of the rows (`x`, `labels`,
    /// `weights`); start margins, gradient scales, node sums and histograms are reduced over all
    /// ranks, so every rank grows the same trees. Validation rows (early stopping) are local only:
    /// with more than one rank the caller passes none.
    static func train(_ x: BinnedMatrix, labels: [Double], weights: [Double]? = nil, cuts: BinCuts, params: GBDTParameters,
                      objective: Objective = .binaryLogistic, classes: Int = 2,
                      validation: (x: BinnedMatrix, labels: [Double], weights: [Double]?)? = nil,
                      collective: any Collective,
                      progress: ((RoundProgress) -> Void)? = nil) throws -> GBDTResult
    {
        let n = x.rows, f = x.features, threads = max(1, params.threads)
        let outputs = objective == .multiSoftprob ? max(classes, 2) : 1
        let started = Date()
        let baseMargins = try objective.baseMargins(labels: labels, weights: weights, classes: outputs, collective: collective)
        let nv = validation?.x.rows ?? 0
        var margin = [Double](repeating: 0, count: n * outputs)
        var validMargin = [Double](repeating: 0, count: nv * outputs)
        for k in 0..<outputs {
            for r in 0..<n { margin[r * outputs + k] = baseMargins[k] }
            for r in 0..<nv { validMargin[r * outputs + k] = baseMargins[k] }
        }
        var trees: [BinnedTree] = []
        var history: [Double] = []
        var best = (iteration: -1, loss: Double.infinity)
        var rng = SplitMix64(seed: params.seed)
        let store = RowStore(x)
        let builder = TreeBuilder(store: store, cuts: cuts, params: params, threads: threads, collective: collective)
        let rowBlocks = evenRanges(n, parts: 64)  // fixed blocks: elementwise work, any thread count

        for round in 0..<params.nEstimators {
            for k in 0..<outputs {
                // Gradients and hessians of the loss at the current margins (output k).
                margin.withUnsafeBufferPointer { mp in
                    labels.withUnsafeBufferPointer { lp in
                        guard let mBase = mp.baseAddress, let lBase = lp.baseAddress else { return }
                        let m = SharedPointer(mBase), l = SharedPointer(lBase), gh = SharedMutablePointer(store.gh)
                        let w = weights
                        parallelFor(rowBlocks.count, threads: threads) { b in
                            for r in rowBlocks[b] {
                                var (g, h) = objective.gradient(margins: m.base + r &* outputs, label: l[r], output: k, outputs: outputs)
                                if let w { g *= w[r]; h *= w[r] }
                                gh[2 &* r] = Float(g)
                                gh[2 &* r &+ 1] = Float(h)
                            }
                        }
                    }
                }
                try quantise(store: store, blocks: rowBlocks, threads: threads, builder: builder)
                let tree = try boost(store: store, builder: builder, rng: &rng, params: params, n: n, f: f, threads: threads,
                                 margin: &margin, outputs: outputs, output: k)
                trees.append(tree)
                if let validation {
                    let vf = validation.x.features, vBlocks = evenRanges(nv, parts: 16)
                    validMargin.withUnsafeMutableBufferPointer { mp in
                        validation.x.bins.withUnsafeBufferPointer { bp in
                            guard let mBase = mp.baseAddress, let bBase = bp.baseAddress else { return }
                            let m = SharedMutablePointer(mBase), bins = SharedPointer(bBase)
                            parallelFor(vBlocks.count, threads: threads) { b in
                                for i in vBlocks[b] { m[i &* outputs &+ k] += tree.leafValue(rowBins: bins.base + i * vf) }
                            }
                        }
                    }
                }
            }
            var validLoss: Double?
            if let validation {
                var p = validMargin
                objective.transform(&p, outputs: outputs)
                let loss = objective.evaluationLoss(labels: validation.labels, predictions: p, weights: validation.weights, outputs: outputs)
                validLoss = loss
                history.append(loss)
                if loss < best.loss - 1e-12 { best = (round, loss) }
            }
            progress?(RoundProgress(round: round + 1, validationLogLoss: validLoss,
                                    elapsedSeconds: Date().timeIntervalSince(started), allreduceBytes: builder.allreduceBytes))
            builder.allreduceBytes = 0
            if let esr = params.earlyStoppingRounds, validation != nil, round - best.iteration >= esr { break }
        }
        var bestIteration = trees.count / outputs - 1
        if validation != nil, params.earlyStoppingRounds != nil, best.iteration >= 0 {
            bestIteration = best.iteration
            trees = Array(trees.prefix((best.iteration + 1) * outputs))
        }
        return GBDTResult(trees: trees, baseMargins: baseMargins, bestIteration: bestIteration, validationLoss: history)
    }

    /// Converts the gradient pairs in `store.gh` to fixed point (`store.ghq`) at the scale of the
    /// largest magnitudes over every rank's rows.
    static func quantise(store: RowStore, blocks: [Range<Int>], threads: Int, builder: TreeBuilder) throws {
        let maxima = ResultSlots<(Double, Double)>(count: blocks.count)
        let gh = SharedPointer(UnsafePointer(store.gh))
        parallelFor(blocks.count, threads: threads) { b in
            var mg = 0.0, mh = 0.0
            for r in blocks[b] {
                let g = Double(gh[2 &* r]), h = Double(gh[2 &* r &+ 1])
                if g.isFinite { mg = max(mg, abs(g)) }
                if h.isFinite { mh = max(mh, h) }
            }
            maxima.set(b, (mg, mh))
        }
        var m = maxima.all.reduce([0.0, 0.0]) { [max($0[0], $1?.0 ?? 0), max($0[1], $1?.1 ?? 0)] }
        m = try builder.collective.allreduceMax(m)
        let q = GradientQuantiser(maxAbsG: m[0], maxH: m[1])
        builder.quantiser = q
        let out = SharedMutablePointer(store.ghq)
        parallelFor(blocks.count, threads: threads) { b in
            for r in blocks[b] {
                out[2 &* r] = q.fixed(g: gh[2 &* r])
                out[2 &* r &+ 1] = q.fixed(h: gh[2 &* r &+ 1])
            }
        }
    }

    /// Samples rows and features, grows one tree on the gradients in `store` and adds it to
    /// output `output` of every training row's margins.
    static func boost(store: RowStore, builder: TreeBuilder, rng: inout SplitMix64, params: GBDTParameters, n: Int, f: Int,
                      threads: Int, margin: inout [Double], outputs: Int, output k: Int) throws -> BinnedTree {
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
            let count = max(1, Int((params.colsampleBytree * Double(f)).rounded()))
            for i in 0..<count { featureList.swapAt(i, i + Int(rng.next() % UInt64(f - i))) }
            featureList = Array(featureList[0..<count]).sorted()
        }
        let (tree, leafRanges) = try builder.build(count: sampledCount, features: featureList)

        // Margins: sampled rows get their leaf from the partition; the others walk the tree.
        margin.withUnsafeMutableBufferPointer { mp in
            guard let mBase = mp.baseAddress else { return }
            let m = SharedMutablePointer(mBase), rowIndex = SharedPointer(UnsafePointer(store.rowIndex))
            parallelFor(leafRanges.count, threads: threads) { leaf in
                let (range, value) = leafRanges[leaf]
                for i in range { m[Int(rowIndex[i]) &* outputs &+ k] += value }
            }
            if sampledCount < n {
                var inSample = [Bool](repeating: false, count: n)
                for i in 0..<sampledCount { inSample[Int(store.rowIndex[i])] = true }
                for r in 0..<n where !inSample[r] {
                    m[r * outputs + k] += tree.leafValue(rowBins: store.rowBins + r * store.stride)
                }
            }
        }
        return tree
    }
}

@inline(__always) func sigmoid(_ m: Double) -> Double { 1 / (1 + exp(-m)) }

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

    /// Builds a tree on positions 0..<count; returns it and its leaves' position ranges and values.
    func build(count: Int, features: [Int]) throws -> (BinnedTree, [(Range<Int>, Double)]) {
        var tree = BinnedTree()
        var leafRanges: [(Range<Int>, Double)] = []
        var sums: [Int64] = [0, 0, Int64(count)]
        for i in 0..<count {
            let r = Int(store.rowIndex[i])
            sums[0] &+= Int64(store.ghq[2 * r]); sums[1] &+= Int64(store.ghq[2 * r + 1])
        }
        try sums.withUnsafeMutableBufferPointer { b in if let p = b.baseAddress { try allreduce(p, count: 3) } }
        let q = quantiser
        let g = Double(sums[0]) * q.toFloatG, h = Double(sums[1]) * q.toFloatH
        tree.nodes.append(BinnedTree.Node(hessian: h))
        var rootHist: UnsafeMutablePointer<Int64>?
        if params.maxDepth > 0 {
            let hist = takeHist()
            zero(hist)
            buildHistograms([(0, count, hist)], features: features)
            try allreduce(hist, count: histSize)
            rootHist = hist
        }
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
                // The split search reads sums in floating point: exact multiples of the scale.
                let sums = UnsafeMutablePointer<Double>.allocate(capacity: size)
                defer { sums.deallocate() }
                self.toFloat(hist.base, sums, features: features)
                if let s = self.bestSplit(hist: sums, g: g, h: h, features: features, rows: rows, lower: lower, upper: upper) {
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

    /// The fixed-point sums of `features` as doubles (other features are left unset).
    func toFloat(_ hist: UnsafePointer<Int64>, _ out: UnsafeMutablePointer<Double>, features: [Int]) {
        let q = quantiser
        for j in features {
            let base = j * histogramStride * 2
            for b in 0..<histogramStride {
                out[base + 2 * b] = Double(hist[base + 2 * b]) * q.toFloatG
                out[base + 2 * b + 1] = Double(hist[base + 2 * b + 1]) * q.toFloatH
            }
        }
    }

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

    /// Best split of one node over `features`, or nil when no split gains more than `gamma`.
    func bestSplit(hist: UnsafeMutablePointer<Double>, g: Double, h: Double, features: [Int], rows: Int = 0,
                   lower: Double = -.infinity, upper: Double = .infinity) -> SplitCandidate? {
        let constrained = !params.monotone.isEmpty
        // With monotone constraints, gains are taken at the bounded weights (XGBoost's
        // CalcSplitGain); without, the closed form, bit for bit as before.
        let parentScore = constrained ? gain(g, h, weight: weight(g, h, lower: lower, upper: upper)) : score(g, h)
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
                                 bounds: constrained ? (lower, upper) : nil, best: &best, found: &found)
                continue
            }
            let c = constrained ? params.monotone[j] : 0
            // Gain of sending (lg, lh) left; -infinity when the child weights break the constraint.
            @inline(__always) func splitGain(_ lg: Double, _ lh: Double) -> Double {
                guard constrained else { return score(lg, lh) + score(g - lg, h - lh) - parentScore }
                let wl = weight(lg, lh, lower: lower, upper: upper), wr = weight(g - lg, h - lh, lower: lower, upper: upper)
                if c > 0 ? wl > wr : (c < 0 && wl < wr) { return -.infinity }
                return gain(lg, lh, weight: wl) + gain(g - lg, h - lh, weight: wr) - parentScore
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
                    let gain = splitGain(lg, lh)
                    if gain > best.gain {
                        best = SplitCandidate(gain: gain, feature: j, bin: UInt8(b), defaultLeft: true,
                                              isCategorical: false, leftG: lg, leftH: lh)
                        found = true
                    }
                }
                if missingH > 0 {
                    lg = gl; lh = hl
                    if lh >= mcw, h - lh >= mcw {
                        let gain = splitGain(lg, lh)
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
                let gain = splitGain(missingG, missingH)
                if gain > best.gain {
                    best = SplitCandidate(gain: gain, feature: j, bin: 0, defaultLeft: true,
                                          isCategorical: false, leftG: missingG, leftH: missingH)
                    found = true
                }
            }
        }
        return found ? best : nil
    }
}
