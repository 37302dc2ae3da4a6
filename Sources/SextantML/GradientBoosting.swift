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
    /// Variance power of `reg:tweedie` (XGBoost's `tweedie_variance_power`, default 1.5).
    public var tweedieVariancePower = 1.5
    /// The quantile of `reg:quantileerror` (XGBoost's `quantile_alpha`, one value).
    public var quantileAlpha = 0.5
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
            if let v = h.tweedieVariancePower { tweedieVariancePower = v }
            if let v = h.quantileAlpha { quantileAlpha = v }
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
    /// Bytes this rank received in the round from the allgather of leaf residuals (absolute and
    /// quantile error on several ranks; 0 otherwise).
    public var gatheredBytes = 0
}

/// Gradient pairs in fixed point (as XGBoost's GPU `GradientQuantiser`): g · 2^k rounded to an
/// Int32 with |g_q| <= 2^gBits (h_q <= 2^hBits), k chosen per tree from the largest |g| (and h)
/// over all rows and ranks, so that a sum of up to 2^32 rows fits in an Int64. Histogram sums are
/// then exact integers: the same whatever the order of addition, the thread count or the rank
/// count. A positive hessian never rounds to 0 (at least one unit), so node hessians stay positive.
struct GradientQuantiser: Sendable, Equatable {
    static let gBits = 30
    static let hBits = 30
    static let gLimit = Double(1 << gBits), hLimit = Double(1 << hBits)

    var toFixedG = 1.0, toFixedH = 1.0
    var toFloatG = 1.0, toFloatH = 1.0

    init(maxAbsG: Double, maxH: Double) {
        func scale(_ m: Double, _ bits: Int) -> Double {
            guard m.isFinite, m > 0 else { return 1 }
            return Double(sign: .plus, exponent: bits - (m.exponent + 1), significand: 1)
        }
        toFixedG = scale(maxAbsG, Self.gBits); toFixedH = scale(maxH, Self.hBits)
        toFloatG = 1 / toFixedG; toFloatH = 1 / toFixedH
    }

    @inline(__always) func fixed(g: Float) -> Int32 {
        guard g.isFinite else { return g.isNaN ? 0 : (g > 0 ? 1 << Self.gBits : -(1 << Self.gBits)) }
        return Int32(Self.round(max(-Self.gLimit, min(Self.gLimit, Double(g) * toFixedG))))
    }

    @inline(__always) func fixed(h: Float) -> Int32 {
        guard h.isFinite else { return h.isNaN ? 0 : 1 << Self.hBits }
        guard h > 0 else { return 0 }
        return Int32(max(1, Self.round(min(Self.hLimit, Double(h) * toFixedH))))
    }

    /// `x.rounded()` (to nearest, halves away from zero) for the values `fixed` converts: a Float
    /// times a power of two, |x| <= 2^30. Without the libm call `rounded()` compiles to on
    /// baseline x86-64: x ± 1/2 is exact for them (at most 24 significant bits, none below 2^−53
    /// of the sum unless |x| < 2^−29, where the sum stays below 1 either way), so truncating it
    /// rounds halves away from zero. Clamping before rounding gives the same result as after,
    /// the bounds being integers.
    @inline(__always) static func round(_ x: Double) -> Int64 {
        Int64(x + (x < 0 ? -0.5 : 0.5))
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
    func leafValue(rowBins: UnsafePointer<UInt8>) -> Double { nodes[leafIndex(rowBins: rowBins)].value }

    /// The node index of the leaf a row (its bins) ends in.
    @inline(__always)
    func leafIndex(rowBins: UnsafePointer<UInt8>) -> Int {
        var n = 0
        while true {
            let node = nodes[n]
            if node.feature < 0 { return n }
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
    /// `weights`), the next block of one process's rows in rank order; start margins, gradient
    /// scales, node sums and histograms are reduced over all ranks (leaf quantiles gathered), so
    /// every rank grows the same trees. Validation rows (early stopping) are local only:
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
        let baseMargins = try objective.baseMargins(labels: labels, weights: weights, classes: outputs, collective: collective,
                                                    alpha: objective.leafQuantile(params))
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
        // Objectives with bounded gradients get their fixed-point scale once, from the bounds and
        // the largest weight over every rank.
        let power = objective == .quantileError ? params.quantileAlpha : params.tweedieVariancePower
        var fixedScale: GradientQuantiser?
        if let bounds = objective.gradientBounds(power: power) {
            let maxWeight = try weights.map { try collective.allreduceMax([$0.reduce(0) { max($0, $1) }])[0] } ?? 1
            fixedScale = GradientQuantiser(maxAbsG: bounds.g * maxWeight, maxH: bounds.h * maxWeight)
        }

        // multi:softprob: every row's class probabilities at the margins the round starts from,
        // once per round (XGBoost computes all K gradients before the round's K trees), class
        // by class (`probabilities[k * n + r]`) so each tree's gradients read one stream.
        var probabilities: [Double]?
        for round in 0..<params.nEstimators {
            if objective == .multiSoftprob {
                var p = probabilities ?? [Double](repeating: 0, count: n * outputs)
                probabilities = nil  // `p` the only reference: refilled in place, not copied
                p.withUnsafeMutableBufferPointer { b in
                    margin.withUnsafeBufferPointer { mb in
                        guard let base = b.baseAddress, let mBase = mb.baseAddress else { return }
                        let out = SharedMutablePointer(base), m = SharedPointer(mBase)
                        parallelFor(rowBlocks.count, threads: threads) { blk in
                            withUnsafeTemporaryAllocation(of: Double.self, capacity: outputs) { row in
                                guard let v = row.baseAddress else { return }
                                for r in rowBlocks[blk] {
                                    v.update(from: m.base + r &* outputs, count: outputs)
                                    softmax(v, outputs)
                                    for c in 0..<outputs { out[c &* n &+ r] = v[c] }
                                }
                            }
                        }
                    }
                }
                probabilities = p
            }
            for k in 0..<outputs {
                try computeGradients(store: store, builder: builder, objective: objective, params: params, margin: margin,
                                     probabilities: probabilities, labels: labels, weights: weights, fixedScale: fixedScale,
                                     outputs: outputs, output: k, blocks: rowBlocks, threads: threads)
                let tree = try boost(store: store, builder: builder, rng: &rng, params: params, n: n, f: f, threads: threads,
                                 margin: &margin, outputs: outputs, output: k,
                                 refit: objective.leafQuantile(params).map { (alpha: $0, labels: labels, weights: weights) })
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
                let loss = objective.evaluationLoss(labels: validation.labels, predictions: p, weights: validation.weights, outputs: outputs,
                                                    power: objective == .quantileError ? params.quantileAlpha : params.tweedieVariancePower)
                validLoss = loss
                history.append(loss)
                if loss < best.loss - 1e-12 { best = (round, loss) }
            }
            progress?(RoundProgress(round: round + 1, validationLogLoss: validLoss,
                                    elapsedSeconds: Date().timeIntervalSince(started), allreduceBytes: builder.allreduceBytes,
                                    gatheredBytes: builder.gatheredBytes))
            builder.allreduceBytes = 0
            builder.gatheredBytes = 0
            if let esr = params.earlyStoppingRounds, validation != nil, round - best.iteration >= esr { break }
        }
        var bestIteration = trees.count / outputs - 1
        if validation != nil, params.earlyStoppingRounds != nil, best.iteration >= 0 {
            bestIteration = best.iteration
            trees = Array(trees.prefix((best.iteration + 1) * outputs))
        }
        return GBDTResult(trees: trees, baseMargins: baseMargins, bestIteration: bestIteration, validationLoss: history)
    }

    /// Gradients and hessians of the loss at the current margins (output k), in fixed point in
    /// `store.ghq`; for multi:softprob from `probabilities` (the round's, class-major). With
    /// `fixedScale` (objectives with bounded gradients) they are converted as they are computed;
    /// otherwise stored as Float with each block's largest |g| and h, then converted at the scale
    /// of the largest over every rank (`quantise`).
    static func computeGradients(store: RowStore, builder: TreeBuilder, objective: Objective, params: GBDTParameters,
                                 margin: [Double], probabilities: [Double]? = nil, labels: [Double], weights: [Double]?,
                                 fixedScale: GradientQuantiser?,
                                 outputs: Int, output k: Int, blocks rowBlocks: [Range<Int>], threads: Int) throws {
        if objective == .binaryLogistic, probabilities == nil, let q = fixedScale {
            LogisticGradients.fill(store: store, margins: margin, labels: labels, weights: weights, blocks: rowBlocks,
                                   quantiser: q, threads: threads)
            builder.quantiser = q
            return
        }
        let maxima = ResultSlots<(Double, Double)>(count: rowBlocks.count)
        (probabilities ?? margin).withUnsafeBufferPointer { mp in
            labels.withUnsafeBufferPointer { lp in
                guard let mBase = mp.baseAddress, let lBase = lp.baseAddress else { return }
                let m = SharedPointer(mBase), l = SharedPointer(lBase), fromProbabilities = probabilities != nil, rows = store.rows
                let gh = SharedMutablePointer(store.gh), ghq = SharedMutablePointer(store.ghq)
                let w = weights, power = objective == .quantileError ? params.quantileAlpha : params.tweedieVariancePower
                parallelFor(rowBlocks.count, threads: threads) { b in
                    // The loops once per gradient function, so the objective's switch is not taken
                    // per row.
                    @inline(__always) func fill(_ gradient: (Int) -> (Double, Double)) {
                        @inline(__always) func pair(_ r: Int) -> (Float, Float) {
                            var (g, h) = gradient(r)
                            if let w { g *= w[r]; h *= w[r] }
                            return (Float(g), Float(h))
                        }
                        if let q = fixedScale {
                            for r in rowBlocks[b] {
                                let (fg, fh) = pair(r)
                                ghq[2 &* r] = q.fixed(g: fg)
                                ghq[2 &* r &+ 1] = q.fixed(h: fh)
                            }
                            return
                        }
                        var mg = 0.0, mh = 0.0
                        for r in rowBlocks[b] {
                            let (fg, fh) = pair(r)
                            gh[2 &* r] = fg
                            gh[2 &* r &+ 1] = fh
                            // The maxima of the stored (Float) values, NaN and infinities left out.
                            let dg = Double(fg), dh = Double(fh)
                            if dg.isFinite { mg = max(mg, abs(dg)) }
                            if dh.isFinite { mh = max(mh, dh) }
                        }
                        maxima.set(b, (mg, mh))
                    }
                    if fromProbabilities {
                        fill { r in Objective.softmaxGradient(probability: m[k &* rows &+ r], isLabel: Int(l[r]) == k) }
                    } else {
                        fill { r in objective.gradient(margins: m.base + r &* outputs, label: l[r], output: k, outputs: outputs, power: power) }
                    }
                }
            }
        }
        if let q = fixedScale {
            builder.quantiser = q
        } else {
            try quantise(store: store, blocks: rowBlocks, maxima: maxima, threads: threads, builder: builder)
        }
    }

    /// Converts the gradient pairs in `store.gh` to fixed point (`store.ghq`) at the scale of the
    /// largest magnitudes over every rank's rows (`maxima`: this rank's, per block of `blocks`).
    static func quantise(store: RowStore, blocks: [Range<Int>], maxima: ResultSlots<(Double, Double)>, threads: Int,
                         builder: TreeBuilder) throws {
        let gh = SharedPointer(UnsafePointer(store.gh))
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
    /// output `output` of every training row's margins. With `refit`, each leaf's value becomes
    /// the `alpha`-quantile of its sampled rows' residuals (label - margin) times the learning
    /// rate, as XGBoost's UpdateTreeLeaf does for absolute and quantile error.
    static func boost(store: RowStore, builder: TreeBuilder, rng: inout SplitMix64, params: GBDTParameters, n: Int, f: Int,
                      threads: Int, margin: inout [Double], outputs: Int, output k: Int,
                      refit: (alpha: Double, labels: [Double], weights: [Double]?)? = nil) throws -> BinnedTree {
        // Row sampling (Bernoulli per row) and feature sampling for this tree.
        var sampledCount = n
        if params.subsample < 1 {
            sampledCount = 0
            for r in 0..<n where rng.nextUnit() < params.subsample { store.rowIndex[sampledCount] = Int32(r); sampledCount += 1 }
            if sampledCount == 0, n > 0 { store.rowIndex[0] = Int32(Int(rng.next() % UInt64(n))); sampledCount = 1 }
        } else {
            let index = SharedMutablePointer(store.rowIndex), blocks = evenRanges(n, parts: 16)
            parallelFor(blocks.count, threads: threads) { b in for r in blocks[b] { index[r] = Int32(r) } }
        }
        var featureList = Array(0..<f)
        if params.colsampleBytree < 1 {
            let count = max(1, Int((params.colsampleBytree * Double(f)).rounded()))
            for i in 0..<count { featureList.swapAt(i, i + Int(rng.next() % UInt64(f - i))) }
            featureList = Array(featureList[0..<count]).sorted()
        }
        var (tree, builtRanges) = try builder.build(count: sampledCount, features: featureList)
        if let refit {
            // Each leaf's residuals (and weights) at the margins before this tree, in partition
            // order (ascending rows: the partition is stable); the quantiles over every rank.
            var residuals: [[Double]] = [], leafWeights: [[Double]]? = refit.weights == nil ? nil : []
            residuals.reserveCapacity(builtRanges.count)
            for (range, _, _) in builtRanges {
                let rows = range.map { Int(store.rowIndex[$0]) }
                residuals.append(rows.map { refit.labels[$0] - margin[$0 &* outputs &+ k] })
                if let w = refit.weights { leafWeights?.append(rows.map { w[$0] }) }
            }
            let (quantiles, gathered) = try groupQuantiles(residuals, weights: leafWeights, alpha: refit.alpha,
                                                           collective: builder.collective, threads: threads)
            builder.gatheredBytes += gathered
            for (leaf, q) in quantiles.enumerated() {
                guard let q else { continue }  // no row in this leaf on any rank: keeps its Newton value
                let value = q * params.learningRate
                tree.nodes[builtRanges[leaf].node].value = value
                builtRanges[leaf].1 = value
            }
        }
        let leafRanges = builtRanges

        // Margins: sampled rows get their leaf from the partition; the others walk the tree.
        margin.withUnsafeMutableBufferPointer { mp in
            guard let mBase = mp.baseAddress else { return }
            let m = SharedMutablePointer(mBase), rowIndex = SharedPointer(UnsafePointer(store.rowIndex))
            parallelFor(leafRanges.count, threads: threads) { leaf in
                let (range, value, _) = leafRanges[leaf]
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
